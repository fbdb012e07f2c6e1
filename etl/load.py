"""Extract and load: every CSV under s3://bucket/INPUT_PREFIX<table>/ into <table>.

Python's csv module parses RFC 4180 (quotes, embedded commas and newlines) and checks each
record's field count; MySQL's LOAD DATA LOCAL INFILE then loads a tab-separated copy with
backslash escapes at the server's speed. LOCAL loads turn data errors into warnings, so any
warning fails the file, reported with its CSV line and column.
"""

from __future__ import annotations

import csv
import gzip
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from etl import log
from etl.context import RunContext

SUFFIXES = (".csv", ".csv.gz")
# "... for column `db`.`t`.`qty` at row 2" (MariaDB), "... for column 'qty' at row 2" (MySQL),
# "Column 'note' cannot be null" (no row: the first empty field of that column is meant).
_COLUMN = re.compile(r"column (\S+)", re.IGNORECASE)
_ROW = re.compile(r"at row (\d+)")


class BadInput(Exception):
    """An input file, folder or row does not fit the contract."""


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
def _open_csv(path: Path, key: str) -> Iterator[IO[str]]:
    # utf-8-sig: tolerate the byte-order mark spreadsheet tools write.
    opener = gzip.open if key.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
        yield handle


def _locate(path: Path, key: str, column: str, record: int | None) -> tuple[int, str | None]:
    """(line, value of `column`) of data record `record` (1-based) or, without a record
    number, of the first record whose `column` is empty. Only for error reports."""
    with _open_csv(path, key) as handle:
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


def to_tsv(path: Path, key: str, columns: list[str], out: IO[str]) -> tuple[list[str], int]:
    """Copy the CSV at `path` into MySQL's escaped tab format, checking it on the way.
    Returns (header, rows)."""
    rows = 0
    with _open_csv(path, key) as handle:
        reader = csv.reader(handle, strict=True)
        try:
            header = next(reader, None)
            if header is None:
                return [], 0  # an empty object: no header, no rows
            _check_header(key, header, columns)
            width = len(header)
            # A lone empty field cannot be written unquoted: pad one-column files.
            pad = [""] if width == 1 else []
            writer = csv.writer(
                out, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\", lineterminator="\n"
            )
            start = reader.line_num + 1
            for row in reader:
                if len(row) != width:
                    raise BadInput(f"{key} line {start}: {len(row)} fields, the header has {width}")
                writer.writerow(row + pad if pad else row)
                rows += 1
                start = reader.line_num + 1
        except csv.Error as err:
            raise BadInput(f"{key} line {reader.line_num}: malformed CSV ({err})") from None
        except UnicodeDecodeError as err:
            raise BadInput(
                f"{key} near line {reader.line_num + 1}: not UTF-8 ({err.reason})"
            ) from None
    return header, rows


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
    """LOAD DATA for to_tsv()'s output: an empty field is NULL, everything else is literal."""
    variables = [f"@v{i}" for i in range(len(header))] + (["@pad"] if len(header) == 1 else [])
    assignments = ", ".join(f"`{name}` = NULLIF(@v{i}, '')" for i, name in enumerate(header))
    return (
        f"LOAD DATA LOCAL INFILE %s INTO TABLE `{table}` CHARACTER SET utf8mb4 "
        r"FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n' "
        f"({', '.join(variables)}) SET {assignments}"
    )


def load_file(ctx: RunContext, item: InputFile, table: str, columns: list[str]) -> int:
    raw = ctx.workdir / ("input.csv.gz" if item.key.endswith(".gz") else "input.csv")
    tsv = ctx.workdir / "load.tsv"
    ctx.s3.download_file(ctx.bucket, item.key, str(raw))
    with tsv.open("w", encoding="utf-8", newline="") as out:
        header, rows = to_tsv(raw, item.key, columns, out)
    if rows:
        with ctx.conn.cursor() as cursor:
            cursor.execute(load_data_sql(table, header), (str(tsv),))
            cursor.execute("SHOW WARNINGS LIMIT 1")
            problem = cursor.fetchone()
        if problem:
            _, code, message = problem
            raise BadInput(_describe_warning(raw, item.key, code, message))
    raw.unlink()
    tsv.unlink()
    return rows


def _describe_warning(path: Path, key: str, code: str, message: str) -> str:
    """Turn a LOAD DATA warning into the CSV line, column and value it is about."""
    row = _ROW.search(message)
    column = _COLUMN.search(message)
    if not column and not row:
        return f"{key}: MySQL rejected the data ({code}: {message})"
    name = column[1].rsplit(".", 1)[-1].strip("`'\"") if column else ""
    line, value = _locate(path, key, name, int(row[1]) if row else None)
    where = f"{key} line {line}" + (f", column {name} (value {value!r})" if name else "")
    return f"{where}: {message} (MySQL {code})"


def load_all(ctx: RunContext, inputs: dict[str, TableInput], columns: dict[str, list[str]]) -> None:
    for table, table_input in inputs.items():
        for item in table_input.files:
            item.rows = load_file(ctx, item, table, columns[table])
            log.info("file_loaded", table=table, key=item.key, rows=item.rows, bytes=item.size)
        log.info("table_loaded", table=table, files=len(table_input.files), rows=table_input.rows)
