"""The job's settings, from environment variables (the task definition sets them).

A missing or malformed setting stops the job before it touches anything, naming the variable.
The variables, with their defaults, are listed once in etl/contract.py (ENVIRONMENT);
`python -m etl --help` prints them and a test checks them against what from_env and
storage_from_env really read.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from etl.contract import (
    ENVIRONMENT,
    IN_ECS,
    SHARED_SERVER_ONLY,
    TASK_SERVER_ONLY,
    DbServer,
)

BUNDLED_JOB = Path(__file__).resolve().parent / "jobs" / "monthly_orders"
WEEK_SECONDS = 7 * 24 * 3600


class SettingsError(Exception):
    """A setting is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    db_host: str
    db_port: int
    db_database: str
    db_username: str
    db_password: str = field(repr=False)  # never in a log line or a traceback
    data_bucket: str
    input_prefix: str
    output_prefix: str
    job_dir: Path
    scheduled_time: datetime  # aware, UTC
    db_wait_seconds: float
    export_part_rows: int
    log_level: str
    db_shared_dir: Path | None  # a directory the database server writes into and we read
    job_name: str  # names the lock and the metrics' Job dimension
    lock_stale_seconds: float
    progress_seconds: float  # between two progress lines of a long load or export
    db_statement_timeout_seconds: float  # any one statement is killed after this
    csv_null: str = ""  # the text that stands for NULL in CSV ("": an empty field)
    data_dir: Path | None = None  # local mode: this folder stands in for the bucket
    log_format: str = "json"  # or "text", for people at a terminal
    # DB_SERVER=shared: db_username/db_password are the admin's and db_database is empty
    # until etl/shared_server.py has made the run's own (Settings with those replaced).
    db_server: DbServer = DbServer.TASK
    db_tls_ca: Path | None = None  # TLS, the server's certificate verified against this

    @property
    def lock_key(self) -> str:
        return f"{self.output_prefix}_locks/{self.job_name}.lock"

    @property
    def output_folder(self) -> str:
        """The job's own folder: its run folders, under a name no other job has (JOB_NAME)."""
        return f"{self.output_prefix}{self.job_name}/"

    @property
    def run_folder(self) -> str:
        """One folder per logical run: a rerun for the same time replaces it."""
        return f"run={self.scheduled_time:%Y%m%dT%H%M%SZ}"

    @property
    def output_root(self) -> str:
        """What this run owns and replaces: OUTPUT_PREFIX<JOB_NAME>/run=<time>/."""
        return f"{self.output_folder}{self.run_folder}/"

    def url(self, key: str) -> str:
        """Where an object is, for messages: s3://bucket/key, or the file in local mode."""
        return f"{self.data_dir}/{key}" if self.data_dir else f"s3://{self.data_bucket}/{key}"


def environment_help() -> str:
    """The environment variables with their defaults, as `--help` prints them."""
    width = max(len(v.name) for v in ENVIRONMENT)
    lines = [f"  {v.name:<{width}}  {v.meaning} [{v.default}]" for v in ENVIRONMENT]
    boto3 = "  S3 endpoint and credentials: boto3's own (AWS_ENDPOINT_URL_S3, AWS_PROFILE, ...)"
    return "environment (default in brackets):\n" + "\n".join([*lines, boto3])


@dataclass(frozen=True)
class StorageSettings:
    """Where a job's data lives: what the tools for runs and locks need (no database)."""

    data_bucket: str  # in local mode the folder's path, for messages
    data_dir: Path | None
    input_prefix: str
    output_prefix: str
    job_name: str
    lock_stale_seconds: float

    @property
    def lock_key(self) -> str:
        return f"{self.output_prefix}_locks/{self.job_name}.lock"

    @property
    def output_folder(self) -> str:
        """The job's run folders are under it (Settings.output_folder)."""
        return f"{self.output_prefix}{self.job_name}/"

    def url(self, key: str) -> str:
        """Where an object is, for messages: s3://bucket/key, or the file in local mode."""
        return f"{self.data_dir}/{key}" if self.data_dir else f"s3://{self.data_bucket}/{key}"


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise SettingsError(f"{name} is required")
    return value


def _number(
    env: Mapping[str, str], name: str, default: str, low: float, kind: type, *,
    high: float = math.inf,
) -> float:  # fmt: skip
    raw = env.get(name) or default
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a {kind.__name__}") from None
    if not math.isfinite(value):
        raise SettingsError(f"{name}={raw!r} must be a finite number")
    if value < low:
        raise SettingsError(f"{name}={raw!r} must be at least {low}")
    if value > high:
        raise SettingsError(f"{name}={raw!r} must be at most {high:g}")
    return float(value)


def _prefix(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, default)
    if value and not value.endswith("/"):
        raise SettingsError(f"{name}={value!r} must end with '/'")
    if value.startswith("/"):
        raise SettingsError(f"{name}={value!r} must not start with '/'")
    return value


def _job_name(env: Mapping[str, str], job_dir: Path) -> str:
    name = env.get("JOB_NAME") or job_dir.name
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", name):
        raise SettingsError(f"JOB_NAME={name!r} may hold letters, digits, '_', '.' and '-'")
    return name


def _directory(env: Mapping[str, str], name: str) -> Path | None:
    """A directory the database server writes into: its path goes into SQL as a string
    literal, so it must be absolute and hold no quote, backslash or control character."""
    value = env.get(name, "")
    if not value:
        return None
    if not value.startswith("/") or re.search(r"['\"`\\\x00-\x1f\x7f]", value):
        raise SettingsError(
            f"{name}={value!r} must be an absolute path without quotes, backslashes or "
            "control characters"
        )
    if not Path(value).is_dir():
        raise SettingsError(f"{name}={value!r} is not a directory")
    return Path(value)


def _scheduled_time(env: Mapping[str, str]) -> datetime:
    raw = env.get("SCHEDULED_TIME", "")
    if not raw:
        return datetime.now(UTC).replace(microsecond=0)
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise SettingsError(
            f"SCHEDULED_TIME={raw!r} is not ISO 8601 (e.g. 2026-11-01T04:00:00Z)"
        ) from None
    if parsed.tzinfo is None:
        raise SettingsError(f"SCHEDULED_TIME={raw!r} needs a time zone, e.g. a trailing Z")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-01:00 is in year 10000 in UTC
        raise SettingsError(f"SCHEDULED_TIME={raw!r} is after 9999-12-31T23:59:59Z") from None


def _data_location(env: Mapping[str, str]) -> tuple[str, Path | None]:
    """(bucket, None), or in local mode (DATA_DIR) (the folder's path, the folder)."""
    folder = env.get("DATA_DIR", "")
    if not folder:
        if not env.get("DATA_BUCKET"):
            raise SettingsError("DATA_BUCKET is required (or DATA_DIR, a local folder instead)")
        return env["DATA_BUCKET"], None
    if env.get("DATA_BUCKET"):
        raise SettingsError("DATA_BUCKET and DATA_DIR are both set; set one (DATA_DIR: local mode)")
    if env.get(IN_ECS):  # outputs on a task's disk would vanish with it: a silent loss
        raise SettingsError(f"DATA_DIR (local mode) is refused in an ECS task ({IN_ECS} is set)")
    path = Path(folder).resolve()
    if not path.is_dir():
        raise SettingsError(f"DATA_DIR={folder!r} is not a directory")
    return str(path), path


def _log_format(env: Mapping[str, str]) -> str:
    value = env.get("LOG_FORMAT", "json").lower()
    if value not in {"json", "text"}:
        raise SettingsError(f"LOG_FORMAT={value!r} must be json or text")
    return value


def storage_from_env(env: Mapping[str, str] = os.environ) -> StorageSettings:
    """The settings that say where a job's runs and lock are (the same rules as from_env)."""
    bucket, data_dir = _data_location(env)
    return StorageSettings(
        data_bucket=bucket,
        data_dir=data_dir,
        input_prefix=_prefix(env, "INPUT_PREFIX", "input/"),
        output_prefix=_prefix(env, "OUTPUT_PREFIX", "output/"),
        job_name=_job_name(env, Path(env.get("ETL_JOB") or BUNDLED_JOB)),
        lock_stale_seconds=_number(env, "LOCK_STALE_SECONDS", "21600", 1, float),
    )


def _csv_null(env: Mapping[str, str]) -> str:
    """CSV_NULL: written and read unquoted, so no character that CSV or SQL would quote."""
    value = env.get("CSV_NULL", "")
    # A byte that is not UTF-8 arrives as a lone surrogate: the loader's own placeholders.
    if len(value) > 16 or re.search(r"[,\"'\\\s\x00-\x1f\x7f\ud800-\udfff]", value):
        raise SettingsError(
            f"CSV_NULL={value!r} must be at most 16 characters without commas, quotes, "
            "backslashes, spaces, control characters or bytes that are not UTF-8 (e.g. NULL)"
        )
    return value


def _separate(input_prefix: str, output_prefix: str) -> None:
    """Outputs under the inputs would be loaded by the next run (rows silently doubled), and
    inputs under the outputs would be replaced by a rerun: the two must not overlap."""
    if input_prefix.startswith(output_prefix) or output_prefix.startswith(input_prefix):
        raise SettingsError(
            f"INPUT_PREFIX={input_prefix!r} and OUTPUT_PREFIX={output_prefix!r} overlap "
            "(one starts with the other); give them separate folders, e.g. input/ and output/"
        )


# DB_SERVER and DB_TLS_CA mean something on either kind of server.
_SHARED_ONLY = sorted(SHARED_SERVER_ONLY - {"DB_SERVER", "DB_TLS_CA"})


def _db_server(env: Mapping[str, str]) -> DbServer:
    """DB_SERVER, and the variables that make sense with it only. On a shared server the run
    makes its own database and user (so none is named) and the server cannot write into the
    task's folders (no shared export path); the sidecar has no admin account to use."""
    raw = env.get("DB_SERVER") or DbServer.TASK
    try:
        server = DbServer(raw)
    except ValueError:
        allowed = " or ".join(DbServer)
        raise SettingsError(f"DB_SERVER={raw!r} must be {allowed}") from None
    refused = sorted(TASK_SERVER_ONLY) if server == DbServer.SHARED else _SHARED_ONLY
    wrong = [name for name in refused if env.get(name)]
    if wrong:
        raise SettingsError(f"{', '.join(wrong)} may not be set with DB_SERVER={server}")
    if server == DbServer.SHARED and not env.get("DB_TLS_CA"):
        raise SettingsError("DB_TLS_CA is required with DB_SERVER=shared (the server is remote)")
    return server


def _tls_ca(env: Mapping[str, str]) -> Path | None:
    value = env.get("DB_TLS_CA", "")
    if not value:
        return None
    path = Path(value)
    if not path.is_file() or not os.access(path, os.R_OK):
        raise SettingsError(f"DB_TLS_CA={value!r} is not a readable file")
    return path


def from_env(env: Mapping[str, str] = os.environ) -> Settings:
    job_dir = Path(env.get("ETL_JOB") or BUNDLED_JOB)
    if not (job_dir / "schema.sql").is_file():
        raise SettingsError(f"ETL_JOB={str(job_dir)!r} is not a job folder (no schema.sql)")
    bucket, data_dir = _data_location(env)
    level = env.get("LOG_LEVEL", "INFO").upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise SettingsError(f"LOG_LEVEL={level!r} must be DEBUG, INFO, WARNING or ERROR")
    input_prefix = _prefix(env, "INPUT_PREFIX", "input/")
    output_prefix = _prefix(env, "OUTPUT_PREFIX", "output/")
    _separate(input_prefix, output_prefix)
    host, port = _required(env, "DB_HOST"), int(_number(env, "DB_PORT", "3306", 1, int))
    server, tls_ca = _db_server(env), _tls_ca(env)
    if server == DbServer.SHARED:
        database, user, password = (
            "",
            _required(env, "DB_ADMIN_USERNAME"),
            env.get("DB_ADMIN_PASSWORD", ""),
        )
    else:
        database, user = _required(env, "DB_DATABASE"), _required(env, "DB_USERNAME")
        password = env.get("DB_PASSWORD", "")
    return Settings(
        db_host=host,
        db_port=port,
        db_database=database,
        db_username=user,
        db_password=password,
        data_bucket=bucket,
        input_prefix=input_prefix,
        output_prefix=output_prefix,
        job_dir=job_dir,
        scheduled_time=_scheduled_time(env),
        db_wait_seconds=_number(env, "DB_WAIT_SECONDS", "180", 0, float),
        export_part_rows=int(_number(env, "EXPORT_PART_ROWS", "1000000", 1, int)),
        log_level=level,
        db_shared_dir=_directory(env, "DB_SHARED_DIR"),
        job_name=_job_name(env, job_dir),
        lock_stale_seconds=_number(env, "LOCK_STALE_SECONDS", "21600", 1, float),
        progress_seconds=_number(env, "PROGRESS_SECONDS", "10", 0, float),
        # At most a week: a run's state machine stops it by then (timeoutMinutes <= 10080), and
        # the timer and socket timeouts built from it must stay representable.
        db_statement_timeout_seconds=_number(
            env, "DB_STATEMENT_TIMEOUT_SECONDS", "3600", 1, float, high=WEEK_SECONDS
        ),
        csv_null=_csv_null(env),
        data_dir=data_dir,
        log_format=_log_format(env),
        db_server=server,
        db_tls_ca=tls_ca,
    )
