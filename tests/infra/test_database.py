"""AuroraDatabase (components/database.py) under Pulumi's mock engine: a created cluster's
resources, each as the AWS requests that create it validated strictly against botocore's
models; an existing cluster referenced by identifier, nothing created."""

from __future__ import annotations

import re
from typing import Any

import pulumi
import pytest
from aws_models import errors
from aws_requests import translate
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.args import AuroraArgs
from components.database import AuroraDatabase
from components.settings import ConfigError
from tools.offline import PROJECT, RecordingMocks, Registered


def declare(existing: str | None = None) -> tuple[list[Registered], dict[str, Any]]:
    return declare_args({"existing_cluster": existing} if existing else {})


def declare_args(args: AuroraArgs) -> tuple[list[Registered], dict[str, Any]]:
    """AuroraDatabase declared alone; what it registered and its outputs."""
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack="test", preview=False)
    found: dict[str, Any] = {}

    def program() -> None:
        db = AuroraDatabase(
            "scheduled-etl-test-db", args, vpc_id="vpc-0abc", subnet_ids=["subnet-0a", "subnet-0b"],
            task_security_group_ids=["sg-0task"],
        )  # fmt: skip
        pulumi.Output.all(db.endpoint, db.secret_arn, db.secret_kms_key_id).apply(
            lambda values: found.update(zip(("endpoint", "secret", "key"), values, strict=True))
        )

    try:
        _sync_await(run_pulumi_func(program))
    finally:  # the next program (tools.offline) gets a root stack resource of its own
        pulumi.runtime.settings.ROOT.set(None)
    return mocks.resources, found


def test_a_created_cluster_passes_strict_validation_and_gives_its_endpoint_and_secret() -> None:
    resources, found = declare()
    types = sorted(r.type for r in resources)
    assert types == sorted([
        "scheduled-etl:etl:AuroraDatabase", "aws:ec2/securityGroup:SecurityGroup",
        "aws:rds/subnetGroup:SubnetGroup", "aws:rds/clusterParameterGroup:ClusterParameterGroup",
        "aws:rds/cluster:Cluster", "aws:rds/clusterInstance:ClusterInstance",
        "random:index/randomId:RandomId",
    ])  # fmt: skip
    for resource in resources:
        translated = translate(resource)
        assert translated is not None, resource.type
        requests, unread = translated
        assert not unread, unread
        for service, operation, params in requests:
            assert not errors(params, service, operation), (operation, params)
    [cluster] = [r for r in resources if r.type == "aws:rds/cluster:Cluster"]
    [group] = [r for r in resources if r.type == "aws:ec2/securityGroup:SecurityGroup"]
    assert cluster.inputs["vpcSecurityGroupIds"] == [f"{group.name}-id"]
    # The cluster is placed in its own subnet group and configured by its parameter group.
    for typ, key in (("aws:rds/subnetGroup:SubnetGroup", "dbSubnetGroupName"),
                     ("aws:rds/clusterParameterGroup:ClusterParameterGroup",
                      "dbClusterParameterGroupName")):  # fmt: skip
        [made] = [r for r in resources if r.type == typ]
        assert cluster.inputs[key] == made.outputs["name"]
    assert found["endpoint"].endswith(".rds.amazonaws.com")
    assert found["secret"].startswith("arn:aws:secretsmanager:") and found["key"]


def test_an_existing_cluster_is_read_not_created() -> None:
    resources, found = declare(existing="shared-etl")
    assert [r.type for r in resources] == ["scheduled-etl:etl:AuroraDatabase"]
    assert found["endpoint"].startswith("shared-etl.cluster-")
    assert ":secret:rds!cluster-" in found["secret"]


def test_impossible_args_fail_naming_each_key() -> None:
    with pytest.raises(ConfigError) as raised:
        declare_args({"min_capacity": 0, "engine_version": "8.0.mysql_aurora.3.07.1",
                      "backup_retention_days": 40})  # fmt: skip
    message = str(raised.value)
    assert "aurora args: minCapacity = 0" in message and "3.08.0" in message
    assert "aurora args: backupRetentionDays = 40" in message


def test_each_created_cluster_leaves_a_final_snapshot_of_its_own_name() -> None:
    """A fixed final snapshot name works once: the stack destroyed, deployed again and
    destroyed again, DeleteDBCluster fails (DBClusterSnapshotAlreadyExistsFault) on the first
    one's snapshot. The name ends in a random suffix that lives and dies with the component."""
    resources, _ = declare()
    [cluster] = [r for r in resources if r.type == "aws:rds/cluster:Cluster"]
    [suffix] = [r for r in resources if r.type == "random:index/randomId:RandomId"]
    [component] = [r for r in resources if r.type == "scheduled-etl:etl:AuroraDatabase"]
    assert suffix.parent == component.urn  # replaced with the component, not kept
    assert cluster.inputs["finalSnapshotIdentifier"] == (
        f"scheduled-etl-test-db-final-{suffix.outputs['hex']}"
    )
    assert re.fullmatch(r"[a-z][a-z0-9-]*[a-z0-9]", cluster.inputs["finalSnapshotIdentifier"])
