"""Load: each input file (see extract) into its table.

Python's csv module parses RFC 4180 (quotes, embedded commas and newlines) and checks each
record's field count; MySQL's LOAD DATA LOCAL INFILE then loads a tab-separated copy with
backslash escapes at the server's speed. LOCAL loads turn data errors into warnings, so any
warning fails the file, reported with its CSV line and column.
"""

from __future__ import annotations

import csv
import fcntl
import gzip
import io
import json
import os
import re
import threading
import uuid
import zlib
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager, suppress
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

from etl import log, values
from etl.context import RunContext
from etl.extract import BadInput, InputFile, TableInput, open_object

# The largest field the loader accepts (Python's csv module stops at 128 KiB by default).
FIELD_LIMIT = 16 * 1024 * 1024
csv.field_size_limit(FIELD_LIMIT)
# The FIFO to the server holds _PIPE_BYTES. A batch goes to it at _BATCH_ROWS rows or
# _BATCH_CHARS characters: at most 4 bytes each once escaped and encoded (UTF-8; an escaped
# character is 2 ASCII bytes), so a batch lands in the pipe without waiting for the server
# while the converter builds the next one. A batch bigger than the pipe blocked it until the
# server had read the batch (wide rows loaded 30 % slower).
_PIPE_BYTES = 1024 * 1024  # Linux's default /proc/sys/fs/pipe-max-size
_BATCH_CHARS = _PIPE_BYTES // 4
_BATCH_ROWS = 10_000
_SHOWN = 200  # characters of a value quoted in an error message
# "... for column `db`.`t`.`qty` at row 2" (MariaDB), "... for column 'qty' at row 2" (MySQL),
# "Column set to default value; NULL supplied to NOT NULL column 'note' at row 2",
# "Column 'note' cannot be null" (no row: the first empty field of that column is meant).
_COLUMN = re.compile(r"column (\S+)", re.IGNORECASE)
_ROW = re.compile(r"at row (\d+)")
_DUPLICATE = re.compile(r"Duplicate entry '(.*)' for key '(.+)'", re.DOTALL)
_CONSTRAINT = re.compile(r"CONSTRAINT `([^`]+)` failed")


class Stopped(Exception):
    """The load this conversion feeds was stopped (it failed, or the run is stopping)."""


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
                return start, _shown(value)
            start = reader.line_num + 1
    return start, None


def _shown(value: str | None) -> str | None:
    """A value as an error message quotes it: at most _SHOWN characters."""
    if value is None or len(value) <= _SHOWN:
        return value
    return f"{value[:_SHOWN]}… ({len(value)} characters)"


def _bad_byte_line(ctx: RunContext, key: str) -> int:
    """The line of the first byte that is not UTF-8 (text is decoded ahead of the CSV reader,
    so the reader's own line number is not where the byte is). Only for error reports."""
    body = ctx.s3.get_object(Bucket=ctx.bucket, Key=key)["Body"]
    with gzip.GzipFile(fileobj=body) if key.lower().endswith(".gz") else body as binary:
        for number, line in enumerate(io.BufferedReader(binary), start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 0


@contextmanager
def _csv_errors(key: str, reader: Any, ctx: RunContext | None = None) -> Iterator[None]:
    try:
        yield
    except csv.Error as err:
        raise BadInput(f"{key} line {reader.line_num}: malformed CSV ({err})") from None
    except UnicodeDecodeError as err:
        line = _bad_byte_line(ctx, key) if ctx is not None else 0
        where = f"{key} line {line}" if line else f"{key} near line {reader.line_num + 1}"
        raise BadInput(f"{where}: not UTF-8 ({err.reason})") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise BadInput(f"{key}: not a complete gzip file ({err})") from None


# Placeholders while a batch is built: lone surrogates, which text decoded from UTF-8 (strictly,
# as every input is) can never hold, nor CSV_NULL (settings refuse them). Each row is one
# str.join; the batch is escaped for MySQL with a few whole-string replaces at flush, instead
# of field by field in Python.
_FIELD = "\udcfe"  # between fields
_RECORD = "\udcfd"  # after each record
_EMPTY = "\udcff"  # a NULL field (empty, or CSV_NULL when set): MySQL's \N
_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))
_MARKS = ((_FIELD, "\t"), (_RECORD, "\n"), (_EMPTY, "\\N"))


def tsv_batch(records: list[str]) -> str:
    """Records joined by _FIELD into MySQL's escaped tab format: a backslash, tab, line feed
    or carriage return inside a field escaped, _EMPTY as \\N (NULL)."""
    return tsv_escape(_RECORD.join(records) + _RECORD)


def tsv_escape(text: str) -> str:
    """A batch's text (fields ended by _FIELD, records by _RECORD) in MySQL's escaped tab
    format."""
    for plain, escaped in (*_ESCAPES, *_MARKS):
        if plain in text:
            text = text.replace(plain, escaped)
    return text


def to_tsv(  # noqa: PLR0917
    reader: Any,
    key: str,
    width: int,
    out: IO[bytes],
    stop: threading.Event | None = None,
    ctx: RunContext | None = None,
    header: list[str] | None = None,
    checks: list[values.FieldCheck] | None = None,
    lines: Lines | None = None,
) -> int:
    """Copy the records after the header into MySQL's escaped tab format (empty fields, or
    fields that are CSV_NULL when the job sets it, as \\N), checking each record's field
    count on the way. Returns the number of records. Lines with no field at all (blank
    lines) are skipped. Gives up at the next batch once `stop` is set."""
    null = ctx.null if ctx is not None else ""
    rows = size = 0
    batch: list[str] = []
    append, join = batch.append, _FIELD.join
    progress = log.Progress("load_progress", key=key)
    # With value checks, the first line of each of the batch's records is kept for errors.
    columns = _ColumnChecks(checks, key, header or [], width) if checks else None
    starts: list[int] = []

    def flush() -> None:
        if stop is not None and stop.is_set():
            raise Stopped(key)
        if batch:
            text = _RECORD.join(batch) + _RECORD
            if columns is not None:
                text = columns.run(text, batch, starts)
                starts.clear()
            out.write(tsv_escape(text).encode("utf-8"))
            batch.clear()
        progress.update(rows)  # rows handed to the server so far

    start = reader.line_num + 1
    with _csv_errors(key, reader, ctx):
        for record in reader:
            if len(record) != width:
                if not record:  # a blank line (e.g. at the end of the file)
                    start = reader.line_num + 1
                    if lines is not None:
                        lines.record.clear()
                    continue
                raise BadInput(f"{key} line {start}: {len(record)} fields, the header has {width}")
            row = record
            if null:  # CSV_NULL: that text unquoted is NULL, an empty field an empty string
                if null in record:
                    row = _nulls(record, null, lines)
                if lines is not None:
                    lines.record.clear()
            elif "" in record:
                row = [v or _EMPTY for v in record]
            line = join(row)
            append(line)
            if columns is not None:
                starts.append(start)
            size += len(line)
            rows += 1
            if rows % _BATCH_ROWS == 0 or size > _BATCH_CHARS:
                flush()
                size = 0
            start = reader.line_num + 1
    flush()
    return rows


class Lines:
    """A text stream's lines for csv.reader, keeping those of the record being read: whether
    a field equal to CSV_NULL was quoted is in the raw text only (csv.reader drops quotes)."""

    def __init__(self, source: IO[str]) -> None:
        self.source = source
        self.record: list[str] = []

    def __iter__(self) -> Lines:
        return self

    def __next__(self) -> str:
        line = next(self.source)
        self.record.append(line)
        return line


_RAW_FIELD = re.compile(r'"(?:[^"]|"")*"|[^,]*')


def quoted_fields(raw: str) -> list[bool]:
    """For each field of one raw CSV record (RFC 4180, already read by csv.reader), whether
    it was quoted."""
    raw = raw.rstrip("\r\n")
    flags: list[bool] = []
    position = 0
    while True:
        found = _RAW_FIELD.match(raw, position)
        assert found is not None  # the pattern matches the empty string too
        flags.append(raw.startswith('"', position))
        position = found.end() + 1  # past the comma
        if position > len(raw):
            return flags


def _nulls(row: list[str], null: str, lines: Lines | None) -> list[str]:
    """The record with each unquoted CSV_NULL as NULL; a quoted one ("NA") is that text."""
    quoted = quoted_fields("".join(lines.record)) if lines is not None else []
    return [
        _EMPTY if v == null and not (i < len(quoted) and quoted[i]) else v
        for i, v in enumerate(row)
    ]


class _ColumnChecks:
    """The value checks of a file's fields (values.py), on each batch's text at once: one
    regular expression of a whole record (each checked field's common spelling, any text in
    the others) matched over the batch in C, and the per-field checks only for the columns
    whose spelling it does not cover (BIT) or when the batch does not match (an uncommon
    spelling, which the check may normalise, or a bad value, which it names): then column by
    column, each column's fields matched at once first (a file whose datetimes all have a 'T'
    checks that column field by field, not all of them)."""

    def __init__(
        self, checks: list[values.FieldCheck], key: str, header: list[str], width: int
    ) -> None:
        assert (values.SEPARATOR, values.RECORD_END) == (_FIELD, _RECORD)
        self.key, self.header, self.checks = key, header, checks
        self.always = [check for check in checks if check.common is None]
        self.columns = {
            check.index: re.compile(f"{one}(?:{_FIELD}{one})*")
            for check in checks
            if check.common is not None
            for one in [_field(check.common, rf"(?={_FIELD}|\Z)")]
        }
        spelled = {check.index: check.common for check in checks if check.common is not None}
        self.whole: re.Pattern[str] | None = None
        if spelled:
            last = max(spelled)
            fields = [
                _field(spelled[index], f"(?=[{_FIELD}{_RECORD}])")
                if index in spelled
                else f"[^{_FIELD}{_RECORD}]*"
                for index in range(last + 1)
            ]
            rest = f"[^{_RECORD}]*" if last < width - 1 else ""  # the fields after the last
            record = _FIELD.join(fields) + (_FIELD + rest if rest else "")
            self.whole = re.compile(f"(?:{record}{_RECORD})*")

    def run(self, text: str, lines: list[str], starts: list[int]) -> str:
        """The batch's text checked (records ended by _RECORD, `lines` the same records
        without their ends), with any normalised field (a time with an offset, in UTC)."""
        common = self.whole is not None and self.whole.fullmatch(text) is not None
        if common and not self.always:
            return text
        records = [line.split(_FIELD) for line in lines]
        checks = self.always if common else [c for c in self.checks if not self._column(c, records)]
        changed = self._fields(checks, records, starts)
        for number in changed:
            lines[number] = _FIELD.join(records[number])
        return _RECORD.join(lines) + _RECORD if changed else text

    def _column(self, check: values.FieldCheck, records: list[list[str]]) -> bool:
        """Whether all of the batch's fields of `check`'s column have the common spelling."""
        pattern = self.columns.get(check.index)
        column = _FIELD.join(map(itemgetter(check.index), records))
        return pattern is not None and pattern.fullmatch(column) is not None

    def _fields(
        self, checks: list[values.FieldCheck], batch: list[list[str]], starts: list[int]
    ) -> set[int]:
        changed: set[int] = set()
        for check in checks:
            index = check.index
            for number, value in enumerate(map(itemgetter(index), batch)):
                if value == _EMPTY:
                    continue
                try:
                    if (normal := check.check(value)) != value:
                        batch[number][index] = normal
                        changed.add(number)
                except values.BadValue as exc:
                    name = self.header[index] if index < len(self.header) else str(index + 1)
                    raise BadInput(
                        f"{self.key} line {starts[number]}, column {name} "
                        f"(value {_shown(value)!r}): {exc}"
                    ) from None
        return changed


def _field(common: str, end: str) -> str:
    """One field of a batch: its common spelling or _EMPTY, up to the field's `end`, in an
    atomic group. No spelling crosses a separator, so any match that reaches the end is the
    whole field, and nothing is lost by not trying the others. Without the group, a batch that
    does not match backtracked through every way of matching each earlier field (a DECIMAL
    spelling matches 12.50 two ways, 3.00 three): exponential in the batch's rows, a job stuck
    in one regular expression on one bad value."""
    return f"(?>(?:{common}|{_EMPTY}){end})"


def _check_header(key: str, header: list[str], columns: list[str]) -> None:
    known = set(columns)
    unknown = [_shown(name) for name in header if name not in known]
    if unknown:
        raise BadInput(
            f"{key} line 1: column(s) {', '.join(map(repr, unknown))} not in the table "
            f"(columns: {', '.join(columns)})"
        )
    duplicates = sorted(name for name, count in Counter(header).items() if count > 1)
    if duplicates:
        raise BadInput(f"{key} line 1: duplicate column(s) {', '.join(duplicates)}")


def quote_name(name: str) -> str:
    """A name as SQL quotes it: `a``b` for a`b."""
    return "`" + name.replace("`", "``") + "`"


def load_data_sql(
    table: str, header: list[str], columns: dict[str, values.Column] | None = None
) -> str:
    """LOAD DATA for to_tsv()'s output into the header's columns: straight in, or through a
    user variable and SET for the columns whose text is an encoding (BIT, binary: values.py)."""
    targets: list[str] = []
    sets: list[str] = []
    for index, name in enumerate(header):
        column = (columns or {}).get(name)
        if column is not None and column.via_variable:
            targets.append(f"@field{index}")
            sets.append(f"{quote_name(name)} = {values.set_expression(column, f'@field{index}')}")
        else:
            targets.append(quote_name(name))
    return (
        f"LOAD DATA LOCAL INFILE %s INTO TABLE {quote_name(table)} CHARACTER SET utf8mb4 "
        r"FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n' "
        f"({', '.join(targets)})" + (f" SET {', '.join(sets)}" if sets else "")
    )


def load_file(
    ctx: RunContext,
    item: InputFile,
    table: str,
    columns: list[str],
    types: dict[str, values.Column] | None = None,
) -> int:
    """Stream one object into `table`: S3 -> csv checks -> a FIFO -> LOAD DATA LOCAL, with
    the conversion in a thread so Python and the server work at the same time."""
    with open_object(ctx, item.key) as source:
        lines = Lines(source) if ctx.null else None
        reader = csv.reader(lines or source, strict=True)
        with _csv_errors(item.key, reader, ctx):
            header = next(reader, None)
        if lines is not None:
            lines.record.clear()
        if header is None:
            return 0  # an empty object: no header, no rows
        if not header:  # csv gives [] for a blank line: it would name every column
            raise BadInput(f"{item.key} line 1: no header (the first line is blank)")
        _check_header(item.key, header, columns)
        checks = values.checks(header, types or {})
        fifo = ctx.workdir / f"load-{uuid.uuid4().hex}.fifo"
        os.mkfifo(fifo)
        stop = threading.Event()

        def convert() -> int:
            with fifo.open("wb") as out:
                with suppress(OSError):  # a smaller pipe only costs speed
                    fcntl.fcntl(out.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
                return to_tsv(reader, item.key, len(header), out, stop, ctx, header, checks, lines)

        converter = ThreadPoolExecutor(1, thread_name_prefix=f"convert-{table}")
        converted = converter.submit(convert)  # its error is raised by result() below
        loader = ctx.loader
        assert loader is not None, "loads need the loader's session"
        loader.local_file = str(fifo)  # the one file the server may ask this session for
        try:
            with loader.guard(f"loading {item.key}"), loader.cursor() as cursor:
                cursor.execute(load_data_sql(table, header, types), (str(fifo),))
                cursor.execute("SHOW WARNINGS LIMIT 10")
                warnings = cursor.fetchall()
        finally:
            loader.local_file = None
            stop.set()  # a converter still running has lost its reader: let it give up
            if not converted.done():
                _drain(fifo, converted)  # unblock its open() or write(), until it gives up
            converter.shutdown(wait=True)
            fifo.unlink()
    rows = converted.result()  # the converter's error, if it failed
    if warnings:
        # The first Warning or Error names the problem; a Note before it (e.g. MariaDB's JSON
        # syntax note) explains it. A Note alone (a value rounded) fails the file too.
        _, code, message = next((w for w in warnings if w[0] != "Note"), warnings[0])
        notes = [w[2] for w in warnings if w[0] == "Note" and w[2] != message][:1]
        detail = f"{message} ({notes[0]})" if notes else message
        raise BadInput(_describe_warning(ctx, item.key, table, code, detail))
    return rows


def _drain(fifo: Path, converted: Future[int]) -> None:
    """Read and drop what the converter still writes until it ends. Non-blocking: a converter
    that has already closed its end (and is only finishing) cannot make this wait forever."""
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        while not converted.done():
            try:
                if not os.read(fd, 1 << 20):
                    wait([converted], timeout=0.01)  # no writer at the moment
            except BlockingIOError:
                wait([converted], timeout=0.01)  # a writer, nothing written yet
    finally:
        os.close(fd)


def _describe_warning(ctx: RunContext, key: str, table: str, code: str, message: str) -> str:
    """Turn a LOAD DATA warning into the CSV line, column and value it is about."""
    if found := _DUPLICATE.search(message):
        return _describe_duplicate(ctx, key, table, found[1], found[2], f"{message} (MySQL {code})")
    row = _ROW.search(message)
    columns = _COLUMN.findall(message)  # the last one: "Column set to ...; ... column 'x'"
    if not row and (constraint := _CONSTRAINT.search(message)):
        # MariaDB names a JSON column's own check `table.column`: find the value that is not JSON.
        column = constraint[1].rsplit(".", 1)[-1]
        bad = _find(ctx, key, column, lambda v: v != "" and not _is_json(v))
        if bad is not None:
            where = f"{key} line {bad[0]}, column {column} (value {bad[1]!r})"
            return f"{where}: {message} (MySQL {code})"
    if not columns and not row:
        return f"{key}: MySQL rejected the data ({code}: {message})"
    name = columns[-1].rsplit(".", 1)[-1].strip("`'\"") if columns else ""
    line, value = _locate(ctx, key, name, int(row[1]) if row else None)
    where = f"{key} line {line}" + (f", column {name} (value {value!r})" if name else "")
    return f"{where}: {message} (MySQL {code})"


def _is_json(value: str) -> bool:
    try:
        json.loads(value)
    except ValueError:
        return False
    return True


def _find(ctx: RunContext, key: str, column: str, test: Any) -> tuple[int, str | None] | None:
    """(line, shown value) of the first record whose `column` passes `test`."""
    with open_object(ctx, key) as handle:
        reader = csv.reader(handle, strict=True)
        header = next(reader, [])
        if column not in header:
            return None
        index = header.index(column)
        start = reader.line_num + 1
        for row in reader:
            if index < len(row) and test(row[index]):
                return start, _shown(row[index])
            start = reader.line_num + 1
    return None


def _describe_duplicate(  # noqa: PLR0917
    ctx: RunContext, key: str, table: str, value: str, index: str, message: str
) -> str:
    """A duplicate key: the line of the record that repeats it (a one-column key), or of
    its only occurrence in this file when an earlier file (or the schema) holds the other."""
    index = index.rsplit(".", 1)[-1]  # MySQL 8 writes `table.PRIMARY`
    loader = ctx.loader or ctx.conn
    with loader.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.statistics WHERE table_schema = "
            "DATABASE() AND table_name = %s AND index_name = %s ORDER BY seq_in_index",
            (table, index),
        )
        key_columns = [row[0] for row in cursor.fetchall()]
    seen: list[int] = []
    if len(key_columns) == 1:

        def repeated(candidate: str) -> bool:
            if candidate == value:
                seen.append(1)
            return len(seen) == 2

        found = _find(ctx, key, key_columns[0], repeated)
        if found is None and seen:
            found = _find(ctx, key, key_columns[0], lambda v: v == value)
        if found is not None:
            return f"{key} line {found[0]}, column {key_columns[0]} (value {found[1]!r}): {message}"
    return f"{key}: {message}, key columns {', '.join(key_columns)}"


def load_all(ctx: RunContext, inputs: dict[str, TableInput], columns: dict[str, list[str]]) -> None:
    loader = ctx.loader or ctx.conn
    for table, table_input in inputs.items():
        with loader.cursor() as cursor:
            types = values.table_columns(cursor, table)
        for item in table_input.files:
            item.rows = load_file(ctx, item, table, columns[table], types)
            log.info("file_loaded", table=table, key=item.key, rows=item.rows, bytes=item.size)
        log.info("table_loaded", table=table, files=len(table_input.files), rows=table_input.rows)
