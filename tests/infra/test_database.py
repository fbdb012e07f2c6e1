"""AuroraDatabase (components/database.py) under Pulumi's mock engine: a created cluster's
resources, each as the AWS requests that create it validated strictly against botocore's
models; an existing cluster referenced by identifier, nothing created."""

from __future__ import annotations

from typing import Any

import pulumi
from aws_models import errors
from aws_requests import translate
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.database import AuroraDatabase
from components.specs.aurora import AuroraSpec
from tools.offline import PROJECT, RecordingMocks, Registered


def declare(existing: str | None = None) -> tuple[list[Registered], dict[str, Any]]:
    """AuroraDatabase declared alone; what it registered and its outputs."""
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack="test", preview=False)
    found: dict[str, Any] = {}

    def program() -> None:
        db = AuroraDatabase(
            "scheduled-etl-test-db", AuroraSpec(), vpc_id="vpc-0abc",
            subnet_ids=["subnet-0a", "subnet-0b"], task_security_group_ids=["sg-0task"],
            existing_cluster=existing,
        )  # fmt: skip
        pulumi.Output.all(db.endpoint, db.secret_arn, db.secret_kms_key_id).apply(
            lambda values: found.update(zip(("endpoint", "secret", "key"), values, strict=True))
        )

    _sync_await(run_pulumi_func(program))
    return mocks.resources, found


def test_a_created_cluster_passes_strict_validation_and_gives_its_endpoint_and_secret() -> None:
    resources, found = declare()
    types = sorted(r.type for r in resources)
    assert types == sorted([
        "scheduled-etl:etl:AuroraDatabase", "aws:ec2/securityGroup:SecurityGroup",
        "aws:rds/subnetGroup:SubnetGroup", "aws:rds/clusterParameterGroup:ClusterParameterGroup",
        "aws:rds/cluster:Cluster", "aws:rds/clusterInstance:ClusterInstance",
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
    assert found["endpoint"].endswith(".rds.amazonaws.com")
    assert found["secret"].startswith("arn:aws:secretsmanager:") and found["key"]


def test_an_existing_cluster_is_read_not_created() -> None:
    resources, found = declare(existing="shared-etl")
    assert [r.type for r in resources] == ["scheduled-etl:etl:AuroraDatabase"]
    assert found["endpoint"].startswith("shared-etl.cluster-")
    assert ":secret:rds!cluster-" in found["secret"]
