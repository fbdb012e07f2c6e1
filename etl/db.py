"""The MySQL connection: wait for the sidecar, then a strict, UTC, utf8mb4 session whose
every wait is bounded and whose running statement can be stopped.

- Connecting (TCP and the handshake) is bounded by CONNECT_TIMEOUT per attempt, and all
  attempts by DB_WAIT_SECONDS: a sidecar still starting, or a paused Aurora Serverless v2
  cluster resuming, is waited for; how long, and in how many attempts, the session records
  (`waited_s`, `attempts`) and the connect stage logs. A refused login fails at once.
- With DB_TLS_CA every connection (the job's, the one that kills a statement, the C client's)
  is TLS, the server's certificate and host name verified against that bundle; a certificate
  that does not verify fails at once, it is not waited out.
- Each statement is bounded by DB_STATEMENT_TIMEOUT_SECONDS: a watchdog sends `KILL QUERY`
  from a second connection, and if the server does not even answer that, cuts the socket.
  The socket's own read timeout (a little longer) is the last backstop.
- When the block running a statement is left by anything but the server's own error (SIGTERM,
  a failed check), the statement is killed the same way at once, so a stop never waits for
  the server to finish a long query.
- `LOAD DATA LOCAL INFILE` sends a client file to the server on the server's request. Only
  the loader's session (`connect(..., loads=True)`) has it on, and it sends only the one
  stream the loader registered; any other name the server asks for (e.g. `/proc/self/environ`
  through SQL in a job folder) is refused. The job's other session has it off.

And the SQL helpers the stages share: run a SQL file statement by statement, read the tables'
columns.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pymysql
import pymysql.converters
from pymysql.connections import Connection, MySQLResult
from pymysql.constants import CR, ER, SERVER_STATUS
from pymysql.protocol import LoadLocalPacketWrapper, MysqlPacket
from tenacity import (
    RetryCallState,
    retry,
    retry_if_exception,
    stop_after_delay,
    wait_exponential,
)

from etl import log
from etl.jobdef import statements
from etl.settings import Settings

# Strict everywhere, and ONLY_FULL_GROUP_BY so SQL that passes on MariaDB also runs on MySQL 8.4.
SESSION_SQL_MODE = "TRADITIONAL,ONLY_FULL_GROUP_BY"
CONNECT_TIMEOUT = 10  # seconds, per attempt: TCP connect and the server's handshake
KILL_TIMEOUT = 5  # seconds for the second connection that sends KILL QUERY
SOCKET_GRACE = 60  # the socket read timeout is the statement timeout plus this

# Client-side "server not there (yet)" errors; anything else (bad password...) fails at once.
_NOT_READY = {
    CR.CR_CONNECTION_ERROR,
    CR.CR_CONN_HOST_ERROR,
    CR.CR_SERVER_GONE_ERROR,
    CR.CR_SERVER_LOST,
}


class DatabaseUnavailable(Exception):
    """The database did not accept connections within DB_WAIT_SECONDS."""


class StatementTimeout(Exception):
    """A statement ran longer than DB_STATEMENT_TIMEOUT_SECONDS and was killed."""


class LocalFileRefused(Exception):
    """The server asked for a client file that is not the loader's current stream."""


def _not_ready(exc: BaseException) -> bool:
    # PyMySQL reports every OSError while connecting as CR_CONN_HOST_ERROR, a certificate
    # that does not verify too: that one will not go away by waiting.
    original = getattr(exc, "original_exception", None)
    if isinstance(original, ssl.SSLCertVerificationError):
        return False
    return isinstance(exc, pymysql.err.OperationalError) and exc.args[0] in _NOT_READY


def server_args(settings: Settings) -> dict[str, Any]:
    """Where the server is and who logs in, for every PyMySQL connection the job opens: with
    DB_TLS_CA, TLS required and the certificate and host name verified."""
    args: dict[str, Any] = {
        "host": settings.db_host,
        "port": settings.db_port,
        "user": settings.db_username,
        "password": settings.db_password,
    }
    if settings.db_tls_ca:
        args |= {"ssl_ca": str(settings.db_tls_ca), "ssl_verify_cert": True,
                 "ssl_verify_identity": True}  # fmt: skip
    return args


def _log_wait(state: RetryCallState) -> None:
    assert state.outcome is not None
    log.info(
        "waiting_for_database",
        attempt=state.attempt_number,
        waited_s=round(state.seconds_since_start or 0.0, 1),
        cause=str(state.outcome.exception()),
    )


# Parameter encoders only: with no decoders, every value arrives as MySQL's own text.
_TEXT_ONLY: dict[Any, Any] = {
    k: v for k, v in pymysql.converters.conversions.items() if not isinstance(k, int)
}


# LOAD DATA LOCAL's packets: 1 MiB (the converter's chunk; PyMySQL sends 16 KiB, and its
# 64 times as many writes cost the wide shape's load ~0.1 s of the job's CPU), within the
# server's max_allowed_packet (Session.local_packet), which refuses a longer one.
_LOCAL_PACKET = 1024 * 1024


class _CheckedResult(MySQLResult):
    """A result whose LOAD DATA LOCAL request is answered only for the registered file."""

    def _read_load_local_packet(self, first_packet: Any) -> None:
        conn: Any = self.connection
        requested = LoadLocalPacketWrapper(first_packet).filename
        allowed = conn.local_file
        if allowed is None or requested != allowed.encode():
            conn.write_packet(b"")  # an empty "file" keeps the protocol in step...
            with suppress(pymysql.err.MySQLError):
                conn._read_packet()  # ...and the server's answer to it is read (and dropped)
            name = requested.decode("utf-8", "replace")[:200]
            raise LocalFileRefused(
                f"the server asked for local file {name!r}; LOAD DATA LOCAL INFILE may only "
                "read the loader's own input stream (never files of the job's container)"
            )
        # As PyMySQL sends the file, but a stop (SIGTERM) while a packet is half sent cuts the
        # socket: PyMySQL would append the end-of-file packet to the half packet and wait for
        # the server's answer, which never comes (the server waits for the rest of the packet,
        # net_read_timeout, 30 s, then resets: exit 1 after 30 s instead of 143 at once).
        try:
            with open(requested, "rb") as stream:
                while chunk := stream.read(conn.local_packet):
                    conn.write_packet(chunk)
        except OSError as exc:  # the stream could not be read: end it, the protocol in step
            conn.write_packet(b"")
            conn._read_packet()
            raise pymysql.err.OperationalError(
                ER.FILE_NOT_FOUND, f"Can't open file '{allowed}': {exc}"
            ) from exc
        except BaseException:
            conn.cut()  # the server sees the connection end and stops the load
            raise
        conn.write_packet(b"")  # the end of the file
        ok_packet = conn._read_packet()
        if not ok_packet.is_ok_packet():
            raise pymysql.err.OperationalError(CR.CR_COMMANDS_OUT_OF_SYNC, "Commands Out of Sync")
        self._read_ok_packet(ok_packet)  # type: ignore[attr-defined]


class Session(Connection):
    """A connection that knows how to bound and stop its own statements."""

    statement_timeout: float
    settings: Settings
    waited_s = 0.0  # how long connecting waited for the server (retries), and in how many
    attempts = 1
    local_file: str | None = None  # the one file LOAD DATA LOCAL may send, while it loads
    local_packet = 16 * 1024  # its packets' size: connect() sets the loader's (_LOCAL_PACKET)

    received = 0  # bytes of packets read so far: the stream path batches by bytes

    def _read_packet(self, packet_type: Any = MysqlPacket) -> Any:
        packet = super()._read_packet(packet_type)  # type: ignore[no-untyped-call]
        self.received += len(packet._data)
        return packet

    def _read_query_result(self, unbuffered: bool = False) -> int:
        # As Connection._read_query_result, with _CheckedResult for every result.
        self._result = None
        result = _CheckedResult(self)
        if unbuffered:
            result.init_unbuffered_query()
        else:
            result.read()
        self._result = result
        if result.server_status is not None:
            self.server_status = result.server_status
        return int(result.affected_rows or 0)

    @property
    def _raw(self) -> Any:
        return self  # PyMySQL's private parts (untyped): socket, timeouts, thread id

    def kill_query(self) -> None:
        """Stop this session's running statement, from a second connection; if the server
        cannot be reached for that, cut this session's socket so no read waits on it."""
        try:
            with (
                pymysql.connect(
                    **server_args(self.settings),
                    connect_timeout=KILL_TIMEOUT,
                    read_timeout=KILL_TIMEOUT,
                    write_timeout=KILL_TIMEOUT,
                ) as killer,
                killer.cursor() as cursor,
            ):
                cursor.execute(f"KILL QUERY {int(self._raw.thread_id())}")
            log.info("statement_killed", thread_id=self._raw.thread_id())
        except Exception as exc:  # the server is gone or hangs: unblock our reads instead
            log.info("statement_cut", thread_id=self._raw.thread_id(), cause=str(exc))
            self.cut()

    def cut(self) -> None:
        sock = self._raw._sock
        if sock is not None:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    @contextmanager
    def guard(self, what: str) -> Iterator[None]:
        """Bound the statement(s) run inside the block by the statement timeout, and kill
        them at once if the block is left by anything but the server's own error."""
        fired = threading.Event()

        def expire() -> None:
            fired.set()
            self.kill_query()

        timer = threading.Timer(self.statement_timeout, expire)
        timer.daemon = True
        timer.start()
        timeout = StatementTimeout(
            f"{what} ran longer than {self.statement_timeout:g} s "
            "(DB_STATEMENT_TIMEOUT_SECONDS) and was killed"
        )
        try:
            yield
        except pymysql.err.MySQLError as exc:
            if fired.is_set():
                raise timeout from exc
            raise
        except BaseException:
            # SIGTERM or a failed check while the server may still be running the statement:
            # kill it, and close the session (its protocol state is unknown now).
            timer.cancel()
            self.kill_query()
            self._raw._force_close()
            raise
        finally:
            timer.cancel()
        if fired.is_set():  # a killed SLEEP() returns normally
            raise timeout


def connect(settings: Settings, *, loads: bool = False) -> Session:
    """Connect, retrying with backoff while the server is not up yet (the sidecar may still
    be initialising), for at most DB_WAIT_SECONDS. Results come back as MySQL's own text
    (no Python type conversion): exports write it as is, and nothing else needs types.
    `loads`: the loader's session, the only one with LOAD DATA LOCAL INFILE."""

    @retry(
        retry=retry_if_exception(_not_ready),
        stop=stop_after_delay(settings.db_wait_seconds),
        wait=wait_exponential(multiplier=0.5, max=5),
        before_sleep=_log_wait,
        reraise=True,
    )
    def attempt() -> Session:
        return Session(
            **server_args(settings),
            database=settings.db_database or None,
            charset="utf8mb4",
            local_infile=loads,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT,
            # Bounds the handshake too; raised to the statement bound once connected.
            read_timeout=CONNECT_TIMEOUT,
            write_timeout=settings.db_statement_timeout_seconds + SOCKET_GRACE,
            init_command=f"SET SESSION sql_mode = '{SESSION_SQL_MODE}', time_zone = '+00:00'",
            conv=_TEXT_ONLY,
        )

    started = time.monotonic()
    try:
        session = attempt()
    except pymysql.err.OperationalError as exc:
        if _not_ready(exc):
            raise DatabaseUnavailable(
                f"no database at {settings.db_host}:{settings.db_port} after "
                f"{settings.db_wait_seconds:.0f} s (DB_WAIT_SECONDS): {exc.args[1]}"
            ) from exc
        raise
    session.settings = settings
    session.attempts = int(attempt.statistics.get("attempt_number", 1))
    session.waited_s = round(time.monotonic() - started, 3) if session.attempts > 1 else 0.0
    session.statement_timeout = settings.db_statement_timeout_seconds
    # PyMySQL applies a changed read timeout before its next read.
    session._raw._read_timeout = settings.db_statement_timeout_seconds + SOCKET_GRACE
    if loads:
        with session.cursor() as cursor:
            cursor.execute("SELECT @@max_allowed_packet")  # the global value, read at connect
            row = cursor.fetchone()
        assert row is not None, "SELECT @@max_allowed_packet returned no row"
        (limit,) = row
        # Half: MariaDB resets the connection on a packet of max_allowed_packet bytes.
        session.local_packet = min(_LOCAL_PACKET, session.max_allowed_packet, int(limit) // 2)
    return session


def execute_file(conn: Session, path: Path) -> None:
    """Run a SQL file's statements in order, each bounded by the statement timeout; an error
    names the file and the statement's number."""
    with conn.cursor() as cursor:
        for number, sql in enumerate(statements(path), start=1):
            started = time.monotonic()
            try:
                with conn.guard(f"{path.name} statement {number}"):
                    cursor.execute(sql)
            except Exception as exc:
                raise RuntimeError(f"{path.name} statement {number}: {exc}") from exc
            log.debug(
                "statement_done",
                file=path.name,
                statement=number,
                rows=cursor.rowcount,
                elapsed_s=round(time.monotonic() - started, 3),
            )


# COM_RESET_CONNECTION (PyMySQL has no constant for it): MySQL 5.7.3+, MariaDB 10.2.4+.
# https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_reset_connection.html
COM_RESET_CONNECTION = 0x1F


class ExportWarning(Exception):
    """The server warned while an export ran: what it wrote may not be what the SQL meant."""


def reset_session(conn: Session, database: str = "") -> None:
    """Back to the session a fresh connection has, then the job's own settings: utf8mb4, the
    strict SQL mode, UTC, the job's database. COM_RESET_CONNECTION resets every session
    variable to its global value (a transform's sql_select_limit, group_concat_max_len,
    max_execution_time...), drops user variables, temporary tables and prepared statements,
    and rolls back an open transaction; `USE` is undone by selecting the job's database (or
    `database`) again, and @scheduled_time is set again (the one variable exports may read).
    Exports read what the tables hold, whatever a transform SET (the same on both paths)."""
    conn._raw._execute_command(COM_RESET_CONNECTION, b"")
    conn._raw._read_ok_packet()
    conn.autocommit(True)
    conn.set_character_set(conn.charset, conn.collation)  # SET NAMES, and PyMySQL's decoding
    if database or conn.settings.db_database:
        conn.select_db(database or conn.settings.db_database)
    with conn.cursor() as cursor:
        cursor.execute(f"SET SESSION sql_mode = '{SESSION_SQL_MODE}', time_zone = '+00:00'")
        set_scheduled_time(cursor, conn.settings.scheduled_time)


def set_scheduled_time(cursor: Any, scheduled: datetime) -> None:
    """The run's logical time, for SQL: @scheduled_time (a UTC DATETIME)."""
    cursor.execute("SET @scheduled_time = %s", (f"{scheduled.astimezone(UTC):%Y-%m-%d %H:%M:%S}",))


def check_warnings(conn: Session, what: str) -> None:
    """Fail `what` on any warning or note the server left for the last statement (a value
    cut by GROUP_CONCAT, a string read as a number...): an export never writes changed data."""
    with conn.cursor() as cursor:
        cursor.execute("SHOW WARNINGS LIMIT 5")
        found = cursor.fetchall()
    if found:
        listed = "; ".join(f"{level} {code}: {message}" for level, code, message in found)
        raise ExportWarning(f"{what}: the server warned ({listed})")


def in_transaction(conn: Session) -> bool:
    """A transaction is open (SERVER_STATUS_IN_TRANS of the server's last answer, MySQL and
    MariaDB alike): https://dev.mysql.com/doc/dev/mysql-server/latest/mysql__com_8h.html"""
    return bool((conn.server_status or 0) & SERVER_STATUS.SERVER_STATUS_IN_TRANS)


def global_variables(conn: Session) -> dict[str, str]:
    """The server's global variables, but those the server changes itself as it writes
    (gtid_* positions)."""
    with conn.cursor() as cursor:
        cursor.execute("SHOW GLOBAL VARIABLES WHERE Variable_name NOT LIKE 'gtid\\_%'")
        return {str(name): str(value) for name, value in cursor.fetchall()}


def table_columns(conn: Session) -> dict[str, list[str]]:
    """Every table of the session's database, with its columns in their order."""
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = DATABASE() ORDER BY table_name, ordinal_position"
        )
        found: dict[str, list[str]] = {}
        for table, column in cursor.fetchall():
            found.setdefault(table, []).append(column)
    return found
