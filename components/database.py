"""AuroraDatabase: the shared database of the stack's aurora jobs, Aurora MySQL Serverless v2
(docs/outgrowing-the-sidecar.md). Created (security group, subnet group, parameter group,
cluster, writer) or an existing cluster referenced by identifier (nothing of it is changed).
Its pure parts are in components/specs/aurora.py; tags are the stack's provider default tags."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.args import AuroraArgs
from components.settings import aurora_settings
from components.specs import aurora, names
from components.specs.aurora import AuroraSpec


class AuroraDatabase(pulumi.ComponentResource):
    endpoint: pulumi.Output[str]  # the writer endpoint the jobs connect to
    secret_arn: pulumi.Output[str]  # the master user secret RDS manages
    secret_kms_key_id: pulumi.Output[str]  # its key ("" for Secrets Manager's own key)
    cluster_identifier: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: AuroraArgs,
        *,
        vpc_id: pulumi.Input[str],
        subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]],
        task_security_group_ids: pulumi.Input[Sequence[pulumi.Input[str]]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("scheduled-etl:etl:AuroraDatabase", name, None, opts)
        settings = aurora_settings(args)  # ConfigError naming every wrong key
        if settings.existing_cluster is not None:
            self._reference(settings.existing_cluster)
        else:
            self._create(name, settings.spec(), vpc_id, subnet_ids, task_security_group_ids)
        self.register_outputs({"endpoint": self.endpoint, "secret_arn": self.secret_arn})

    def _reference(self, identifier: str) -> None:
        """An existing cluster: its endpoint and managed secret are read, nothing is changed
        (open 3306 to the jobs' task security group on it yourself)."""
        found = aws.rds.get_cluster_output(cluster_identifier=identifier)
        self.cluster_identifier = found.cluster_identifier
        self.endpoint = found.endpoint
        secrets = found.master_user_secrets
        self.secret_arn = secrets.apply(lambda s: _only_secret(identifier, s).secret_arn)
        self.secret_kms_key_id = secrets.apply(
            lambda s: _only_secret(identifier, s).kms_key_id or ""
        )

    def _create(
        self,
        name: str,
        spec: AuroraSpec,
        vpc_id: pulumi.Input[str],
        subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]],
        task_security_group_ids: pulumi.Input[Sequence[pulumi.Input[str]]],
    ) -> None:
        child = pulumi.ResourceOptions(parent=self)
        groups = pulumi.Output.from_input(task_security_group_ids)
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            **aurora.security_group_args(vpc_id, groups, "Scheduled ETL jobs Aurora cluster"),
            opts=child,
        )
        self.subnet_group = aws.rds.SubnetGroup(
            f"{name}-subnets",
            **aurora.subnet_group_args(subnet_ids, "Scheduled ETL jobs Aurora cluster"),
            opts=child,
        )
        self.parameter_group = aws.rds.ClusterParameterGroup(
            f"{name}-params",
            **aurora.parameter_group_args("TLS only, slow statements logged"),
            opts=child,
        )
        # The final snapshot's name must be new each time a cluster is deleted: a fixed one
        # makes the second deletion (stack destroyed, deployed, destroyed again) fail on the
        # first one's snapshot (DBClusterSnapshotAlreadyExistsFault). A suffix that is made
        # and deleted with this component.
        suffix = random.RandomId(
            f"{name}-final-id", byte_length=names.SNAPSHOT_ID_BYTES, opts=child
        )
        self.cluster = aws.rds.Cluster(
            name,
            **aurora.cluster_args(
                spec,
                subnet_group=self.subnet_group.name,
                parameter_group=self.parameter_group.name,
                security_group=self.security_group.id,
                final_snapshot=pulumi.Output.concat(f"{name}-final-", suffix.hex),
            ),
            opts=child,
        )
        self.writer = aws.rds.ClusterInstance(
            f"{name}-writer",
            **aurora.instance_args(self.cluster.id, spec),
            opts=child,
        )
        self.cluster_identifier = self.cluster.cluster_identifier
        self.endpoint = self.cluster.endpoint
        secrets = self.cluster.master_user_secrets
        self.secret_arn = secrets.apply(lambda s: s[0].secret_arn or "")
        self.secret_kms_key_id = secrets.apply(lambda s: s[0].kms_key_id or "")


def _only_secret(identifier: str, secrets: Sequence[Any]) -> Any:
    if len(secrets) != 1:
        raise ValueError(
            f"Aurora cluster {identifier} has no password managed by RDS in Secrets Manager "
            "(ManageMasterUserPassword): the jobs read their admin credentials from it"
        )
    return secrets[0]
