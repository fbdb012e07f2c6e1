"""Missed-slot detection (pure: Amazon States Language as a dict).

A second schedule on the job's own expression starts this small workflow for every slot, with
the same ``scheduledTime``. It waits the flexible window plus ``missedRunGraceMinutes``, then
asks Step Functions (AWS SDK integrations, no Lambda) whether the job's state machine has an
execution for that scheduled time. If none started (the schedule was disabled by hand,
Scheduler could not deliver, the role broke), it publishes one "missed" alert. It works for any
schedule, monthly included, which a CloudWatch alarm cannot.

Bounded: ListExecutions is newest first, and Scheduler starts a slot's run at or after the
slot, so the watchdog stops at the first page that reaches back before the slot. Its work grows
with the executions started since the slot (one page for a schedule's ordinary pace), not with
the 90 days of executions Step Functions keeps, and its history stays far below 25,000 events.

A run that exists counts whatever its status: a run that ends badly alerts by itself (its
planned outcomes) or through the job's unplanned-end rule (specs/unplanned.py), so checking its
status here would alert twice; a run still going is bounded by its own timeouts.
"""

from __future__ import annotations

from typing import Any

from components.settings import JobSettings
from components.specs.state_machine import (
    RETRY_API,
    alert_not_published,
    execution_url,
    format_literal,
    not_published,
)

SLOT_MISSED = "SlotMissed"  # the planned end of a check that found no run (alerted)

# Executions read per ListExecutions call. ListExecutions is newest first ("Results are sorted
# by time, with the most recent execution first":
# https://docs.aws.amazon.com/step-functions/latest/apireference/API_ListExecutions.html), so the
# watchdog reads further pages only while every execution on the page started after the slot:
# it reads the executions started since the slot plus one page, however many are kept.
PAGE = 100


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
                "Comment": "The scheduledTime each execution of the page was started for, and "
                "whether it started before this slot.",
                "ItemsPath": "$.runs",
                "ItemSelector": {
                    "arn.$": "$$.Map.Item.Value.ExecutionArn",
                    "started.$": "$$.Map.Item.Value.StartDate",
                    "slot.$": "$.scheduledTime",
                },
                "MaxConcurrency": 10,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Age",
                    "States": {
                        "Age": {
                            "Type": "Choice",
                            "Choices": [
                                {
                                    "Variable": "$.started",
                                    "TimestampLessThanPath": "$.slot",
                                    "Next": "Older",
                                }
                            ],
                            "Default": "Newer",
                        },
                        "Older": {
                            "Type": "Pass",
                            "Parameters": {"arn.$": "$.arn", "before": True},
                            "Next": "Describe",
                        },
                        "Newer": {
                            "Type": "Pass",
                            "Parameters": {"arn.$": "$.arn", "before": False},
                            "Next": "Describe",
                        },
                        "Describe": {
                            "Type": "Task",
                            "Resource": "arn:aws:states:::aws-sdk:sfn:describeExecution",
                            "Parameters": {"ExecutionArn.$": "$.arn"},
                            "ResultSelector": {"input.$": "States.StringToJson($.Input)"},
                            "ResultPath": "$.described",
                            "Retry": RETRY_API,
                            "Next": "HasTime",
                        },
                        "HasTime": {
                            "Type": "Choice",
                            "Choices": [
                                {
                                    "Variable": "$.described.input.scheduledTime",
                                    "IsPresent": True,
                                    "Next": "Time",
                                }
                            ],
                            "Default": "NoTime",
                        },
                        "Time": {
                            "Type": "Pass",
                            "Parameters": {
                                "time.$": "$.described.input.scheduledTime",
                                "before.$": "$.before",
                            },
                            "End": True,
                        },
                        "NoTime": {
                            "Type": "Pass",
                            "Parameters": {"time": "", "before.$": "$.before"},
                            "End": True,
                        },
                    },
                },
                "ResultPath": "$.found",
                "Next": "Check",
            },
            "Check": {
                "Type": "Pass",
                "Parameters": {
                    "scheduledTime.$": "$.scheduledTime",
                    "times.$": "$.found[*].time",
                    "before.$": "$.found[*].before",
                },
                "Next": "Found",
            },
            "Found": {
                "Type": "Pass",
                "Parameters": {
                    "scheduledTime.$": "$.scheduledTime",
                    "started.$": "States.ArrayContains($.times, $.scheduledTime)",
                    "older.$": "States.ArrayContains($.before, true)",
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
                "Comment": "Newest first: once a page reaches back before the slot, no later "
                "page holds a run Scheduler started for it.",
                "Choices": [
                    {
                        "And": [
                            {"Variable": "$more", "BooleanEquals": True},
                            {"Variable": "$.older", "BooleanEquals": False},
                        ],
                        "Next": "ListMoreRuns",
                    }
                ],
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
                "Catch": alert_not_published("missed"),
                "Next": "Missed",
            },
            "NotPublished-missed": not_published("missed"),
            "Missed": {
                "Type": "Fail",
                "Error": SLOT_MISSED,
                "Cause": "No run started for this slot; on-call was alerted.",
            },
        },
    }
