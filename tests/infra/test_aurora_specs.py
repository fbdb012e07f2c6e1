"""The Aurora builders (components/specs/aurora.py): each resource's arguments as the AWS
requests that create it, validated strictly against botocore's RDS, EC2 and ECS models; the
execution role's statements through the IAM evaluator; the impossible combinations reported
with their key, value and what is allowed."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aws_models import errors
from aws_requests import translate
from iam_evaluator import decide

from components.settings import AuroraSettings
from components.specs import aurora
from components.specs.aurora import AuroraSpec, ClusterEndpoint
from components.specs.aws_rules import rule_problems
from components.specs.containers import TaskInputs
from tools.offline import ROOT, Registered

ACCOUNT = "123456789012"
REGION = "eu-west-1"
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:rds!cluster-0a1b2c3d-AbCdEf"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def spec(**keys: Any) -> AuroraSpec:
    """A created cluster's shape: the stack file's defaults and `keys`."""
    shape: AuroraSpec = AuroraSettings(**keys).spec()
    return shape


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def registered(type_: str, name: str, args: dict[str, Any]) -> Registered:
    """The arguments as the mock engine registers them: camelCase keys at every level (but
    the keys of `tags`, a map)."""

    def convert(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            if key == "tags":
                return value
            return {_camel(k): convert(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [convert(item) for item in value]
        return value

    return Registered(type_, name, convert(args), {})


def requests_of(resource: Registered) -> list[tuple[str, str, dict[str, Any]]]:
    translated = translate(resource)
    assert translated is not None
    requests, unread = translated
    assert not unread, unread
    for service, operation, params in requests:
        assert not errors(params, service, operation), (operation, params)
        assert not rule_problems(operation, params), rule_problems(operation, params)
    return requests


def test_the_cluster_is_serverless_v2_tls_only_encrypted_with_a_managed_secret() -> None:
    args = aurora.cluster_args(
        spec(),
        subnet_group="etl-db",
        parameter_group="etl-db-params",
        security_group="sg-0123456789abcdef0",
        final_snapshot="etl-db-final",
    )
    requests = requests_of(registered("aws:rds/cluster:Cluster", "etl-db", args))
    [(_, _, create)] = [r for r in requests if r[1] == "CreateDBCluster"]
    assert create["ManageMasterUserPassword"] is True and "MasterUserPassword" not in create
    assert create["StorageEncrypted"] is True and create["EngineMode"] == "provisioned"
    assert create["ServerlessV2ScalingConfiguration"] == {
        "MinCapacity": 0.0,
        "MaxCapacity": 8.0,
        "SecondsUntilAutoPause": 600,
    }
    assert create["EnableCloudwatchLogsExports"] == ["error", "slowquery"]
    [(_, _, delete)] = [r for r in requests if r[1] == "DeleteDBCluster"]
    assert delete == {
        "DBClusterIdentifier": create["DBClusterIdentifier"],
        "SkipFinalSnapshot": False,
        "FinalDBSnapshotIdentifier": "etl-db-final",
    }


def test_a_cluster_that_never_pauses_sends_no_pause_time() -> None:
    args = aurora.cluster_args(
        spec(min_capacity=0.5, engine_version="8.0.mysql_aurora.3.05.2"),
        subnet_group="g",
        parameter_group="p",
        security_group="sg-0123456789abcdef0",
        final_snapshot="f",
    )
    [create, _] = requests_of(registered("aws:rds/cluster:Cluster", "etl-db", args))
    assert create[2]["ServerlessV2ScalingConfiguration"] == {"MinCapacity": 0.5, "MaxCapacity": 8.0}


def test_the_writer_subnet_group_and_parameter_group() -> None:
    instance = requests_of(
        registered(
            "aws:rds/clusterInstance:ClusterInstance",
            "etl-db-writer",
            aurora.instance_args("etl-db", spec()),
        )
    )
    assert instance[0][2]["DBInstanceClass"] == "db.serverless"
    assert instance[0][2]["PubliclyAccessible"] is False
    # The cluster pins its engine version: an upgrade AWS applied itself would be a downgrade
    # at the next `pulumi up`.
    assert instance[0][2]["AutoMinorVersionUpgrade"] is False
    subnets = requests_of(
        registered(
            "aws:rds/subnetGroup:SubnetGroup",
            "etl-db",
            aurora.subnet_group_args(
                ["subnet-0a", "subnet-0b"], "Scheduled ETL jobs Aurora cluster"
            ),
        )
    )
    assert subnets[0][2]["SubnetIds"] == ["subnet-0a", "subnet-0b"]
    group = requests_of(
        registered(
            "aws:rds/clusterParameterGroup:ClusterParameterGroup",
            "etl-db",
            aurora.parameter_group_args("TLS only"),
        )
    )
    [(_, _, modify)] = [r for r in group if r[1] == "ModifyDBClusterParameterGroup"]
    assert {
        "ParameterName": "require_secure_transport",
        "ParameterValue": "ON",
        "ApplyMethod": "immediate",
    } in modify["Parameters"]
    assert group[0][2]["DBParameterGroupFamily"] == "aurora-mysql8.0"


def test_the_security_group_admits_3306_from_the_task_group_only() -> None:
    args = aurora.security_group_args("vpc-0abc", ["sg-0task"], "Scheduled ETL jobs Aurora cluster")
    requests = requests_of(registered("aws:ec2/securityGroup:SecurityGroup", "etl-db-sg", args))
    [(_, _, ingress)] = [r for r in requests if r[1] == "AuthorizeSecurityGroupIngress"]
    assert ingress["IpPermissions"] == [
        {
            "IpProtocol": "tcp",
            "FromPort": 3306,
            "ToPort": 3306,
            "UserIdGroupPairs": [
                {"GroupId": "sg-0task", "Description": "MySQL from the scheduled ETL tasks"}
            ],
        }
    ]
    assert not [r for r in requests if r[1] == "AuthorizeSecurityGroupEgress"]


ENDPOINT = ClusterEndpoint("etl-db.cluster-abc.eu-west-1.rds.amazonaws.com", SECRET)
INPUTS = TaskInputs(
    app_image=f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/etl@sha256:{'a' * 64}",
    secret_arn="unused",
    log_group="/ecs/etl",
    region=REGION,
    bucket="data",
    job_name="scheduled-etl-staging-big",
)
SIDECAR_ENV = {
    "AWS_REGION": REGION,
    "DB_HOST": "127.0.0.1",
    "DB_PORT": "3306",
    "DB_DATABASE": "etl",
    "DB_USERNAME": "etl",
    "DATA_BUCKET": "data",
    "DB_SHARED_DIR": "/var/lib/mysql/exchange",
    "JOB_NAME": INPUTS.job_name,
}


def test_the_aurora_task_is_the_app_alone_with_the_managed_secrets_keys() -> None:
    app = aurora.app_container(SIDECAR_ENV, INPUTS, ENDPOINT)
    params = {
        "family": "etl",
        "containerDefinitions": [app],
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "4096",
        "memory": "16384",
        "executionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/exec",
        "volumes": [{"name": "tmp"}],
    }
    assert not errors(params, "ecs", "RegisterTaskDefinition")
    env = {e["name"]: e["value"] for e in app["environment"]}
    assert env["DB_SERVER"] == "shared" and env["DB_TLS_CA"] == aurora.RDS_CA_BUNDLE
    assert env["DB_HOST"] == ENDPOINT.host and env["DB_PORT"] == "3306"
    assert not {"DB_DATABASE", "DB_USERNAME", "DB_SHARED_DIR"} & set(env)
    assert app["secrets"] == [
        {"name": "DB_ADMIN_USERNAME", "valueFrom": f"{SECRET}:username::"},
        {"name": "DB_ADMIN_PASSWORD", "valueFrom": f"{SECRET}:password::"},
    ]
    assert "dependsOn" not in app


def test_the_image_holds_the_ca_bundle_the_task_names() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    wanted = f"{aurora.RDS_CA_BUNDLE_URL} {aurora.RDS_CA_BUNDLE}"
    assert re.search(rf"^ADD (--chmod=0644 )?{re.escape(wanted)}$", dockerfile, re.M)


ROLE = f"arn:aws:iam::{ACCOUNT}:role/exec"


def _allowed(
    statements: list[dict[str, Any]],
    action: str,
    resource: str,
    context: dict[str, Any] | None = None,
) -> bool:
    policy = {"Version": "2012-10-17", "Statement": statements}
    return decide(ROLE, action, resource, context or {}, [policy]) == "Allow"


def test_the_execution_role_reads_the_managed_secret_and_only_it() -> None:
    plain = aurora.read_master_secret_statements(ENDPOINT, REGION)
    assert _allowed(plain, "secretsmanager:GetSecretValue", SECRET)
    assert not _allowed(plain, "secretsmanager:GetSecretValue", SECRET.replace("0a1b", "9z9z"))
    assert not _allowed(plain, "kms:Decrypt", KEY)  # the default key needs no statement
    custom = aurora.read_master_secret_statements(
        ClusterEndpoint(ENDPOINT.host, SECRET, KEY), REGION
    )
    via = {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}
    assert _allowed(custom, "kms:Decrypt", KEY, via)
    assert not _allowed(
        custom, "kms:Decrypt", KEY, {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}
    )


@pytest.mark.parametrize(
    ("shape", "key", "fragment"),
    [
        (
            spec(engine_version="8.0.mysql_aurora.3.07.1"),
            "aurora.minCapacity",
            "0 ACU (auto-pause) needs Aurora MySQL 3.08.0 or later",
        ),
        (
            spec(engine_version="5.7.mysql_aurora.2.12.0"),
            "aurora.engineVersion",
            "Aurora MySQL 3 version",
        ),
        (spec(seconds_until_auto_pause=200), "aurora.secondsUntilAutoPause", "300-86,400"),
        (spec(seconds_until_auto_pause=90_000), "aurora.secondsUntilAutoPause", "300-86,400"),
        (spec(max_capacity=0.5), "aurora.maxCapacity", "at least 1 ACU"),
        (spec(min_capacity=4, max_capacity=2), "aurora.maxCapacity", "at least minCapacity"),
        (spec(max_capacity=300), "aurora.maxCapacity", "half steps from 0 to 256"),
        (spec(min_capacity=0.7), "aurora.minCapacity", "half steps"),
    ],
)
def test_impossible_capacity_settings_name_key_value_and_what_is_allowed(
    shape: AuroraSpec, key: str, fragment: str
) -> None:
    problems = aurora.capacity_problems(shape)
    assert [p.key for p in problems] == [key], problems
    assert fragment in problems[0].message


def test_possible_capacity_settings_have_no_problem() -> None:
    assert aurora.capacity_problems(spec()) == []
    never_pauses = spec(engine_version="8.0.mysql_aurora.3.04.0", min_capacity=0.5)
    assert aurora.capacity_problems(never_pauses) == []
