"""Security review of everything each stack declares: IAM and resource policies linted with
parliament, least privilege, no plaintext secrets, no ingress, a locked-down created bucket."""

from __future__ import annotations

import json
from typing import Any

import parliament
import pulumi
import pytest

from components import settings as program_settings
from components.network import _no_public_ip_mapping
from components.settings import SECRET_LOOKING
from components.specs.sfn_logging import LOG_DELIVERY_ACTIONS
from components.specs.suppressions import suppressed_controls, suppression
from components.specs.vpc_security import opens_admin_ports
from etl import settings as etl_settings
from tools.offline import Program, stack_config

# The only action allowed on `*` outside log delivery, and only with its cluster condition.
LIST_TASKS_ACTIONS = ["ecs:ListTasks"]
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
        elif any(s["Action"] == "ecs:ListTasks" for s in document["Statement"]):
            # parliament follows the Service Authorization Reference (ListTasks on container
            # instances), which AWS's own denial contradicts: the named exception above.
            assert findings == [("RESOURCE_STAR", LIST_TASKS_ACTIONS)], (name, findings)
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
            if actions == LIST_TASKS_ACTIONS:
                # The other named exception: AWS authorizes ecs:ListTasks on `*` and scopes it
                # with the ecs:cluster condition key (policies.py, cdklabs/construct-hub#1207).
                assert resources == ["*"], (name, statement)
                assert list(statement["Condition"]) == ["ArnEquals"], (name, statement)
                cluster = statement["Condition"]["ArnEquals"]["ecs:cluster"]
                assert cluster.startswith("arn:aws:ecs:") and ":cluster/" in cluster, cluster
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
    """Nothing reaches a task; an Aurora cluster, only its MySQL port, from the tasks only."""
    groups = program.of_type("aws:ec2/securityGroup:SecurityGroup")
    tasks = [g for g in groups if g.name.endswith("-network-tasks")]
    for group in groups:
        if group.name.endswith("-db-sg"):
            [rule] = group.inputs["ingress"]
            assert (rule["protocol"], rule["fromPort"], rule["toPort"]) == ("tcp", 3306, 3306)
            assert rule["securityGroups"] == [f"{g.name}-id" for g in tasks]
            assert not {"cidrBlocks", "ipv6CidrBlocks", "prefixListIds", "self"} & set(rule)
            assert group.inputs["egress"] == []
            continue
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
        [deny] = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        allowed = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
        # Only the access-log bucket allows anything: S3's logging service, for one source.
        assert all(s["Principal"] == {"Service": "logging.s3.amazonaws.com"} for s in allowed)


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


def test_every_created_bucket_logs_access_or_says_why_not(program: Program) -> None:
    """FSBP S3.9: server access logging on each created bucket; the log bucket itself carries
    the suppression tag (logging it into itself would never end)."""
    logged = {r.inputs["bucket"] for r in program.of_type("aws:s3/bucketLogging:BucketLogging")}
    targets = {
        r.inputs["targetBucket"] for r in program.of_type("aws:s3/bucketLogging:BucketLogging")
    }
    for bucket in program.of_type("aws:s3/bucket:Bucket"):
        if f"{bucket.name}-id" in logged:
            continue
        assert "S3.9" in suppressed_controls(bucket.inputs.get("tags")), bucket.name
        assert bucket.outputs["bucket"] in targets, bucket.name  # the log bucket, nothing else


def test_a_created_vpc_is_locked_down(program: Program) -> None:
    """FSBP EC2.2 (default group without rules), EC2.6 (flow logs), EC2.21 (no admin port open
    to the world in the NACL every subnet uses) for the VPC a stack creates."""
    vpcs = program.of_type("awsx:ec2:Vpc")
    if not vpcs:
        assert not program.of_type("aws:ec2/flowLog:FlowLog")
        return
    [vpc] = vpcs
    vpc_id = vpc.outputs["vpcId"]
    [group] = program.of_type("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert group.inputs["vpcId"] == vpc_id
    assert not group.inputs.get("ingress") and not group.inputs.get("egress")
    [acl] = program.of_type("aws:ec2/defaultNetworkAcl:DefaultNetworkAcl")
    assert sorted(acl.inputs["subnetIds"]) == sorted(
        vpc.outputs["publicSubnetIds"] + vpc.outputs["privateSubnetIds"]
    )
    rules = [_snake(rule) for rule in acl.inputs["ingress"]]
    assert rules and not any(opens_admin_ports(rule) for rule in rules)
    [flow] = program.of_type("aws:ec2/flowLog:FlowLog")
    assert flow.inputs["vpcId"] == vpc_id and flow.inputs["trafficType"] == "ALL"
    groups = {g.outputs["arn"]: g for g in program.of_type("aws:cloudwatch/logGroup:LogGroup")}
    assert groups[flow.inputs["logDestination"]].inputs["retentionInDays"] > 0


def _snake(rule: dict[str, Any]) -> dict[str, Any]:
    names = {"cidrBlock": "cidr_block", "fromPort": "from_port", "toPort": "to_port"}
    return {names.get(k, k): v for k, v in rule.items()}


def test_admin_ports_open_to_the_world_are_seen() -> None:
    """The EC2.21 check itself, on rules that break it and rules that do not."""
    ssh = {"action": "allow", "protocol": "tcp", "cidr_block": "0.0.0.0/0", "from_port": 22,
           "to_port": 22}  # fmt: skip
    assert opens_admin_ports(ssh)
    assert opens_admin_ports({**ssh, "from_port": 0, "to_port": 65535})
    assert opens_admin_ports({**ssh, "protocol": "-1", "from_port": 0, "to_port": 0})
    assert not opens_admin_ports({**ssh, "cidr_block": "10.0.0.0/16"})
    assert not opens_admin_ports({**ssh, "action": "deny"})
    assert opens_admin_ports({**ssh, "from_port": 1024, "to_port": 65535})  # holds 3389
    assert not opens_admin_ports({**ssh, "from_port": 3390, "to_port": 65535})


def test_created_subnets_do_not_map_public_ips() -> None:
    """FSBP EC2.15: the transform the VPC's children go through turns public IP mapping off
    (awsx's public subnets would map them); other resources pass unchanged."""
    args = pulumi.ResourceTransformArgs(
        custom=True, type_="aws:ec2/subnet:Subnet", name="public-1",
        props={"mapPublicIpOnLaunch": True, "cidrBlock": "10.0.0.0/20"},
        opts=pulumi.ResourceOptions(),
    )  # fmt: skip
    result = _no_public_ip_mapping(args)
    assert result is not None
    assert result.props == {"mapPublicIpOnLaunch": False, "cidrBlock": "10.0.0.0/20"}
    other = pulumi.ResourceTransformArgs(
        custom=True, type_="aws:ec2/natGateway:NatGateway", name="nat", props={},
        opts=pulumi.ResourceOptions(),
    )  # fmt: skip
    assert _no_public_ip_mapping(other) is None


def test_container_insights_on_or_the_cluster_says_why_not(stack: tuple[str, Program]) -> None:
    """FSBP ECS.12, per the stack file's containerInsights."""
    name, program = stack
    wanted = stack_config(name).get("scheduled-etl:containerInsights", "disabled")
    [cluster] = program.of_type("aws:ecs/cluster:Cluster")
    assert cluster.inputs["settings"] == [{"name": "containerInsights", "value": wanted}]
    suppressed = "ECS.12" in suppressed_controls(cluster.inputs.get("tags"))
    assert suppressed == (wanted == "disabled")


def test_no_settings_repr_shows_a_secret() -> None:
    """The job's Settings (a dataclass) print without the database password; the program's
    settings hold no secret at all (a field that looks like one fails here)."""
    secret = "s3cr3t-pa55word"
    settings = etl_settings.from_env({
        "DB_HOST": "127.0.0.1", "DB_DATABASE": "etl", "DB_USERNAME": "etl",
        "DB_PASSWORD": secret, "DATA_BUCKET": "b", "SCHEDULED_TIME": "2026-11-01T04:00:00Z",
    })  # fmt: skip
    assert settings.db_password == secret
    assert secret not in repr(settings) and secret not in str(settings)
    for model in (program_settings.Settings, program_settings.JobSettings):
        looks_secret = [name for name in model.model_fields if SECRET_LOOKING.search(name.upper())]
        assert looks_secret == [], (model.__name__, looks_secret)


def test_suppression_tags_are_valid_tag_values_naming_controls() -> None:
    assert suppression(["S3.9"], "this is the access log bucket") == {
        "fsbp-suppressed": "S3.9: this is the access log bucket"
    }
    assert suppressed_controls({"fsbp-suppressed": "SecretsManager.1 SecretsManager.4: x"}) == {
        "SecretsManager.1",
        "SecretsManager.4",
    }
    assert suppressed_controls({"fsbp-suppressed": "no colon, no control"}) == set()
    for bad in (["S3.9"], "a reason; with a semicolon"), (["S3"], "not a control"):
        with pytest.raises(ValueError, match="not a valid suppression"):
            suppression(*bad)


def test_the_sidecar_secret_says_why_it_does_not_rotate(program: Program) -> None:
    """FSBP SecretsManager.1/.4: suppressed, with the reason, on every job's secret."""
    for secret in program.of_type("aws:secretsmanager/secret:Secret"):
        assert {"SecretsManager.1", "SecretsManager.4"} <= suppressed_controls(
            secret.inputs.get("tags")
        )
    assert not program.of_type("aws:secretsmanager/secretRotation:SecretRotation")
