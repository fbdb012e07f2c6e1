"""Alerting: the dead-letter alarm and the topic policy (pure builders), and how each stack
wires the alerts topic to its state machines and alarms (mocked program). What the state
machines publish, and when, is executed in tests/state_machines/test_state_machines.py."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_models import errors

from components.specs.alerts import alerts_topic_policy, dead_letter_alarm
from components.specs.names import WATCHDOG_SUFFIX
from tools.offline import STACKS, rendered, stack_config

TOPIC = "arn:aws:sns:eu-west-1:123456789012:scheduled-etl-prod-alerts"


def test_dead_letter_alarm_fires_on_any_message() -> None:
    alarm = dead_letter_alarm()
    assert alarm["metric_name"] == "ApproximateNumberOfMessagesVisible"
    assert (alarm["comparison_operator"], alarm["threshold"]) == ("GreaterThanThreshold", 0)


def test_dead_letter_alarm_is_a_valid_alarm() -> None:
    alarm = {**dead_letter_alarm(), "dimensions": [{"Name": "QueueName", "Value": "q"}]}
    params = {"AlarmName": "a", **{_pascal(k): v for k, v in alarm.items()}}
    assert errors(params, "cloudwatch", "PutMetricAlarm") == ""


def _pascal(key: str) -> str:
    return "".join(part.title() for part in key.split("_"))


def test_topic_policy_admits_only_this_stacks_alarms_and_rules() -> None:
    jobs = ["scheduled-etl-prod-a", "scheduled-etl-prod-b"]
    alarms, rules = alerts_topic_policy(TOPIC, jobs)["Statement"]
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert alarms["Condition"]["ArnLike"] == {
        "aws:SourceArn": [f"arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{j}-*" for j in jobs]
    }
    assert rules["Principal"] == {"Service": "events.amazonaws.com"}
    assert rules["Condition"]["ArnLike"] == {
        "aws:SourceArn": [f"arn:aws:events:eu-west-1:123456789012:rule/{j}-*" for j in jobs]
    }
    for statement in (alarms, rules):
        assert (statement["Action"], statement["Resource"]) == ("sns:Publish", TOPIC)
        assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}


@pytest.mark.parametrize("stack", STACKS)
def test_every_job_is_wired_to_the_alerts_topic(stack: str) -> None:
    prog = rendered(stack)
    topic = prog.one("aws:sns/topic:Topic").outputs["arn"]
    email = stack_config(stack).get("scheduled-etl:alertEmail")
    subscriptions = prog.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert [(s.inputs["protocol"], s.inputs["endpoint"]) for s in subscriptions] == (
        [("email", email)] if email else []
    )
    jobs = stack_config(stack)["scheduled-etl:jobs"]
    alarms = prog.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    assert {f"{name}-dlq" for name in jobs} <= {a.name for a in alarms}
    # The topic takes only this stack's alarms (by name prefix): a misnamed or unwired alarm
    # would never page anyone.
    for alarm in alarms:
        assert alarm.inputs["name"].startswith(f"scheduled-etl-{stack}-"), alarm.name
        assert alarm.inputs["alarmActions"] == [topic], alarm.name
    for name in jobs:
        full = f"scheduled-etl-{stack}-{name}"
        # One publisher per outcome: the run state machine and its watchdog, nothing per task,
        # and one rule for executions of either that end outside the planned outcomes.
        [rule] = [r for r in prog.of_type("aws:cloudwatch/eventRule:EventRule")
                  if r.name == f"{name}-unplanned"]  # fmt: skip
        assert rule.inputs["name"].startswith(f"scheduled-etl-{stack}-")  # the topic admits it
        target = prog.one("aws:cloudwatch/eventTarget:EventTarget", f"{name}-unplanned").inputs
        assert (target["rule"], target["arn"]) == (rule.outputs["name"], topic)
        # What EventBridge cannot deliver to the topic goes to a queue of its own, which pages
        # through CloudWatch (another principal of the topic's policy).
        ended = prog.one("aws:sqs/queue:Queue", f"{name}-ended-dlq")
        assert target["deadLetterConfig"] == {"arn": ended.outputs["arn"]}
        [send] = json.loads(ended.inputs["policy"])["Statement"]
        assert send["Principal"] == {"Service": "events.amazonaws.com"}
        assert (send["Action"], send["Resource"]) == ("sqs:SendMessage", ended.outputs["arn"])
        assert send["Condition"] == {"ArnEquals": {"aws:SourceArn": rule.outputs["arn"]}}
        alarm = prog.one("aws:cloudwatch/metricAlarm:MetricAlarm", f"{name}-ended-dlq").inputs
        assert alarm["dimensions"] == {"QueueName": ended.inputs["name"]}
        assert alarm["alarmActions"] == [topic]
        for machine, role in ((f"{name}-run", f"{name}-run"), (f"{name}-watch", f"{name}-watch")):
            definition = prog.one("aws:sfn/stateMachine:StateMachine", machine).inputs["definition"]
            publish = [state for state in _states(json.loads(definition))
                       if state.get("Resource") == "arn:aws:states:::sns:publish"]  # fmt: skip
            assert publish and {p["Parameters"]["TopicArn"] for p in publish} == {topic}
            policy = json.loads(prog.one("aws:iam/rolePolicy:RolePolicy", role).inputs["policy"])
            assert {"Sid": "Alert", "Effect": "Allow", "Action": "sns:Publish",
                    "Resource": topic} in policy["Statement"]  # fmt: skip
        # Each schedule dead-letters into its own queue, each queue pages on-call.
        for schedule_name in (name, f"{name}-watch"):
            dlq = prog.one("aws:sqs/queue:Queue", f"{schedule_name}-dlq")
            assert dlq.inputs["sqsManagedSseEnabled"] is True
            schedule = prog.one("aws:scheduler/schedule:Schedule", schedule_name).inputs
            assert schedule["target"]["deadLetterConfig"] == {"arn": dlq.outputs["arn"]}
            alarm = prog.one("aws:cloudwatch/metricAlarm:MetricAlarm", f"{schedule_name}-dlq")
            assert alarm.inputs["dimensions"] == {"QueueName": dlq.inputs["name"]}
            assert alarm.inputs["alarmActions"] == [topic]
        assert prog.one("aws:scheduler/schedule:Schedule", f"{name}-watch").inputs["name"] == (
            full + WATCHDOG_SUFFIX
        )


def _states(definition: dict[str, Any]) -> list[dict[str, Any]]:
    """Every state, those inside Map states too."""
    found = []
    for state in definition["States"].values():
        found.append(state)
        if "ItemProcessor" in state:
            found += _states(state["ItemProcessor"])
    return found
