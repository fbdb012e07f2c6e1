"""AWS rules beyond the models (components/specs/aws_rules.py): the real requests pass, and each
planted violation is reported by the rule that cites the documentation for it."""

# One case per line reads as a table; long lines are the point here.
# ruff: noqa: E501

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from components.settings import ConfigError, parse_settings
from components.specs import aws_rules
from components.specs.containers import TaskInputs, container_definitions, task_volumes

INPUTS = TaskInputs(
    app_image="123456789012.dkr.ecr.eu-west-1.amazonaws.com/app@sha256:" + "0" * 64,
    secret_arn="arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf",
    log_group="/ecs/scheduled-etl-dev-j1",
    region="eu-west-1",
    bucket="data-bucket",
    job_name="scheduled-etl-dev-j1",
)


def task_definition() -> dict[str, Any]:
    job = parse_settings({"image": {"build": {}}, "jobs": {"j1": {}}}).jobs["j1"]
    return {
        "family": "scheduled-etl-dev-j1",
        "requiresCompatibilities": ["FARGATE"],
        "networkMode": "awsvpc",
        "containerDefinitions": container_definitions(job, INPUTS),
        "volumes": task_volumes(job),
    }


def schedule(**ecs: Any) -> dict[str, Any]:
    vpc = {"Subnets": ["subnet-1"], "AssignPublicIp": "DISABLED"}
    return {"Name": "s", "Target": {"Arn": "a", "RoleArn": "r", "EcsParameters": {
        "TaskDefinitionArn": "t", "LaunchType": "FARGATE",
        "NetworkConfiguration": {"awsvpcConfiguration": vpc}, **ecs}}}  # fmt: skip


def container(request: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in request["containerDefinitions"] if c["name"] == name)


def test_the_programs_task_definition_keeps_every_rule() -> None:
    assert aws_rules.rule_problems("RegisterTaskDefinition", task_definition()) == []


Plant = Callable[[dict[str, Any]], None]
TASK_CASES: list[tuple[str, Plant, str]] = [
    ("interval too short", lambda r: container(r, "mysql")["healthCheck"].update(interval=4),
     "healthCheck.interval 4 is outside 5-300"),
    ("retries too many", lambda r: container(r, "mysql")["healthCheck"].update(retries=11),
     "healthCheck.retries 11 is outside 1-10"),
    ("timeout too long", lambda r: container(r, "mysql")["healthCheck"].update(timeout=121),
     "healthCheck.timeout 121 is outside 2-120"),
    ("start period too long", lambda r: container(r, "mysql")["healthCheck"].update(startPeriod=301),
     "healthCheck.startPeriod 301 is outside 0-300"),
    ("stopTimeout over Fargate's 120", lambda r: container(r, "app").update(stopTimeout=121),
     "stopTimeout 121 is above Fargate's 120 s"),
    ("startTimeout over Fargate's 120", lambda r: container(r, "mysql").update(startTimeout=121),
     "startTimeout 121 is outside Fargate's 2-120 s"),
    ("SUCCESS on an essential container",
     lambda r: container(r, "app").update(dependsOn=[{"containerName": "mysql", "condition": "SUCCESS"}]),
     "dependsOn mysql SUCCESS, but mysql is essential"),
    ("COMPLETE on an essential container",
     lambda r: container(r, "app").update(dependsOn=[{"containerName": "mysql", "condition": "COMPLETE"}]),
     "dependsOn mysql COMPLETE, but mysql is essential"),
    ("HEALTHY without a health check", lambda r: container(r, "mysql").pop("healthCheck"),
     "dependsOn mysql HEALTHY, but mysql has no healthCheck"),
    ("unknown container", lambda r: container(r, "app").update(
        dependsOn=[{"containerName": "db", "condition": "START"}]), "dependsOn 'db' is not another"),
    ("dependency cycle", lambda r: container(r, "mysql").update(
        dependsOn=[{"containerName": "app", "condition": "START"}]), "form a cycle"),
    ("no essential container", lambda r: [c.update(essential=False) for c in r["containerDefinitions"]],
     "at least one essential container"),
    ("duplicate names", lambda r: container(r, "mysql").update(name="app"), "must be unique"),
    ("unknown volume", lambda r: r.update(volumes=[]), "mount of unknown volume 'mysql'"),
    ("awslogs without a stream prefix on Fargate",
     lambda r: container(r, "app")["logConfiguration"]["options"].pop("awslogs-stream-prefix"),
     "awslogs needs ['awslogs-stream-prefix']"),
    ("hostPort differs in awsvpc", lambda r: container(r, "mysql").update(
        portMappings=[{"containerPort": 3306, "hostPort": 1, "protocol": "tcp"}]),
     "hostPort 1 differs from 3306"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "plant", "expected"), TASK_CASES, ids=[c[0] for c in TASK_CASES])
def test_planted_task_definition_violations(case: str, plant: Plant, expected: str) -> None:
    request = copy.deepcopy(task_definition())
    plant(request)
    problems = aws_rules.rule_problems("RegisterTaskDefinition", request)
    assert any(expected in p for p in problems), (case, problems)


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        # What dev declared before issue 9: FARGATE_SPOT (a strategy, no launch type) + public IP.
        ({"LaunchType": None, "CapacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT"}],
          "NetworkConfiguration": {"awsvpcConfiguration": {"Subnets": ["s"], "AssignPublicIp": "ENABLED"}}},
         "AssignPublicIp ENABLED needs LaunchType FARGATE"),
        ({"CapacityProviderStrategy": [{"capacityProvider": "FARGATE"}]}, "not both"),
    ],
)  # fmt: skip
def test_planted_schedule_placement_violations(request_: dict[str, Any], expected: str) -> None:
    request = schedule(**request_)
    ecs = request["Target"]["EcsParameters"]
    if ecs.get("LaunchType") is None:
        ecs.pop("LaunchType")
    assert any(expected in p for p in aws_rules.rule_problems("CreateSchedule", request))


def test_a_valid_schedule_passes() -> None:
    request = {**schedule(), "StartDate": "2030-01-01T00:00:00Z", "EndDate": "2031-01-01T00:00:00Z"}
    assert aws_rules.rule_problems("CreateSchedule", request) == []


@pytest.mark.parametrize(
    ("dates", "expected"),
    [
        ({"StartDate": "2030-01-01"}, "expected a UTC timestamp"),  # date only
        ({"StartDate": "2030-01-01T00:00:00"}, "expected a UTC timestamp"),  # naive
        ({"EndDate": "2030-01-01T00:00:00+02:00"}, "expected a UTC timestamp"),  # not UTC
        ({"StartDate": "2030-02-30T00:00:00Z"}, "not a calendar date"),
        (
            {"StartDate": "2031-01-01T00:00:00Z", "EndDate": "2030-01-01T00:00:00Z"},
            "before EndDate",
        ),
    ],
)
def test_planted_schedule_date_violations(dates: dict[str, str], expected: str) -> None:
    problems = aws_rules.rule_problems("CreateSchedule", {**schedule(), **dates})
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"startDate": "2030-01-01"}, 'jobs.j1.startDate = "2030-01-01": expected a UTC'),
        ({"endDate": "2030-01-01T00:00:00"}, "jobs.j1.endDate"),
        ({"startDate": "2031-01-01T00:00:00Z", "endDate": "2030-01-01T00:00:00Z"}, "is not before"),
        # As strings the start sorts first ('.' < 'Z'); as times it is half a second later.
        (
            {"startDate": "2030-01-01T00:00:00.5Z", "endDate": "2030-01-01T00:00:00Z"},
            "is not before",
        ),
    ],
)
def test_settings_reject_what_scheduler_would(fields: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:  # default network: public IPs
        parse_settings({"image": {"build": {}}, "jobs": {"j1": fields}})
    assert expected in str(caught.value), str(caught.value)


@pytest.mark.parametrize("architecture", ["X86_64", "ARM64"])
@pytest.mark.parametrize("platform", ["LATEST", "1.4.0"])
@pytest.mark.parametrize("network", [{"mode": "new"}, {"mode": "default"}])
def test_spot_runs_with_or_without_public_ips_on_either_architecture(
    network: dict[str, str], platform: str, architecture: str
) -> None:
    """Step Functions calls RunTask, whose AwsVpcConfiguration sets no launch-type condition
    on assignPublicIp (Scheduler's ECS target did, API_AwsVpcConfiguration of Scheduler):
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_AwsVpcConfiguration.html
    FARGATE_SPOT supports X86_64 on platform 1.3.0 or later and ARM64 on 1.4.0 or later (the
    user guide's older "ARM64 is not supported" is superseded):
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CapacityProviderStrategyItem.html"""
    job = {"capacity": "FARGATE_SPOT", "architecture": architecture, "platformVersion": platform}
    settings = parse_settings({"network": network, "image": {"build": {}}, "jobs": {"j1": job}})
    assert settings.jobs["j1"].capacity == "FARGATE_SPOT"


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"MessageRetentionPeriod": "1209601"}, "not an integer in 60-1209600"),
        ({"MessageRetentionPeriod": "14 days"}, "not an integer"),
        ({"SqsManagedSseEnabled": "True"}, "is not 'true' or 'false'"),
    ],
)
def test_planted_queue_attribute_violations(attributes: dict[str, str], expected: str) -> None:
    problems = aws_rules.rule_problems("CreateQueue", {"QueueName": "q", "Attributes": attributes})
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    ("alarm", "expected"),
    [
        ({"Period": 90}, "not 10, 20, 30 or a multiple of 60"),
        ({"Period": 3000, "EvaluationPeriods": 30}, "exceeds 86400 s"),
        ({"Period": 86400, "EvaluationPeriods": 8}, "exceeds 604800 s"),
    ],
)
def test_planted_alarm_period_violations(alarm: dict[str, int], expected: str) -> None:
    assert any(expected in p for p in aws_rules.rule_problems("PutMetricAlarm", alarm))


@pytest.mark.parametrize(
    ("input_", "expected"),
    [
        (
            '{"containerOverrides": [{"name": "app", "environment": [{"name": "T", "value": "<aws.scheduler.scheduled_time>"}]}]}',
            "<aws.scheduler.scheduled_time>, which is not a Scheduler context attribute",
        ),
        (
            '{"containerOverrides": [<aws.scheduler.scheduled-time>]}',
            "not valid JSON once filled in",
        ),
        ('"<aws.scheduler.scheduled-time>"', "must be a JSON object"),
    ],
)
def test_planted_schedule_input_violations(input_: str, expected: str) -> None:
    request = schedule()
    request["Target"]["Input"] = input_
    problems = aws_rules.rule_problems("CreateSchedule", request)
    assert any(expected in p for p in problems), problems


def test_the_programs_schedule_input_passes() -> None:
    from components.specs.schedule import SCHEDULED_TIME  # noqa: PLC0415

    request = schedule()
    request["Target"]["Input"] = json.dumps({"scheduledTime": SCHEDULED_TIME})
    assert aws_rules.rule_problems("CreateSchedule", request) == []


def test_planted_iam_size_violations() -> None:
    statement = {
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::b/" + "k" * 100,
    }
    big = json.dumps({"Version": "2012-10-17", "Statement": [statement] * 20})
    assert (
        "the quota is 2048"
        in aws_rules.rule_problems("CreateRole", {"AssumeRolePolicyDocument": big})[0]
    )
    puts = [
        ("PutRolePolicy", {"RoleName": "r", "PolicyName": f"p{i}", "PolicyDocument": big})
        for i in range(5)
    ]
    assert "inline policies total" in aws_rules.role_inline_policies(puts)[0]
    assert aws_rules.role_inline_policies(puts[:1]) == []


@pytest.mark.parametrize(
    ("request_", "operation", "expected"),
    [
        (
            {"GroupName": "sg-tasks", "Description": "d"},
            "CreateSecurityGroup",
            "may not start with sg-",
        ),
        (
            {"GroupName": "g", "Description": "Outbound HTTPS — only"},
            "CreateSecurityGroup",
            "Description",
        ),
        (
            {
                "GroupId": "g",
                "IpPermissions": [
                    {
                        "IpProtocol": "tcp",
                        "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "x" * 256}],
                    }
                ],
            },
            "AuthorizeSecurityGroupEgress",
            "IpRanges.Description",
        ),
        (
            {
                "GroupId": "g",
                "IpPermissions": [
                    {
                        "IpProtocol": "tcp",
                        "UserIdGroupPairs": [{"GroupId": "sg-1", "Description": "peers — db"}],
                    }
                ],
            },
            "AuthorizeSecurityGroupIngress",
            "UserIdGroupPairs.Description",
        ),
    ],
)
def test_planted_security_group_text_violations(
    request_: dict[str, Any], operation: str, expected: str
) -> None:
    assert any(expected in p for p in aws_rules.rule_problems(operation, request_))


def test_planted_override_of_an_unknown_container() -> None:
    task = task_definition()
    request = schedule()
    request["Name"] = "s"
    request["Target"]["EcsParameters"]["TaskDefinitionArn"] = (
        "arn:aws:ecs:eu-west-1:123456789012:task-definition/scheduled-etl-dev-j1:3"
    )
    request["Target"]["Input"] = '{"containerOverrides": [{"name": "etl"}]}'
    requests = [("RegisterTaskDefinition", task), ("CreateSchedule", request)]
    assert aws_rules.overrides_name_containers(requests) == [
        "schedule s: overrides name ['etl'], not containers of scheduled-etl-dev-j1"
    ]
    request["Target"]["Input"] = '{"containerOverrides": [{"name": "app"}]}'
    assert aws_rules.overrides_name_containers(requests) == []


def test_planted_put_targets_placeholder_is_caught_through_rule_problems() -> None:
    """The entry point the stack check uses (rule_problems) runs the input-transformer rule."""
    request = {"Rule": "r", "Targets": [{"Id": "t", "Arn": "arn:aws:sns:eu-west-1:1:a",
        "InputTransformer": {"InputPathsMap": {"reason": "$.detail.stoppedReason"},
                             "InputTemplate": '{"r": <reason>, "s": "<task id>"}'}}]}  # fmt: skip
    problems = aws_rules.rule_problems("PutTargets", request)
    assert any("target t: InputTemplate contains invalid placeholder <task id>" in p
               for p in problems), problems  # fmt: skip
    fixed = copy.deepcopy(request)
    fixed["Targets"][0]["InputTransformer"]["InputTemplate"] = '{"r": <reason>}'
    assert aws_rules.rule_problems("PutTargets", fixed) == []


@pytest.mark.parametrize(
    ("start", "past"),
    [
        ("2030-01-01T11:56:00Z", False),  # 4 minutes ago: Scheduler still takes it
        ("2030-01-01T11:54:59Z", True),  # more than 5 minutes ago
        ("2029-12-31T12:00:00Z", True),
    ],
)
def test_a_start_date_in_the_past_is_rejected_when_the_stack_loads(start: str, past: bool) -> None:
    from datetime import UTC, datetime  # noqa: PLC0415

    from components.settings import start_date_problems  # noqa: PLC0415

    settings = parse_settings({"image": {"build": {}}, "jobs": {"j1": {"startDate": start}}})
    problems = start_date_problems(settings, datetime(2030, 1, 1, 12, tzinfo=UTC))
    if past:
        assert len(problems) == 1
        assert f'scheduled-etl:jobs.j1.startDate = "{start}": is in the past' in str(problems[0])
        assert "earlier than 5 minutes ago" in str(problems[0])
    else:
        assert problems == []
