"""The CrossGuard pack (policy/), offline: every policy against a resource (or stack) that breaks
it and one that passes, and the whole pack against every committed stack as the mock engine
renders it, with the stack's pack config (policy/config/<stack>.json): no mandatory violation.

The rendered resources reach the policies as CrossGuard hands them over: type, props (the
inputs, camelCase, secrets unwrapped), URN, parent and property dependencies.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from components.specs import suppressions
from tools.offline import ROOT, SECRET_SIG, STACKS, Registered, rendered

sys.path.insert(0, str(ROOT / "policy"))
import fsbp
from fsbp import common

POLICIES = {p.name: p for p in fsbp.POLICIES}
OPTIONS = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def _unwrap(value: Any) -> Any:
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return _unwrap(value["value"])
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


def as_policy_resources(registered: list[Registered]) -> list[PolicyResource]:
    by_urn: dict[str, PolicyResource] = {}
    for r in registered:
        by_urn[r.urn] = PolicyResource(r.type, _unwrap(r.inputs), r.urn, r.name, OPTIONS,
                                       None, None, [], {})  # fmt: skip
    for r in registered:
        resource = by_urn[r.urn]
        resource.parent = by_urn.get(r.parent)
        resource.property_dependencies = {
            key: [by_urn[u] for u in urns if u in by_urn]
            for key, urns in r.property_dependencies.items()
        }
        resource.dependencies = [
            d for deps in resource.property_dependencies.values() for d in deps
        ]
    return list(by_urn.values())


def violations(name: str, resources: list[PolicyResource]) -> list[str]:
    policy = POLICIES[name]
    found: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        found.append(f"{name}: {message} ({urn or ''})")

    if isinstance(policy, ResourceValidationPolicy):
        for r in resources:
            policy.validate(ResourceValidationArgs(r.resource_type, r.props, r.urn, r.name,
                                                   OPTIONS, None), report)  # fmt: skip
    else:
        assert isinstance(policy, StackValidationPolicy)
        policy.validate(StackValidationArgs(resources), report)
    return found


def levels(stack: str) -> dict[str, str]:
    """Each policy's enforcement level in `stack`: mandatory unless its config says otherwise."""
    config = json.loads((ROOT / "policy" / "config" / f"{stack}.json").read_text())
    return {name: config.get(name, EnforcementLevel.MANDATORY.value) for name in POLICIES}


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_has_no_mandatory_violation(stack: str) -> None:
    resources = as_policy_resources(rendered(stack).resources)
    mandatory, advisory = [], []
    for name, level in levels(stack).items():
        found = violations(name, resources)
        (mandatory if level == "mandatory" else advisory).extend(found)
    assert mandatory == [], "\n".join(mandatory)
    assert advisory == [], "\n".join(advisory)  # none today either: say so when one appears


def test_cost_choices_are_advisory_in_dev_only() -> None:
    assert set(fsbp.COST_CHOICES) <= set(POLICIES)
    for stack in STACKS:
        advisory = {n for n, level in levels(stack).items() if level != "mandatory"}
        assert advisory == (set(fsbp.COST_CHOICES) if stack == "dev" else set()), stack


def test_the_pack_reads_the_programs_suppression_tag() -> None:
    assert common.SUPPRESSION_TAG == suppressions.SUPPRESSION_TAG
    tags = suppressions.suppression(["S3.9", "ECS.12"], "why")
    assert common.suppressed({"tags": tags}, "S3.9") and common.suppressed({"tags": tags}, "ECS.12")
    assert not common.suppressed({"tags": tags}, "S3.5")
    assert not common.suppressed({"tags": {common.SUPPRESSION_TAG: "S3.9:"}}, "S3.9")  # no reason


# -- each policy: a violating and a passing case ----------------------------------------------

URN = "urn:pulumi:t::p::{}::{}"


def res(typ: str, name: str, props: dict[str, Any], **deps: PolicyResource) -> PolicyResource:
    resource = PolicyResource(typ, props, URN.format(typ, name), name, OPTIONS, None, None, [], {})
    resource.property_dependencies = {key: [dep] for key, dep in deps.items()}
    resource.dependencies = list(deps.values())
    return resource


def task(**container: Any) -> list[PolicyResource]:
    good = {"name": "app", "image": "x", "readonlyRootFilesystem": True, "user": "10001:999",
            "logConfiguration": {"logDriver": "awslogs"}, "environment": []}  # fmt: skip
    definitions = json.dumps([{**good, **container}])
    return [res(fsbp.ecs.TASK_DEFINITION, "t", {"containerDefinitions": definitions,
                                                "networkMode": "awsvpc"})]  # fmt: skip


def bucket_stack(*, logging: bool = True, block: bool = True, tls: bool = True,
                 tags: dict[str, str] | None = None) -> list[PolicyResource]:  # fmt: skip
    bucket = res(fsbp.s3.BUCKET, "data", {"tags": tags} if tags else {})
    deny = {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    statement = deny if tls else {"Effect": "Allow"}
    flags = dict.fromkeys(fsbp.s3.BLOCK_FLAGS, True) | (
        {} if block else {"ignorePublicAcls": False}
    )
    found = [
        bucket,
        res(fsbp.s3.PUBLIC_ACCESS_BLOCK, "data", flags, bucket=bucket),
        res(fsbp.s3.POLICY, "data", {"policy": json.dumps({"Statement": [statement]})},
            bucket=bucket),
    ]  # fmt: skip
    if logging:
        found.append(res(fsbp.s3.LOGGING[0], "data", {"targetPrefix": "x/"}, bucket=bucket))
    return found


def vpc_stack(
    *, flow: bool = True, group_rules: bool = False, nacl: bool = True
) -> list[PolicyResource]:
    vpc = res(fsbp.ec2.AWSX_VPC, "vpc", {})
    rules = {"ingress": [{"protocol": "-1"}]} if group_rules else {}
    found = [vpc, res(fsbp.ec2.DEFAULT_SECURITY_GROUP, "sg", rules, vpcId=vpc)]
    if flow:
        found.append(res(fsbp.ec2.FLOW_LOG, "flow", {"trafficType": "ALL"}, vpcId=vpc))
    if nacl:
        found.append(res(fsbp.ec2.DEFAULT_NACL, "acl", {"ingress": []}, subnetIds=vpc))
    return found


def nacl(**rule: Any) -> list[PolicyResource]:
    base = {"ruleNo": 100, "action": "allow", "protocol": "tcp", "cidrBlock": "0.0.0.0/0",
            "fromPort": 443, "toPort": 443}  # fmt: skip
    return [res(fsbp.ec2.DEFAULT_NACL, "acl", {"ingress": [{**base, **rule}]})]


def secret_stack(
    *, rotation_days: int | None = None, tags: dict[str, str] | None = None
) -> list[PolicyResource]:
    secret = res(fsbp.secretsmanager.SECRET, "db", {"tags": tags} if tags else {})
    if rotation_days is None:
        return [secret]
    rules = {"rotationRules": {"automaticallyAfterDays": rotation_days}}
    return [secret, res(fsbp.secretsmanager.ROTATION, "db", rules, secretId=secret)]


def machine(**logging: Any) -> list[PolicyResource]:
    config = {"level": "ERROR", "includeExecutionData": False, "logDestination": "arn:x:*"}
    return [
        res(fsbp.stepfunctions.STATE_MACHINE, "m", {"loggingConfiguration": {**config, **logging}})
    ]


INSIGHTS_OFF = [{"name": "containerInsights", "value": "disabled"}]
CASES: list[tuple[str, Callable[[], list[PolicyResource]], Callable[[], list[PolicyResource]]]] = [
    # (policy, violating, passing)
    ("ecs-containers-readonly-access", lambda: task(readonlyRootFilesystem=False), task),
    ("ecs-task-definition-nonroot-user", lambda: task(user="0:0"), task),
    ("ecs-containers-nonprivileged", lambda: task(privileged=True), task),
    ("ecs-no-environment-secrets",
     lambda: task(environment=[{"name": "DB_PASSWORD", "value": "x"}]), task),
    ("ecs-task-definition-log-configuration", lambda: task(logConfiguration={}), task),
    ("ecs-task-definition-network-mode-not-host",
     lambda: [res(fsbp.ecs.TASK_DEFINITION, "t", {"networkMode": "host"})],
     lambda: [res(fsbp.ecs.TASK_DEFINITION, "t", {"networkMode": "awsvpc"})]),
    ("ecs-container-insights-enabled",
     lambda: [res(fsbp.ecs.CLUSTER, "c", {"settings": INSIGHTS_OFF})],
     lambda: [res(fsbp.ecs.CLUSTER, "c", {"settings": INSIGHTS_OFF,
                                           "tags": suppressions.suppression(["ECS.12"], "cost")})]),
    ("step-functions-state-machine-logging-enabled", lambda: machine(level="OFF"), machine),
    ("s3-bucket-logging-enabled", lambda: bucket_stack(logging=False),
     lambda: bucket_stack(logging=False, tags=suppressions.suppression(["S3.9"], "log bucket"))),
    ("s3-bucket-level-public-access-prohibited", lambda: bucket_stack(block=False), bucket_stack),
    ("s3-bucket-ssl-requests-only", lambda: bucket_stack(tls=False), bucket_stack),
    ("vpc-default-security-group-closed", lambda: vpc_stack(group_rules=True), vpc_stack),
    ("vpc-flow-logs-enabled", lambda: vpc_stack(flow=False), vpc_stack),
    ("subnet-auto-assign-public-ip-disabled",
     lambda: [res(fsbp.ec2.SUBNET, "s", {"mapPublicIpOnLaunch": True})],
     lambda: [res(fsbp.ec2.SUBNET, "s", {"mapPublicIpOnLaunch": False})]),
    ("nacl-no-unrestricted-ssh-rdp", lambda: nacl(fromPort=1024, toPort=65535),
     lambda: nacl(fromPort=3390, toPort=65535)),
    ("vpc-default-nacl-managed", lambda: vpc_stack(nacl=False), vpc_stack),
    ("security-group-no-ingress-from-anywhere",
     lambda: [res(fsbp.ec2.SECURITY_GROUP, "g", {"ingress": [
         {"protocol": "tcp", "fromPort": 3306, "toPort": 3306, "cidrBlocks": ["0.0.0.0/0"]}]})],
     lambda: [res(fsbp.ec2.SECURITY_GROUP, "g", {"ingress": [], "egress": [
         {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]}]})]),
    ("secretsmanager-rotation-enabled-check", secret_stack,
     lambda: secret_stack(rotation_days=30)),
]  # fmt: skip


def test_every_policy_has_a_case() -> None:
    assert sorted(name for name, _, _ in CASES) == sorted(POLICIES)


@pytest.mark.parametrize(("name", "violating", "passing"), CASES, ids=[c[0] for c in CASES])
def test_policy(name: str, violating: Callable[[], list[PolicyResource]],
                passing: Callable[[], list[PolicyResource]]) -> None:  # fmt: skip
    assert violations(name, violating()), f"{name} let a violation through"
    assert violations(name, passing()) == []


def test_more_edges() -> None:
    """Cases the table does not show: rotation past 90 days, execution data, a rule-less NACL
    entry for RDP, a child VPC of an awsx component counted once."""
    assert violations("secretsmanager-rotation-enabled-check", secret_stack(rotation_days=365))
    tags = suppressions.suppression(["SecretsManager.1"], "x")
    assert violations("secretsmanager-rotation-enabled-check", secret_stack(tags=tags)) == []
    assert violations(
        "step-functions-state-machine-logging-enabled", machine(includeExecutionData=True)
    )
    assert violations("nacl-no-unrestricted-ssh-rdp", nacl(protocol="-1", fromPort=0, toPort=0))
    assert (
        violations(
            "nacl-no-unrestricted-ssh-rdp", nacl(cidrBlock="10.0.0.0/8", fromPort=22, toPort=22)
        )
        == []
    )
    stack = vpc_stack()
    child = res(fsbp.ec2.VPC, "vpc-child", {})
    child.parent = stack[0]
    assert violations("vpc-flow-logs-enabled", [*stack, child]) == []
    assert len(violations("vpc-flow-logs-enabled", [stack[0], child])) == 1


def test_pack_entry_point_names_every_policy() -> None:
    main = (ROOT / "policy" / "__main__.py").read_text()
    assert "policies=POLICIES" in main and "EnforcementLevel.MANDATORY" in main
    assert Path(ROOT / "policy" / "PulumiPolicy.yaml").is_file()


def test_every_ci_preview_and_deploy_runs_the_pack() -> None:
    """pulumi/actions runs `pulumi preview|up --policy-pack policy --policy-pack-config
    policy/config/<stack>.json` in the pull-request preview, the gated preview and the deploy."""
    steps = []
    for workflow in sorted((ROOT / ".github" / "workflows").glob("*.yml")):
        document = yaml.safe_load(workflow.read_text())
        for job in document.get("jobs", {}).values():
            steps += [(workflow.name, s) for s in job.get("steps", [])
                      if str(s.get("uses", "")).startswith("pulumi/actions@")
                      and s.get("with", {}).get("command") in ("preview", "up")]  # fmt: skip
    assert len(steps) >= 3
    for workflow, step in steps:
        assert step["with"]["policyPacks"] == "policy", workflow
        config = step["with"]["policyPackConfigs"]
        assert config.startswith("policy/config/${{ ") and config.endswith(".stack }}.json")
    for stack in STACKS:
        assert (ROOT / "policy" / "config" / f"{stack}.json").is_file()
    action = (ROOT / ".github" / "actions" / "pulumi-stack" / "action.yml").read_text()
    assert (
        "policy/venv/bin/pip install --disable-pip-version-check -r policy/requirements.txt"
        in action
    )
    pinned = (ROOT / "policy" / "requirements.txt").read_text()
    assert "pulumi-policy==1.21.0" in pinned
    assert "pulumi-policy==1.21.0" in (ROOT / "requirements-dev.txt").read_text()
