"""Physical names the program derives from the stack and job names, and the limits AWS puts on
them, so that settings can reject a long or odd stack/job name before any resource exists.

Auto-named resources get Pulumi's suffix ('-' and 7 random characters); `name_prefix` gets
Terraform's 26-character unique suffix. Each limit cites the API reference that states it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from components.specs import sfn_logging, vpc_security

PROJECT = "scheduled-etl"
AUTONAME = "-abcdefg"  # Pulumi autonaming: '-' + 7 random characters
PREFIX_UNIQUE = "x" * 26  # Terraform's unique suffix for name_prefix
SNAPSHOT_ID_BYTES = 4  # the random suffix of a cluster's final snapshot (AuroraDatabase)
RANDOM_HEX = "f" * 2 * SNAPSHOT_ID_BYTES  # that suffix as the names below spell it


@dataclass(frozen=True)
class Limit:
    what: str
    max_length: int
    pattern: str  # the characters AWS allows, as a full-match regular expression
    source: str


_API = "https://docs.aws.amazon.com"
SCHEDULE = Limit(
    "EventBridge Scheduler schedule name",
    64,
    r"[0-9a-zA-Z_.-]+",
    f"{_API}/scheduler/latest/APIReference/API_CreateSchedule.html",
)
STATE_MACHINE = Limit(
    "Step Functions state machine name",
    80,
    r"[0-9A-Za-z_-]+",
    f"{_API}/step-functions/latest/apireference/API_CreateStateMachine.html",
)
ALARM = Limit(
    "CloudWatch alarm name",
    255,
    r"[^\x00-\x1f]+",
    f"{_API}/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html",
)
QUEUE = Limit(
    "SQS queue name",
    80,
    r"[A-Za-z0-9_-]+",
    f"{_API}/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html",
)
ROLE = Limit(
    "IAM role name", 64, r"[\w+=,.@-]+", f"{_API}/IAM/latest/APIReference/API_CreateRole.html"
)
ROLE_POLICY = Limit(
    "IAM inline policy name",
    128,
    r"[\w+=,.@-]+",
    f"{_API}/IAM/latest/APIReference/API_PutRolePolicy.html",
)
LOG_GROUP = Limit(
    "CloudWatch Logs group name",
    512,
    r"[.\-_/#A-Za-z0-9]+",
    f"{_API}/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html",
)
SECRET = Limit(
    "Secrets Manager secret name",
    512,
    r"[A-Za-z0-9/_+=.@-]+",
    f"{_API}/secretsmanager/latest/apireference/API_CreateSecret.html",
)
FAMILY = Limit(
    "ECS task definition family",
    255,
    r"[A-Za-z0-9_-]+",
    f"{_API}/AmazonECS/latest/APIReference/API_RegisterTaskDefinition.html",
)
CLUSTER = Limit(
    "ECS cluster name",
    255,
    r"[A-Za-z0-9_-]+",
    f"{_API}/AmazonECS/latest/APIReference/API_CreateCluster.html",
)
RULE = Limit(
    "EventBridge rule name",
    64,
    r"[.\-_A-Za-z0-9]+",
    f"{_API}/eventbridge/latest/APIReference/API_PutRule.html",
)
TOPIC = Limit(
    "SNS topic name", 256, r"[A-Za-z0-9_-]+", f"{_API}/sns/latest/api/API_CreateTopic.html"
)
SECURITY_GROUP = Limit(
    "EC2 security group name",
    255,
    r"(?!sg-)[A-Za-z0-9 ._\-:/()#,@\[\]+=&;{}!$*]+",
    f"{_API}/AWSEC2/latest/APIReference/API_CreateSecurityGroup.html",
)
BUCKET = Limit(
    "S3 bucket name",
    63,
    r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]",
    f"{_API}/AmazonS3/latest/userguide/bucketnamingrules.html",
)
REPOSITORY = Limit(
    "ECR repository name",
    256,
    r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*",
    f"{_API}/AmazonECR/latest/APIReference/API_CreateRepository.html",
)

# RDS identifiers: a letter first, then letters, digits and single hyphens, no hyphen last;
# RDS stores them in lowercase (Pulumi's autonames are lowercase already).
_RDS_IDENTIFIER = r"[a-z](?:-?[a-z0-9])*"
DB_CLUSTER = Limit(
    "RDS DB cluster identifier",
    63,
    _RDS_IDENTIFIER,
    f"{_API}/AmazonRDS/latest/APIReference/API_CreateDBCluster.html",
)
DB_INSTANCE = Limit(
    "RDS DB instance identifier",
    63,
    _RDS_IDENTIFIER,
    f"{_API}/AmazonRDS/latest/APIReference/API_CreateDBInstance.html",
)
DB_SNAPSHOT = Limit(
    "RDS DB cluster snapshot identifier",
    255,
    _RDS_IDENTIFIER,
    f"{_API}/AmazonRDS/latest/APIReference/API_DeleteDBCluster.html",
)
DB_SUBNET_GROUP = Limit(
    "RDS DB subnet group name",
    255,
    r"(?!default$)[a-z0-9 ._-]+",
    f"{_API}/AmazonRDS/latest/APIReference/API_CreateDBSubnetGroup.html",
)
DB_CLUSTER_PARAMETER_GROUP = Limit(
    "RDS DB cluster parameter group name",
    255,
    _RDS_IDENTIFIER,
    f"{_API}/AmazonRDS/latest/APIReference/API_CreateDBClusterParameterGroup.html",
)


def full_name(stack: str, job: str) -> str:
    """What people look for in the console: task family, schedule and log group names."""
    return f"{PROJECT}-{stack}-{job}"


def stack_prefix(stack: str) -> str:
    """The logical-name prefix of the stack's shared resources (Platform's name)."""
    return f"{PROJECT}-{stack}"


def log_group_name(full: str) -> str:
    return f"/ecs/{full}"


def secret_prefix(full: str) -> str:
    return f"{full}-db-"


WATCHDOG_SUFFIX = "-watch"  # the missed-slot watchdog's schedule and state machine


def watchdog_name(full: str) -> str:
    return f"{full}{WATCHDOG_SUFFIX}"


def queue_name(full: str) -> str:
    return f"{full}-dlq"


def dead_letter_alarm_name(full: str) -> str:
    return f"{full}-dlq-not-empty"


def unplanned_rule_name(full: str) -> str:
    """The rule on the job's executions that end outside the planned outcomes; its name starts
    with the job's full name, which the alerts topic's policy admits (specs/alerts.py). No longer
    than the watchdog's suffix, which sets the longest stack and job names."""
    return f"{full}-ended"


def job_names(stack: str, job: str) -> list[tuple[str, Limit]]:
    """Every physical name one job of a stack derives, as AWS will see it."""
    return named_job_names(full_name(stack, job), job)


def named_job_names(full: str, job: str) -> list[tuple[str, Limit]]:
    """Every physical name the job `job` derives from its full name (`<prefix>-<job>`)."""
    return [
        (full, SCHEDULE),
        (watchdog_name(full), SCHEDULE),
        (full, STATE_MACHINE),
        (watchdog_name(full), STATE_MACHINE),
        (full, FAMILY),
        (log_group_name(full), LOG_GROUP),
        (sfn_logging.log_group_name(full), LOG_GROUP),
        (sfn_logging.log_group_name(watchdog_name(full)), LOG_GROUP),
        (secret_prefix(full) + PREFIX_UNIQUE, SECRET),
        (queue_name(full), QUEUE),
        (dead_letter_alarm_name(full), ALARM),
        (queue_name(watchdog_name(full)), QUEUE),
        (dead_letter_alarm_name(watchdog_name(full)), ALARM),
        (unplanned_rule_name(full), RULE),
        (queue_name(unplanned_rule_name(full)), QUEUE),
        (dead_letter_alarm_name(unplanned_rule_name(full)), ALARM),
        *((f"{job}-{role}{AUTONAME}", ROLE)
          for role in ("execution", "task", "scheduler", "watch-scheduler", "run", "watch")),
        *((f"{job}-{policy}{AUTONAME}", ROLE_POLICY)
          for policy in ("execution-secret", "task-bucket", "scheduler-start",
                         "watch-scheduler-start", "run", "watch", "run-logs", "watch-logs")),
    ]  # fmt: skip


def database_names(prefix: str) -> list[tuple[str, Limit]]:
    """The names a created Aurora cluster derives (AuroraDatabase `<prefix>-db`)."""
    db = f"{prefix}-db"
    return [
        (f"{db}{AUTONAME}", DB_CLUSTER),
        (f"{db}-writer{AUTONAME}", DB_INSTANCE),
        (f"{db}-final-{RANDOM_HEX}", DB_SNAPSHOT),
        (f"{db}-subnets{AUTONAME}", DB_SUBNET_GROUP),
        (f"{db}-params{AUTONAME}", DB_CLUSTER_PARAMETER_GROUP),
        (f"{db}-sg{AUTONAME}", SECURITY_GROUP),
    ]


def stack_names(
    stack: str,
    *,
    creates_bucket: bool,
    builds_image: bool,
    creates_vpc: bool = False,
    creates_database: bool = False,
) -> list[tuple[str, Limit]]:
    """Every physical name the stack's shared resources derive from the stack name."""
    return platform_names(stack_prefix(stack), creates_bucket=creates_bucket,
                          builds_image=builds_image, creates_vpc=creates_vpc,
                          creates_database=creates_database)  # fmt: skip


def platform_names(
    prefix: str,
    *,
    creates_bucket: bool,
    builds_image: bool,
    creates_vpc: bool = False,
    creates: tuple[bool, bool, bool] = (True, True, True),
    creates_database: bool = False,
) -> list[tuple[str, Limit]]:
    """Every physical name the shared resources of a platform named `prefix` derive from it;
    `creates`: whether it creates its cluster, alerts topic and tasks' security group;
    `creates_database`: an Aurora cluster (components/database.py)."""
    shared = [
        (f"{prefix}-cluster{AUTONAME}", CLUSTER),
        (f"{prefix}-alerts{AUTONAME}", TOPIC),
        (f"{prefix}-network-tasks{AUTONAME}", SECURITY_GROUP),
    ]
    names = [name for name, created in zip(shared, creates, strict=True) if created]
    if creates_bucket:
        names.append((f"{prefix}-data{AUTONAME}", BUCKET))
        names.append((f"{prefix}-data-logs{AUTONAME}", BUCKET))  # its server access logs
    if creates_vpc:  # the VPC's flow logs
        network = f"{prefix}-network"
        names.append((vpc_security.flow_log_group_name(network), LOG_GROUP))
        names.append((f"{network}-flow-logs{AUTONAME}", ROLE))
        names.append((f"{network}-flow-logs{AUTONAME}", ROLE_POLICY))
    if builds_image:
        names.append((f"{prefix}-app{AUTONAME}", REPOSITORY))
    if creates_database:
        names += database_names(prefix)
    return names


def problems(names: list[tuple[str, Limit]]) -> list[str]:
    """What AWS would reject, one line per name."""
    found = []
    for name, limit in names:
        if len(name) > limit.max_length:
            found.append(f"the {limit.what} {name!r} has {len(name)} characters; "
                         f"at most {limit.max_length} ({limit.source})")  # fmt: skip
        elif not re.fullmatch(limit.pattern, name, flags=re.ASCII):
            found.append(f"the {limit.what} {name!r} has characters AWS does not allow "
                         f"(allowed: {limit.pattern}; {limit.source})")  # fmt: skip
    return found
