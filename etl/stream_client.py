"""The stream path's fast engine: the `mariadb` C client streams the rows the server formats.

PyMySQL decodes the protocol in pure Python (about a quarter of the C client's speed on a
1M-row export; asyncmy about 0.4x: docs/performance-stream.md). Here the server formats each
row as one RFC 4180 record with the shared path's own row expression (export._field_sql) and
the C client (`mariadb --batch --raw --quick`, Debian's mariadb-client-core) only copies the
records to its stdout, unbuffered; the job cuts parts from that stream as the shared path does
from its file. No per-row Python work, memory bounded by one chunk, any server the job reaches
(no shared directory). Used when `mariadb` (or `mysql`) is on PATH, else the PyMySQL engine.

The client runs in a session of its own: the job's settings (utf8mb4, strict SQL mode, UTC)
and the main session's @scheduled_time are set in it before the query; its warnings fail the
export, as on the other engines. The password reaches it in a 0600 option file in the job's
scratch folder, never on the command line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import IO

import pymysql

from etl import db, log
from etl.context import RunContext
from etl.export import (
    CHUNK_BYTES,
    ExportError,
    ExportResult,
    Parts,
    derived_sql,
    engine_order,
    export_columns,
    export_stream,
    is_mariadb,
    named_errors,
    record_fields,
    split_records,
)
from etl.jobdef import ExportQuery
from etl.settings import Settings

CLIENTS = ("mariadb", "mysql")  # Debian's mariadb-client-core has both names
# The client's own limit on one row (its default, 16 MB, is below the server's 64 MB).
MAX_PACKET = 1 << 30


class ClientUnavailable(ExportError):
    """The client could not log in or set up its session: it never ran the export."""


def export_streamed(
    ctx: RunContext, root: str, queries: list[ExportQuery], part_rows: int
) -> list[ExportResult]:
    """Every export by the C client; by PyMySQL when there is none on PATH, or once it could
    not log in (a server or authentication it does not support: the job still runs, at
    PyMySQL's speed, and says so in the log)."""
    client = client_binary()
    results = []
    for query in queries:
        with named_errors(query.name):
            if client:
                try:
                    results.append(export_client(ctx, client, root, query, part_rows))
                    continue
                except ClientUnavailable as exc:
                    log.info("export_engine_unavailable", engine=Path(client).name,
                             cause=str(exc))  # fmt: skip
                    client = None
            results.append(export_stream(ctx, root, query, part_rows))
    return results


def client_binary() -> str | None:
    """The C client's path, or None when the image has none (the PyMySQL engine runs)."""
    for name in CLIENTS:
        if found := shutil.which(name):
            return found
    return None


def row_sql(  # noqa: PLR0917
    query: ExportQuery,
    columns: list[str],
    kinds: list[str],
    null: str = "",
    mariadb: bool = False,
    utf8: list[bool] | None = None,
    order: str = "",
) -> str:
    """The export as one CSV record a row, exactly the shared path's line (in the order
    `order` gives); the '\\r' before the client's own '\\n' makes the record end CRLF."""
    fields = record_fields(columns, kinds, null, mariadb, utf8)
    return (
        f"SELECT CONCAT(CONCAT_WS(',', {', '.join(fields)}), '\\r') "
        f"FROM ({derived_sql(query, order)}) AS export_rows{order}"
    )


def _option(value: str) -> str:
    # An option file value in double quotes: backslash and quote escaped (MariaDB's rules).
    # https://mariadb.com/kb/en/configuring-mariadb-with-option-files/#option-file-syntax
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_options(path: Path, ctx: RunContext) -> None:
    """The client's only option file (--defaults-file: no /etc/mysql file is read)."""
    settings = ctx.conn.settings
    lines = [
        "[client]",
        f"host={_option(settings.db_host)}",
        f"port={settings.db_port}",
        f"user={_option(settings.db_username)}",
        f"password={_option(settings.db_password)}",
        f"connect-timeout={db.CONNECT_TIMEOUT}",
        "default-character-set=utf8mb4",
        f"max-allowed-packet={MAX_PACKET}",
    ]
    if settings.db_tls_ca:  # as the job's own connections: TLS, certificate and host name checked
        lines += [f"ssl-ca={_option(str(settings.db_tls_ca))}", "ssl-verify-server-cert"]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def _session_sql(ctx: RunContext) -> str:
    """What the client's session runs first: the job's settings and its user variable."""
    with ctx.conn.cursor() as cursor:
        cursor.execute("SELECT @scheduled_time")
        (scheduled,) = cursor.fetchone()  # type: ignore[misc]
    carried = "" if scheduled is None else f", @scheduled_time = {ctx.conn.escape(scheduled)}"
    return f"SET SESSION sql_mode = '{db.SESSION_SQL_MODE}', time_zone = '+00:00'{carried}"


def client_command(client: str, options: Path, database: str, sql: str) -> list[str]:
    """`--binary-mode`: the SQL is the job's, and the client would run its `\\!` (a shell
    command in the app container, whose environment holds an aurora job's admin password and
    the task role's credentials endpoint), `\\T`, `\\o` or `source`; in binary mode it takes
    no client command but `\\C` and DELIMITER (and sends CR LF and NUL as they are).
    https://mariadb.com/kb/en/mariadb-command-line-client/"""
    return [
        client, f"--defaults-file={options}", "--batch", "--raw", "--quick", "--unbuffered",
        "--binary-mode", "--skip-column-names", database, "-e", sql,
    ]  # fmt: skip


def export_client(
    ctx: RunContext, client: str, root: str, query: ExportQuery, part_rows: int
) -> ExportResult:
    """Stream the server-formatted records through the C client into the parts."""
    name, conn = query.name, ctx.conn
    columns, kinds, utf8 = export_columns(ctx, query)
    order = engine_order(ctx, query, columns)
    if order is None:
        return export_stream(ctx, root, query, part_rows)
    # The connection's id comes first (a line without CR): a stop or the statement bound
    # kills the query on the server, which would otherwise run on until its send buffer to
    # the dead client filled.
    sql = (
        f"{_session_sql(ctx)}; SELECT CONNECTION_ID(); "
        f"{row_sql(query, columns, kinds, ctx.null, is_mariadb(conn), utf8, order)}; "
        "SHOW WARNINGS"
    )
    options = ctx.workdir / f"{name}.client.cnf"
    write_options(options, ctx)
    errors = ctx.workdir / f"{name}.client.err"
    log.info("export_engine", export=name, engine=Path(client).name)
    parts = Parts(ctx, root, name, columns, kinds, part_rows)
    database = conn.settings.db_database
    with errors.open("wb") as stderr:
        process = subprocess.Popen(
            client_command(client, options, database, sql),
            stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    expired = threading.Event()
    server_id: list[int] = []

    def stop() -> None:
        if server_id:
            kill_connection(conn.settings, server_id[0])
        if process.poll() is None:
            process.kill()

    def expire() -> None:
        expired.set()
        stop()

    timer = threading.Timer(conn.statement_timeout, expire)
    timer.daemon = True
    timer.start()
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        if first.isdigit():
            server_id.append(int(first))
        warnings = _copy_records(process.stdout, parts) if server_id else b""
        code = process.wait()
        timer.cancel()
        if expired.is_set():
            raise db.StatementTimeout(
                f"export {name} ran longer than {conn.statement_timeout:g} s "
                "(DB_STATEMENT_TIMEOUT_SECONDS) and was killed"
            )
        if code != 0:
            message = errors.read_text("utf-8", "replace").strip()[-2000:]
            failed = ExportError if server_id else ClientUnavailable
            raise failed(f"export {name}: the database client failed ({code}): {message}")
        if not server_id:
            raise ExportError(f"export {name}: the database client wrote {first[:200]!r}")
        if warnings:
            listed = "; ".join(warnings.decode("utf-8", "replace").splitlines()[:5])
            raise ExportError(f"export {name}: the server warned ({listed})")
    except BaseException:
        timer.cancel()
        if process.poll() is None:
            stop()  # a stop (SIGTERM) or a failure never waits for the server
        process.wait()
        parts.abort()
        raise
    finally:
        options.unlink(missing_ok=True)
        errors.unlink(missing_ok=True)
    return parts.close()


def kill_connection(settings: Settings, thread_id: int) -> None:
    """End the client's server session (and its query) from a connection of the job's own;
    if the server cannot be reached for that, killing the client is all there is."""
    try:
        with (
            pymysql.connect(
                **db.server_args(settings),
                connect_timeout=db.KILL_TIMEOUT,
                read_timeout=db.KILL_TIMEOUT,
                write_timeout=db.KILL_TIMEOUT,
            ) as killer,
            killer.cursor() as cursor,
        ):
            cursor.execute(f"KILL {int(thread_id)}")
        log.info("statement_killed", thread_id=thread_id)
    except pymysql.err.MySQLError as exc:  # gone already (ER_NO_SUCH_THREAD), or no server
        log.info("statement_kill_failed", thread_id=thread_id, cause=str(exc))


def _copy_records(stream: IO[bytes], parts: Parts) -> bytes:
    """Records from the client's output into the parts; returns what follows the last record:
    SHOW WARNINGS's lines (tab-separated, no CR), empty when the server did not warn."""
    carry = b""
    while chunk := stream.read(CHUNK_BYTES):
        data = carry + chunk
        while data:
            records, end = split_records(data, parts.room)
            if not records:
                break  # the rest is the start of a record still arriving
            parts.write(data[:end], records)
            data = data[end:]
        carry = data
    return carry
