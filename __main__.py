"""A scheduled ETL job on AWS Fargate: read settings, build the components, export outputs."""

from typing import Any

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


def job_outputs(job: ScheduledFargateJob, start_date: str | None) -> dict[str, Any]:
    """What operators and `python -m tools.run_now` read of a job (`pulumi stack output jobs`)."""
    return {
        "task_definition_arn": job.task_definition.arn,
        "schedule_name": job.schedule.name,
        "log_group_name": job.log_group.name,
        "secret_arn": job.secret.arn,
        "dead_letter_queue_arn": job.alerts.dead_letter_queue.arn,
        # Run now and backfill start executions of this state machine, per slot.
        "state_machine_arn": job.state_machine.arn,
        "watchdog_arn": job.watchdog.arn,
        "schedule": job.schedule.schedule_expression,
        "timezone": job.schedule.schedule_expression_timezone,
        "start_date": start_date,  # rate() slots count from it (known in previews too)
        "run_task": job.run_task,  # RunTask parameters, and the same as an aws CLI command
        "run_task_command": job.run_task_command,
    }


pulumi.export("cluster_name", platform.cluster.name)
pulumi.export("cluster_arn", platform.cluster.arn)
pulumi.export("bucket", platform.bucket.name)
# The image this stack runs: previews and the drift check of a CI-deployed stack pass this digest.
pulumi.export("app_image", settings.image.uri or platform.image_uri)
pulumi.export("app_image_digest", settings.image.digest)
pulumi.export(
    "jobs", {name: job_outputs(job, settings.jobs[name].start_date) for name, job in jobs.items()}
)
