"""A newcomer's CRM job (docs/job-authoring.md, README "Write your own job"): a contacts export
with sparse nullable columns and free-text notes full of commas, quotes and line breaks, an ENUM
status, a CHAR country code, DECIMAL amounts and DATETIMEs; a deals table that is all NOT NULL;
a wide table of 32 nullable columns; a notes table with a TEXT column (which keeps the LOAD's
SET form, etl/load.py). The files are written the way real tools write them (Python csv with
QUOTE_MINIMAL and QUOTE_ALL, pandas-style LF, a spreadsheet's BOM + CRLF, Postgres COPY CSV,
CR-only) and loaded on both export paths: without DB_SHARED_DIR and with it.

The oracle is Python's csv module reading each file: an empty field, unquoted or "", is NULL
(CSV_NULL unset), every other field its text, typed as the column holds it. Both the tables
and the exports are compared with it, value by value."""

from __future__ import annotations

import csv
import gzip
import io
import os
import random
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from etl_harness import ROOT, DbServer, run_etl

WIDE = [f"c{i:02d}" for i in range(1, 33)]
WIDE_TYPES = ["VARCHAR(200)", "INT", "DECIMAL(10, 3)", "DATETIME", "CHAR(2)", "ENUM('x', 'y, z')",
              "VARCHAR(200)", "BIGINT"] * 4  # fmt: skip
SCHEMA = f"""
DROP TABLE IF EXISTS contacts;
DROP TABLE IF EXISTS deals;
DROP TABLE IF EXISTS wide;
DROP TABLE IF EXISTS long_notes;
CREATE TABLE contacts (
  id INT NOT NULL PRIMARY KEY,
  first_name VARCHAR(100) NULL,
  last_name VARCHAR(100) NULL,
  email VARCHAR(200) NULL,
  phone VARCHAR(40) NULL,
  company VARCHAR(200) NULL,
  status ENUM('lead', 'customer', 'churned', 'on hold, "vip"') NULL,
  country CHAR(2) NULL,
  lifetime_value DECIMAL(12, 2) NULL,
  created_at DATETIME NOT NULL,
  last_contacted DATETIME NULL,
  notes VARCHAR(2000) NULL,
  address VARCHAR(500) NULL
) DEFAULT CHARSET = utf8mb4;
CREATE TABLE deals (
  deal_id INT NOT NULL PRIMARY KEY,
  contact_id INT NOT NULL,
  title VARCHAR(300) NOT NULL,
  stage ENUM('open', 'won', 'lost') NOT NULL,
  amount DECIMAL(14, 2) NOT NULL,
  currency CHAR(3) NOT NULL,
  closed_at DATETIME NOT NULL
) DEFAULT CHARSET = utf8mb4;
CREATE TABLE wide (
  id INT NOT NULL PRIMARY KEY,
  {", ".join(f"{c} {kind} NULL" for c, kind in zip(WIDE, WIDE_TYPES, strict=True))}
) DEFAULT CHARSET = utf8mb4;
CREATE TABLE long_notes (
  id INT NOT NULL PRIMARY KEY,
  body TEXT NULL,
  status ENUM('lead', 'customer', 'churned', 'on hold, "vip"') NULL,
  country CHAR(2) NULL,
  amount DECIMAL(12, 2) NULL,
  seen DATETIME NULL
) DEFAULT CHARSET = utf8mb4;
"""
TRANSFORM = """
DROP TABLE IF EXISTS value_per_country;
CREATE TABLE value_per_country AS
SELECT c.country, COUNT(DISTINCT c.id) AS contacts, SUM(d.amount) AS won
FROM contacts AS c LEFT JOIN deals AS d ON d.contact_id = c.id AND d.stage = 'won'
GROUP BY c.country;
"""
EXPORTS = {
    "contacts": "SELECT * FROM contacts ORDER BY id",
    "deals": "SELECT * FROM deals ORDER BY deal_id",
    "wide": "SELECT * FROM wide ORDER BY id",
    "long_notes": "SELECT * FROM long_notes ORDER BY id",
    "per_country": "SELECT country, contacts, won FROM value_per_country ORDER BY country",
}
TABLES: dict[str, list[str]] = {
    "contacts": ["id", "first_name", "last_name", "email", "phone", "company", "status",
                 "country", "lifetime_value", "created_at", "last_contacted", "notes", "address"],
    "deals": ["deal_id", "contact_id", "title", "stage", "amount", "currency", "closed_at"],
    "wide": ["id", *WIDE],
    "long_notes": ["id", "body", "status", "country", "amount", "seen"],
}  # fmt: skip
INTS = {"id", "deal_id", "contact_id", *WIDE[1::8], *WIDE[7::8]}
DECIMALS = {"lifetime_value", "amount", *WIDE[2::8]}
TIMES = {"created_at", "last_contacted", "closed_at", "seen", *WIDE[3::8]}
NOT_NULL = {"id", "deal_id", "contact_id", "title", "stage", "currency", "closed_at",
            "created_at"}  # fmt: skip

# Free text as people type it into a CRM, the awkward ones first: each appears in every file.
NOTES = [
    ",", ",,", "a,,b", "\n,starts with a line break then a comma", "12 Main St\r\nApt 4",
    "\r\n", "\n", "\r", ",\n", "\n,", "x\r\n,y", ",,,", "ends with a comma,", ",starts",
    'said "call me, later"', '"', '""', ',"",', '"",""', "NULL", "\\N", " ", "a,\r\nb",
    "line 1\nline 2,\nline 3", "tab\there", "😀 émoji, ünïcode", "'single'", ",\r", "\r,",
    "x,\n,y", '",\n"', "a\n\n,b", "a,,\n,,b", "\r\n,\r\n",
]  # fmt: skip
ADDRESSES = ["1 Rue de la Paix\r\n75002 Paris", "PO Box 7,\r\nSpringfield", "Flat 2, 3 High St",
             "\r\nleading break", "trailing break\r\n", ",\r\n,"]  # fmt: skip
Row = dict[str, str | None]  # what the tool was given; None: missing (NULL / NaN)


def _value(rng: random.Random, table: str, column: str, i: int, sparse: float) -> str | None:
    if column not in NOT_NULL and table != "deals" and rng.random() < sparse:
        return None if rng.random() < 0.6 else ""  # NaN/NULL, or an empty string
    if column in {"id", "deal_id"}:
        return str(i)
    if column == "contact_id":
        return str(rng.randrange(1000))
    if column in INTS:
        return str(rng.randrange(-(10**9), 10**9))
    if column in DECIMALS:
        places = 3 if column in WIDE else 2
        return f"{rng.randrange(-(10**9), 10**9) / 10**places:.{places}f}"
    if column in TIMES:
        return datetime.fromtimestamp(rng.randrange(10**9, 2 * 10**9)).strftime("%Y-%m-%d %H:%M:%S")
    if column in {"status"}:
        return rng.choice(["lead", "customer", "churned", 'on hold, "vip"'])
    if column == "stage":
        return rng.choice(["open", "won", "lost"])
    if column in {"country", *WIDE[4::8]}:
        return rng.choice(["DE", "FR", "US", "é,", "a\n"[: rng.randrange(1, 3)]]).strip() or "GB"
    if column == "currency":
        return rng.choice(["EUR", "USD", '"$"'[: rng.randrange(1, 4)]])
    if column in WIDE[5::8]:
        return rng.choice(["x", "y, z"])
    if column in {"notes", "body", "title", *WIDE[0::8], *WIDE[6::8]}:
        if i < len(NOTES) and column != "title":
            return NOTES[i]
        pieces = [*NOTES, "word", " ", "Ltd."]
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(1, 5)))
        return text if column != "title" or text.strip() else "untitled"
    if column == "address":
        return rng.choice(ADDRESSES)
    return rng.choice(["Anna", "O'Brien", "Müller, GmbH", "x@y.z", "+49 30 1234", '"Bob"'])


def _writer(end: str, quoting: int = csv.QUOTE_MINIMAL, bom: bool = False) -> Callable[..., str]:
    def write(rows: list[Row], header: list[str]) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator=end, quoting=quoting)
        writer.writerow(header)
        writer.writerows([row[c] for c in header] for row in rows)  # None is written as ''
        return ("\ufeff" if bom else "") + out.getvalue()

    return write


def _postgres(rows: list[Row], header: list[str]) -> str:
    """COPY … TO STDOUT (FORMAT csv, HEADER): NULL an unquoted empty field, '' as "", a value
    quoted when it holds a comma, quote, CR or LF, LF records."""

    def field(value: str | None) -> str:
        if value is None:
            return ""
        if value == "" or any(c in value for c in ',"\r\n'):
            return '"' + value.replace('"', '""') + '"'
        return value

    return "".join(",".join(map(field, r)) + "\n" for r in [header, *[
        [row[c] for c in header] for row in rows]])  # fmt: skip


STYLES: dict[str, Callable[..., str]] = {
    "minimal_lf.csv": _writer("\n"),  # pandas' to_csv and csv.writer(lineterminator="\n")
    "quote_all.csv": _writer("\r\n", csv.QUOTE_ALL),  # csv.writer's default line end
    "excel.csv": _writer("\r\n", bom=True),  # "CSV UTF-8": a BOM, CRLF
    "postgres.csv": _postgres,
    "minimal_cr.csv": _writer("\r"),
    "minimal_crlf.csv.gz": _writer("\r\n"),
}


def _typed(column: str, field: str) -> Any:
    if field == "":
        return None
    if column in INTS:
        return int(field)
    if column in DECIMALS:
        return Decimal(field)
    if column in TIMES:
        return datetime.strptime(field, "%Y-%m-%d %H:%M:%S")
    return field


def _records(body: bytes) -> list[list[str]]:
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    return [r for r in csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")) if r]


def _oracle(table: str, body: bytes) -> dict[int, tuple[Any, ...]]:
    header, *records = _records(body)
    found = {}
    for record in records:
        fields = dict(zip(header, record, strict=True))
        row = tuple(_typed(c, fields[c]) if c in fields else None for c in TABLES[table])
        found[row[0]] = row
    return found


def _files(seed: int) -> tuple[dict[str, bytes], dict[str, dict[int, tuple[Any, ...]]]]:
    """Every table's files in every style (S3 key -> bytes), and the rows the oracle reads."""
    rng = random.Random(seed)
    files: dict[str, bytes] = {}
    expected: dict[str, dict[int, tuple[Any, ...]]] = {t: {} for t in TABLES}
    for table, columns in TABLES.items():
        start = 0
        for n, (name, write) in enumerate(STYLES.items()):
            count = 400 if table != "contacts" or n else 20_000  # one file over a 1 MiB chunk
            sparse = 0.85 if table in {"contacts", "wide"} else 0.4
            rows = [{c: _value(rng, table, c, start + i, sparse) for c in columns}
                    for i in range(count)]  # fmt: skip
            # The notes begin every file, so each writer quotes each awkward one its way.
            for i, note in enumerate(NOTES):
                for column in ("notes", "body", WIDE[0]):
                    if column in columns:
                        rows[i][column] = note
            # Python's csv.writer (and so pandas) does not quote a CR in a LF file nor a LF in a
            # CR file, which its reader then takes for a line end: no such text in those.
            stray = {"minimal_lf.csv": "\r", "minimal_cr.csv": "\n"}.get(name)
            if stray:
                rows = [{c: v and v.replace(stray, " ") for c, v in row.items()} for row in rows]
            start += count
            header = columns if n % 2 == 0 else [columns[0], *columns[:0:-1]]  # another order
            body = write(rows, header).encode()
            if name.endswith(".gz"):
                body = gzip.compress(body, mtime=0)
            read = _oracle(table, body)
            # The writer wrote what it was given: its values, '' and None alike NULL.
            assert list(read.values()) == [
                tuple(_typed(c, row[c] or "") for c in columns) for row in rows
            ], (table, name)
            expected[table].update(read)
            files[f"input/{table}/{name}"] = body
    return files, expected


def _job(folder: Path) -> Path:
    (folder / "transform").mkdir(parents=True)
    (folder / "export").mkdir()
    (folder / "schema.sql").write_text(SCHEMA)
    (folder / "transform" / "10_value.sql").write_text(TRANSFORM)
    for name, sql in EXPORTS.items():
        (folder / "export" / f"{name}.sql").write_text(sql)
    return folder


def test_the_job_folder_validates_with_its_database(db_server: DbServer, tmp_path: Path) -> None:
    """README: `validate` the folder (and `--database`) before running it."""
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "DB_HOST": db_server.host,
           "DB_PORT": str(db_server.port), "DB_USERNAME": db_server.user,
           "DB_PASSWORD": db_server.password}  # fmt: skip
    done = subprocess.run(  # the exit status is what the test checks
        [sys.executable, "-m", "etl", "validate", str(_job(tmp_path / "crm")), "--database"],
        env=env, capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "input tables: contacts, deals, wide, long_notes" in done.stdout, done.stdout


@pytest.mark.parametrize("path", ["stream", "shared"])
def test_crm_files_as_tools_write_them_load_and_export_exactly(
    db_server: DbServer, database: str, bucket: str, s3_endpoint: str, s3: Any, tmp_path: Path,
    path: str, request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    files, expected = _files(28)
    assert len(files["input/contacts/minimal_lf.csv"]) > 1 << 20
    for key, body in files.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    settings = {"ETL_JOB": str(_job(tmp_path / "crm"))}
    if path == "shared":
        settings["DB_SHARED_DIR"] = str(request.getfixturevalue("shared_dir"))
    result = run_etl(db_server, database, bucket, s3_endpoint, **settings)
    assert result.returncode == 0, str(result.failure)
    [started] = [e for e in result.events("stage_started") if e.get("stage") == "export"]
    assert started["path"] == path, started

    exported: dict[str, list[list[str]]] = {}
    listing = s3.list_objects_v2(Bucket=bucket, Prefix="output/crm/")["Contents"]
    for obj in sorted(listing, key=lambda o: o["Key"]):
        if obj["Key"].endswith(".csv.gz"):
            export = obj["Key"].split("/")[-2]
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            header, *records = _records(body)
            exported.setdefault(export, [header]).extend(records)
    assert set(exported) == set(EXPORTS)

    with db_server.connect(database) as conn, conn.cursor() as cursor:
        for table, columns in TABLES.items():
            cursor.execute(f"SELECT {', '.join(columns)} FROM {table}")
            loaded = {row[0]: tuple(row) for row in cursor.fetchall()}
            want = expected[table]
            assert len(loaded) == len(want), table
            wrong = [(k, loaded.get(k), v) for k, v in want.items() if loaded.get(k) != v]
            assert not wrong, (table, len(wrong), wrong[:3])
            # The export: NULL as an empty field, every other value its text.
            header, *records = exported[table]
            assert header == columns
            read = [tuple(_typed(c, f) for c, f in zip(columns, r, strict=True)) for r in records]
            assert read == [want[k] for k in sorted(want)], table
        cursor.execute("SELECT country, contacts, won FROM value_per_country ORDER BY country")
        summary = [[("" if v is None else str(v)) for v in row] for row in cursor.fetchall()]
    assert exported["per_country"][1:] == summary
    countries = [row[7] for row in expected["contacts"].values()]
    assert sum(int(r[1]) for r in summary) == len(countries)
    assert {r[0] for r in summary} == {c or "" for c in countries}


def test_a_cr_that_pythons_writer_leaves_unquoted_is_named(
    db_server: DbServer, database: str, bucket: str, s3_endpoint: str, s3: Any, tmp_path: Path,
) -> None:  # fmt: skip
    """csv.writer(lineterminator="\\n") (pandas' to_csv too) quotes a field with LF, not one
    with a lone CR: its own reader, the oracle, ends the record there, and so does the job.
    The refusal said only "2 fields, the header has 3"; it now says why."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([["id", "notes", "country"], ["1", "", "DE"],
                                                    ["2", "old\rMac line", "FR"]])  # fmt: skip
    assert out.getvalue().endswith("2,old\rMac line,FR\n")
    assert len(_records(out.getvalue().encode())[2]) == 2  # the oracle: a record of 2 fields
    s3.put_object(Bucket=bucket, Key="input/contacts/pandas.csv", Body=out.getvalue().encode())
    folder = tmp_path / "crm"
    (folder / "export").mkdir(parents=True)
    (folder / "schema.sql").write_text(SCHEMA.split("CREATE TABLE deals", maxsplit=1)[0])
    (folder / "export" / "n.sql").write_text("SELECT COUNT(*) AS n FROM contacts")
    result = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(folder))
    assert result.returncode == 1
    assert result.failure["cause"] == (
        "input/contacts/pandas.csv line 3: 2 fields, the header has 3 (a CR, LF or CRLF "
        "outside quotes ends a record whatever the header's line end; Python's csv.writer and "
        "pandas leave a lone CR in a value unquoted when lines end in LF: quote it)"
    )
