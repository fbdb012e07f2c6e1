"""CSV files as real tools write them, loaded by a newcomer's job on both forms of the LOAD: the
converter spelling each empty field NULL (with and without DB_SHARED_DIR) and the server's SET
making '' NULL (a table with a TEXT column). The oracle is each file as Python's csv module
reads it, nothing else: an empty field and "" are NULL (CSV_NULL unset), every other field its
text, typed as the column holds it (docs/job-authoring.md, "A run" and "NULL and empty
strings").

The styles: pandas' `to_csv` (NaN and None as an empty field, minimal quoting, LF; checked
byte for byte against pandas 2), Python's csv.writer with QUOTE_ALL (None and '' as "") and
QUOTE_MINIMAL, a spreadsheet's "CSV UTF-8" (a BOM, CRLF records, LF inside cells), Postgres'
`COPY … (FORMAT csv, HEADER)` (NULL an unquoted empty field, '' as ""), CR-only records, a
gzip file, columns in another order and a subset of them; an LF, a CRLF and a CR file over
1 MiB each, so records cross the converter's chunks. tests/etl/test_load_parity.py has hostile
text on CRLF and LF files; this adds "" in nullable typed columns (INT, DECIMAL, DATETIME,
CHAR, ENUM, BIT, VARBINARY), quoted numbers and times (QUOTE_ALL), CR-only files and the
writers' own quoting, and Postgres' NULL 'NULL' with CSV_NULL=NULL."""

from __future__ import annotations

import csv
import gzip
import io
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from etl_harness import DbServer, job_folder, run_etl

SCHEMA = """
DROP TABLE IF EXISTS s;
CREATE TABLE s (
  id INT NOT NULL PRIMARY KEY,
  qty INT NULL,
  amount DECIMAL(12, 2) NULL,
  price DECIMAL(10, 3) NOT NULL,
  placed DATETIME NOT NULL,
  shipped DATETIME NULL,
  name VARCHAR(80) NOT NULL,
  note VARCHAR(500) NULL,  -- no TEXT: a table with one keeps the SET (etl/load.py)
  code CHAR(3) NULL,
  state ENUM('new', 'paid', 'sent, "late"') NULL,
  kind ENUM('a', 'b') NOT NULL,
  flags BIT(8) NULL,
  digest VARBINARY(16) NULL
) DEFAULT CHARSET = utf8mb4;
"""
COLUMNS = ["id", "qty", "amount", "price", "placed", "shipped", "name", "note", "code", "state",
           "kind", "flags", "digest"]  # fmt: skip
NULLABLE = {"qty", "amount", "shipped", "note", "code", "state", "flags", "digest"}
PIECES = ["a", "Zz", " ", ",", '"', "NULL", "\\N", "é", "😀", "x,y", "0", "'", "\t"]
Row = dict[str, str | None]  # a column's text as the tool was given it; None: missing (NaN)


def _value(rng: random.Random, column: str, i: int, newline: str) -> str | None:
    if column in NULLABLE and rng.random() < 0.25:
        return None if rng.random() < 0.7 else ""  # NaN/NULL, or an empty string
    when = datetime(2026, 1, 1) + timedelta(seconds=rng.randrange(10**7))
    match column:
        case "id":
            return str(i)
        case "qty":
            return str(rng.randrange(-(10**6), 10**6))
        case "amount" | "price":
            return f"{rng.randrange(-(10**8), 10**8) / 100:.{2 if column == 'amount' else 3}f}"
        case "placed" | "shipped":
            return f"{when:%Y-%m-%d %H:%M:%S}"
        case "name" | "note":
            pieces = [*PIECES, newline] if column == "note" else PIECES
            text = "".join(rng.choice(pieces) for _ in range(rng.randrange(1, 8)))
            return text if column == "note" or text.strip() else "NULL"  # never empty: NOT NULL
        case "code":
            return rng.choice(["ab", "x y", "NUL", "é,"])
        case "state":
            return rng.choice(["new", "paid", 'sent, "late"'])
        case "kind":
            return rng.choice(["a", "b"])
        case "flags":
            return str(rng.randrange(256))
        case _:  # digest: hex, as the docs say binary columns are written
            return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 17))).hex()


def _minimal(rows: list[Row], header: list[str], end: str, quoting: int = csv.QUOTE_MINIMAL) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=end, quoting=quoting)
    writer.writerow(header)
    writer.writerows([row[c] for c in header] for row in rows)  # None is written as ''
    return out.getvalue()


def _pandas(rows: list[Row], header: list[str]) -> str:
    """DataFrame.to_csv(index=False): NaN/None empty, minimal quoting, LF (pandas 2.x)."""
    return _minimal(rows, header, "\n")


def _quote_all(rows: list[Row], header: list[str]) -> str:
    return _minimal(rows, header, "\r\n", csv.QUOTE_ALL)


def _spreadsheet(rows: list[Row], header: list[str]) -> str:
    """Excel's "CSV UTF-8": a BOM, CRLF records, a line break in a cell a bare LF."""
    return "\ufeff" + _minimal(rows, header, "\r\n")


def _postgres(rows: list[Row], header: list[str], null: str = "") -> str:
    """COPY … TO STDOUT (FORMAT csv, HEADER[, NULL 'null']): NULL the NULL string unquoted
    (an empty field by default), a value quoted when it holds a comma, quote, CR or LF or
    equals the NULL string (so '' is "" by default), LF records."""

    def field(value: str | None) -> str:
        if value is None:
            return null
        if value == null or any(c in value for c in ',"\r\n'):
            return '"' + value.replace('"', '""') + '"'
        return value

    return "".join(",".join(map(field, r)) + "\n" for r in [header, *[
        [row[c] for c in header] for row in rows]])  # fmt: skip


# (file name, writer, rows, columns in the file, a line break inside a text value). BIT has no
# spelling the converter hands over as it is (every record of a file with it is parsed): only
# some files hold it, so that the others' records go as they are, their empty fields spelt.
Writer = Callable[[list[Row], list[str]], str]
NO_BIT = [c for c in COLUMNS if c != "flags"]
FILES: list[tuple[str, Writer, int, list[str], str]] = [
    ("pandas.csv", _pandas, 12_000, NO_BIT, "\n"),
    ("quote_all.csv.gz", _quote_all, 11_000, NO_BIT, "\r\n"),
    ("minimal_cr.csv", lambda r, h: _minimal(r, h, "\r"), 11_000, NO_BIT, "\r"),
    ("sheet.csv", _spreadsheet, 2_000, NO_BIT[::-1], "\n"),  # an empty first field
    (
        "postgres.csv",
        _postgres,
        2_000,
        ["id", "price", "placed", "name", "kind", "note", "amount", "flags", "digest"],
        "\n",
    ),
    ("minimal_lf.csv", lambda r, h: _minimal(r, h, "\n"), 2_000, COLUMNS, "\n"),
]


def _typed(column: str, field: str) -> Any:
    """A field as the table holds it (the oracle's own reading of the column types)."""
    if field == "":
        return None  # an empty field and "" are NULL, CSV_NULL unset
    if column in {"id", "qty", "flags"}:
        return int(field)
    if column in {"amount", "price"}:
        return Decimal(field)
    if column in {"placed", "shipped"}:
        return datetime.strptime(field, "%Y-%m-%d %H:%M:%S")
    if column == "digest":
        return bytes.fromhex(field)
    return field


def _oracle(body: bytes) -> dict[int, tuple[Any, ...]]:
    """Each record of the file's bytes, as Python's csv module reads it, as the table's row."""
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    records = [r for r in csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")) if r]
    header, found = records[0], {}
    for record in records[1:]:
        fields = dict(zip(header, record, strict=True))
        row = tuple(_typed(c, fields[c]) if c in fields else None for c in COLUMNS)
        found[row[0]] = row
    return found


def _job(tmp_path: Path, schema: str = SCHEMA) -> Path:
    return job_folder(tmp_path / "styles_job", schema, "SELECT COUNT(*) AS n FROM s")


@pytest.mark.parametrize(
    ("path", "form"), [("stream", "spelt"), ("shared", "spelt"), ("stream", "set")]
)
def test_files_as_real_tools_write_them_load_exactly(
    db_server: DbServer, database: str, bucket: str, s3_endpoint: str, s3: Any, tmp_path: Path,
    path: str, form: str, request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    """The SET form by a TEXT column the files leave NULL: DB_SHARED_DIR spells too."""
    rng = random.Random(27)
    expected: dict[int, tuple[Any, ...]] = {}
    sizes = {}
    start = 0
    for name, write, count, header, newline in FILES:
        rows = [{c: _value(rng, c, start + i, newline) for c in COLUMNS} for i in range(count)]
        start += count
        body = write(rows, header).encode("utf-8")
        sizes[name] = len(body)
        if name.endswith(".gz"):
            body = gzip.compress(body, mtime=0)
        read = _oracle(body)
        # The writer wrote what it was given: its values, '' and None alike NULL.
        assert list(read.values()) == [
            tuple(_typed(c, row[c] or "") if c in header else None for c in COLUMNS) for row in rows
        ], name
        expected.update(read)
        s3.put_object(Bucket=bucket, Key=f"input/s/{name}", Body=body)
    big = ["pandas.csv", "quote_all.csv.gz", "minimal_cr.csv"]  # LF, CRLF, CR over 1 MiB chunks
    assert min(sizes[name] for name in big) > 1 << 20, sizes
    schema = (
        SCHEMA if form == "spelt" else SCHEMA.replace("\n) DEFAULT", ",\n  z TEXT NULL\n) DEFAULT")
    )
    settings = {"ETL_JOB": str(_job(tmp_path, schema))}
    if path == "shared":
        settings["DB_SHARED_DIR"] = str(request.getfixturevalue("shared_dir"))
    result = run_etl(db_server, database, bucket, s3_endpoint, **settings)
    assert result.returncode == 0, result.logs[-2:]
    assert {event["nulls"] for event in result.events("file_loaded")} == {form}
    with db_server.connect(database) as conn, conn.cursor() as cursor:
        names = ", ".join("CAST(flags AS UNSIGNED)" if c == "flags" else c for c in COLUMNS)
        cursor.execute(f"SELECT {names} FROM s")
        loaded = {row[0]: tuple(row) for row in cursor.fetchall()}
    assert len(loaded) == len(expected) == start
    wrong = [(key, loaded.get(key), want) for key, want in expected.items()
             if loaded.get(key) != want]  # fmt: skip
    assert not wrong, (len(wrong), wrong[:3])


def test_postgres_copy_with_null_as_a_word_keeps_empty_strings_on_both_paths(
    db_server: DbServer, database: str, bucket: str, s3_endpoint: str, s3: Any, tmp_path: Path,
    shared_dir: Path,
) -> None:  # fmt: skip
    """By default "" and an empty field are both NULL, so Postgres' empty strings load as NULL.
    `COPY … (FORMAT csv, HEADER, NULL 'NULL')` and CSV_NULL=NULL keep them: NULL the bare word,
    the text NULL "NULL", an empty string an empty field (docs/job-authoring.md)."""
    rng = random.Random(2027)
    header = NO_BIT
    rows = []
    for i in range(3_000):
        row = {c: _value(rng, c, i, "\n") for c in COLUMNS}
        # An empty string only where Postgres has one: text columns.
        rows.append({c: None if v == "" and c not in {"note", "code"} else v
                     for c, v in row.items()})  # fmt: skip
    body = _postgres(rows, header, null="NULL").encode()
    read = [r for r in csv.reader(io.StringIO(body.decode(), newline="")) if r]
    assert read[1:] == [["NULL" if row[c] is None else row[c] for c in header] for row in rows]
    s3.put_object(Bucket=bucket, Key="input/s/postgres_null_word.csv", Body=body)
    expected = {
        i: tuple(row[c] if row[c] in {None, ""} else _typed(c, str(row[c])) if c in header
                 else None for c in COLUMNS)
        for i, row in enumerate(rows)
    }  # fmt: skip
    assert any(row[7] == "" for row in expected.values())
    assert any(row[7] == "NULL" for row in expected.values())
    for path, extra in (("stream", {}), ("shared", {"DB_SHARED_DIR": str(shared_dir)})):
        result = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(_job(tmp_path)),
                         CSV_NULL="NULL", OUTPUT_PREFIX=f"{path}/", **extra)  # fmt: skip
        assert result.returncode == 0, (path, result.logs[-2:])
        with db_server.connect(database) as conn, conn.cursor() as cursor:
            cursor.execute(f"SELECT {', '.join(COLUMNS)} FROM s")
            loaded = {row[0]: tuple(row) for row in cursor.fetchall()}
        wrong = [(key, loaded.get(key), want) for key, want in expected.items()
                 if loaded.get(key) != want]  # fmt: skip
        assert not wrong, (path, len(wrong), wrong[:3])
