"""Every resource each stack declares, as the AWS requests that create it, validated against
botocore's service models as strictly as AWS validates them (tests/aws_models.py), plus the
AWS rules the models cannot express (components/specs/aws_rules.py)."""

# One case per line reads as a table; long lines are the point here.
# ruff: noqa: E501

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest
from aws_models import errors
from aws_requests import (
    AUTONAME_SUFFIX,
    OPAQUE,
    PREFIX_SUFFIX,
    REQUESTS,
    requests_for,
    translate,
    unaccounted_inputs,
)

from components.settings import parse_settings
from components.specs import names
from components.specs.aws_rules import STACK_RULES, rule_problems
from tools.offline import (
    STACKS,
    Program,
    Registered,
    rendered,
    stack_config,
    stack_settings,
    with_image_digest,
)


@pytest.fixture
def program(stack: tuple[str, Program]) -> Program:
    return stack[1]


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


# Inputs for mapped types that no stack declares at the moment (so their translators stay tested).
SAMPLES: dict[str, dict[str, Any]] = {
    "aws:cloudwatch/eventRule:EventRule": {
        "name": "r", "description": "d", "eventPattern": '{"source": ["aws.ecs"]}'},
    "aws:cloudwatch/eventTarget:EventTarget": {
        "rule": "r", "arn": "arn:aws:sns:eu-west-1:123456789012:t",
        "inputTransformer": {"inputPaths": {"r": "$.detail.stoppedReason"},
                             "inputTemplate": '{"reason": <r>}'}},
}  # fmt: skip


def sample(type_: str) -> Registered:
    """The first resource of `type_` any stack declares, else one from SAMPLES."""
    declared = (r for stack in STACKS for r in rendered(stack).resources if r.type == type_)
    if found := next(declared, None):
        return found
    assert type_ in SAMPLES, f"no stack declares {type_}: give it inputs in SAMPLES"
    return Registered(type_, "sample", SAMPLES[type_], {})


@pytest.mark.parametrize("type_", sorted(SAMPLES))
def test_the_samples_are_valid(type_: str) -> None:
    resource = Registered(type_, "sample", SAMPLES[type_], {})
    assert problems_of(resource) == []


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


# The request member that carries each physical name the program creates, and its limit in
# components/specs/names.py; members that only refer to a resource created elsewhere.
NAMED: dict[tuple[str, str], names.Limit] = {
    ("RegisterTaskDefinition", "family"): names.FAMILY,
    ("CreateSchedule", "Name"): names.SCHEDULE,
    ("CreateStateMachine", "name"): names.STATE_MACHINE,
    ("CreateLogGroup", "logGroupName"): names.LOG_GROUP,
    ("CreateSecret", "Name"): names.SECRET,
    ("CreateQueue", "QueueName"): names.QUEUE,
    ("PutRule", "Name"): names.RULE,
    ("PutMetricAlarm", "AlarmName"): names.ALARM,
    ("CreateRole", "RoleName"): names.ROLE,
    ("PutRolePolicy", "PolicyName"): names.ROLE_POLICY,
    ("CreateCluster", "clusterName"): names.CLUSTER,
    ("CreateTopic", "Name"): names.TOPIC,
    ("CreateSecurityGroup", "GroupName"): names.SECURITY_GROUP,
    ("CreateBucket", "Bucket"): names.BUCKET,
    ("CreateDBCluster", "DBClusterIdentifier"): names.DB_CLUSTER,
    ("CreateDBInstance", "DBInstanceIdentifier"): names.DB_INSTANCE,
    ("DeleteDBCluster", "FinalDBSnapshotIdentifier"): names.DB_SNAPSHOT,
    ("CreateDBSubnetGroup", "DBSubnetGroupName"): names.DB_SUBNET_GROUP,
    (
        "CreateDBClusterParameterGroup",
        "DBClusterParameterGroupName",
    ): names.DB_CLUSTER_PARAMETER_GROUP,
}
REFERS = {("PutRetentionPolicy", "logGroupName"), ("PutRolePolicy", "RoleName"),
          ("AttachRolePolicy", "RoleName"), ("DeleteDBCluster", "DBClusterIdentifier"),
          ("CreateDBCluster", "DBClusterParameterGroupName"),
          ("CreateDBCluster", "DBSubnetGroupName"),
          ("ModifyDBClusterParameterGroup", "DBClusterParameterGroupName"),
          ("CreateDBInstance", "DBClusterIdentifier")} | {(op, "Bucket") for op in (
              "PutPublicAccessBlock", "PutBucketOwnershipControls", "PutBucketEncryption",
              "PutBucketLifecycleConfiguration", "PutBucketPolicy", "PutBucketLogging",
              "PutBucketTagging")}  # fmt: skip
NAME_MEMBERS = {member for _, member in NAMED} | {
    "name",
    "Name",
    "FunctionName",
    "StateMachineName",
}


def _as_in_names(name: str) -> str:
    """A request's name with the translators' generated suffixes spelt as names.py spells them."""
    if name.endswith(AUTONAME_SUFFIX):
        return name.removesuffix(AUTONAME_SUFFIX) + names.AUTONAME
    if name.endswith(PREFIX_SUFFIX):
        return name.removesuffix(PREFIX_SUFFIX) + names.PREFIX_UNIQUE
    return name


def created_names(program: Program) -> tuple[set[tuple[str, names.Limit]], list[str]]:
    """(name, limit) of every physical name the stack's requests create, and the name members
    of requests that NAMED does not know."""
    found, unknown = set(), []
    for resource in program.resources:
        for _service, operation, params in requests_for(resource) or []:
            for member in sorted(NAME_MEMBERS & set(params)):
                if (operation, member) in NAMED:
                    found.add((_as_in_names(params[member]), NAMED[operation, member]))
                elif (operation, member) not in REFERS:
                    unknown.append(f"{resource.type} {resource.name}: {operation}.{member} "
                                   f"{params[member]!r}")  # fmt: skip
    return found, unknown


def checked_names(stack: str) -> set[tuple[str, names.Limit]]:
    """What settings check before anything exists: names.job_names and names.stack_names."""
    prefix = f"{names.PROJECT}:"
    raw = {
        k.removeprefix(prefix): v
        for k, v in with_image_digest(stack_config(stack)).items()
        if k.startswith(prefix)
    }
    settings = parse_settings(raw, stack)
    checked = set(names.stack_names(stack, creates_bucket=settings.bucket_name is None,
                                    builds_image=settings.image.build is not None,
                                    creates_vpc=settings.network.mode == "new",
                                    creates_database=settings.aurora is not None
                                    and settings.aurora.existing_cluster is None))  # fmt: skip
    for job in settings.jobs:
        checked |= set(names.job_names(stack, job))
    return checked


@pytest.mark.parametrize("stack", STACKS)
def test_every_created_name_is_checked_by_settings(stack: str) -> None:
    """A named resource that names.py does not list (new, or renamed) could exceed its AWS
    limit with a long stack or job name and fail at deploy time instead of in settings."""
    found, unknown = created_names(rendered(stack))
    assert unknown == [], (
        f"add these name members to NAMED (and their limits to names.py): {unknown}"
    )
    unchecked = sorted((name, limit.what) for name, limit in found - checked_names(stack))
    assert unchecked == [], (
        f"names the program creates that components/specs/names.py does not check: {unchecked}"
    )


def test_a_name_missing_from_names_py_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Planted: names.py forgets the dead-letter queue (as if the program had added it)."""
    job_names = names.job_names
    monkeypatch.setattr(names, "job_names", lambda stack, job: [
        (name, limit) for name, limit in job_names(stack, job) if limit is not names.QUEUE])  # fmt: skip
    found, _ = created_names(rendered("dev"))
    missing = {name for name, limit in found - checked_names("dev")}
    assert missing == {
        f"scheduled-etl-dev-{job}{kind}-dlq"
        for job in stack_settings("dev").jobs
        for kind in ("", "-watch", "-ended")
    }


def test_a_name_member_without_a_limit_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Planted: a queue created as if NAMED did not know CreateQueue (a new named type)."""
    monkeypatch.delitem(NAMED, ("CreateQueue", "QueueName"))
    queue = Registered("aws:sqs/queue:Queue", "q", {"name": "jobs-dlq"}, {})
    found, unknown = created_names(Program([queue], {}))
    assert found == set()
    assert unknown == ["aws:sqs/queue:Queue q: CreateQueue.QueueName 'jobs-dlq'"]
