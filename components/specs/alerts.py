"""What tells on-call that Scheduler could not start a job (pure): the dead-letter alarm, and
who may publish to the alerts topic. Run outcomes and missed slots are published by the job's
state machines (specs/state_machine.py, specs/watchdog.py), through their roles; executions
that end otherwise by the job's EventBridge rule (specs/unplanned.py)."""

from __future__ import annotations

from typing import Any

from components.specs.policies import VERSION, Policy

MAX_ALARM_WINDOW = 7 * 24 * 3600  # CloudWatch: Period x EvaluationPeriods <= 7 days
ONE_DAY = 24 * 3600
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}


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


def alerts_topic_policy(topic_arn: str, job_names: list[str], scope: str = "") -> Policy:
    """CloudWatch alarms and EventBridge rules of this stack's jobs (by each job's full name,
    names.full_name) may publish. By job, not by the stack prefix alone: `scheduled-etl-dev-*`
    would admit a sibling stack `dev-eu`'s alarms and rules too. (The state machines publish
    through their roles' identity policies, in the topic's own account.)
    EventBridge needs the topic's resource policy to publish to SNS:
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sns-permissions
    `scope` (a name prefix) starts the statements' Sids, for a topic that several prefixes'
    statements are added to: SNS refuses a policy whose statements share a Sid."""
    partition, region, account = topic_arn.split(":")[1:2] + topic_arn.split(":")[3:5]
    sid = "".join(c for c in scope.title() if c.isalnum())

    def publish(sid: str, service: str, source: list[str]) -> dict[str, Any]:
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
            publish(f"{sid}RunAlarms", "cloudwatch.amazonaws.com",
                    [f"arn:{partition}:cloudwatch:{region}:{account}:alarm:{job}-*"
                     for job in job_names]),
            publish(f"{sid}UnplannedEndRules", "events.amazonaws.com",
                    [f"arn:{partition}:events:{region}:{account}:rule/{job}-*"
                     for job in job_names]),
        ],
    }  # fmt: skip


def rule_dead_letter_policy(queue_arn: str, rule_arn: str) -> Policy:
    """EventBridge may put the events `rule` could not deliver into the queue (it sends as the
    service, not through a role):
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html"""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "UndeliveredEvents",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
            }
        ],
    }
