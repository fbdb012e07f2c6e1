"""A job's alerting: failed tasks, failed or missed runs, and undeliverable schedule invocations,
all to the stack's alerts topic."""

from __future__ import annotations

import json
from typing import Any, cast

import pulumi
import pulumi_aws as aws

from components import names
from components.alerts import dead_letter_alarm, failure_message, run_alarm, task_failure_pattern
from components.settings import JobSettings


class JobAlerts(pulumi.ComponentResource):
    dead_letter_queue: aws.sqs.Queue

    def __init__(
        self,
        name: str,
        job: JobSettings,
        *,
        full_name: str,
        topic_arn: pulumi.Input[str],
        cluster_arn: pulumi.Input[str],
        family_arn: pulumi.Input[str],
        region: pulumi.Input[str],
        log_group: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("scheduled-etl:etl:JobAlerts", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        # Invocations Scheduler could not deliver after its retries (e.g. RunTask refused).
        self.dead_letter_queue = aws.sqs.Queue(
            f"{name}-dlq",
            name=names.queue_name(full_name),
            sqs_managed_sse_enabled=True,
            message_retention_seconds=14 * 24 * 3600,
            opts=child,
        )
        aws.cloudwatch.MetricAlarm(
            f"{name}-dlq",
            name=names.dead_letter_alarm_name(full_name),
            alarm_description=f"Scheduler could not start {full_name}: see its dead-letter queue",
            dimensions={"QueueName": self.dead_letter_queue.name},
            alarm_actions=[topic_arn],
            **dead_letter_alarm(),
            opts=child,
        )

        rule = aws.cloudwatch.EventRule(
            f"{name}-task-failed",
            name=names.rule_name(full_name),
            description=f"A {full_name} task stopped with a non-zero exit code or never started",
            event_pattern=pulumi.Output.all(cluster_arn, family_arn).apply(
                lambda a: json.dumps(task_failure_pattern(a[0], a[1]))
            ),
            opts=child,
        )
        message = pulumi.Output.all(region, log_group).apply(
            lambda a: failure_message(full_name, a[0], a[1])
        )
        aws.cloudwatch.EventTarget(
            f"{name}-task-failed",
            rule=rule.name,
            arn=topic_arn,
            input_transformer=cast(
                pulumi.Input[aws.cloudwatch.EventTargetInputTransformerArgsDict], message
            ),
            opts=child,
        )

        alarm: dict[str, Any] = run_alarm(job)
        aws.cloudwatch.MetricAlarm(
            f"{name}-run",
            name=names.run_alarm_name(full_name),
            alarm_description=(
                f"{full_name}: a run failed"
                + (
                    ", or none succeeded in time"
                    if alarm["treat_missing_data"] == "breaching"
                    else ""
                )
            ),
            dimensions={"Job": full_name},
            alarm_actions=[topic_arn],
            ok_actions=[topic_arn],
            **alarm,
            opts=child,
        )
        self.register_outputs({"dead_letter_queue_arn": self.dead_letter_queue.arn})
