"""Load: each input file (see extract) into its table.

The converter (convert.py) hands the server the file's own records wherever they have the
spelling the value checks pass unchanged, and parses, checks and rewrites the rest; MySQL's
LOAD DATA LOCAL INFILE reads them through a FIFO at the server's speed. LOCAL loads turn data
errors into warnings, so any warning fails the file, reported with its CSV line and column.
"""

from __future__ import annotations

import csv
import fcntl
import json
import os
import re
import threading
import uuid
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import suppress
from pathlib import Path
from typing import Any

from etl import log, values
from etl.context import RunContext
from etl.convert import Converter, Stopped, nullif, shown
from etl.extract import BadInput, InputFile, TableInput, open_binary, open_object

__all__ = ["Stopped", "load_all", "load_data_sql", "load_file"]

# The FIFO to the server holds _PIPE_BYTES (Linux's default /proc/sys/fs/pipe-max-size): a
# chunk the converter writes lands in it while the server reads the one before.
_PIPE_BYTES = 1024 * 1024
# "... for column `db`.`t`.`qty` at row 2" (MariaDB), "... for column 'qty' at row 2" (MySQL),
# "Column set to default value; NULL supplied to NOT NULL column 'note' at row 2",
# "Column 'note' cannot be null" (no row: the first empty field of that column is meant).
_COLUMN = re.compile(r"column (\S+)", re.IGNORECASE)
_ROW = re.compile(r"at row (\d+)")
_DUPLICATE = re.compile(r"Duplicate entry '(.*)' for key '(.+)'", re.DOTALL)
_CONSTRAINT = re.compile(r"CONSTRAINT `([^`]+)` failed")
_NULL_REFUSED = {"1048", "1263"}  # ER_BAD_NULL_ERROR, WARN_NULL_TO_NOTNULL
# A record's end as the LOAD statement spells it.
_LINE_END = {b"\r\n": r"'\r\n'", b"\n": r"'\n'", b"\r": r"'\r'"}


def _locate(ctx: RunContext, key: str, column: str, record: int | None) -> tuple[int, str | None]:
    """(line, value of `column`) of data record `record` (1-based) or, without a record
    number, of the first record whose `column` is empty. Only for error reports."""
    with open_object(ctx, key) as handle:
        reader = csv.reader(handle, strict=True)
        header = next(reader, [])
        index = header.index(column) if column in header else None
        start = reader.line_num + 1
        number = 0
        for row in reader:
            if not row:  # a blank line: the converter skips it, the server never counts it
                start = reader.line_num + 1
                continue
            number += 1
            value = row[index] if index is not None and index < len(row) else None
            if number == record or (record is None and value == ""):
                return start, shown(value)
            start = reader.line_num + 1
    return start, None


def _check_header(key: str, header: list[str], columns: list[str]) -> None:
    known = set(columns)
    unknown = [shown(name) for name in header if name not in known]
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
    table: str,
    header: list[str],
    columns: dict[str, values.Column] | None = None,
    null: str = "",
    line_end: bytes = b"\r\n",
    *,
    spelt: bool = False,
) -> str:
    """LOAD DATA for the converter's records into the header's columns: straight in, or
    through a user variable and SET for the columns whose text is an encoding (BIT, binary:
    values.py) and, unless the converter spells empty fields NULL (`spelt`), for a nullable
    column ('' is NULL unless CSV_NULL is set)."""
    targets: list[str] = []
    sets: list[str] = []
    for index, name in enumerate(header):
        column = (columns or {}).get(name)
        via = column is not None and column.via_variable
        empty_null = not spelt and nullif(column, null)
        if via or empty_null:
            field = f"@field{index}"
            targets.append(field)
            # Not NULLIF(field, ''): PAD SPACE collations find ' ' equal to ''.
            text = f"IF(LENGTH({field}) = 0, NULL, {field})" if empty_null else field
            value = values.set_expression(column, text) if column and via else text
            sets.append(f"{quote_name(name)} = {value}")
        else:
            targets.append(quote_name(name))
    return (
        f"LOAD DATA LOCAL INFILE %s INTO TABLE {quote_name(table)} CHARACTER SET utf8mb4 "
        "FIELDS TERMINATED BY ',' ENCLOSED BY '\"' ESCAPED BY '' "
        f"LINES TERMINATED BY {_LINE_END[line_end]} "
        f"({', '.join(targets)})" + (f" SET {', '.join(sets)}" if sets else "")
    )


# The converter spells each empty field NULL (convert.spell_nulls) rather than the LOAD's SET
# making '' NULL: the server's single LOAD thread is the critical path, and the spelling costs
# the job about the CPU the SET costs the server, with the database in the task too (ninth
# session). But columns whose values may run long: a table with one keeps the SET. The
# server stored 1-5 KB texts faster through a variable than straight (MariaDB 10.11: 1.13 vs
# 1.35-1.40 s), and the converter's spelling passes cost most on long quoted text, where the
# converter nears the server's own time (docs/performance-stream.md, eighth session).
_LONG_TYPES = {"text", "mediumtext", "longtext", "json", "blob", "mediumblob", "longblob"}


def _long(types: dict[str, values.Column]) -> bool:
    return any(column.data_type in _LONG_TYPES for column in types.values())


def load_file(
    ctx: RunContext,
    item: InputFile,
    table: str,
    columns: list[str],
    types: dict[str, values.Column] | None = None,
) -> int:
    """Stream one object into `table`: S3 -> the converter -> a FIFO -> LOAD DATA LOCAL, with
    the conversion in a thread so Python and the server work at the same time."""
    types = types or {}
    with open_binary(ctx, item.key) as source:
        converter = Converter(source, item.key, ctx.null, spell=not _long(types))
        item.nulls = "spelt" if converter.spell else "set"
        header = converter.header()
        if header is None:  # a BOM alone, a gzip of nothing (an empty object is no input)
            raise BadInput(
                f"{item.key}: no header (the file holds no line; a table's file with no rows "
                "still starts with its header)"
            )
        if not header:  # csv gives [] for a blank line: it would name every column
            raise BadInput(f"{item.key} line 1: no header (the first line is blank)")
        _check_header(item.key, header, columns)
        fifo = ctx.workdir / f"load-{uuid.uuid4().hex}.fifo"
        os.mkfifo(fifo)
        stop = threading.Event()

        def convert() -> int:
            with fifo.open("wb") as out:
                with suppress(OSError):  # a smaller pipe only costs speed
                    fcntl.fcntl(out.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
                return converter.copy(out, header, types, stop)

        thread = ThreadPoolExecutor(1, thread_name_prefix=f"convert-{table}")
        converted = thread.submit(convert)  # its error is raised by result() below
        loader = ctx.loader
        assert loader is not None, "loads need the loader's session"
        loader.local_file = str(fifo)  # the one file the server may ask this session for
        try:
            with loader.guard(f"loading {item.key}"), loader.cursor() as cursor:
                sql = load_data_sql(
                    table, header, types, ctx.null, converter.term, spelt=converter.spell
                )
                loaded = cursor.execute(sql, (str(fifo),))
                cursor.execute("SHOW WARNINGS LIMIT 10")
                warnings = cursor.fetchall()
        finally:
            loader.local_file = None
            stop.set()  # a converter still running has lost its reader: let it give up
            if not converted.done():
                _drain(fifo, converted)  # unblock its open() or write(), until it gives up
            thread.shutdown(wait=True)
            fifo.unlink()
    rows = converted.result()  # the converter's error, if it failed
    if warnings:
        # The first Warning or Error names the problem; a Note before it (e.g. MariaDB's JSON
        # syntax note) explains it. A Note alone (a value rounded) fails the file too.
        _, code, message = next((w for w in warnings if w[0] != "Note"), warnings[0])
        notes = [w[2] for w in warnings if w[0] == "Note" and w[2] != message][:1]
        detail = f"{message} ({notes[0]})" if notes else message
        raise BadInput(_describe_warning(ctx, item.key, table, code, detail))
    if loaded != rows:  # the server read the records otherwise than the converter checked
        raise RuntimeError(
            f"{item.key}: the converter handed over {rows} records, the server loaded {loaded}"
        )
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
    if str(code) in _NULL_REFUSED:  # say where the NULL came from
        marker = f"unquoted {ctx.null}" if ctx.null else "an empty field"
        message += f" ({marker} is NULL; CSV_NULL sets the marker)"
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
                return start, shown(row[index])
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
            log.info("file_loaded", table=table, key=item.key, rows=item.rows, bytes=item.size,
                     nulls=item.nulls)  # fmt: skip
        log.info("table_loaded", table=table, files=len(table_input.files), rows=table_input.rows)
