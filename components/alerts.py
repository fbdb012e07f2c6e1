"""What tells on-call about a bad run (pure): the ECS task-failure event pattern and its
readable message, the run and dead-letter alarms, and who may publish to the alerts topic."""

from __future__ import annotations

import itertools
import json
import math
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from pyawscron import AWSCron

from components.policies import VERSION, Policy
from components.settings import JobSettings

METRICS_NAMESPACE = "ScheduledEtl"  # etl/metrics.py writes these with the Job dimension
MAX_ALARM_WINDOW = 7 * 24 * 3600  # CloudWatch: Period x EvaluationPeriods <= 7 days
ONE_DAY = 24 * 3600
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}


def task_failure_pattern(cluster_arn: str, family_arn: str) -> dict[str, Any]:
    """STOPPED tasks of this job's family that failed: a container exited non-zero, or the
    task never started. (EventBridge matches each field of an array element on its own, so
    this is any container; the sidecar exits 0 on the SIGTERM that stops it after the app.)"""
    return {
        "source": ["aws.ecs"],
        "detail-type": ["ECS Task State Change"],
        "detail": {
            "clusterArn": [cluster_arn],
            "taskDefinitionArn": [{"prefix": f"{family_arn}:"}],
            "lastStatus": ["STOPPED"],
            "$or": [
                {"containers": {"exitCode": [{"anything-but": 0}]}},
                {"stopCode": ["TaskFailedToStart"]},
            ],
        },
    }


def log_group_url(region: str, group: str) -> str:
    encoded = quote(group, safe="").replace("%", "$25")  # the console's own escaping
    return (f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
            f"#logsV2:log-groups/log-group/{encoded}")  # fmt: skip


def failure_message(job: str, region: str, log_group: str) -> dict[str, Any]:
    """EventBridge input transformer: the event as one readable SNS message (a JSON object).

    Placeholders are input paths only (components/event_input.py holds the rules). The
    stopped reason is free text, which EventBridge does not escape inside a string, so it
    stands as a JSON value; exit codes may be absent (a container that never ran), so they
    stand inside the summary string, where an absent one leaves a blank.
    """
    return {
        "input_paths": {
            "time": "$.time",
            "task": "$.detail.taskArn",
            "stopCode": "$.detail.stopCode",
            "reason": "$.detail.stoppedReason",
            "name0": "$.detail.containers[0].name",
            "exit0": "$.detail.containers[0].exitCode",
            "name1": "$.detail.containers[1].name",
            "exit1": "$.detail.containers[1].exitCode",
        },
        "input_template": json.dumps(
            {
                "summary": f"Scheduled ETL job {job} failed at <time>. Stop code <stopCode>. "
                "Exit codes: <name0>=<exit0>, <name1>=<exit1>.",
                "reason": "REASON",
                "task": "<task>",
                "logs": log_group_url(region, log_group),
                "logStream": "app/app/ and the task ID (the last part of the task ARN)",
            }
        ).replace('"REASON"', "<reason>"),
    }


def schedule_interval(job: JobSettings) -> float | None:
    """The longest gap between two runs, in seconds (None for a one-off at())."""
    expression = job.schedule
    if match := re.fullmatch(r"rate\((\d+) (minute|hour|day)s?\)", expression):
        return int(match[1]) * _UNITS[match[2]]
    if expression.startswith("cron("):
        # From a fixed date, so the program declares the same alarm whenever it runs.
        runs = AWSCron.get_next_n_schedule(40, datetime(2030, 1, 1, tzinfo=UTC), expression[5:-1])
        if len(runs) < 2:
            return None
        gap = float(max((b - a).total_seconds() for a, b in itertools.pairwise(runs)))
        return gap + (0 if job.timezone == "UTC" else 3600)  # daylight saving shifts by 1 h
    return None


def run_alarm(job: JobSettings) -> dict[str, Any]:
    """The alarm on the job's `Succeeded` metric (1 per good run, 0 per failed one).

    A failed run always alarms (Minimum < 1). A run that did not happen alarms too when the
    schedule's longest gap plus the grace time fits CloudWatch's 7-day window: missing data
    then counts as breaching. Longer schedules (e.g. monthly) cannot be watched for absence by
    an alarm; their missed starts surface through the dead-letter queue alarm instead.
    """
    interval = schedule_interval(job)
    grace = job.missed_run_grace_minutes * 60 + job.flexible_window_minutes * 60
    watch_missing = job.enabled and interval is not None and interval + grace <= MAX_ALARM_WINDOW
    period = math.ceil((interval or 0) + grace) if watch_missing else ONE_DAY
    return {
        "namespace": METRICS_NAMESPACE,
        "metric_name": "Succeeded",
        "statistic": "Minimum",
        "comparison_operator": "LessThanThreshold",
        "threshold": 1,
        "evaluation_periods": 1,
        "period": math.ceil(period / 60) * 60,
        "treat_missing_data": "breaching" if watch_missing else "notBreaching",
    }


def dead_letter_alarm() -> dict[str, Any]:
    """Any message in the schedule's dead-letter queue: Scheduler could not start the task."""
    return {
        "namespace": "AWS/SQS",
        "metric_name": "ApproximateNumberOfMessagesVisible",
        "statistic": "Maximum",
        "comparison_operator": "GreaterThanThreshold",
        "threshold": 0,
        "evaluation_periods": 1,
        "period": 300,
        "treat_missing_data": "notBreaching",
    }


def alerts_topic_policy(topic_arn: str, name_prefix: str) -> Policy:
    """EventBridge rules and CloudWatch alarms of this stack (by name prefix) may publish."""
    partition, region, account = topic_arn.split(":")[1:2] + topic_arn.split(":")[3:5]

    def publish(sid: str, service: str, source: str) -> dict[str, Any]:
        return {
            "Sid": sid,
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "sns:Publish",
            "Resource": topic_arn,
            "Condition": {
                "StringEquals": {"aws:SourceAccount": account},
                "ArnLike": {"aws:SourceArn": source},
            },
        }

    return {
        "Version": VERSION,
        "Statement": [
            publish("TaskFailureRules", "events.amazonaws.com",
                    f"arn:{partition}:events:{region}:{account}:rule/{name_prefix}-*"),
            publish("RunAlarms", "cloudwatch.amazonaws.com",
                    f"arn:{partition}:cloudwatch:{region}:{account}:alarm:{name_prefix}-*"),
        ],
    }  # fmt: skip
