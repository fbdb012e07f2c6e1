"""Alerting: the failure event pattern and message, the run and dead-letter alarms, the topic
policy (pure builders), and how each stack wires them (mocked program)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_models import errors

from components.alerts import (
    MAX_ALARM_WINDOW,
    alerts_topic_policy,
    dead_letter_alarm,
    failure_message,
    log_group_url,
    run_alarm,
    schedule_interval,
    task_failure_pattern,
)
from components.event_input import input_transformer_problems
from components.offline import STACKS, run_program, stack_config
from components.settings import JobSettings, parse_settings

CLUSTER = "arn:aws:ecs:eu-west-1:123456789012:cluster/etl"
FAMILY = "arn:aws:ecs:eu-west-1:123456789012:task-definition/scheduled-etl-prod-monthly-orders"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:scheduled-etl-prod-alerts"


def make_job(**fields: Any) -> JobSettings:
    return parse_settings({"image": {"build": {}}, "jobs": {"j1": fields}}).jobs["j1"]


def test_failure_pattern_selects_this_family_and_failures_only() -> None:
    pattern = task_failure_pattern(CLUSTER, FAMILY)
    detail = pattern["detail"]
    assert pattern["source"] == ["aws.ecs"] and pattern["detail-type"] == ["ECS Task State Change"]
    assert detail["clusterArn"] == [CLUSTER]
    assert detail["taskDefinitionArn"] == [
        {"prefix": f"{FAMILY}:"}
    ]  # every revision, no other family
    assert detail["lastStatus"] == ["STOPPED"]
    assert detail["$or"] == [
        {"containers": {"exitCode": [{"anything-but": 0}]}},
        {"stopCode": ["TaskFailedToStart"]},
    ]
    assert errors({"Name": "r", "EventPattern": json.dumps(pattern)}, "events", "PutRule") == ""


def test_failure_message_is_readable_and_valid() -> None:
    message = failure_message("scheduled-etl-prod-monthly-orders", "eu-west-1", "/ecs/x-y")
    template = message["input_template"]
    assert input_transformer_problems(message["input_paths"], template) == []
    filled = json.loads(template.replace("<reason>", '"Essential container in task exited"'))
    assert filled["summary"].startswith(
        "Scheduled ETL job scheduled-etl-prod-monthly-orders failed at <time>."
    )
    for variable in message["input_paths"]:
        assert f"<{variable}>" in template
    assert filled["logs"].endswith("#logsV2:log-groups/log-group/$252Fecs$252Fx-y")
    target = {"Id": "t", "Arn": TOPIC, "InputTransformer": {
        "InputPathsMap": message["input_paths"], "InputTemplate": template}}  # fmt: skip
    assert errors({"Rule": "r", "Targets": [target]}, "events", "PutTargets") == ""


def test_log_group_url() -> None:
    assert log_group_url("eu-west-1", "/ecs/a").endswith("log-group/$252Fecs$252Fa")


@pytest.mark.parametrize(
    ("fields", "interval"),
    [
        ({"schedule": "rate(15 minutes)"}, 900),
        ({"schedule": "rate(1 day)"}, 86400),
        ({"schedule": "cron(0 4 * * ? *)"}, 86400),
        ({"schedule": "cron(0 6 ? * MON *)", "timezone": "Europe/Berlin"}, 7 * 86400 + 3600),
        ({"schedule": "cron(0 4 1 * ? *)"}, 31 * 86400),
        ({"schedule": "at(2027-01-01T04:00:00)"}, None),
    ],
)
def test_schedule_interval(fields: dict[str, Any], interval: float | None) -> None:
    assert schedule_interval(make_job(**fields)) == interval


def test_daily_runs_alarm_when_missed() -> None:
    alarm = run_alarm(make_job(schedule="cron(0 4 * * ? *)", missedRunGraceMinutes=90))
    assert alarm["treat_missing_data"] == "breaching"
    assert alarm["period"] == 86400 + 90 * 60
    assert (alarm["statistic"], alarm["comparison_operator"], alarm["threshold"]) == (
        "Minimum",
        "LessThanThreshold",
        1,
    )


def test_monthly_runs_alarm_on_failure_only() -> None:
    alarm = run_alarm(make_job())  # the article's monthly schedule
    assert alarm["treat_missing_data"] == "notBreaching" and alarm["period"] == 86400


def test_disabled_jobs_do_not_alarm_on_silence() -> None:
    alarm = run_alarm(make_job(schedule="rate(1 hour)", enabled=False))
    assert alarm["treat_missing_data"] == "notBreaching"


@pytest.mark.parametrize("schedule", ["rate(5 minutes)", "rate(6 days)", "cron(0 4 * * ? *)"])
def test_alarm_windows_fit_cloudwatch(schedule: str) -> None:
    alarm = {
        **run_alarm(make_job(schedule=schedule)),
        "dimensions": [{"Name": "Job", "Value": "j"}],
    }
    assert (
        alarm["period"] % 60 == 0
        and alarm["period"] * alarm["evaluation_periods"] <= MAX_ALARM_WINDOW
    )
    params = {"AlarmName": "a", **{_pascal(k): v for k, v in alarm.items()}}
    assert errors(params, "cloudwatch", "PutMetricAlarm") == ""


def _pascal(key: str) -> str:
    return "".join(part.title() for part in key.split("_"))


def test_dead_letter_alarm_fires_on_any_message() -> None:
    alarm = dead_letter_alarm()
    assert alarm["metric_name"] == "ApproximateNumberOfMessagesVisible"
    assert (alarm["comparison_operator"], alarm["threshold"]) == ("GreaterThanThreshold", 0)


def test_topic_policy_admits_only_this_stacks_rules_and_alarms() -> None:
    events, alarms = alerts_topic_policy(TOPIC, "scheduled-etl-prod")["Statement"]
    assert events["Principal"] == {"Service": "events.amazonaws.com"}
    assert events["Condition"]["ArnLike"] == {
        "aws:SourceArn": "arn:aws:events:eu-west-1:123456789012:rule/scheduled-etl-prod-*"
    }
    assert alarms["Condition"]["ArnLike"] == {
        "aws:SourceArn": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:scheduled-etl-prod-*"
    }
    assert {s["Action"] for s in (events, alarms)} == {"sns:Publish"}
    assert all(s["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
               for s in (events, alarms))  # fmt: skip


@pytest.mark.parametrize("stack", STACKS)
def test_every_job_is_wired_to_the_alerts_topic(stack: str) -> None:
    prog = run_program(stack)
    topic = prog.one("aws:sns/topic:Topic").outputs["arn"]
    email = stack_config(stack).get("scheduled-etl:alertEmail")
    subscriptions = prog.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert [(s.inputs["protocol"], s.inputs["endpoint"]) for s in subscriptions] == (
        [("email", email)] if email else []
    )
    for name in stack_config(stack)["scheduled-etl:jobs"]:
        full = f"scheduled-etl-{stack}-{name}"
        rule = prog.one("aws:cloudwatch/eventRule:EventRule", f"{name}-task-failed")
        family = prog.one("aws:ecs/taskDefinition:TaskDefinition", name).outputs[
            "arnWithoutRevision"
        ]
        assert json.loads(rule.inputs["eventPattern"])["detail"]["taskDefinitionArn"] == [
            {"prefix": f"{family}:"}
        ]
        target = prog.one("aws:cloudwatch/eventTarget:EventTarget", f"{name}-task-failed").inputs
        assert (target["rule"], target["arn"]) == (rule.inputs["name"], topic)
        assert full in target["inputTransformer"]["inputTemplate"]
        run = prog.one("aws:cloudwatch/metricAlarm:MetricAlarm", f"{name}-run").inputs
        assert run["dimensions"] == {"Job": full} and run["alarmActions"] == [topic]
        dlq = prog.one("aws:sqs/queue:Queue", f"{name}-dlq")
        assert dlq.inputs["sqsManagedSseEnabled"] is True
        schedule = prog.one("aws:scheduler/schedule:Schedule", name).inputs
        assert schedule["target"]["deadLetterConfig"] == {"arn": dlq.outputs["arn"]}
        dlq_alarm = prog.one("aws:cloudwatch/metricAlarm:MetricAlarm", f"{name}-dlq").inputs
        assert dlq_alarm["dimensions"] == {"QueueName": dlq.inputs["name"]}
        task = prog.one("aws:ecs/taskDefinition:TaskDefinition", name)
        app = next(c for c in json.loads(task.inputs["containerDefinitions"]) if c["name"] == "app")
        assert {"name": "JOB_NAME", "value": full} in app["environment"]  # the metrics' Job
