"""The EventBridge Scheduler target that starts the job's state machine, and the RunTask request
and CLI that start its task directly (pure).

Values may be plain strings (tests) or Pulumi Outputs (the component): the builders only
place them in the structure `aws.scheduler.Schedule` expects.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from components.settings import JobSettings

# Scheduler replaces this keyword with the invocation's scheduled time, e.g.
# 2022-03-22T18:59:43Z (ISO 8601, UTC, seconds precision):
# https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"


def flexible_time_window(job: JobSettings) -> dict[str, Any]:
    if job.flexible_window_minutes == 0:
        return {"mode": "OFF"}
    return {"mode": "FLEXIBLE", "maximum_window_in_minutes": job.flexible_window_minutes}


def schedule_target(
    job: JobSettings, *, state_machine_arn: Any, role_arn: Any, dead_letter_arn: Any = None
) -> dict[str, Any]:
    """`aws.scheduler.Schedule.target`: start an execution of the job's state machine (or its
    watchdog) for the scheduled time."""
    target: dict[str, Any] = {
        "arn": state_machine_arn,
        "role_arn": role_arn,
        "input": json.dumps({"scheduledTime": SCHEDULED_TIME}),
        "retry_policy": {
            "maximum_retry_attempts": job.retry_attempts,
            "maximum_event_age_in_seconds": job.max_event_age_seconds,
        },
    }
    if dead_letter_arn is not None:
        target["dead_letter_config"] = {"arn": dead_letter_arn}
    return target


def run_task_request(
    job: JobSettings,
    *,
    cluster: str,
    task_definition_arn: str,
    subnet_ids: list[str],
    security_group_ids: list[str],
    assign_public_ip: bool,
) -> dict[str, Any]:
    """ECS RunTask parameters (boto3's shape) that start the job as the schedule does."""
    placement: dict[str, Any] = (
        {"capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]}
        if job.capacity == "FARGATE_SPOT"
        else {"launchType": "FARGATE"}
    )
    return {
        "cluster": cluster,
        "taskDefinition": task_definition_arn,
        "count": 1,
        **placement,
        "platformVersion": job.platform_version,
        "networkConfiguration": {
            "awsvpcConfiguration": {
                "subnets": subnet_ids,
                "securityGroups": security_group_ids,
                "assignPublicIp": "ENABLED" if assign_public_ip else "DISABLED",
            }
        },
        "propagateTags": "TASK_DEFINITION",
        "enableECSManagedTags": True,
    }


def run_task_command(request: dict[str, Any], region: str) -> str:
    """The same request as a ready-to-paste `aws ecs run-task` command."""
    vpc = request["networkConfiguration"]["awsvpcConfiguration"]
    network = (
        f"awsvpcConfiguration={{subnets=[{','.join(vpc['subnets'])}],"
        f"securityGroups=[{','.join(vpc['securityGroups'])}],"
        f"assignPublicIp={vpc['assignPublicIp']}}}"
    )
    args = ["aws", "ecs", "run-task", "--region", region, "--cluster", request["cluster"],
            "--task-definition", request["taskDefinition"],
            "--platform-version", request["platformVersion"],
            "--network-configuration", network,
            "--propagate-tags", request["propagateTags"], "--enable-ecs-managed-tags"]  # fmt: skip
    if "capacityProviderStrategy" in request:
        [strategy] = request["capacityProviderStrategy"]
        provider, weight = strategy["capacityProvider"], strategy["weight"]
        args += ["--capacity-provider-strategy", f"capacityProvider={provider},weight={weight}"]
    else:
        args += ["--launch-type", request["launchType"]]
    return shlex.join(args)
