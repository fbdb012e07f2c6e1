"""`python -m etl validate`: check a job folder before it runs.

Without a database: the files are there and named as the runner expects, each file is UTF-8
and its statements split cleanly (no unterminated quote, balanced parentheses), schema.sql
creates tables, and every export is the one SELECT the export stage accepts (the runner's own
check). With `--database`: schema.sql, the transforms and the exports really run, on empty
tables, in a throwaway database on the DB_* server, in the job's own session (strict mode,
UTC, @scheduled_time), as a throwaway account that can touch only that database (no FILE
privilege; etl/sandbox.py); both are then dropped.
"""

from __future__ import annotations

import difflib
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import pymysql
from sqlparse import lexer
from sqlparse import tokens as T

from etl import db, sandbox
from etl.contract import DbServer
from etl.export import only_pymysql_keeps_order
from etl.jobdef import (
    JobDefinition,
    JobDefinitionError,
    created_tables,
    export_query,
    load_job,
    split_sql,
    strip_comments,
)
from etl.settings import Settings, from_env
from etl.zones import refusal, zone_uses

KNOWN = {"schema.sql", "transform", "export"}
PYMYSQL_ORDER = (
    "ORDER BY keys other than the export's own columns (by name or position): on MariaDB, like "
    "this server, the export runs on the PyMySQL engine, about a third of the speed; return the "
    "key and ORDER BY its name (docs/job-authoring.md, Row order). MySQL 8.4 is not affected"
)
MARIADB_ONLY = (
    "OFFSET n ROWS / FETCH FIRST n ROWS ONLY is MariaDB's syntax: MySQL 8.4 (the deployed "
    "sidecar) refuses it; write LIMIT n OFFSET m"
)


@dataclass(frozen=True)
class Finding:
    level: str  # "error" (the run would fail) or "warning" (probably not what was meant)
    where: str  # file[:line], relative to the job folder
    message: str

    def __str__(self) -> str:
        return (
            f"{self.level}: {self.where}: {self.message}"
            if self.where
            else f"{self.level}: {self.message}"
        )


@dataclass(frozen=True)
class Statement:
    number: int  # 1-based, in its file
    line: int  # where it starts in its file
    sql: str


def split(path: Path) -> list[Statement]:
    """The file's statements with their line numbers (split_sql keeps every character, so the
    offsets are exact); comment-only pieces are dropped, as the runner drops them."""
    text = path.read_text(encoding="utf-8")
    found: list[Statement] = []
    offset = 0
    for raw in split_sql(text):
        if strip_comments(raw):
            lead = len(raw) - len(raw.lstrip())
            line = text.count("\n", 0, offset + lead) + 1
            found.append(Statement(len(found) + 1, line, raw.strip()))
        offset += len(raw)
    return found


def _syntax(statement: Statement) -> str:
    """What certainly is wrong with a statement, seen by the tokenizer alone ('' if nothing)."""
    depth = 0
    for kind, value in lexer.tokenize(statement.sql):  # type: ignore[no-untyped-call]
        if kind in T.Error:
            return f"unterminated {value} (a quote or backtick that never closes)"
        if kind in T.Punctuation:
            depth += {"(": 1, ")": -1}.get(value, 0)
            if depth < 0:
                return "a ')' without its '('"
    return f"{depth} '(' never closed" if depth else ""


class _Folder:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.findings: list[Finding] = []

    def add(self, level: str, path: Path | str, message: str, line: int | None = None) -> None:
        where = str(path.relative_to(self.folder) if isinstance(path, Path) else path)
        self.findings.append(Finding(level, f"{where}:{line}" if line else where, message))

    def statements(self, path: Path) -> tuple[list[Statement], bool]:
        """The file's statements, and whether they are free of errors."""
        try:
            found = split(path)
        except UnicodeDecodeError as err:
            self.add("error", path, f"not UTF-8 (byte {err.start}: {err.reason})")
            return [], False
        clean = True
        for statement in found:
            if problem := _syntax(statement):
                self.add("error", path, f"statement {statement.number}: {problem}", statement.line)
                clean = False
        return found, clean

    def export(self, name: str, path: Path) -> None:
        if not self.statements(path)[1]:
            return
        try:
            query = export_query(name, path)  # the runner's own check
        except JobDefinitionError as err:
            self.add("error", path, str(err).removeprefix(f"{path}: "))
            return
        if query.mariadb_only:
            self.add("warning", path, MARIADB_ONLY)
        for variable, line in lost_variables(path.read_text(encoding="utf-8")):
            self.add(
                "warning", path,
                f"reads {variable}, which exports do not see: they read a clean session where "
                "@scheduled_time is the one user variable set; compute it here (e.g. from "
                "@scheduled_time) or keep it in a table a transform fills",
                line,
            )  # fmt: skip

    def time_zones(self, job: JobDefinition | None) -> None:
        """Named zones are errors (the sidecar has no time-zone tables), zones from columns or
        variables warnings (they cannot be known before the run)."""
        for path in (job.schema, *job.transforms, *job.exports.values()) if job else ():
            self._time_zones(path)

    def _time_zones(self, path: Path) -> None:
        try:
            uses = zone_uses(path)
        except (OSError, UnicodeError):
            return  # reported by the statement checks
        for use in uses:
            if use.named:
                self.add("error", path, refusal(path, use).split(": ", 1)[1], use.line)
            elif use.zone is None:
                self.add(
                    "warning", path,
                    f"{use.where} with a time zone from an expression: a named zone there is "
                    "NULL in the deployed sidecar (no time-zone tables); offsets work",
                    use.line,
                )  # fmt: skip

    def unknown_entries(self, folder: Path, allowed: set[str], suffix: str | None) -> None:
        for entry in sorted(folder.iterdir()):
            name = entry.name
            if name.startswith(".") or name.upper().startswith("README"):
                continue
            if name in allowed or (suffix and entry.is_file() and name.endswith(suffix)):
                continue
            hint = difflib.get_close_matches(name.lower(), sorted(allowed), n=1)
            if suffix and entry.is_file() and name.lower().endswith(suffix):
                hint = [f"{name[: -len(suffix)]}{suffix}"]
            guess = f"; did you mean {hint[0]}?" if hint else ""
            self.add("warning", entry, f"ignored by the runner{guess}")


def lost_variables(sql: str) -> list[tuple[str, int]]:
    """User variables an export reads other than @scheduled_time, with their lines: the session
    is reset before exports (etl/db.py reset_session), so a transform's `SET @x` is gone and
    @x reads NULL. Names are case-insensitive, as MySQL reads them."""
    found, line = [], 1
    for kind, value in lexer.tokenize(sql):  # type: ignore[no-untyped-call]
        if kind in T.Name and value.startswith("@") and value.lower() != "@scheduled_time":
            found.append((value, line))
        line += value.count("\n")
    return found


def check_folder(folder: Path) -> list[Finding]:
    """Everything that can be known without a database."""
    check = _Folder(folder)
    if not folder.is_dir():
        check.add("error", str(folder), "not a folder")
        return check.findings
    check.unknown_entries(folder, KNOWN, None)
    for sub in ("transform", "export"):
        if (folder / sub).is_dir():
            check.unknown_entries(folder / sub, set(), ".sql")
    try:
        job = load_job(folder, zones=False)  # each named zone is reported below, with its line
    except JobDefinitionError as err:
        check.add("error", "", str(err))  # the message names the folder
        if not (folder / "schema.sql").is_file():
            return check.findings
        job = None
    schema = folder / "schema.sql"
    found, clean = check.statements(schema)
    if not found and clean:
        check.add("error", schema, "holds no statement")
    elif clean and not created_tables(schema):
        check.add("warning", schema, "creates no table, so the job loads no input")
    for path in job.transforms if job else ():
        found, clean = check.statements(path)
        if not found and clean:
            check.add("warning", path, "holds no statement")
    check.time_zones(job)
    for name, path in (job.exports if job else {}).items():
        check.export(name, path)
    return check.findings


def _database_settings(folder: Path, env: Mapping[str, str]) -> Settings:
    """The job's own connection settings (DB_*), whatever else the environment lacks: only
    the database server is used here."""
    unused = {"ETL_JOB": str(folder), "DATA_BUCKET": "-", "DATA_DIR": ""}
    if env.get("DB_SERVER") != DbServer.SHARED:  # (a shared server's run names its own)
        unused["DB_DATABASE"] = "-"
    settings = from_env({**env, **unused})
    # No database named: we make our own. A few seconds' wait unless DB_WAIT_SECONDS says.
    wait = settings.db_wait_seconds if env.get("DB_WAIT_SECONDS") else 5.0
    return replace(settings, db_database="", db_wait_seconds=wait)


def check_database(
    folder: Path, env: Mapping[str, str] = os.environ
) -> tuple[list[Finding], dict[str, list[str]]]:
    """Run schema, transforms and exports on empty tables in a throwaway database; the
    findings, and each export's columns."""
    check = _Folder(folder)
    columns: dict[str, list[str]] = {}
    job = load_job(folder)
    settings = _database_settings(folder, env)
    server = f"{settings.db_username}@{settings.db_host}:{settings.db_port}"
    try:
        conn = db.connect(settings)
    except (pymysql.err.MySQLError, db.DatabaseUnavailable) as err:
        check.add("error", server, f"cannot connect ({err})")
        return check.findings, columns
    name = f"etl_validate_{uuid.uuid4().hex[:12]}"
    try:
        with conn.cursor() as cursor:
            try:
                cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
            except pymysql.err.MySQLError as err:
                check.add(
                    "error", server,
                    f"cannot create a throwaway database ({err.args[-1]}); --database needs "
                    "an account allowed to CREATE and DROP databases (e.g. root, locally)",
                )  # fmt: skip
                return check.findings, columns
        try:
            _run_confined(check, conn, settings, name, job, columns)
        finally:
            with conn.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        conn.close()
    return check.findings, columns


def _run_confined(  # noqa: PLR0917
    check: _Folder,
    admin: db.Session,
    settings: Settings,
    database: str,
    job: JobDefinition,
    columns: dict[str, list[str]],
) -> None:
    """The job's SQL as a throw-away account that can touch only `database` (etl/sandbox.py)."""
    server = f"{settings.db_username}@{settings.db_host}:{settings.db_port}"
    try:
        with sandbox.confined_user(admin, database) as (user, password):
            confined = replace(settings, db_username=user, db_password=password,
                               db_database=database)  # fmt: skip
            with db.connect(confined) as conn:
                _run_job(check, conn, job, database, columns)
    except sandbox.SandboxError as err:
        check.add(
            "error", server,
            f"cannot create a throwaway user ({err}); --database needs an account allowed to "
            "CREATE USER and GRANT (e.g. root, locally)",
        )  # fmt: skip


def _execute_all(check: _Folder, conn: pymysql.Connection, path: Path) -> bool:
    with conn.cursor() as cursor:
        for statement in split(path):
            try:
                cursor.execute(statement.sql)
            except pymysql.err.MySQLError as err:
                message = f"statement {statement.number}: {err.args[-1]}"
                check.add("error", path, message, statement.line)
                return False
    return True


def _run_job(
    check: _Folder,
    conn: db.Session,
    job: JobDefinition,
    database: str,
    columns: dict[str, list[str]],
) -> None:
    if not _execute_all(check, conn, job.schema):
        return
    tables = created_tables(job.schema)
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
        )
        present = {row[0] for row in cursor.fetchall()}
        missing = [t for t in tables if t not in present]
        if missing:
            check.add("error", job.schema, f"did not create table(s) {', '.join(missing)}")
            return
        db.set_scheduled_time(cursor, conn.settings.scheduled_time)
    for path in job.transforms:
        if not _execute_all(check, conn, path):
            return  # later transforms may need what this one makes
    db.reset_session(conn, database)  # as the runner does before its exports
    for name, path in job.exports.items():
        query = export_query(name, path)
        with conn.cursor() as cursor:
            try:
                cursor.execute(query.sql)  # as the stream path runs it
                cursor.fetchall()
                names = [d[0] for d in cursor.description or ()]
                duplicates = sorted({c for c in names if names.count(c) > 1})
                if duplicates:
                    check.add("error", path, f"duplicate column name(s) {duplicates}; alias them")
                    continue
                # As the shared path wraps it.
                cursor.execute(f"SELECT * FROM ({query.sql}) AS export_rows LIMIT 0")
            except pymysql.err.MySQLError as err:
                check.add("error", path, f"{err.args[-1]}")
                continue
            columns[name] = names
            if only_pymysql_keeps_order(conn, query, names):
                check.add("warning", path, PYMYSQL_ORDER)


def summary(folder: Path, columns: dict[str, list[str]], *, database: bool) -> str:
    """What a valid job folder holds, for the author to compare with what they meant."""
    job = load_job(folder)
    how = "ran on empty tables in a throwaway database" if database else "--database runs it too"
    lines = [
        f"{folder}: valid ({how})",
        f"  input tables: {', '.join(created_tables(job.schema)) or 'none'}",
        f"  transforms:   {', '.join(p.name for p in job.transforms) or 'none'}",
    ]
    for name in job.exports:
        shown = f": {', '.join(columns[name])}" if name in columns else ""
        lines.append(f"  export {name}{shown}")
    return "\n".join(lines)
