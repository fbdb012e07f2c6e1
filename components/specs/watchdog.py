"""Missed-slot detection (pure: Amazon States Language as a dict).

A second schedule on the job's own expression starts this small workflow for every slot, with
the same ``scheduledTime``. It waits the flexible window plus ``missedRunGraceMinutes``, then
asks Step Functions (AWS SDK integrations, no Lambda) whether the job's state machine has an
execution for that scheduled time. If none started (the schedule was disabled by hand,
Scheduler could not deliver, the role broke), it publishes one "missed" alert. It looks back as
far as a schedule reaches, monthly included, which a CloudWatch alarm cannot.
"""

from __future__ import annotations

from typing import Any

from components.settings import JobSettings
from components.specs.state_machine import RETRY_API, execution_url, format_literal

PAGE = 100  # executions read per ListExecutions call; further pages until the slot's run is found


def grace_seconds(job: JobSettings) -> int:
    return (job.flexible_window_minutes + job.missed_run_grace_minutes) * 60


def watchdog_definition(
    job: JobSettings, *, full_name: str, region: str, run_machine_arn: str, topic_arn: str
) -> dict[str, Any]:
    message = format_literal(
        f"MISSED: no run of {full_name} started for scheduled time %s within "
        f"{grace_seconds(job) // 60} minutes.\n\n"
        "Check the schedule (enabled? its dead-letter queue), and the state machine and its "
        f"role: {run_machine_arn}\n"
        f"This check: {execution_url(region).replace('{}', '%s')}\n"
        "Run the slot now: python -m tools.run_now <job> --scheduled-time %s\n"
    )
    return {
        "Comment": f"Alert when a slot of {full_name} has no run within its grace period.",
        "StartAt": "Grace",
        "States": {
            "Grace": {"Type": "Wait", "Seconds": grace_seconds(job), "Next": "ListRuns"},
            "ListRuns": {
                "Type": "Task",
                "Comment": "Newest first, a page at a time.",
                "Resource": "arn:aws:states:::aws-sdk:sfn:listExecutions",
                "Parameters": {"StateMachineArn": run_machine_arn, "MaxResults": PAGE},
                "ResultPath": "$.recent",
                "Retry": RETRY_API,
                "Next": "Paging",
            },
            "ListMoreRuns": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:sfn:listExecutions",
                "Parameters": {
                    "StateMachineArn": run_machine_arn,
                    "MaxResults": PAGE,
                    "NextToken.$": "$next",
                },
                "ResultPath": "$.recent",
                "Retry": RETRY_API,
                "Next": "Paging",
            },
            "Paging": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.recent.NextToken", "IsPresent": True, "Next": "KeepToken"}
                ],
                "Default": "LastPage",
            },
            "KeepToken": {
                "Type": "Pass",
                "Parameters": {
                    "scheduledTime.$": "$.scheduledTime",
                    "runs.$": "$.recent.Executions",
                    "next.$": "$.recent.NextToken",
                },
                "Assign": {"next.$": "$.next", "more": True},
                "Next": "ScheduledTimes",
            },
            "LastPage": {
                "Type": "Pass",
                "Parameters": {
                    "scheduledTime.$": "$.scheduledTime",
                    "runs.$": "$.recent.Executions",
                },
                "Assign": {"more": False},
                "Next": "ScheduledTimes",
            },
            "ScheduledTimes": {
                "Type": "Map",
                "Comment": "The scheduledTime each recent execution was started for.",
                "ItemsPath": "$.runs",
                "ItemSelector": {"arn.$": "$$.Map.Item.Value.ExecutionArn"},
                "MaxConcurrency": 10,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Describe",
                    "States": {
                        "Describe": {
                            "Type": "Task",
                            "Resource": "arn:aws:states:::aws-sdk:sfn:describeExecution",
                            "Parameters": {"ExecutionArn.$": "$.arn"},
                            "ResultSelector": {"input.$": "States.StringToJson($.Input)"},
                            "Retry": RETRY_API,
                            "Next": "HasTime",
                        },
                        "HasTime": {
                            "Type": "Choice",
                            "Choices": [
                                {
                                    "Variable": "$.input.scheduledTime",
                                    "IsPresent": True,
                                    "Next": "Time",
                                }
                            ],
                            "Default": "NoTime",
                        },
                        "Time": {
                            "Type": "Pass",
                            "OutputPath": "$.input.scheduledTime",
                            "End": True,
                        },
                        "NoTime": {"Type": "Pass", "Result": "", "End": True},
                    },
                },
                "ResultPath": "$.times",
                "Next": "Check",
            },
            "Check": {
                "Type": "Pass",
                "Parameters": {
                    "scheduledTime.$": "$.scheduledTime",
                    "started.$": "States.ArrayContains($.times, $.scheduledTime)",
                },
                "Next": "Started",
            },
            "Started": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.started", "BooleanEquals": True, "Next": "RunExists"}],
                "Default": "MorePages",
            },
            "MorePages": {
                "Type": "Choice",
                "Choices": [{"Variable": "$more", "BooleanEquals": True, "Next": "ListMoreRuns"}],
                "Default": "PublishMissed",
            },
            "RunExists": {"Type": "Succeed"},
            "PublishMissed": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {
                    "TopicArn": topic_arn,
                    "Subject": f"ETL missed: {full_name}",
                    "Message.$": f"States.Format({message}, $.scheduledTime, $$.Execution.Id, "
                    "$.scheduledTime)",
                },
                "ResultPath": None,
                "Retry": RETRY_API,
                "Next": "Missed",
            },
            "Missed": {
                "Type": "Fail",
                "Error": "SlotMissed",
                "Cause": "No run started for this slot; on-call was alerted.",
            },
        },
    }
