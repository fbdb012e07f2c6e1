"""Extract and load: every CSV under s3://bucket/INPUT_PREFIX<table>/ into <table>.

Python's csv module parses RFC 4180 (quotes, embedded commas and newlines) and checks each
record's field count; MySQL's LOAD DATA LOCAL INFILE then loads a tab-separated copy with
backslash escapes at the server's speed. LOCAL loads turn data errors into warnings, so any
warning fails the file, reported with its CSV line and column.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from etl import log
from etl.context import RunContext

SUFFIXES = (".csv", ".csv.gz")
# "... for column `db`.`t`.`qty` at row 2" (MariaDB), "... for column 'qty' at row 2" (MySQL),
# "Column set to default value; NULL supplied to NOT NULL column 'note' at row 2",
# "Column 'note' cannot be null" (no row: the first empty field of that column is meant).
_COLUMN = re.compile(r"column (\S+)", re.IGNORECASE)
_ROW = re.compile(r"at row (\d+)")


class BadInput(Exception):
    """An input file, folder or row does not fit the contract."""


class Stopped(Exception):
    """The load this conversion feeds was stopped (it failed, or the run is stopping)."""


@dataclass
class InputFile:
    key: str
    size: int
    rows: int = 0


@dataclass
class TableInput:
    table: str
    files: list[InputFile] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)


def discover(s3: Any, bucket: str, prefix: str, tables: list[str]) -> dict[str, TableInput]:
    """Group the input objects by table folder; every table needs at least one file."""
    found = {t: TableInput(t) for t in tables}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            table, _, name = obj["Key"][len(prefix) :].partition("/")
            if not name or not name.endswith(SUFFIXES):
                continue  # folder markers, _SUCCESS files and the like
            if table not in found:
                raise BadInput(
                    f"s3://{bucket}/{prefix}{table}/ is not a table of schema.sql "
                    f"(tables: {', '.join(tables)})"
                )
            found[table].files.append(InputFile(obj["Key"], obj["Size"]))
    missing = [t for t, inp in found.items() if not inp.files]
    if missing:
        raise BadInput(
            "no input files for "
            + ", ".join(f"table {t} (s3://{bucket}/{prefix}{t}/*.csv[.gz])" for t in missing)
        )
    return found


@contextmanager
def open_object(ctx: RunContext, key: str) -> Iterator[IO[str]]:
    """An input object as text, streamed from S3 (and gunzipped) while it is read."""
    body = ctx.s3.get_object(Bucket=ctx.bucket, Key=key)["Body"]
    binary = gzip.GzipFile(fileobj=body) if key.endswith(".gz") else body
    # utf-8-sig: tolerate the byte-order mark spreadsheet tools write.
    with io.TextIOWrapper(binary, encoding="utf-8-sig", newline="") as text:
        yield text


def _locate(ctx: RunContext, key: str, column: str, record: int | None) -> tuple[int, str | None]:
    """(line, value of `column`) of data record `record` (1-based) or, without a record
    number, of the first record whose `column` is empty. Only for error reports."""
    with open_object(ctx, key) as handle:
        reader = csv.reader(handle, strict=True)
        header = next(reader, [])
        index = header.index(column) if column in header else None
        start = reader.line_num + 1
        for number, row in enumerate(reader, start=1):
            value = row[index] if index is not None and index < len(row) else None
            if number == record or (record is None and value == ""):
                return start, value
            start = reader.line_num + 1
    return start, None


@contextmanager
def _csv_errors(key: str, reader: Any) -> Iterator[None]:
    try:
        yield
    except csv.Error as err:
        raise BadInput(f"{key} line {reader.line_num}: malformed CSV ({err})") from None
    except UnicodeDecodeError as err:
        where = f"{key} near line {reader.line_num + 1}"
        raise BadInput(f"{where}: not UTF-8 ({err.reason})") from None


# Stands for an empty field while a batch is formatted. Strictly decoded UTF-8 never holds a
# lone surrogate, so it cannot collide with data; it becomes MySQL's NULL marker, \N.
_EMPTY = "\udcff"
_BATCH_ROWS = 10_000


def to_tsv(
    reader: Any, key: str, width: int, out: IO[bytes], stop: threading.Event | None = None
) -> int:
    """Copy the records after the header into MySQL's escaped tab format (empty fields as
    \\N), checking each record's field count on the way. Returns the number of records.
    Gives up at the next batch once `stop` is set."""
    rows = 0
    buffer = io.StringIO()
    writer = csv.writer(
        buffer, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\", lineterminator="\n"
    )

    progress = log.Progress("load_progress", key=key)

    def flush() -> None:
        if stop is not None and stop.is_set():
            raise Stopped(key)
        out.write(buffer.getvalue().replace(_EMPTY, "\\N").encode("utf-8"))
        buffer.seek(0)
        buffer.truncate()
        progress.update(rows)  # rows handed to the server so far

    start = reader.line_num + 1
    with _csv_errors(key, reader):
        for row in reader:
            if len(row) != width:
                raise BadInput(f"{key} line {start}: {len(row)} fields, the header has {width}")
            writer.writerow([v or _EMPTY for v in row] if "" in row else row)
            rows += 1
            if rows % _BATCH_ROWS == 0:
                flush()
            start = reader.line_num + 1
    flush()
    return rows


def _check_header(key: str, header: list[str], columns: list[str]) -> None:
    unknown = [name for name in header if name not in columns]
    if unknown:
        raise BadInput(
            f"{key} line 1: column(s) {', '.join(map(repr, unknown))} not in the table "
            f"(columns: {', '.join(columns)})"
        )
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise BadInput(f"{key} line 1: duplicate column(s) {', '.join(duplicates)}")


def load_data_sql(table: str, header: list[str]) -> str:
    """LOAD DATA for to_tsv()'s output, straight into the header's columns."""
    columns = ", ".join("`" + name.replace("`", "``") + "`" for name in header)
    return (
        f"LOAD DATA LOCAL INFILE %s INTO TABLE `{table}` CHARACTER SET utf8mb4 "
        r"FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n' "
        f"({columns})"
    )


def load_file(ctx: RunContext, item: InputFile, table: str, columns: list[str]) -> int:
    """Stream one object into `table`: S3 -> csv checks -> a FIFO -> LOAD DATA LOCAL, with
    the conversion in a thread so Python and the server work at the same time."""
    with open_object(ctx, item.key) as source:
        reader = csv.reader(source, strict=True)
        with _csv_errors(item.key, reader):
            header = next(reader, None)
        if header is None:
            return 0  # an empty object: no header, no rows
        _check_header(item.key, header, columns)
        fifo = ctx.workdir / f"load-{uuid.uuid4().hex}.fifo"
        os.mkfifo(fifo)
        outcome: dict[str, Any] = {}
        stop = threading.Event()

        def convert() -> None:
            try:
                with fifo.open("wb") as out:
                    outcome["rows"] = to_tsv(reader, item.key, len(header), out, stop)
            except BaseException as exc:  # reported by the main thread
                outcome["error"] = exc

        converter = threading.Thread(target=convert, name=f"convert-{table}")
        converter.start()
        loader = ctx.loader
        assert loader is not None, "loads need the loader's session"
        loader.local_file = str(fifo)  # the one file the server may ask this session for
        try:
            with loader.guard(f"loading {item.key}"), loader.cursor() as cursor:
                cursor.execute(load_data_sql(table, header), (str(fifo),))
                cursor.execute("SHOW WARNINGS LIMIT 1")
                problem = cursor.fetchone()
        finally:
            loader.local_file = None
            stop.set()  # a converter still running has lost its reader: let it give up
            if converter.is_alive() and "rows" not in outcome and "error" not in outcome:
                _drain(fifo)  # unblock its open() or write(), until it gives up
            converter.join()
            fifo.unlink()
    if "error" in outcome:
        raise outcome["error"]
    if problem:
        _, code, message = problem
        raise BadInput(_describe_warning(ctx, item.key, code, message))
    return int(outcome["rows"])


def _drain(fifo: Path) -> None:
    with fifo.open("rb") as handle:
        while handle.read(1 << 20):
            pass


def _describe_warning(ctx: RunContext, key: str, code: str, message: str) -> str:
    """Turn a LOAD DATA warning into the CSV line, column and value it is about."""
    row = _ROW.search(message)
    columns = _COLUMN.findall(message)  # the last one: "Column set to ...; ... column 'x'"
    if not columns and not row:
        return f"{key}: MySQL rejected the data ({code}: {message})"
    name = columns[-1].rsplit(".", 1)[-1].strip("`'\"") if columns else ""
    line, value = _locate(ctx, key, name, int(row[1]) if row else None)
    where = f"{key} line {line}" + (f", column {name} (value {value!r})" if name else "")
    return f"{where}: {message} (MySQL {code})"


def load_all(ctx: RunContext, inputs: dict[str, TableInput], columns: dict[str, list[str]]) -> None:
    for table, table_input in inputs.items():
        for item in table_input.files:
            item.rows = load_file(ctx, item, table, columns[table])
            log.info("file_loaded", table=table, key=item.key, rows=item.rows, bytes=item.size)
        log.info("table_loaded", table=table, files=len(table_input.files), rows=table_input.rows)
