"""The loader hands most records to the server as the file spells them (etl/convert.py): the
server's CSV reading must then agree with Python's csv module on every record, or a value
would load changed. Hostile files (quotes, commas, CR, LF, backslashes, the word NULL, \\N,
tabs, spaces, unicode, blank lines, a BOM, no final line end, times with offsets, NOT NULL
columns), several MiB so that records straddle the converter's chunks, loaded by the job into
MariaDB or MySQL; the oracle is the generator's own values, each file also read back with
Python's csv module to check the generator wrote what it meant."""

from __future__ import annotations

import csv
import gzip
import io
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from etl_harness import DbServer, job_folder, run_etl

SCHEMA = """
DROP TABLE IF EXISTS p;
CREATE TABLE p (
  id INT NOT NULL PRIMARY KEY,
  label VARCHAR(40) NOT NULL,
  note VARCHAR(200) NULL,  -- no TEXT: a table with one keeps the SET (etl/load.py)
  code CHAR(6) NULL,
  amount DECIMAL(10, 2) NULL,
  at DATETIME NULL,
  state ENUM('new', 'old, "quoted"', 'Ünï') NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
"""
HEADER = ["id", "label", "note", "code", "amount", "at", "state"]
PIECES = ["a", "b", " ", ",", '"', '""', "\r", "\n", "\r\n", "\\", "\\N", "N", "NULL", "\t",
          "é", "😀", "NA", "'", "x,y"]  # fmt: skip
STATES = ["new", 'old, "quoted"', "Ünï"]


def _text(rng: random.Random, empty: bool) -> str:
    if rng.random() < 0.15:
        return rng.choice(["NULL", "\\N", "NA", " ", "", '"', "N"]) if empty else "NULL"
    value = "".join(rng.choice(PIECES) for _ in range(rng.randrange(0, 9)))
    return value if value or empty else "z"


def _row(rng: random.Random, i: int, null: str) -> tuple[list[str | None], list[str | None]]:
    """(the values the table must hold, the fields to write: None = an unquoted empty field,
    or CSV_NULL unquoted when set)."""
    when = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(10**7))
    offset = rng.random() < 0.02
    cells: list[str | None] = [
        str(i),
        _text(rng, empty=False),
        None if rng.random() < 0.2 else _text(rng, empty=True),
        None if rng.random() < 0.2 else rng.choice(["ab", "x y", "NULL", "c,d", 'q"']),
        None if rng.random() < 0.2 else f"{rng.randrange(-(10**6), 10**6) / 100:.2f}",
        None if rng.random() < 0.2 else f"{when:%Y-%m-%d %H:%M:%S}",
        None if rng.random() < 0.2 else rng.choice(STATES),
    ]
    fields = list(cells)
    if offset and cells[5] is not None:  # normalised to UTC by the loader
        fields[5] = (when + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S+02:00")
    if not null and cells[2] == "":
        cells[2] = None  # an empty field is NULL unless CSV_NULL is set
    return cells, fields


def needs_quotes(field: str, null: str) -> bool:
    """An unquoted empty field or CSV_NULL would be NULL; the rest at random (an unquoted
    NULL is the text NULL too, though the server reads it as NULL)."""
    return field in {"", null} or any(c in field for c in ',"\r\n')


def _write(rows: list[list[str | None]], null: str, end: str, rng: random.Random) -> str:
    """RFC 4180, each field quoted when it must be and at random otherwise."""
    out = io.StringIO()
    for number, fields in enumerate(rows):
        cells = []
        for field in fields:
            if field is None:
                cells.append(null)
            elif needs_quotes(field, null) or rng.random() < 0.3:
                cells.append('"' + field.replace('"', '""') + '"')
            else:
                cells.append(field)
        out.write(",".join(cells) + end)
        if number % 997 == 5:
            out.write(end)  # a blank line: skipped
    return out.getvalue()


def _expected(values: list[str | None]) -> tuple[Any, ...]:
    id_, label, note, code, amount, at, state = values
    return (int(str(id_)), label, note, code, None if amount is None else Decimal(amount),
            None if at is None else datetime.strptime(at, "%Y-%m-%d %H:%M:%S"), state)  # fmt: skip


def _job(tmp_path: Path, schema: str) -> Path:
    return job_folder(tmp_path / "parity_job", schema, "SELECT COUNT(*) AS n FROM p")


@pytest.mark.parametrize(
    ("path", "form"), [("stream", "spelt"), ("shared", "spelt"), ("stream", "set")]
)
@pytest.mark.parametrize("null", ["", "NA"])
def test_hostile_files_load_exactly_what_they_hold(
    db_server: DbServer, database: str, bucket: str, s3_endpoint: str, s3: Any, tmp_path: Path,
    null: str, path: str, form: str, request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    """Both forms of the LOAD, with and without a shared directory (the database in the task):
    the converter spelling empty fields NULL, and the server's SET making '' NULL (CSV_NULL
    set, or a table with a TEXT column: here one the files leave NULL)."""
    rng = random.Random(20261207 + len(null))
    expected: dict[int, tuple[Any, ...]] = {}
    files = [("a.csv", "\r\n", False, False), ("b.csv", "\n", True, False),
             ("c.csv.gz", "\r\n", False, True), ("d.csv", "\n", False, False)]  # fmt: skip
    start = 0
    for name, end, bom, gz in files:
        count = 30_000 if name == "a.csv" else 4_000
        made = [_row(rng, start + i, null) for i in range(count)]
        start += count
        text = ",".join(HEADER) + end + _write([f for _, f in made], null, end, rng)
        if name == "d.csv":
            text = text.removesuffix(end)  # no line end after the last record
        # The generator wrote what it meant: Python's csv module reads the same fields back.
        parsed = [r for r in csv.reader(io.StringIO(text, newline=""), strict=True) if r][1:]
        assert parsed == [[null if f is None else f for f in fields] for _, fields in made]
        body = (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")
        s3.put_object(
            Bucket=bucket, Key=f"input/p/{name}", Body=gzip.compress(body) if gz else body
        )
        expected.update((int(str(v[0])), _expected(v)) for v, _ in made)
    assert len(expected) == start
    shared = {}
    if path == "shared":
        shared["DB_SHARED_DIR"] = str(request.getfixturevalue("shared_dir"))
    schema = SCHEMA if form == "spelt" else SCHEMA.replace("\n)", ",\n  z TEXT NULL\n)")
    result = run_etl(db_server, database, bucket, s3_endpoint,
                     ETL_JOB=str(_job(tmp_path, schema)), CSV_NULL=null, **shared)  # fmt: skip
    assert result.returncode == 0, result.logs[-2:]
    with db_server.connect(database) as conn, conn.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(HEADER)} FROM p ORDER BY id")
        loaded = {row[0]: tuple(row) for row in cursor.fetchall()}
    assert len(loaded) == len(expected)
    wrong = [
        (key, loaded.get(key), want) for key, want in expected.items() if loaded.get(key) != want
    ]
    assert not wrong, wrong[:5]
    forms = {e["nulls"] for e in result.events("file_loaded")}
    assert forms == {"set" if form == "set" or null else "spelt"}, forms
    counts = {e["key"]: e["rows"] for e in result.events("file_loaded")}
    assert sum(counts.values()) == start
