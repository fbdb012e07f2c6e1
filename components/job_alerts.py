"""A dead-letter queue and its alarm, to the stack's alerts topic: one for each of a job's
schedules (undeliverable invocations) and one for its unplanned-end rule (undeliverable
alerts). Run outcomes and missed slots are published by the job's state machines."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.specs import names
from components.specs.alerts import dead_letter_alarm


class JobAlerts(pulumi.ComponentResource):
    dead_letter_queue: aws.sqs.Queue  # invocations Scheduler could not deliver
    dead_letter_alarm: aws.cloudwatch.MetricAlarm  # pages the stack's topic when one arrives

    def __init__(
        self,
        name: str,
        *,
        full_name: str,
        topic_arn: pulumi.Input[str],
        sender: str = "Scheduler could not start",
        queue_policy: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("scheduled-etl:etl:JobAlerts", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        # What its sender could not deliver after its retries (e.g. RunTask refused). A service
        # that sends without a role (EventBridge) needs the queue's policy.
        self.dead_letter_queue = aws.sqs.Queue(
            f"{name}-dlq",
            name=names.queue_name(full_name),
            sqs_managed_sse_enabled=True,
            message_retention_seconds=14 * 24 * 3600,
            policy=queue_policy,
            opts=child,
        )
        self.dead_letter_alarm = aws.cloudwatch.MetricAlarm(
            f"{name}-dlq",
            name=names.dead_letter_alarm_name(full_name),
            alarm_description=f"{sender} {full_name}: see its dead-letter queue",
            dimensions={"QueueName": self.dead_letter_queue.name},
            alarm_actions=[topic_arn],
            **dead_letter_alarm(),
            opts=child,
        )

        self.register_outputs({"dead_letter_queue_arn": self.dead_letter_queue.arn})
