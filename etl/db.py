"""The MySQL connection: wait for the sidecar, then a strict, UTC, utf8mb4 session."""

from __future__ import annotations

from typing import Any

import pymysql
import pymysql.converters
from pymysql.connections import Connection
from pymysql.constants import CR
from tenacity import (
    RetryCallState,
    retry,
    retry_if_exception,
    stop_after_delay,
    wait_exponential,
)

from etl import log
from etl.settings import Settings

# Strict everywhere, and ONLY_FULL_GROUP_BY so SQL that passes on MariaDB also runs on MySQL 8.4.
SESSION_SQL_MODE = "TRADITIONAL,ONLY_FULL_GROUP_BY"

# Client-side "server not there (yet)" errors; anything else (bad password...) fails at once.
_NOT_READY = {
    CR.CR_CONNECTION_ERROR,
    CR.CR_CONN_HOST_ERROR,
    CR.CR_SERVER_GONE_ERROR,
    CR.CR_SERVER_LOST,
}


class DatabaseUnavailable(Exception):
    """The database did not accept connections within DB_WAIT_SECONDS."""


def _not_ready(exc: BaseException) -> bool:
    return isinstance(exc, pymysql.err.OperationalError) and exc.args[0] in _NOT_READY


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


def connect(settings: Settings) -> Connection:
    """Connect, retrying with backoff while the server is not up yet (the sidecar may still
    be initialising), for at most DB_WAIT_SECONDS. Results come back as MySQL's own text
    (no Python type conversion): exports write it as is, and nothing else needs types."""

    @retry(
        retry=retry_if_exception(_not_ready),
        stop=stop_after_delay(settings.db_wait_seconds),
        wait=wait_exponential(multiplier=0.5, max=5),
        before_sleep=_log_wait,
        reraise=True,
    )
    def attempt() -> Connection:
        return pymysql.connect(
            host=settings.db_host,
            port=settings.db_port,
            user=settings.db_username,
            password=settings.db_password,
            database=settings.db_database,
            charset="utf8mb4",
            local_infile=True,
            autocommit=True,
            connect_timeout=5,
            init_command=f"SET SESSION sql_mode = '{SESSION_SQL_MODE}', time_zone = '+00:00'",
            conv=_TEXT_ONLY,
        )

    try:
        return attempt()
    except pymysql.err.OperationalError as exc:
        if _not_ready(exc):
            raise DatabaseUnavailable(
                f"no database at {settings.db_host}:{settings.db_port} after "
                f"{settings.db_wait_seconds:.0f} s (DB_WAIT_SECONDS): {exc.args[1]}"
            ) from exc
        raise
