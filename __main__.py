"""A scheduled ETL job on AWS Fargate: read settings, build the components, export outputs."""

import pulumi

from components.job import ScheduledFargateJob
from components.platform import Platform
from components.settings import load_settings
from components.specs.names import full_name, stack_prefix

settings = load_settings()
prefix = stack_prefix(pulumi.get_stack())

platform = Platform(prefix, settings)
jobs = {
    name: ScheduledFargateJob(
        name,
        job,
        platform,
        full_name=full_name(pulumi.get_stack(), name),
        app_image=job.image_uri or settings.image.uri or platform.image_uri,
        log_retention_days=settings.log_retention_days,
    )
    for name, job in settings.jobs.items()
}

pulumi.export("cluster_name", platform.cluster.name)
pulumi.export("cluster_arn", platform.cluster.arn)
pulumi.export("bucket", platform.bucket.name)
# The image this stack runs: previews and the drift check of a CI-deployed stack pass this digest.
pulumi.export("app_image", settings.image.uri or platform.image_uri)
pulumi.export("app_image_digest", settings.image.digest)
pulumi.export("jobs", {name: job.outputs for name, job in jobs.items()})
