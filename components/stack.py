"""A stack file's settings as the public API's args: the one place where the root program's
config (components/settings.py) becomes JobPlatformArgs and ScheduledFargateJobArgs, so that
`__main__.py` builds its stacks exactly as any other program would."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from components.args import (
    JOB_RESOURCE_KEYS,
    AuroraArgs,
    JobPlatformArgs,
    ScheduledFargateJobArgs,
)
from components.settings import SIDECAR_ONLY_KEYS, ExistingNetwork, NewVpcNetwork, Settings

if TYPE_CHECKING:
    from components.platform import JobPlatform

# JobSettings keys that are not job keys of the args: the stack's image choice, which
# job_args turns into the job's `image_uri`.
STACK_ONLY_JOB_KEYS = frozenset({"image_uri"})


def platform_args(settings: Settings, name_prefix: str) -> JobPlatformArgs:
    """The stack's shared parts: what its settings give, and the rest created."""
    args: JobPlatformArgs = {
        "name_prefix": name_prefix,
        "job_names": sorted(settings.jobs),
        "container_insights": settings.container_insights,
        "log_retention_days": settings.log_retention_days,
    }
    network = settings.network
    if isinstance(network, NewVpcNetwork):
        args["new_vpc"] = {
            "cidr_block": network.cidr_block,
            "availability_zones": network.availability_zones,
            "nat_gateways": network.nat_gateways,
        }
    elif isinstance(network, ExistingNetwork):
        args["vpc_id"] = network.vpc_id
        args["subnet_ids"] = network.subnet_ids
        args["assign_public_ip"] = network.assign_public_ip
    if settings.bucket_name is not None:
        args["bucket_name"] = settings.bucket_name
    if settings.aurora is not None:
        args["aurora"] = cast(AuroraArgs, settings.aurora.model_dump(exclude_none=True))
    if settings.alert_email is not None:
        args["alert_email"] = settings.alert_email
    image = settings.image
    if image.repository is not None:
        args["image_repository"] = image.repository
        args["image_digest"] = image.digest or ""
    elif image.build is not None:
        # One single-platform image: settings make every job that runs it share one.
        archs = {j.architecture for j in settings.jobs.values() if j.image_uri is None}
        args["image_build"] = {
            "context": image.build.context,
            "dockerfile": image.build.dockerfile,
            "architecture": min(archs, default="X86_64"),
        }
    return args


def job_args(
    settings: Settings, name: str, name_prefix: str, platform: JobPlatform
) -> ScheduledFargateJobArgs:
    """One job of the stack on the platform's parts, with its job keys as the stack sets them."""
    job = settings.jobs[name]
    image = job.image_uri or settings.image.uri or platform.image_uri
    if image is None:  # settings allow no stack without an image source
        raise ValueError(f"job {name}: no image (give image.uri, repository or build)")
    # An aurora job gets no sidecar-only key it did not set (settings refuse those it sets).
    aurora = job.database_server == "aurora"
    unused = set(SIDECAR_ONLY_KEYS) - job.model_fields_set if aurora else set()
    keys = {
        key: value
        for key, value in job.model_dump(exclude=set(STACK_ONLY_JOB_KEYS) | unused).items()
        if value is not None  # a key left out takes the same default
    }
    resources = {
        "name_prefix": name_prefix,
        "job_name": name,
        "cluster_arn": platform.cluster_arn,
        "subnet_ids": platform.subnet_ids,
        "security_group_ids": platform.security_group_ids,
        "assign_public_ip": platform.assign_public_ip,
        "bucket_name": platform.bucket_name,
        "alerts_topic_arn": platform.alerts_topic_arn,
        "image_uri": image,
        "log_retention_days": settings.log_retention_days,
    }
    if aurora:  # the stack's cluster (settings require the block)
        if platform.database is None:
            raise ValueError(f"job {name}: databaseServer aurora, and the stack has no aurora")
        resources["database_endpoint"] = platform.database.endpoint
        resources["database_secret_arn"] = platform.database.secret_arn
        resources["database_secret_kms_key_id"] = platform.database.secret_kms_key_id
    assert resources.keys() <= JOB_RESOURCE_KEYS
    # JobSettings' keys are the args' job keys (tests/infra/test_public_api.py holds them equal).
    return cast(ScheduledFargateJobArgs, {**resources, **keys})
