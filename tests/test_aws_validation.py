"""Every resource each stack declares, as the AWS requests that create it, validated against
botocore's service models as strictly as AWS validates them (tests/aws_models.py), plus the
AWS rules the models cannot express (components/aws_rules.py)."""

# One case per line reads as a table; long lines are the point here.
# ruff: noqa: E501

from __future__ import annotations

import copy
import dataclasses
import functools
from typing import Any

import pytest
from aws_models import errors
from aws_requests import OPAQUE, REQUESTS, requests_for, translate, unaccounted_inputs

from components.aws_rules import STACK_RULES, rule_problems
from components.offline import STACKS, Program, Registered, run_program


@functools.cache
def _program(stack: str) -> Program:
    return run_program(stack)


@pytest.fixture(scope="module", params=STACKS)
def program(request: pytest.FixtureRequest) -> Program:
    return _program(request.param)


def problems_of(resource: Registered) -> list[str]:
    """Everything the validation layer reports for one resource: inputs no request carries,
    model errors and AWS rules."""
    translated = translate(resource)
    assert translated is not None, f"{resource.type} has no mapping"
    requests, found = translated
    for service, operation, params in requests:
        if model := errors(params, service, operation):
            found.append(f"{operation}: {model}")
        found += [f"{operation}: {p}" for p in rule_problems(operation, params)]
    return found


def sample(type_: str) -> Registered:
    """The first resource of `type_` any stack declares."""
    return next(r for stack in STACKS for r in _program(stack).resources if r.type == type_)


def planted(type_: str, **inputs: Any) -> Registered:
    resource = sample(type_)
    return dataclasses.replace(resource, inputs={**copy.deepcopy(resource.inputs), **inputs})


def test_every_declared_type_has_a_mapping(program: Program) -> None:
    unmapped = sorted({r.type for r in program.resources if requests_for(r) is None})
    assert unmapped == [], f"add these types to tests/aws_requests.py: {unmapped}"


def test_every_request_is_valid_for_aws(program: Program) -> None:
    problems = []
    for resource in program.resources:
        for service, operation, params in requests_for(resource) or []:
            if found := errors(params, service, operation):
                problems.append(f"{resource.type} {resource.name} -> {operation}:\n{found}")
    assert problems == [], "\n\n".join(problems)


def test_every_request_keeps_the_aws_rules(program: Program) -> None:
    problems = [
        f"{resource.type} {resource.name} -> {operation}: {problem}"
        for resource in program.resources
        for _service, operation, params in requests_for(resource) or []
        for problem in rule_problems(operation, params)
    ]
    assert problems == [], "\n".join(problems)


def test_the_stack_keeps_the_aws_rules_across_requests(program: Program) -> None:
    requests = [(op, params) for r in program.resources for _s, op, params in requests_for(r) or []]
    assert [problem for rule in STACK_RULES for problem in rule(requests)] == []


def test_an_unmapped_type_is_caught() -> None:
    planted = Registered("aws:lambda/function:Function", "planted", {}, {})
    assert requests_for(planted) is None


def test_the_mappings_cover_what_the_issue_lists() -> None:
    assert len(REQUESTS) >= 24 and set(OPAQUE) == {
        "awsx:ec2:DefaultVpc", "awsx:ec2:Vpc", "awsx:ecr:Repository", "awsx:ecr:Image"}  # fmt: skip


def test_every_declared_input_reaches_a_request(program: Program) -> None:
    left = [line for resource in program.resources for line in unaccounted_inputs(resource)]
    assert left == [], "\n".join(left)


@pytest.mark.parametrize("type_", sorted(REQUESTS))
def test_a_planted_unknown_input_is_reported(type_: str) -> None:
    """Whatever a translator does with an input it does not know (drops it, or passes it on),
    the layer reports it: as an input no request carries, or as an unknown member."""
    found = problems_of(planted(type_, plantedUnknown="x"))
    assert any("plantedunknown" in line.lower() for line in found), found
    assert not [p for p in problems_of(sample(type_)) if "plantedunknown" in p.lower()]


LOG_GROUP, ROLE = "aws:cloudwatch/logGroup:LogGroup", "aws:iam/role:Role"
TARGET, QUEUE = "aws:cloudwatch/eventTarget:EventTarget", "aws:sqs/queue:Queue"
INVALID: list[tuple[str, dict[str, Any], str]] = [
    (ROLE, {"maxSessionDuration": 50000.0}, "MaxSessionDuration: value 50000 is above the maximum 43200"),
    (LOG_GROUP, {"logGroupClass": "CHEAP"}, "logGroupClass: 'CHEAP' is not one of"),
    (LOG_GROUP, {"retentionInDays": 2.0}, "retentionInDays 2 is not one of 1, 3, 5"),
    (TARGET, {"retryPolicy": {"maximumRetryAttempts": 999.0}}, "MaximumRetryAttempts: value 999 is above the maximum 185"),
    (TARGET, {"deadLetterConfig": {"arn": ""}}, "DeadLetterConfig.Arn: length 0 is below the minimum 1"),
    (QUEUE, {"fifoQueue": True}, "a FIFO queue's name ends in .fifo"),
    (QUEUE, {"redrivePolicy": "not json"}, "Attributes.RedrivePolicy 'not json' is not JSON"),
    (QUEUE, {"redrivePolicy": '{"deadLetterTargetArn": "arn:aws:sqs:eu-west-1:1:d", "maxReceiveCount": 0}'}, "maxReceiveCount 0 is not a positive integer"),
    ("aws:secretsmanager/secret:Secret", {"kmsKeyId": "k" * 2049}, "KmsKeyId: length 2049 is above the maximum 2048"),
    ("aws:secretsmanager/secret:Secret", {"policy": ""}, "ResourcePolicy: length 0 is below the minimum 1"),
    ("aws:secretsmanager/secretVersion:SecretVersion", {"versionStages": []}, "VersionStages: length 0 is below the minimum 1"),
    ("aws:cloudwatch/eventRule:EventRule", {"eventBusName": "bus name"}, "EventBusName: 'bus name' does not match"),
    ("aws:ecs/clusterCapacityProviders:ClusterCapacityProviders", {"defaultCapacityProviderStrategies": [{"capacityProvider": "FARGATE", "weight": 1001.0}]}, "weight: value 1001 is above the maximum 1000"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("type_", "inputs", "expected"), INVALID, ids=[f"{t}-{next(iter(i))}" for t, i, _ in INVALID]
)
def test_a_planted_invalid_input_is_reported(
    type_: str, inputs: dict[str, Any], expected: str
) -> None:
    found = problems_of(planted(type_, **inputs))
    assert any(expected in line for line in found), found


def test_security_group_peers_reach_the_request() -> None:
    """A rule naming security groups (or itself) instead of CIDR blocks keeps its peers."""
    rule = {"protocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "securityGroups": ["sg-1"],
            "self": True, "description": "to peers"}  # fmt: skip
    resource = planted("aws:ec2/securityGroup:SecurityGroup", egress=[rule])
    assert unaccounted_inputs(resource) == []
    egress = next(p for _s, op, p in requests_for(resource) or [] if op.endswith("Egress"))
    assert egress["IpPermissions"][0]["UserIdGroupPairs"] == [
        {"GroupId": "sg-1", "Description": "to peers"},
        {"GroupId": egress["GroupId"], "Description": "to peers"},
    ]
