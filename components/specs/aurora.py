"""Aurora MySQL Serverless v2 for jobs whose data outgrows the task (pure): the cluster, its
writer instance, subnet group, parameter group and security group as Pulumi arguments, the
aurora job's container (the app alone, no sidecar), the execution role's read of the cluster's
managed secret, and the checks for combinations AWS would refuse (docs/outgrowing-the-sidecar.md).

The job on the cluster (etl/shared_server.py) needs: TLS (require_secure_transport, the CA
bundle in the image), the master credentials from the secret RDS manages
(ManageMasterUserPassword: RDS creates and rotates it; its JSON holds `username` and
`password`), and port 3306 open from the jobs' task security group only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from components.settings import JobSettings, Problem
from components.specs import containers
from components.specs.containers import APP_USER, TaskInputs, _env, _logs, _secret
from components.specs.policies import VERSION
from etl.contract import APP_CONTAINER, DbServer

ENGINE = "aurora-mysql"
PARAMETER_FAMILY = "aurora-mysql8.0"  # Aurora MySQL 3 (MySQL 8.0 compatible)
PORT = 3306
# Min capacity 0 (auto-pause) needs Aurora MySQL 3.08.0 or later; the idle time before a pause
# is 300-86,400 s; ACUs go in half steps up to 256.
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2-auto-pause.html
# https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ServerlessV2ScalingConfiguration.html
AUTO_PAUSE_VERSION = (3, 8, 0)
AUTO_PAUSE_SECONDS = (300, 86_400)
MAX_ACU = 256.0
# What the cluster sends to CloudWatch Logs: errors, and statements slower than
# long_query_time (the job's own SQL, to size it by). `general` would log every statement.
LOG_EXPORTS = ["error", "slowquery"]
SLOW_QUERY_SECONDS = "10"
# The RDS CA bundle (every region's roots) as the Dockerfile ADDs it to the image:
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/UsingWithRDS.SSL.html
RDS_CA_BUNDLE = "/etc/ssl/certs/rds-global-bundle.pem"
RDS_CA_BUNDLE_URL = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
# RDS's managed master secret: a JSON object with these keys (and engine, host, port...).
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/rds-secrets-manager.html
SECRET_USERNAME_KEY = "username"
SECRET_PASSWORD_KEY = "password"
MASTER_USERNAME = "etl_admin"
SERVERLESS_CLASS = "db.serverless"


@dataclass(frozen=True)
class AuroraSpec:
    """A created cluster's shape, as the builders and checks take it (the defaults and the
    validation of each key: components/settings.py, AuroraSettings)."""

    engine_version: str
    min_capacity: float
    max_capacity: float
    seconds_until_auto_pause: int
    deletion_protection: bool
    backup_retention_days: int
    storage_type: str


def aurora_version(engine_version: str) -> tuple[int, ...] | None:
    """(3, 8, 0) from `8.0.mysql_aurora.3.08.0`; None when it is not in that form."""
    match = re.fullmatch(r"8\.0\.mysql_aurora\.(\d+)\.(\d+)\.(\d+)", engine_version)
    return tuple(int(part) for part in match.groups()) if match else None


def capacity_problems(spec: AuroraSpec, key: str = "aurora") -> list[Problem]:
    """The scaling settings AWS would refuse, all at once."""
    found: list[tuple[str, Any, str]] = []  # (key below `key`, value, what is allowed)
    version = aurora_version(spec.engine_version)
    if version is None:
        found.append(("engineVersion", spec.engine_version,
                      "must be an Aurora MySQL 3 version, 8.0.mysql_aurora.3.XX.Y"))  # fmt: skip
    elif spec.min_capacity == 0 and version < AUTO_PAUSE_VERSION:
        found.append(("minCapacity", spec.min_capacity,
                      f"0 ACU (auto-pause) needs Aurora MySQL 3.08.0 or later; "
                      f"{spec.engine_version} allows 0.5 at least: raise minCapacity or the "
                      "engine version"))  # fmt: skip
    for name, value in (("minCapacity", spec.min_capacity), ("maxCapacity", spec.max_capacity)):
        if value < 0 or value > MAX_ACU or (value * 2) % 1:
            found.append((name, value, f"ACUs go in half steps from 0 to {MAX_ACU:g}"))
    if spec.max_capacity < max(spec.min_capacity, 1.0):
        found.append(("maxCapacity", spec.max_capacity,
                      "must be at least minCapacity and at least 1 ACU"))  # fmt: skip
    low, high = AUTO_PAUSE_SECONDS
    if not low <= spec.seconds_until_auto_pause <= high:
        found.append(("secondsUntilAutoPause", spec.seconds_until_auto_pause,
                      f"must be {low}-{high:,} s of idle time"))  # fmt: skip
    return [
        Problem(f"{key}.{name}" if key else name, message, value) for name, value, message in found
    ]


# --- Pulumi arguments ------------------------------------------------------------------------


def parameter_group_args(description: str) -> dict[str, Any]:
    """The cluster parameter group: TLS only (the job verifies the certificate anyway; this
    refuses any other client that does not), slow statements logged."""
    return {
        "family": PARAMETER_FAMILY,
        "description": description,
        "parameters": [
            {"name": "require_secure_transport", "value": "ON"},
            {"name": "slow_query_log", "value": "1"},
            {"name": "long_query_time", "value": SLOW_QUERY_SECONDS},
        ],
    }


# The builders below take plain values or Pulumi outputs alike (typed Any: no Pulumi here).


def subnet_group_args(subnet_ids: Any, description: str) -> dict[str, Any]:
    return {"subnet_ids": subnet_ids, "description": description}


def security_group_args(vpc_id: Any, task_group_ids: Any, description: str) -> dict[str, Any]:
    """3306 from the jobs' task security groups, nothing else in; no egress (the server
    answers on the connections it accepted; security groups are stateful)."""
    return {
        "vpc_id": vpc_id,
        "description": description,
        "ingress": [{
            "protocol": "tcp", "from_port": PORT, "to_port": PORT,
            "security_groups": task_group_ids,
            "description": "MySQL from the scheduled ETL tasks",
        }],
        "egress": [],
    }  # fmt: skip


def cluster_args(
    spec: AuroraSpec,
    *,
    subnet_group: Any,
    parameter_group: Any,
    security_group: Any,
    final_snapshot: Any,
) -> dict[str, Any]:
    """The Serverless v2 cluster: encrypted, TLS only, the master password in a secret RDS
    manages and rotates, logs exported, backups per environment."""
    scaling: dict[str, Any] = {
        "min_capacity": spec.min_capacity,
        "max_capacity": spec.max_capacity,
    }
    if spec.min_capacity == 0:  # the idle time before a pause (only with 0 ACU)
        scaling["seconds_until_auto_pause"] = spec.seconds_until_auto_pause
    return {
        "engine": ENGINE,
        "engine_mode": "provisioned",  # Serverless v2 is a provisioned cluster of db.serverless
        "engine_version": spec.engine_version,
        "serverlessv2_scaling_configuration": scaling,
        "master_username": MASTER_USERNAME,
        "manage_master_user_password": True,
        "db_subnet_group_name": subnet_group,
        "db_cluster_parameter_group_name": parameter_group,
        "vpc_security_group_ids": [security_group],
        "port": PORT,
        "storage_encrypted": True,
        "storage_type": spec.storage_type,
        "enabled_cloudwatch_logs_exports": LOG_EXPORTS,
        "backup_retention_period": spec.backup_retention_days,
        "deletion_protection": spec.deletion_protection,
        "copy_tags_to_snapshot": True,
        "final_snapshot_identifier": final_snapshot,
        "skip_final_snapshot": False,
    }


def instance_args(cluster_identifier: Any, spec: AuroraSpec) -> dict[str, Any]:
    """The writer: one Serverless v2 instance, private."""
    return {
        "cluster_identifier": cluster_identifier,
        "instance_class": SERVERLESS_CLASS,
        "engine": ENGINE,
        "engine_version": spec.engine_version,
        "publicly_accessible": False,
        # Off: the cluster pins engine_version, and an upgrade AWS applied on its own would make
        # the next `pulumi up` try to downgrade it (refused). Bump engineVersion deliberately.
        "auto_minor_version_upgrade": False,
    }


# --- the aurora job's task ---------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterEndpoint:
    """Where the job connects and the secret it logs in with (known once the cluster exists,
    or read from an existing one)."""

    host: str
    secret_arn: str  # the cluster's MasterUserSecret
    secret_kms_key_id: str = ""  # its key, when not the account's aws/secretsmanager key


def app_environment(env: dict[str, str], endpoint: ClusterEndpoint) -> dict[str, str]:
    """The sidecar job's variables (containers.app_environment), turned to the cluster's:
    the run makes its own schema and user (etl/shared_server.py)."""
    shared = {k: v for k, v in env.items() if k not in {"DB_DATABASE", "DB_USERNAME",
                                                         "DB_SHARED_DIR"}}  # fmt: skip
    return {
        **shared,
        "DB_SERVER": DbServer.SHARED,
        "DB_HOST": endpoint.host,
        "DB_PORT": str(PORT),
        "DB_TLS_CA": RDS_CA_BUNDLE,
    }


def app_container(
    env: dict[str, str], inputs: TaskInputs, endpoint: ClusterEndpoint
) -> dict[str, Any]:
    """The aurora job's one container: no sidecar, no dependsOn, no shared volume; the admin
    credentials from the managed secret's keys (ECS `secrets` valueFrom with a JSON key)."""
    return {
        "name": APP_CONTAINER,
        "image": inputs.app_image,
        "essential": True,
        "user": APP_USER,
        "readonlyRootFilesystem": True,
        "environment": _env(app_environment(env, endpoint)),
        "secrets": [
            {"name": name, "valueFrom": _secret(endpoint.secret_arn, json_key)}
            for name, json_key in (("DB_ADMIN_USERNAME", SECRET_USERNAME_KEY),
                                   ("DB_ADMIN_PASSWORD", SECRET_PASSWORD_KEY))
        ],
        "stopTimeout": 120,  # as the sidecar job's app: time to drop the run's schema and user
        "logConfiguration": _logs(inputs, APP_CONTAINER),
        "mountPoints": [
            {"sourceVolume": containers.APP_TMP_VOLUME, "containerPath": containers.APP_TMP_DIR}
        ],
    }  # fmt: skip


def read_master_secret_statements(endpoint: ClusterEndpoint, region: str) -> list[dict[str, Any]]:
    """What the execution role needs to inject the managed secret's keys: GetSecretValue on
    that secret and, when it is encrypted with a customer managed key, kms:Decrypt on that key
    (the default aws/secretsmanager key needs no statement).
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/secrets-envvar-secrets-manager.html"""
    statements: list[dict[str, Any]] = [{
        "Sid": "ReadClusterSecret", "Effect": "Allow",
        "Action": "secretsmanager:GetSecretValue", "Resource": endpoint.secret_arn,
    }]  # fmt: skip
    if endpoint.secret_kms_key_id:
        statements.append({
            "Sid": "DecryptClusterSecret", "Effect": "Allow", "Action": "kms:Decrypt",
            "Resource": endpoint.secret_kms_key_id,
            # Only for Secrets Manager's own use of the key, not any Decrypt call.
            "Condition": {"StringEquals": {
                "kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}},
        })  # fmt: skip
    return statements


def read_master_secret_policy(endpoint: ClusterEndpoint, region: str) -> dict[str, Any]:
    """The execution role's policy for an aurora job (read_master_secret_statements)."""
    return {"Version": VERSION, "Statement": read_master_secret_statements(endpoint, region)}


def task_containers(job: JobSettings, inputs: TaskInputs, endpoint: ClusterEndpoint) -> list[Any]:
    """An aurora job's containers in RegisterTaskDefinition's shape: the app alone."""
    env = containers.app_environment(job, inputs.bucket, inputs.region, inputs.job_name)
    return [app_container(env, inputs, endpoint)]


def task_volumes() -> list[dict[str, str]]:
    """The app's scratch volume (/tmp on a read-only root); no database volume."""
    return [{"name": containers.APP_TMP_VOLUME}]
