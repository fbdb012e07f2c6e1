"""Security review of everything each stack declares: IAM and resource policies linted with
parliament, least privilege, no plaintext secrets, no ingress, a locked-down created bucket."""

from __future__ import annotations

import json
from typing import Any

import parliament
import pytest

from components.settings import SECRET_LOOKING
from components.specs.sfn_logging import LOG_DELIVERY_ACTIONS
from tools.offline import Program

# parliament audits identity policies. A role's trust policy is a resource policy with no
# Resource element by design, so that one finding is expected there, and only there.
TRUST_POLICY_EXCEPTION = ("MALFORMED", "Statement contains neither Resource nor NotResource")
POLICY_INPUTS = {
    "aws:iam/role:Role": "assumeRolePolicy",
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:s3/bucketPolicy:BucketPolicy": "policy",
    "aws:sns/topicPolicy:TopicPolicy": "policy",
}


@pytest.fixture
def program(stack: tuple[str, Program]) -> Program:
    return stack[1]


def declared_policies(program: Program) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for resource in program.resources:
        key = POLICY_INPUTS.get(resource.type)
        if key:
            found.append((resource.type, resource.name, json.loads(resource.inputs[key])))
    return found


def test_every_policy_passes_parliament(program: Program) -> None:
    policies = declared_policies(program)
    assert len(policies) >= 8
    for typ, name, document in policies:
        findings = [(f.issue, f.detail) for f in
                    parliament.analyze_policy_string(json.dumps(document)).findings]  # fmt: skip
        if typ == "aws:iam/role:Role":
            assert findings == [TRUST_POLICY_EXCEPTION], (name, findings)
        else:
            assert findings == [], (name, findings)


def test_no_wildcard_actions_and_no_unscoped_resources(program: Program) -> None:
    for _, name, document in declared_policies(program):
        for statement in document["Statement"]:
            if statement["Effect"] != "Allow":
                continue  # a Deny (the TLS-only bucket policy) may be broad
            actions = (
                statement["Action"]
                if isinstance(statement["Action"], list)
                else [statement["Action"]]
            )
            assert all("*" not in action for action in actions), (name, actions)
            resources = statement.get("Resource", [])
            resources = resources if isinstance(resources, list) else [resources]
            if sorted(actions) == LOG_DELIVERY_ACTIONS:
                # The named exception: CloudWatch Logs' log-delivery APIs have no resource-level
                # permissions, and Step Functions' logging needs exactly these (sfn_logging.py).
                assert resources == ["*"], (name, statement)
                continue
            assert "*" not in resources, (name, statement)
            for resource in resources:
                assert resource.startswith("arn:aws:"), (name, resource)


def test_trust_policies_name_one_service_and_this_account(program: Program) -> None:
    for typ, name, document in declared_policies(program):
        if typ != "aws:iam/role:Role":
            continue
        [statement] = document["Statement"]
        assert list(statement["Principal"]) == ["Service"], name
        assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == "123456789012"


def test_no_secret_looking_names_in_plain_environment(program: Program) -> None:
    for task in program.of_type("aws:ecs/taskDefinition:TaskDefinition"):
        for container in json.loads(task.inputs["containerDefinitions"]):
            for variable in container.get("environment", []):
                assert not SECRET_LOOKING.search(variable["name"]), (task.name, variable)
            for secret in container.get("secrets", []):
                assert secret["valueFrom"].startswith("arn:aws:secretsmanager:")


def test_task_security_group_has_no_ingress(program: Program) -> None:
    for group in program.of_type("aws:ec2/securityGroup:SecurityGroup"):
        assert group.inputs.get("ingress", []) == []
    assert not program.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")


def test_a_created_bucket_is_private_and_tls_only(program: Program) -> None:
    for bucket in program.of_type("aws:s3/bucket:Bucket"):
        block = program.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", bucket.name)
        flags = (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
        assert all(block.inputs[k] is True for k in flags)
        policy = json.loads(
            program.one("aws:s3/bucketPolicy:BucketPolicy", bucket.name).inputs["policy"]
        )
        [deny] = policy["Statement"]
        assert deny["Effect"] == "Deny" and deny["Condition"] == {
            "Bool": {"aws:SecureTransport": "false"}
        }


def test_every_state_machine_logs_errors_without_execution_data(program: Program) -> None:
    """FSBP StepFunctions.1: logging on, at ERROR, to the machine's own group with retention."""
    machines = program.of_type("aws:sfn/stateMachine:StateMachine")
    assert machines
    groups = {g.outputs["arn"]: g for g in program.of_type("aws:cloudwatch/logGroup:LogGroup")}
    for machine in machines:
        logging = machine.inputs.get("loggingConfiguration")
        assert logging, machine.name
        assert logging["level"] == "ERROR" and logging["includeExecutionData"] is False
        group = groups[logging["logDestination"].removesuffix(":*")]
        assert group.inputs["name"] == f"/aws/vendedlogs/states/{machine.inputs['name']}"
        assert group.inputs["retentionInDays"] > 0
    # Each machine has its own group.
    assert len({m.inputs["loggingConfiguration"]["logDestination"] for m in machines}) == len(
        machines
    )
