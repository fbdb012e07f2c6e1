"""Container definitions for the job's task: the ETL app and its sidecars, here the MySQL
server (pure). Sidecars are data (`Sidecar`); `containers()` maps each name to its definition."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from components.settings import JobSettings
from etl.contract import APP_CONTAINER, AWS_REGION, DB_CONTAINER, ExportPath

MYSQL_PORT = 3306
# Both containers run on a read-only root file system (FSBP ECS.5) and as non-root users
# (ECS.20); they write only into task volumes (Fargate bind mounts, on the task's ephemeral
# storage). A bind mount starts empty, root-owned and 0755, unless the image declares a VOLUME
# at the same containerPath: then the image's directory (its owner and mode) is what the
# volume starts as (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/bind-mounts.html).
# So each writable directory is one its image declares:
# - the sidecar's MYSQL_VOLUME at /var/lib/mysql, the official image's VOLUME (mysql-owned,
#   1777 in its Dockerfile). The sidecar lays it out as its own user: data/ (the datadir),
#   run/ (socket, pid file, the init file) and tmp/, each 0700, and exchange/ for the shared
#   export path: the mysql group's (setgid, 2770), where the server writes export files and
#   the app, mounting the same volume, reads and deletes them. No root `chown` anywhere.
# - the app's APP_TMP_VOLUME at /tmp, the Dockerfile's VOLUME (the base image's 1777 /tmp),
#   for the job's scratch files and its load FIFO.
MYSQL_VOLUME = "mysql"
MYSQL_DIR = "/var/lib/mysql"
DATA_DIR = f"{MYSQL_DIR}/data"
RUN_DIR = f"{MYSQL_DIR}/run"
MYSQL_TMP_DIR = f"{MYSQL_DIR}/tmp"
INIT_FILE = f"{RUN_DIR}/init.sql"
EXCHANGE_DIR = f"{MYSQL_DIR}/exchange"
APP_TMP_VOLUME = "tmp"
APP_TMP_DIR = "/tmp"

# Who owns what in the exchange directory. MySQL 8.4 creates SELECT ... INTO OUTFILE files with
# mode 0640 (https://dev.mysql.com/doc/refman/8.4/en/select-into.html) as the official image's
# `mysql` user, 999:999. The app runs as the Dockerfile's user with that group, so it can read
# and delete them; the directory is the group's (setgid, 2770) and closed to everyone else.
APP_UID = 10001  # Dockerfile: USER 10001:10001
MYSQL_UID = MYSQL_GID = 999
APP_USER = f"{APP_UID}:{MYSQL_GID}"
MYSQL_USER = f"{MYSQL_UID}:{MYSQL_GID}"  # the official image's `mysql` user
# The job's account, and root, exist for connections from inside the task only: the server
# listens on 127.0.0.1 (containers of an awsvpc task share it; nothing outside the task can
# reach it, whatever the security group says), the job's user is '<name>'@'127.0.0.1' and
# root is 'root'@'localhost' (the image's MYSQL_ROOT_HOST; with the image's skip-name-resolve
# that account matches socket connections only).
BIND_ADDRESS = "127.0.0.1"

# The sidecar is healthy once it answers over TCP. During first-start initialisation the
# official image runs a temporary server with networking off, so a TCP ping also waits for
# the database and user to exist. `mysqladmin ping` succeeds without credentials once the server
# answers "access denied", which it does once an account for 127.0.0.1 exists (the job's, from
# the init file); before that it answers "host not allowed" and the ping fails. The first
# check runs one interval after the start, so the interval is ECS's minimum: the app starts at
# most 5 s after the database could serve it.
MYSQL_HEALTH_CHECK: dict[str, Any] = {
    "command": ["CMD-SHELL", "mysqladmin ping --host=127.0.0.1 --protocol=tcp --silent"],
    "interval": 5,  # ECS allows 5-300 s
    "timeout": 3,  # 2-120 s; below the interval, so checks never overlap
    "retries": 10,  # 1-10
    "startPeriod": 120,  # 0-300 s: first start initialises the data directory
}
# How long the app waits for the sidecar to become HEALTHY, from the sidecar's start. Without
# it, a sidecar that never gets healthy leaves the task RUNNING forever with the app never
# started (a task run by hand or by a schedule carries on whatever its health): no STOPPED
# event, no alert. Fargate allows 2-120 s; first-start initialisation takes seconds.
# https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerDefinition.html
MYSQL_START_TIMEOUT = 120
# Time for mysqld to shut down cleanly once the app is done; past it ECS sends SIGKILL and the
# sidecar exits 137. No alert fires for that: the run's outcome follows the app's exit code
# alone (components/specs/state_machine.py); the 137 shows in the execution's history. Fargate's
# maximum.
MYSQL_STOP_TIMEOUT = 120


@dataclass(frozen=True)
class TaskInputs:
    """Values known only once other resources exist (ARNs, names, the built image)."""

    app_image: str
    secret_arn: str
    log_group: str
    region: str
    bucket: str
    job_name: str


def _env(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in sorted(values.items())]


def _logs(inputs: TaskInputs, stream_prefix: str) -> dict[str, Any]:
    return {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": inputs.log_group,
            "awslogs-region": inputs.region,
            "awslogs-stream-prefix": stream_prefix,
        },
    }


def _secret(secret_arn: str, json_key: str) -> str:
    # <secret-arn>:<json-key>:<version-stage>:<version-id>; empty stage/id = AWSCURRENT.
    # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/secrets-envvar-secrets-manager.html
    return f"{secret_arn}:{json_key}::"


def app_environment(
    job: JobSettings, bucket: str, region: str, job_name: str = ""
) -> dict[str, str]:
    """The job's variables (etl/contract.py) that the task definition sets. No secrets: those
    go in `secrets`. `job_name` names the run lock and the metrics."""
    env = {
        **job.environment,
        AWS_REGION: region,
        "DB_HOST": "127.0.0.1",  # containers of an awsvpc task share one network namespace
        "DB_PORT": str(MYSQL_PORT),
        "DB_DATABASE": job.database,
        "DB_USERNAME": job.db_username,
        "DATA_BUCKET": bucket,
        "INPUT_PREFIX": job.input_prefix,
        "OUTPUT_PREFIX": job.output_prefix,
    }
    if job.etl_job:
        env["ETL_JOB"] = job.etl_job
    if job.export_path == ExportPath.SHARED:
        env["DB_SHARED_DIR"] = EXCHANGE_DIR
    if job_name:
        env["JOB_NAME"] = job_name
    return env


def task_volumes(job: JobSettings) -> list[dict[str, str]]:
    return [{"name": MYSQL_VOLUME}, {"name": APP_TMP_VOLUME}]


# sed: a backslash before each backslash and single quote, for a MySQL string literal.
SQL_STRING_ESCAPE = r"s/[\\']/\\&/g"


def init_sql(job: JobSettings, password: str) -> str:
    """The server's --init-file: the job's database, its user (from the task only) and, for the
    shared path, FILE. Idempotent: it runs at every server start (the image's initialisation,
    its temporary server and the real one), so it creates what is missing and grants again.
    Identifiers are SqlIdentifiers (settings); `_` is escaped in the database name, which GRANT
    would take as a wildcard."""
    user = f"'{job.db_username}'@'{BIND_ADDRESS}'"
    database = job.database.replace("_", "\\_")
    lines = [
        f"CREATE DATABASE IF NOT EXISTS `{job.database}`;",
        f"CREATE USER IF NOT EXISTS {user} IDENTIFIED BY '{password}';",
        f"GRANT ALL ON `{database}`.* TO {user};",
    ]
    if job.export_path == ExportPath.SHARED:
        lines.append(f"GRANT FILE ON *.* TO {user};")
    return "\n".join(lines) + "\n"


def mysql_startup(job: JobSettings) -> dict[str, Any]:
    """entryPoint/command of the sidecar, run as the image's mysql user on a read-only root.
    It lays out the data volume (see MYSQL_VOLUME), writes the init file with the job's
    password (from the secret, escaped for an SQL string: \\ and ' get a backslash), and hands
    over to the image's entrypoint with every path in the volume. LOAD DATA LOCAL INFILE is how
    the job bulk-loads (MySQL 8 turns it off by default). With the shared path, mysqld may
    write files only in the exchange directory (--secure-file-priv)."""
    dirs = [DATA_DIR, RUN_DIR, MYSQL_TMP_DIR]
    options = [
        f"--datadir={DATA_DIR}",
        f"--socket={RUN_DIR}/mysqld.sock",
        f"--pid-file={RUN_DIR}/mysqld.pid",
        f"--tmpdir={MYSQL_TMP_DIR}",
        f"--bind-address={BIND_ADDRESS}",
        f"--init-file={INIT_FILE}",
        "--local-infile=ON",
    ]
    exchange = ""
    if job.export_path == ExportPath.SHARED:
        exchange = f"mkdir -p {EXCHANGE_DIR} && chmod 2770 {EXCHANGE_DIR} && "
        options.append(f"--secure-file-priv={EXCHANGE_DIR}")
    head, tail = init_sql(job, "\0").split("\0")
    script = (
        f"umask 077 && mkdir -p {' '.join(dirs)} && {exchange}"
        f'password="$(printf %s "$DB_PASSWORD" | sed {shlex.quote(SQL_STRING_ESCAPE)})" && '
        f"printf '%s%s%s' {shlex.quote(head)} \"$password\" {shlex.quote(tail)} > {INIT_FILE} && "
        f"unset DB_PASSWORD password && "
        f"exec docker-entrypoint.sh mysqld {' '.join(options)}"
    )
    return {"entryPoint": ["sh", "-c"], "command": [script]}


def _mounts(job: JobSettings, container: str) -> dict[str, Any]:
    if container == DB_CONTAINER:
        return {"mountPoints": [{"sourceVolume": MYSQL_VOLUME, "containerPath": MYSQL_DIR}]}
    mounts = [{"sourceVolume": APP_TMP_VOLUME, "containerPath": APP_TMP_DIR}]
    if job.export_path == ExportPath.SHARED:
        mounts.append({"sourceVolume": MYSQL_VOLUME, "containerPath": MYSQL_DIR})
    return {"mountPoints": mounts}


@dataclass(frozen=True)
class Sidecar:
    """A container that serves the app for the length of a run. Every sidecar is essential
    (the task stops when one exits) and the app starts once each is healthy (or started, for
    one without a health check). A second sidecar is one more entry in `sidecars()`."""

    name: str
    image: str
    environment: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)  # variable -> key in the job secret
    startup: dict[str, Any] = field(default_factory=dict)  # entryPoint / command
    mounts: dict[str, Any] = field(default_factory=dict)  # mountPoints
    user: str | None = None  # uid:gid; never root (ECS.20)
    health_check: dict[str, Any] | None = None
    start_timeout: int | None = None  # for a health check: how long the app waits for it
    stop_timeout: int | None = None


def mysql_sidecar(job: JobSettings) -> Sidecar:
    return Sidecar(
        name=DB_CONTAINER,
        image=job.mysql_image,
        # The job keeps its session in UTC offsets, so the image's first-start load of the
        # named time-zone tables (seconds before the sidecar is healthy) is skipped.
        # The database and the job's user come from the init file (mysql_startup), not from
        # the image's MYSQL_DATABASE/MYSQL_USER, which would make that user reachable from '%'.
        # TMPDIR: the entrypoint's own temporary files go to the volume too.
        environment={
            "MYSQL_ROOT_HOST": "localhost",
            "MYSQL_INITDB_SKIP_TZINFO": "1",
            "TMPDIR": MYSQL_TMP_DIR,
        },
        secrets={"DB_PASSWORD": "password", "MYSQL_ROOT_PASSWORD": "rootPassword"},
        startup=mysql_startup(job),
        mounts=_mounts(job, DB_CONTAINER),
        user=MYSQL_USER,
        health_check=MYSQL_HEALTH_CHECK,
        start_timeout=MYSQL_START_TIMEOUT,
        stop_timeout=MYSQL_STOP_TIMEOUT,
    )


def sidecars(job: JobSettings) -> list[Sidecar]:
    """What the app needs running beside it, in start order."""
    return [mysql_sidecar(job)]


def _sidecar_definition(sidecar: Sidecar, inputs: TaskInputs) -> dict[str, Any]:
    definition: dict[str, Any] = {
        "name": sidecar.name,
        "image": sidecar.image,
        "essential": True,
        "readonlyRootFilesystem": True,
        "environment": _env(sidecar.environment),
        "secrets": [
            {"name": name, "valueFrom": _secret(inputs.secret_arn, key)}
            for name, key in sidecar.secrets.items()
        ],
        **sidecar.startup,
        **sidecar.mounts,
    }
    # No portMappings: the app reaches the server on the task's 127.0.0.1, and a mapping would
    # only document a port that nothing outside the task may use.
    if sidecar.user is not None:
        definition["user"] = sidecar.user
    if sidecar.health_check is not None:
        definition["healthCheck"] = sidecar.health_check
    if sidecar.start_timeout is not None:
        definition["startTimeout"] = sidecar.start_timeout
    if sidecar.stop_timeout is not None:
        definition["stopTimeout"] = sidecar.stop_timeout
    definition["logConfiguration"] = _logs(inputs, sidecar.name)
    return definition


def _app_definition(job: JobSettings, inputs: TaskInputs, helpers: list[Sidecar]) -> dict[str, Any]:
    return {
        "name": APP_CONTAINER,
        "image": inputs.app_image,
        "essential": True,
        "user": APP_USER,
        "readonlyRootFilesystem": True,
        "environment": _env(app_environment(job, inputs.bucket, inputs.region, inputs.job_name)),
        "secrets": [{"name": "DB_PASSWORD", "valueFrom": _secret(inputs.secret_arn, "password")}],
        "dependsOn": [
            {"containerName": s.name, "condition": "HEALTHY" if s.health_check else "START"}
            for s in helpers
        ],
        # Fargate's maximum: time for the job to abort uploads and release its lock on SIGTERM.
        "stopTimeout": 120,
        "logConfiguration": _logs(inputs, APP_CONTAINER),
        **_mounts(job, APP_CONTAINER),
    }


def containers(job: JobSettings, inputs: TaskInputs) -> dict[str, dict[str, Any]]:
    """The task's containers by name: the app, then its sidecars. All are essential."""
    helpers = sidecars(job)
    return {
        APP_CONTAINER: _app_definition(job, inputs, helpers),
        **{s.name: _sidecar_definition(s, inputs) for s in helpers},
    }


def container_definitions(job: JobSettings, inputs: TaskInputs) -> list[dict[str, Any]]:
    """The task's containers in ECS RegisterTaskDefinition's shape (a list)."""
    return list(containers(job, inputs).values())
