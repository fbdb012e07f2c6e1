"""A run on a server other jobs share (DB_SERVER=shared, Aurora MySQL): a schema and a user of
its own, made with the admin account when the run connects and dropped when it ends.

- Names come from the job and the slot: the schema `etl_<key>_<slot>_<job>` (the job's name
  cut to fit 64 characters as GRANT spells it, `_` escaped), the user `etl_<key>_<slot>` (31;
  MySQL allows 32), `<key>` being the first 10 hex digits of SHA-256(JOB_NAME). Every name of
  a job starts with `etl_<key>_` and no other job's does, so a clean-up that matches that
  prefix touches this job's names only.
- The user gets `ALL PRIVILEGES ON <schema>.*` (database-level privileges: no FILE, no other
  schema, no users, no server settings; etl/sandbox.py) for the host the server sees the
  admin's connection come from, so the job's SQL runs as an account that can touch only the
  run's schema. It can kill its own statements (KILL QUERY of its own threads needs no
  privilege), which is all the job's statement bounds do.
- Why a user per run, made with the master credentials, rather than one per job made at
  deploy time: Pulumi cannot reach a cluster in private subnets to run CREATE USER, so a
  per-job user would need a deploy-time task or Lambda and a secret per job to rotate; a run's
  user lives as long as the run, its password is generated here and never stored, and what a
  killed run leaves is found by name. The price: the app container holds the master
  credentials (from the cluster's managed secret, through the task's `secrets`), which only
  this module uses; the job folder's SQL never runs as the admin.
- What a killed run left (kill -9, a lost task) is removed by the next run of the same job,
  which holds the job's lock (etl/lock.py), so no live run of the job is using it: first the
  leftover user's sessions are ended (a statement of the dead run may still run on the server
  and hold its tables), then its schemas and users are dropped. Another job's names never
  match the prefix, so its live runs and its leftovers are left alone.
- Both clean-ups are deletes, so, as every S3 delete (lock.Leased), each first checks that the
  run still holds the job's lease: a run whose lock another run took over (a retry of the same
  slot has the same names) must not drop that run's live schema and user, nor kill its sessions.

Every statement here is MySQL 8.0 (Aurora MySQL 3) and MariaDB 10.11 alike.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import pymysql
from pymysql.constants import ER

from etl import db, log
from etl.sandbox import grant_name
from etl.settings import Settings

KEY_DIGITS = 10  # of SHA-256(JOB_NAME): 40 bits, no two jobs of a server share a prefix
MAX_NAME = 64  # MySQL's limit on a database name
CLEANUP_WAIT_SECONDS = 10.0  # reconnecting to drop what a run made (after SIGTERM: little time)
LOCK_WAIT_SECONDS = 30  # a DROP waiting for a table a dying statement still holds
# ER_KILL_DENIED_ERROR: Aurora's master user has no CONNECTION_ADMIN; RDS's own procedure
# kills another account's session instead.
# https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/mysql-stored-proc-ending.html
RDS_KILL = "CALL mysql.rds_kill(%s)"


class Lease(Protocol):
    """The job's lock as the run holds it (lock.Heartbeat)."""

    @property
    def held(self) -> bool: ...

    def check(self) -> None: ...


@dataclass(frozen=True)
class RunNames:
    schema: str
    user: str


def job_prefix(job_name: str) -> str:
    """What every schema and user of this job's runs starts with, and no other job's does."""
    key = hashlib.sha256(job_name.encode()).hexdigest()[:KEY_DIGITS]
    return f"etl_{key}_"


def run_names(job_name: str, scheduled_time: datetime) -> RunNames:
    """The run's schema and user. The schema name fits 64 characters also as GRANT spells it,
    each `_` escaped (the privilege tables hold that form: a longer one is refused)."""
    slot = f"{scheduled_time.astimezone(UTC):%Y%m%dt%H%M%Sz}"
    prefix = job_prefix(job_name)
    slug = re.sub(r"[^a-z0-9]+", "_", job_name.lower()).strip("_")
    schema = f"{prefix}{slot}_{slug}"
    while len(grant_name(schema)) - 2 > MAX_NAME:  # (without its backticks)
        schema = schema[:-1]
    return RunNames(schema=schema.rstrip("_"), user=f"{prefix}{slot}")


def _like(prefix: str) -> str:
    """A LIKE pattern for names starting with `prefix` (its `_` taken literally)."""
    return prefix.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + "%"


@contextmanager
def run_database(settings: Settings, done: dict[str, Any], lease: Lease) -> Iterator[Settings]:
    """Make this run's schema and user with the admin account (after removing what killed
    runs of the job left), yield the settings the run connects with, drop both at the end;
    each clean-up only while `lease` holds. `done` gets the admin connection's wait (a paused
    cluster resuming) for the stage log."""
    names = run_names(settings.job_name, settings.scheduled_time)
    password = secrets.token_urlsafe(24)
    with db.connect(settings) as admin:
        done.update(waited_s=admin.waited_s, attempts=admin.attempts)
        lease.check()  # LockLost: another run of the job may own these names now
        leftovers(admin, settings.job_name)
        with admin.cursor() as cursor:
            cursor.execute("SELECT SUBSTRING_INDEX(USER(), '@', -1)")
            (host,) = cursor.fetchone()  # type: ignore[misc]
            try:
                cursor.execute(f"CREATE DATABASE `{names.schema}` CHARACTER SET utf8mb4")
                cursor.execute("CREATE USER %s@%s IDENTIFIED BY %s", (names.user, host, password))
                cursor.execute(
                    f"GRANT ALL PRIVILEGES ON {grant_name(names.schema)}.* TO %s@%s",
                    (names.user, host),
                )
            except BaseException:
                _drop(admin, settings.job_name, names.user, names.schema)
                raise
    log.info("run_database_created", schema=names.schema, user=names.user, host=host)
    try:
        yield replace(
            settings, db_database=names.schema, db_username=names.user, db_password=password
        )
    finally:
        _drop_after_run(settings, names, lease)


def _drop_after_run(settings: Settings, names: RunNames, lease: Lease) -> None:
    """Drop the run's schema and user; a failure is logged, never in place of the run's own
    outcome (the next run of the job removes them). Not once the lease has lapsed: the run
    that took the lock over may be using the same names (the same slot) right now."""
    if not lease.held:
        log.error("run_database_not_dropped", schema=names.schema, user=names.user,
                  cause="the job's lock is no longer this run's")  # fmt: skip
        return
    quick = replace(settings, db_wait_seconds=min(settings.db_wait_seconds, CLEANUP_WAIT_SECONDS))
    try:
        with db.connect(quick) as admin:
            _drop(admin, settings.job_name, names.user, names.schema)
        log.info("run_database_dropped", schema=names.schema, user=names.user)
    except Exception as exc:
        log.error("run_database_not_dropped", schema=names.schema, user=names.user,
                  cause=str(exc))  # fmt: skip


def leftovers(admin: db.Session, job_name: str) -> list[str]:
    """Remove every schema and user of this job's runs: the caller holds the job's lock, so
    none belongs to a live run. Returns what was removed."""
    pattern = _like(job_prefix(job_name))
    with admin.cursor() as cursor:
        cursor.execute("SELECT User, Host FROM mysql.user WHERE User LIKE %s", (pattern,))
        users = [(str(u), str(h)) for u, h in cursor.fetchall()]
        cursor.execute(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s",
            (pattern,),
        )
        schemas = [str(s) for (s,) in cursor.fetchall()]
    removed = _drop_all(admin, job_name, users, schemas)
    if removed:
        log.info("leftovers_removed", database=removed)
    return removed


def _drop(admin: db.Session, job_name: str, user: str, schema: str) -> None:
    with admin.cursor() as cursor:
        cursor.execute("SELECT Host FROM mysql.user WHERE User = %s", (user,))
        hosts = [str(h) for (h,) in cursor.fetchall()]
    _drop_all(admin, job_name, [(user, h) for h in hosts], [schema])


def _drop_all(
    admin: db.Session, job_name: str, users: list[tuple[str, str]], schemas: list[str]
) -> list[str]:
    prefix = job_prefix(job_name)
    # Never a name outside the job's prefix, whatever the server answered.
    users = [(u, h) for u, h in users if u.startswith(prefix)]
    schemas = [s for s in schemas if s.startswith(prefix)]
    removed: list[str] = []
    with admin.cursor() as cursor:
        cursor.execute(f"SET SESSION lock_wait_timeout = {LOCK_WAIT_SECONDS}")
        for user in sorted({u for u, _ in users}):
            _end_sessions(cursor, user)
        for schema in schemas:
            quoted = schema.replace("`", "``")
            cursor.execute(f"DROP DATABASE IF EXISTS `{quoted}`")
            removed.append(f"schema {schema}")
        for user, host in users:
            cursor.execute("DROP USER IF EXISTS %s@%s", (user, host))
            removed.append(f"user {user}@{host}")
    return removed


def _end_sessions(cursor: Any, user: str) -> None:
    """End a run user's sessions: a dead run's statement may still hold its tables."""
    cursor.execute("SELECT id FROM information_schema.processlist WHERE user = %s", (user,))
    for (thread,) in cursor.fetchall():
        try:
            cursor.execute(f"KILL CONNECTION {int(thread)}")
        except pymysql.err.OperationalError as exc:
            if exc.args[0] == ER.KILL_DENIED_ERROR:
                cursor.execute(RDS_KILL, (int(thread),))
            elif exc.args[0] != ER.NO_SUCH_THREAD:  # ended meanwhile
                raise
