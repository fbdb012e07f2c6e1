"""The job's run as a Step Functions state machine (pure: Amazon States Language as a dict).

One execution per scheduled slot, input ``{"scheduledTime": "<ISO 8601>"}``. It runs the task
with ``ecs:runTask.sync`` and ends in exactly one outcome:

- ``succeeded``: the app exited 0 (the execution SUCCEEDS, no alert);
- ``skipped``: the app exited 3, another run holds the job's lock (SUCCEEDS, one alert);
- ``failed``: every attempt failed (FAILS with ``RunFailed``, one alert);
- ``timed-out``: still running after ``timeoutMinutes``; the task is stopped (FAILS with
  ``RunTimedOut``, one alert).

A failed attempt (a non-zero exit, a task that did not start) is retried ``runRetries`` times
after ``retryIntervalSeconds``, doubling, with the same SCHEDULED_TIME. A ``FARGATE_SPOT`` task
that RunTask does not place (``NOT_PLACED``) or that Spot interrupts reruns on ``FARGATE`` once
(``spotFallback``), without using a retry. Every attempt adds a line to the alert: capacity,
stop code and reason, exit codes. The execution's history is the run record.

How AWS reports a stopped task (``.sync``): a task whose essential container exits non-zero, or
that never starts, fails the Task state with ``States.TaskFailed`` and the task's description
(PascalCase JSON) as the cause; a RunTask answer with ``Failures`` fails it with
``AmazonECS.Unknown``. Both paths, and a task that the state returns as its result, meet in
``Summarise``, which decides from the app container's exit code and the stop code alone.
https://docs.aws.amazon.com/step-functions/latest/dg/connect-ecs.html
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.settings import JobSettings
from etl.contract import APP_CONTAINER, ExitCode

State = dict[str, Any]
RUN_TASK_SYNC = "arn:aws:states:::ecs:runTask.sync"
# The rule Step Functions manages for .sync ECS tasks (its role needs events:* on it only).
SYNC_RULE = "StepFunctionsGetEventsForECSTaskRule"
LOCKED_EXIT = int(ExitCode.LOCKED)  # another run holds the job's lock
OUTCOMES = ("succeeded", "skipped", "failed", "timed-out")
# The stop code of a task Fargate Spot took back:
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-capacity-providers.html
SPOT_STOP_CODE = "SpotInterruption"
# The errors of a RunTask that placed no task, by name (the cause's format is not documented):
# AmazonECS.Unknown, a RunTask answer with Failures (such as "Capacity is unavailable at this
# time...") under .sync, https://docs.aws.amazon.com/step-functions/latest/dg/connect-ecs.html;
# ECS.AmazonECSException, what Step Functions records when Fargate lacks capacity,
# https://repost.aws/knowledge-center/ecs-fargate-runtask-capacity. Any of them on Spot reruns
# on FARGATE once: a refusal that is not about capacity then fails there as an ordinary attempt.
NOT_PLACED = ("AmazonECS.Unknown", "ECS.AmazonECSException")
RETRY_API = [
    {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 5, "MaxAttempts": 3, "BackoffRate": 2}
]
# The planned failures (each alerted by its own Publish state), and the end of a run or check
# whose alert could not be published (alerted by the unplanned-end rule, specs/unplanned.py).
RUN_FAILED, RUN_TIMED_OUT = "RunFailed", "RunTimedOut"
ALERT_NOT_PUBLISHED = "AlertNotPublished"


@dataclass(frozen=True)
class RunTarget:
    """Where the task runs: plain strings (the component resolves Outputs first)."""

    full_name: str
    region: str
    cluster_arn: str
    task_definition_arn: str
    subnet_ids: list[str]
    security_group_ids: list[str]
    assign_public_ip: bool
    topic_arn: str


def strategy(capacity: str) -> list[dict[str, Any]]:
    """RunTask's capacity provider strategy (the cluster has FARGATE and FARGATE_SPOT)."""
    return [{"CapacityProvider": capacity, "Weight": 1}]


def backoff_delays(job: JobSettings) -> list[int]:
    """Seconds before retry 1, 2, ...: retryIntervalSeconds, doubling."""
    return [job.retry_interval_seconds * 2**n for n in range(job.run_retries)]


def execution_url(region: str) -> str:
    """The console page of an execution, missing only its ARN (an intrinsic-format `{}`)."""
    return (
        f"https://{region}.console.aws.amazon.com/states/home?region={region}"
        "#/v2/executions/details/{}"
    )


def format_literal(template: str) -> str:
    """A States.Format literal: `{`, `}` and `\\` escaped with a backslash, `%s` for each `{}`
    placeholder. (An apostrophe would need one too; AWS accepts it, moto's parser does not.)"""
    if "'" in template:
        raise ValueError(f"no apostrophes in an alert text: {template!r}")
    escaped = template.replace("\\", "\\\\")
    escaped = escaped.replace("{", "\\{").replace("}", "\\}").replace("%s", "{}")
    return f"'{escaped}'"


def _publish(target: RunTarget, outcome: str, headline: str, next_state: str) -> State:
    """One SNS message: what happened, to which slot, every attempt, and the run record."""
    message = format_literal(
        f"{headline}\n\nJob: {target.full_name}\nScheduled time: %s\nAttempts: %s\n%s\n"
        f"Run record (execution history): {execution_url(target.region).replace('{}', '%s')}\n"
        f"Rerun this slot: python -m tools.run_now <job> --scheduled-time %s\n"
    )
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::sns:publish",
        "Parameters": {
            "TopicArn": target.topic_arn,
            "Subject": f"ETL {outcome}: {target.full_name}",
            "Message.$": f"States.Format({message}, $scheduledTime, $attempt, $history, "
            "$$.Execution.Id, $scheduledTime)",
        },
        "ResultPath": None,
        "Retry": RETRY_API,
        "Catch": alert_not_published(outcome),
        "Next": next_state,
    }


def alert_not_published(outcome: str) -> list[dict[str, Any]]:
    """A Publish that still fails after its retries: the execution fails with
    `AlertNotPublished` (the outcome in the state name), which the unplanned-end rule alerts."""
    return [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.publishError",
             "Next": f"NotPublished-{outcome}"}]  # fmt: skip


def not_published(outcome: str) -> State:
    return {
        "Type": "Fail",
        "Error": ALERT_NOT_PUBLISHED,
        "Cause": f"The {outcome} alert could not be published after retries; the previous "
        "state's error in this history says why.",
    }


def run_definition(job: JobSettings, target: RunTarget) -> dict[str, Any]:
    """The state machine that runs one slot of the job, as Amazon States Language."""
    timeout = job.timeout_minutes * 60
    fallback = job.capacity == "FARGATE_SPOT" and job.spot_fallback
    attempt_done = {"attempt.$": "States.MathAdd($attempt, 1)"}
    stop_failed = [
        {
            "ErrorEquals": ["States.ALL"],
            "ResultPath": "$.stopError",
            "Assign": {
                "history.$": "States.Format('{}could not stop its task ({}): stop it by hand\n', "
                "$history, $.Error)"
            },
            "Next": "PublishTimedOut",
        }
    ]
    retry_or_fail = {
        "Type": "Choice",
        "Choices": [
            {"Variable": "$retried", "NumericLessThan": job.run_retries, "Next": "Backoff"}
        ],
        "Default": "PublishFailed",
    }
    states: dict[str, State] = {
        "Prepare": {
            "Type": "Pass",
            "Comment": "Run state: the slot, attempts so far, where the next attempt runs.",
            "Assign": {
                "scheduledTime.$": "$.scheduledTime",
                "attempt": 0,
                "retried": 0,
                "delays": backoff_delays(job),
                "capacity": job.capacity,
                "strategy": strategy(job.capacity),
                "fallback": fallback,
                "history": "",
                # What a stopped task may lack (no stop code, a container that never ran).
                "taskDefaults": {"StopCode": "none", "StoppedReason": "none", "Containers": []},
            },
            "Next": "RunTask",
        },
        "RunTask": {
            "Type": "Task",
            "Comment": "Start the task and wait for it to stop (ecs:runTask.sync).",
            "Resource": RUN_TASK_SYNC,
            "Parameters": {
                "Cluster": target.cluster_arn,
                "TaskDefinition": target.task_definition_arn,
                "CapacityProviderStrategy.$": "$strategy",
                "PlatformVersion": job.platform_version,
                "NetworkConfiguration": {
                    "AwsvpcConfiguration": {
                        "Subnets": target.subnet_ids,
                        "SecurityGroups": target.security_group_ids,
                        "AssignPublicIp": "ENABLED" if target.assign_public_ip else "DISABLED",
                    }
                },
                # Names this execution's task, so a timed-out one can be found and stopped.
                "Group.$": "States.Format('sfn:{}', $$.Execution.Name)",
                "PropagateTags": "TASK_DEFINITION",
                "Overrides": {
                    "ContainerOverrides": [
                        {
                            "Name": APP_CONTAINER,
                            "Environment": [
                                {"Name": "SCHEDULED_TIME", "Value.$": "$scheduledTime"}
                            ],
                        }
                    ]
                },
            },
            "TimeoutSeconds": timeout,
            "ResultSelector": {"task.$": "$"},
            "Assign": attempt_done,
            "Next": "Summarise",
            "Catch": [
                {
                    "ErrorEquals": ["States.Timeout"],
                    "ResultPath": "$.error",
                    "Assign": attempt_done,
                    "Next": "FindTimedOutTask",
                },
                {
                    "ErrorEquals": ["States.TaskFailed"],
                    "ResultPath": "$.error",
                    "Assign": attempt_done,
                    "Next": "StoppedOrRefused",
                },
                {
                    "ErrorEquals": ["States.ALL"],
                    "ResultPath": "$.error",
                    "Assign": attempt_done,
                    "Next": "NotStarted",
                },
            ],
        },
        "StoppedOrRefused": {
            "Type": "Choice",
            "Comment": "A stopped task's description is the cause; anything else did not start.",
            "Choices": [
                {
                    "And": [
                        {"Variable": "$.error.Error", "StringEquals": "States.TaskFailed"},
                        {"Variable": "$.error.Cause", "StringMatches": "{*"},
                    ],
                    "Next": "ReadStoppedTask",
                }
            ],
            "Default": "NotStarted",
        },
        "ReadStoppedTask": {
            "Type": "Pass",
            "Parameters": {"task.$": "States.StringToJson($.error.Cause)"},
            "Next": "Summarise",
        },
        "Summarise": {
            "Type": "Pass",
            "Comment": "The stopped task, with what AWS may leave out filled in.",
            "Parameters": {"task.$": "States.JsonMerge($taskDefaults, $.task, false)"},
            "Next": "ExitCodes",
        },
        "ExitCodes": {
            "Type": "Map",
            "Comment": "Each container as name=exit code ('none': it never ran).",
            "ItemsPath": "$.task.Containers",
            "ItemSelector": {
                "defaults": {"Name": "unknown", "ExitCode": "none"},
                "container.$": "$$.Map.Item.Value",
            },
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "Complete",
                "States": {
                    "Complete": {
                        "Type": "Pass",
                        "Parameters": {"c.$": "States.JsonMerge($.defaults, $.container, false)"},
                        "Next": "Label",
                    },
                    "Label": {
                        "Type": "Pass",
                        "Parameters": {"label.$": "States.Format('{}={}', $.c.Name, $.c.ExitCode)"},
                        "OutputPath": "$.label",
                        "End": True,
                    },
                },
            },
            "ResultPath": "$.exits",
            "Next": "Record",
        },
        "Record": {
            "Type": "Pass",
            "Comment": "The facts that decide the outcome, and a line for the alert.",
            "Parameters": {
                "ok.$": f"States.ArrayContains($.exits, '{APP_CONTAINER}=0')",
                "locked.$": f"States.ArrayContains($.exits, '{APP_CONTAINER}={LOCKED_EXIT}')",
                "stopCode.$": "$.task.StopCode",
                "reason.$": "$.task.StoppedReason",
                "exits.$": "States.JsonToString($.exits)",
            },
            "Assign": {
                "history.$": "States.Format('{}attempt {} on {}: stop code {} ({}), exit codes "
                "{}\n', $history, $attempt, $capacity, $.stopCode, $.reason, $.exits)",
            },
            "Next": "Decide",
        },
        "Decide": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.ok", "BooleanEquals": True, "Next": "Succeeded"},
                {"Variable": "$.locked", "BooleanEquals": True, "Next": "PublishSkipped"},
                {
                    "And": [
                        {"Variable": "$fallback", "BooleanEquals": True},
                        {"Variable": "$.stopCode", "StringEquals": SPOT_STOP_CODE},
                    ],
                    "Next": "FallBackToOnDemand",
                },
            ],
            "Default": "RetryOrFail",
        },
        "NotStarted": {
            "Type": "Pass",
            "Comment": "RunTask refused or failed (e.g. no Spot capacity, throttling, access).",
            "Parameters": {"cause.$": "$.error.Cause", "error.$": "$.error.Error"},
            "Assign": {
                "history.$": "States.Format('{}attempt {} on {}: did not start: {} {}\n', "
                "$history, $attempt, $capacity, $.error, $.cause)",
            },
            "Next": "StartFailure",
        },
        "StartFailure": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        {"Variable": "$fallback", "BooleanEquals": True},
                        {
                            "Or": [
                                {"Variable": "$.error", "StringEquals": error}
                                for error in NOT_PLACED
                            ]
                        },
                    ],
                    "Next": "FallBackToOnDemand",
                }
            ],
            "Default": "RetryOrFail",
        },
        "FallBackToOnDemand": {
            "Type": "Pass",
            "Comment": "No Spot capacity or Spot interruption: the next attempt runs on FARGATE.",
            "Assign": {"capacity": "FARGATE", "strategy": strategy("FARGATE"), "fallback": False},
            "Next": "RunTask",
        },
        "RetryOrFail": retry_or_fail,
        "Backoff": {
            "Type": "Pass",
            "Parameters": {"seconds.$": "States.ArrayGetItem($delays, $retried)"},
            "Assign": {"retried.$": "States.MathAdd($retried, 1)"},
            "Next": "WaitBeforeRetry",
        },
        "WaitBeforeRetry": {"Type": "Wait", "SecondsPath": "$.seconds", "Next": "RunTask"},
        "FindTimedOutTask": {
            "Type": "Task",
            "Comment": "Timed out: find this execution's task (its group) to stop it.",
            "Resource": "arn:aws:states:::aws-sdk:ecs:listTasks",
            "Parameters": {
                "Cluster": target.cluster_arn,
                "Family": target.full_name,
                "DesiredStatus": "RUNNING",
            },
            "ResultSelector": {"arns.$": "$.TaskArns"},
            "ResultPath": "$.running",
            "Assign": {
                "history.$": "States.Format('{}attempt {} on {}: still running after "
                f"{job.timeout_minutes} minutes (timeoutMinutes)\n', $history, "
                "$attempt, $capacity)",
            },
            "Next": "AnyRunning",
            "Retry": RETRY_API,
            "Catch": stop_failed,
        },
        "AnyRunning": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.running.arns[0]", "IsPresent": True, "Next": "DescribeRunning"}
            ],
            "Default": "NothingToStop",
        },
        "NothingToStop": {
            "Type": "Pass",
            "Assign": {"history.$": "States.Format('{}no running task left to stop\n', $history)"},
            "Next": "PublishTimedOut",
        },
        "DescribeRunning": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:ecs:describeTasks",
            "Parameters": {"Cluster": target.cluster_arn, "Tasks.$": "$.running.arns"},
            "ResultSelector": {"tasks.$": "$.Tasks"},
            "ResultPath": "$.running",
            "Next": "StopTimedOutTask",
            "Retry": RETRY_API,
            "Catch": stop_failed,
        },
        "StopTimedOutTask": {
            "Type": "Map",
            "ItemsPath": "$.running.tasks",
            "ItemSelector": {
                "arn.$": "$$.Map.Item.Value.TaskArn",
                "group.$": "$$.Map.Item.Value.Group",
                "mine.$": "States.Format('sfn:{}', $$.Execution.Name)",
            },
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "Ours",
                "States": {
                    "Ours": {
                        "Type": "Choice",
                        "Choices": [
                            {
                                "Variable": "$.group",
                                "StringEqualsPath": "$.mine",
                                "Next": "StopTask",
                            }
                        ],
                        "Default": "NotOurs",
                    },
                    "NotOurs": {"Type": "Succeed"},
                    "StopTask": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::aws-sdk:ecs:stopTask",
                        "Parameters": {
                            "Cluster": target.cluster_arn,
                            "Task.$": "$.arn",
                            "Reason": f"Ran longer than timeoutMinutes ({job.timeout_minutes})",
                        },
                        "Retry": RETRY_API,
                        "End": True,
                    },
                },
            },
            "ResultPath": None,
            "Assign": {"history.$": "States.Format('{}its task was stopped\n', $history)"},
            "Next": "PublishTimedOut",
            "Catch": stop_failed,
        },
        "PublishSkipped": _publish(
            target,
            "skipped",
            f"SKIPPED: another run holds the lock of this job (exit code {LOCKED_EXIT}).",
            "Skipped",
        ),
        "PublishFailed": _publish(target, "failed", "FAILED: every attempt failed.", "Failed"),
        "PublishTimedOut": _publish(
            target,
            "timed-out",
            f"TIMED OUT: still running after {job.timeout_minutes} minutes (timeoutMinutes).",
            "TimedOut",
        ),
        **{f"NotPublished-{o}": not_published(o) for o in ("skipped", "failed", "timed-out")},
        "Succeeded": _outcome("succeeded"),
        "Skipped": _outcome("skipped"),
        "Failed": {
            "Type": "Fail",
            "Error": RUN_FAILED,
            "Cause": "Every attempt failed; the alert and this history say why.",
        },
        "TimedOut": {
            "Type": "Fail",
            "Error": RUN_TIMED_OUT,
            "Cause": f"Still running after {job.timeout_minutes} minutes; see the history.",
        },
    }
    return {
        "Comment": f"One scheduled slot of {target.full_name}: run, retry, one outcome.",
        "StartAt": "Prepare",
        "States": states,
    }


def _outcome(outcome: str) -> State:
    return {
        "Type": "Pass",
        "Parameters": {
            "outcome": outcome,
            "scheduledTime.$": "$scheduledTime",
            "attempts.$": "$attempt",
            "history.$": "$history",
        },
        "End": True,
    }


def execution_input(scheduled_time: str) -> dict[str, Any]:
    """What starts a slot: the schedule, run now and backfill send the same."""
    return {"scheduledTime": scheduled_time}
