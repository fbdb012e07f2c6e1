"""Export: each export SELECT streamed from MySQL into gzip CSV parts in S3.

Rows arrive unbuffered (server-side cursor) as MySQL's own text (no Python type conversion),
so dates read `YYYY-MM-DD HH:MM:SS` and decimals keep their scale. Each part is written to a
local file while the previous one uploads; memory holds one batch of rows, never the result.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql.cursors

from etl import log, storage
from etl.context import RunContext

BATCH_ROWS = 10_000


@dataclass
class ExportFile:
    key: str
    rows: int
    bytes: int
    sha256: str


@dataclass
class ExportResult:
    name: str
    columns: list[str]
    files: list[ExportFile] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)


class _HashingFile(io.RawIOBase):
    """A write-only file that counts and hashes the bytes that pass through it."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("wb")
        self.sha256 = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self._file.write(data)

    def close(self) -> None:
        self._file.close()
        super().close()


def _write_part(
    path: Path, columns: list[str], cursor: Any, limit: int
) -> tuple[int, int, str, bool]:
    """Write up to `limit` rows as one gzip CSV file; returns (rows, bytes, sha256, exhausted)."""
    rows = 0
    exhausted = False
    sink = _HashingFile(path)
    # mtime=0: the same rows give the same bytes, so reruns are comparable by sha256.
    with gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=6, mtime=0) as gz:
        text = io.TextIOWrapper(gz, encoding="utf-8", newline="")
        writer = csv.writer(text, lineterminator="\r\n")  # RFC 4180
        writer.writerow(columns)
        while rows < limit:
            batch = cursor.fetchmany(min(BATCH_ROWS, limit - rows))
            if not batch:
                exhausted = True
                break
            writer.writerows(batch)  # None (NULL) becomes an empty field
            rows += len(batch)
        text.flush()
        text.detach()
    sink.close()
    return rows, sink.size, sink.sha256.hexdigest(), exhausted


def export_query(ctx: RunContext, root: str, name: str, sql: str, part_rows: int) -> ExportResult:
    """Run `sql` and upload its result as `root`<name>/part-NNNNN.csv.gz."""
    progress = log.Progress("export_progress", export=name)
    # SSCursor: rows stream from the server as they are read, never all in memory.
    with ctx.conn.cursor(pymysql.cursors.SSCursor) as cursor, ThreadPoolExecutor(1) as uploader:
        cursor.execute(sql)
        result = ExportResult(name, [d[0] for d in cursor.description])
        pending: Future[None] | None = None
        exhausted = False
        while not exhausted:
            number = len(result.files)
            path = ctx.workdir / f"{name}-{number:05d}.csv.gz"
            rows, size, digest, exhausted = _write_part(path, result.columns, cursor, part_rows)
            if rows == 0 and number > 0:
                path.unlink()  # the previous part ended exactly on the last row
                break
            if pending is not None:
                pending.result()  # at most one upload in flight: disk use stays bounded
            key = f"{root}{name}/part-{number:05d}.csv.gz"
            pending = uploader.submit(_upload, ctx, key, path)
            result.files.append(ExportFile(key, rows, size, digest))
            progress.update(result.rows)
        if pending is not None:
            pending.result()
    log.info("export_written", export=name, rows=result.rows, files=len(result.files))
    return result


def _upload(ctx: RunContext, key: str, path: Path) -> None:
    # A .csv.gz object, not a gzip-encoded text/csv: clients must not unzip it on download.
    extra = {"ContentType": "application/gzip"}
    ctx.s3.upload_file(str(path), ctx.bucket, key, ExtraArgs=extra, Config=storage.TRANSFER)
    path.unlink()
