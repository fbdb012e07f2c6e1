"""A scheduled ETL job on AWS Fargate: read settings, build the components, export outputs.

The reference program of the public API: the stack's settings become the same typed args any
program passes (components/stack.py), and the components build from those alone."""

from typing import Any

import pulumi

from components.job import ScheduledFargateJob
from components.platform import JobPlatform
from components.settings import load_settings
from components.specs.names import stack_prefix
from components.stack import job_args, platform_args

settings = load_settings()
prefix = stack_prefix(pulumi.get_stack())

platform = JobPlatform(prefix, platform_args(settings, prefix))
jobs = {
    name: ScheduledFargateJob(name, job_args(settings, name, prefix, platform))
    for name in settings.jobs
}


def job_outputs(job: ScheduledFargateJob, start_date: str | None) -> dict[str, Any]:
    """What operators and `python -m tools.run_now` read of a job (`pulumi stack output jobs`)."""
    return {
        "task_definition_arn": job.task_definition_arn,
        "schedule_name": job.schedule_name,
        "log_group_name": job.log_group_name,
        "secret_arn": job.secret_arn,
        "dead_letter_queue_arn": job.dead_letter_queue_arn,
        # Run now and backfill start executions of this state machine, per slot.
        "state_machine_arn": job.state_machine_arn,
        "watchdog_arn": job.watchdog_arn,
        "schedule": job.schedule.schedule_expression,
        "timezone": job.schedule.schedule_expression_timezone,
        "start_date": start_date,  # rate() slots count from it (known in previews too)
        "run_task": job.run_task,  # RunTask parameters, and the same as an aws CLI command
        "run_task_command": job.run_task_command,
    }


pulumi.export("cluster_name", platform.cluster_name)
pulumi.export("cluster_arn", platform.cluster_arn)
pulumi.export("bucket", platform.bucket_name)
# The image this stack runs: previews and the drift check of a CI-deployed stack pass this digest.
pulumi.export("app_image", settings.image.uri or platform.image_uri)
pulumi.export("app_image_digest", settings.image.digest)
pulumi.export(
    "jobs", {name: job_outputs(job, settings.jobs[name].start_date) for name, job in jobs.items()}
)
