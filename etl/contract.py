"""The contract between the job and the infrastructure that runs it, written once.

The job (etl/) reads these variables, exits with these codes and writes these metrics; the
Pulumi program (components/) sets the variables in the task definition and the state machine,
names the containers and reads the exit codes. Both import this module, so a name changed here
changes on both sides. Standard library only: the Pulumi program imports it without the job's
dependencies, and the image carries it with the job.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Literal

# The task's containers: the job and its database sidecar.
APP_CONTAINER = "app"
DB_CONTAINER = "mysql"


class ExitCode(IntEnum):
    """`python -m etl run`'s exit status; the state machine decides the run's outcome from it."""

    SUCCEEDED = 0
    FAILED = 1
    SETTINGS = 2  # a setting or the job folder is wrong (before the lock): fix it, then rerun
    LOCKED = 3  # another run of the job holds its lock: that run reports for the job
    TERMINATED = 143  # 128 + SIGTERM: the task is being stopped


class DbServer(StrEnum):
    """DB_SERVER: whose server the job's database is on."""

    TASK = "task"  # the task's own sidecar: the job's database and user exist already
    SHARED = "shared"  # a server other jobs share (Aurora): each run makes its schema and user


class ExportPath(StrEnum):
    """How exports reach the job: `shared` when DB_SHARED_DIR is set (SELECT … INTO OUTFILE
    into a volume both containers mount), `stream` otherwise (rows over the connection)."""

    SHARED = "shared"
    STREAM = "stream"


# Run metrics (CloudWatch Embedded Metric Format, etl/metrics.py), one datapoint per run.
METRIC_NAMESPACE = "ScheduledEtl"
METRIC_DIMENSION = "Job"  # JOB_NAME's value

# Who sets a variable in a deployed task:
#   task:          the task definition (components/specs/containers.py), from stack config
#   secret:        the task definition's `secrets`, from Secrets Manager
#   state machine: the run's container override (components/specs/state_machine.py)
#   local:         only a person running the job outside ECS (refused or meaningless in a task)
#   you:           nobody by default; a job's `environment` in stack config may set it
SetBy = Literal["task", "secret", "state machine", "local", "you"]


@dataclass(frozen=True)
class Variable:
    name: str
    default: str  # as a person reads it ("required", "none", "now (UTC)", "3306")
    meaning: str
    set_by: SetBy


ENVIRONMENT: tuple[Variable, ...] = (
    Variable(
        "DB_HOST",
        "required",
        "the MySQL server (the sidecar: 127.0.0.1; a shared server: its endpoint)",
        "task",
    ),
    Variable("DB_PORT", "3306", "its port", "task"),
    Variable(
        "DB_SERVER",
        "task",
        "`task`: the task's own server (the sidecar), where DB_DATABASE and DB_USERNAME exist; "
        "`shared`: a server other jobs use too (Aurora), each run in a schema and user of its "
        "own that it creates with DB_ADMIN_USERNAME and drops at the end",
        "task",
    ),
    Variable(
        "DB_TLS_CA",
        "none",
        "a CA bundle file: connect over TLS, verifying the server's certificate and host name "
        "against it (required with DB_SERVER=shared)",
        "task",
    ),
    Variable("DB_DATABASE", "required (task server)", "the job's database", "task"),
    Variable("DB_USERNAME", "required (task server)", "the job's database user", "task"),
    Variable("DB_PASSWORD", "empty", "its password (from Secrets Manager in ECS)", "secret"),
    Variable(
        "DB_ADMIN_USERNAME",
        "required (shared server)",
        "a shared server's admin account, which creates each run's schema and user (the "
        "cluster's managed master secret's `username`)",
        "secret",
    ),
    Variable(
        "DB_ADMIN_PASSWORD",
        "empty",
        "its password (the secret's `password`)",
        "secret",
    ),
    Variable(
        "DATA_BUCKET", "required unless DATA_DIR", "the S3 bucket of inputs and outputs", "task"
    ),
    Variable(
        "DATA_DIR", "none", "local mode: a folder used instead of the bucket, same layout", "local"
    ),
    Variable(
        "INPUT_PREFIX",
        "input/",
        "where the input tables' folders are; must not overlap OUTPUT_PREFIX (a run would "
        "load the previous run's outputs)",
        "task",
    ),
    Variable("OUTPUT_PREFIX", "output/", "where run folders and the lock go", "task"),
    Variable(
        "ETL_JOB", "the bundled job", "the job folder (schema.sql, transform/, export/)", "task"
    ),
    Variable(
        "JOB_NAME",
        "the job folder's name",
        "names the run folders (`OUTPUT_PREFIX<JOB_NAME>/run=…`), the lock and the metrics "
        "(the task definition sets the deployed job's full name)",
        "task",
    ),
    Variable("SCHEDULED_TIME", "now (UTC)", "the run's logical time, ISO 8601", "state machine"),
    Variable(
        "DB_WAIT_SECONDS",
        "180",
        "how long to wait for the database to accept connections",
        "you",
    ),
    Variable("EXPORT_PART_ROWS", "1000000", "rows per exported part file", "you"),
    Variable(
        "DB_SHARED_DIR",
        "none",
        "an absolute folder, without quotes or backslashes, that the server writes into and "
        "the job reads: turns on the shared export path",
        "task",
    ),
    Variable(
        "DB_STATEMENT_TIMEOUT_SECONDS",
        "3600",
        "any one statement running longer is killed (`KILL QUERY`) and fails the run",
        "you",
    ),
    Variable(
        "CSV_NULL",
        "empty",
        "the text that stands for NULL in CSV inputs and exports (empty: an empty field; "
        "see *NULL and empty strings*)",
        "you",
    ),
    Variable(
        "LOCK_STALE_SECONDS", "21600", "a lock not renewed for this long is taken over", "you"
    ),
    Variable(
        "PROGRESS_SECONDS",
        "10",
        "how often long loads and exports log `load_progress` / `export_progress`",
        "you",
    ),
    Variable("LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR", "you"),
    Variable("LOG_FORMAT", "json", "json (one object per line) or text (for a terminal)", "you"),
)

# The variables of one kind of database only: a sidecar task sets the first set (the job's
# database and user exist in the sidecar), a task on a shared server the second (the admin,
# from the cluster's secret; the run makes its own database and user). The job refuses a
# variable of the other kind (etl/settings.py).
TASK_SERVER_ONLY = frozenset({"DB_DATABASE", "DB_USERNAME", "DB_PASSWORD", "DB_SHARED_DIR"})
SHARED_SERVER_ONLY = frozenset({"DB_SERVER", "DB_TLS_CA", "DB_ADMIN_USERNAME", "DB_ADMIN_PASSWORD"})

# Read by boto3 (the region of S3 calls); the task definition sets it.
AWS_REGION = "AWS_REGION"

# Fargate (platform 1.4.0+) sets it in every container: the one variable read that is not ours.
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-metadata-endpoint-v4-fargate.html
IN_ECS = "ECS_CONTAINER_METADATA_URI_V4"


def variable(name: str) -> Variable:
    """The variable called `name`; a KeyError names it when the contract has no such one."""
    for item in ENVIRONMENT:
        if item.name == name:
            return item
    raise KeyError(name)


def reserved_names() -> frozenset[str]:
    """What a job's `environment` (stack config) may not set: whatever the platform sets, and
    local mode, which has no place in a task."""
    return frozenset(v.name for v in ENVIRONMENT if v.set_by != "you") | {AWS_REGION}
