"""The load's fast engine: the `mariadb` C client sends the converted rows to the server.

With PyMySQL, the job's one process both checks every field (csv, the value checks: Python
that holds the GIL) and sends the file for LOAD DATA LOCAL, so the server waited for the
sender whenever the checks ran. Here the C client (the stream path's export engine,
etl/stream_client.py) runs `LOAD DATA LOCAL INFILE '/dev/stdin'` in a process of its own and
the job writes each checked batch to its stdin: the checks and the server's load overlap on
two cores (docs/performance-stream.md). Used when `mariadb` (or `mysql`) is on PATH and can
log in, else PyMySQL's LOAD DATA LOCAL (etl/load.py).

The client's session runs only the job's own statement (no SQL of a job folder), so its
LOCAL file is always the job's stream. A failed check kills the client and its server session
before the load ends: the run fails naming the value, and the table (the run's own input
table) holds a partial load nothing exports. A client that dies mid-load fails the file with
its exit code and error. Its warnings (SHOW WARNINGS, in the same session) fail the file as
on the PyMySQL engine. The password reaches it in a 0600 option file, never the command line.
"""

from __future__ import annotations

import fcntl
import re
import subprocess
import threading
import uuid
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import IO

from etl import db, log
from etl.context import RunContext
from etl.stream_client import kill_connection, write_options

STDIN = "/dev/stdin"  # the client's own stdin: the job's pipe
_PIPE_BYTES = 1024 * 1024  # as the PyMySQL engine's FIFO (etl/load.py)
# The client's batch mode escapes these in the values it prints (SHOW WARNINGS' messages).
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)
_UNESCAPE = {"n": "\n", "t": "\t", "0": "\0", "\\": "\\"}

Warning_ = tuple[str, str, str]  # (Level, Code, Message), as SHOW WARNINGS gives them


class ClientUnavailable(Exception):
    """The client could not log in or set up its session: it loaded nothing."""


class ClientFailed(Exception):
    """The client ended without loading the whole file (killed, or the server's error)."""


def client_command(client: str, options: Path, database: str, sql: str) -> list[str]:
    return [
        client, f"--defaults-file={options}", "--batch", "--unbuffered", "--skip-column-names",
        "--local-infile=1", database, "-e", sql,
    ]  # fmt: skip


def _warnings(output: bytes) -> list[Warning_]:
    found: list[Warning_] = []
    for line in output.decode("utf-8", "replace").splitlines():
        fields = [_ESCAPED.sub(lambda m: _UNESCAPE.get(m[1], m[1]), f) for f in line.split("\t")]
        if len(fields) == 3:
            found.append((fields[0], fields[1], fields[2]))
    return found


def load_client(
    ctx: RunContext, client: str, key: str, sql: str, feed: Callable[[IO[bytes]], int]
) -> tuple[int, list[Warning_]]:
    """Run `sql` (a LOAD DATA LOCAL INFILE of STDIN) in the client while `feed` writes the
    file to the client's stdin; returns feed's row count and the load's warnings."""
    conn = ctx.loader or ctx.conn
    script = (
        f"SET SESSION sql_mode = '{db.SESSION_SQL_MODE}', time_zone = '+00:00'; "
        f"SELECT CONNECTION_ID(); {sql}; SHOW WARNINGS LIMIT 10"
    )
    name = f"load-{uuid.uuid4().hex}"
    options = ctx.workdir / f"{name}.client.cnf"
    errors = ctx.workdir / f"{name}.client.err"
    write_options(options, ctx)
    log.info("load_engine", key=key, engine=Path(client).name)
    command = client_command(client, options, conn.settings.db_database, script)
    with errors.open("wb") as stderr:
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr
        )
    assert process.stdin is not None and process.stdout is not None
    with suppress(OSError):  # a smaller pipe only costs speed
        fcntl.fcntl(process.stdin.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
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

    def failure(code: int) -> str:
        message = errors.read_text("utf-8", "replace").strip()[-2000:]
        return f"the database client failed ({code}): {message}"

    try:
        first = process.stdout.readline().strip()
        if not first.isdigit():  # it never reached the load: nothing is in the table
            process.stdin.close()
            code = process.wait()
            raise ClientUnavailable(failure(code) if code else f"it wrote {first[:200]!r}")
        server_id.append(int(first))
        try:
            rows = feed(process.stdin)
            process.stdin.close()
            whole = True
        except BrokenPipeError:  # the client is gone: its exit code and error say why
            whole = False
        output = process.stdout.read()
        code = process.wait()
        timer.cancel()
        if expired.is_set():
            raise db.StatementTimeout(
                f"loading {key} ran longer than {conn.statement_timeout:g} s "
                "(DB_STATEMENT_TIMEOUT_SECONDS) and was killed"
            )
        if code != 0 or not whole:
            raise ClientFailed(f"loading {key}: {failure(code)}")
    except BaseException:
        timer.cancel()
        if process.poll() is None:
            stop()  # a failed check or a stop (SIGTERM) never waits for the server
        process.wait()
        raise
    finally:
        for stream in (process.stdin, process.stdout):
            with suppress(OSError):  # (stdin: a pipe the client already closed)
                stream.close()
        options.unlink(missing_ok=True)
        errors.unlink(missing_ok=True)
    return rows, _warnings(output)
