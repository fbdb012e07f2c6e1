"""JSON-lines logging on stdout: one object per line, which CloudWatch Logs indexes as is.

LOG_FORMAT=text writes the same events for a person at a terminal instead:
`04:00:01.234 INFO  stage_finished stage=load elapsed_s=1.2`.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any

_logger = logging.getLogger("etl")
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "event": record.getMessage(),
        }
        line.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """One readable line per event: time, level, event, then key=value (JSON when needed)."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S.%f")[:-3]
        fields = [
            f"{key}={_text(value)}"
            for key, value in record.__dict__.items()
            if key not in _STANDARD and key != "_aws"  # the metrics envelope is for CloudWatch
        ]
        return " ".join([moment, f"{record.levelname:<5}", record.getMessage(), *fields])


def _text(value: Any) -> str:
    if isinstance(value, str) and value and not any(c.isspace() or c == '"' for c in value):
        return value
    return json.dumps(value, default=str, ensure_ascii=False)


FORMATTERS: dict[str, type[logging.Formatter]] = {"json": JsonFormatter, "text": TextFormatter}

_progress_every = 10.0  # seconds between two progress lines of one long stage


def configure(level: str = "INFO", progress_seconds: float = 10.0, fmt: str = "json") -> None:
    global _progress_every  # noqa: PLW0603 (one logging setup per process)
    _progress_every = progress_seconds
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(FORMATTERS[fmt]())
    _logger.handlers[:] = [handler]
    _logger.setLevel(level)
    _logger.propagate = False


def info(event: str, **fields: Any) -> None:
    _logger.info(event, extra=fields)


def debug(event: str, **fields: Any) -> None:
    _logger.debug(event, extra=fields)


def error(event: str, **fields: Any) -> None:
    _logger.error(event, extra=fields)


class Progress:
    """Logs `event` with a running count at most every `every` seconds (long stages)."""

    def __init__(self, event: str, every: float | None = None, **fields: Any) -> None:
        self.event, self.fields = event, fields
        self.every = _progress_every if every is None else every
        self.started = self.last = time.monotonic()

    def update(self, rows: int) -> None:
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            info(self.event, rows=rows, elapsed_s=round(now - self.started, 1), **self.fields)
