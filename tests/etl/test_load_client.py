"""The load's C-client engine (etl/load_client.py) against PyMySQL's and the file itself.

Both engines load the same files; the table each leaves is read back with PyMySQL and
compared with the other's and with the values Python's csv module reads from the file (an
oracle that shares no code with the converter). A bad value mid-file, a client killed
mid-load and a client that cannot log in each end as the PyMySQL engine's runs do.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import Any

import pymysql
import pymysql.converters
import pytest
from etl_harness import DbServer, keys, manifest, put_csv, run_etl

SCHEMA = r"""
DROP TABLE IF EXISTS t;
CREATE TABLE t (
  id INT NOT NULL PRIMARY KEY, note VARCHAR(64) NULL, amount DECIMAL(10, 2) NULL,
  at DATETIME NULL, body TEXT NULL
);
"""
ROWS = 30_000  # three of the converter's batches: a bad value lands in a later one
ENGINES = {"client": {}, "pymysql": {"PATH": ""}}  # no C client on PATH: PyMySQL loads
TEXT_ONLY = {k: v for k, v in pymysql.converters.conversions.items() if not isinstance(k, int)}


def make_job(tmp_path: Path) -> Path:
    folder = tmp_path / "load_job"
    (folder / "export").mkdir(parents=True, exist_ok=True)
    (folder / "schema.sql").write_text(SCHEMA)
    (folder / "export" / "rows.sql").write_text("SELECT COUNT(*) AS n FROM t")
    return folder


def awkward_csv(rows: int, bad_id: int | None = None) -> str:
    """Quotes, commas, line breaks, tabs, backslashes, \\N, NULLs (empty), non-ASCII."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["id", "note", "amount", "at", "body"])
    for i in range(rows):
        note = ["gift, wrapped", 'call "Sam"', "", "\\N", "tab\there", "ünï 😀", "a\\b"][i % 7]
        amount = "" if i % 11 == 0 else f"{i % 100000}.{i % 100:02d}"
        at = "" if i % 13 == 0 else f"2026-{1 + i % 12:02d}-{1 + i % 28:02d} 0{i % 10}:30:00"
        body = "" if i % 5 == 0 else f'line\r\nbreak {i}, "q" \\ {"x" * (i % 50)}'
        if i == bad_id:
            amount = "12.3.4"
        writer.writerow([i, note, amount, at, body])
    return out.getvalue()


def table(db_server: DbServer, database: str) -> list[tuple[Any, ...]]:
    conn = pymysql.connect(
        host=db_server.host, port=db_server.port, user=db_server.user,
        password=db_server.password, database=database, charset="utf8mb4", conv=TEXT_ONLY,
    )  # fmt: skip
    with conn, conn.cursor() as cursor:
        cursor.execute("SELECT id, note, amount, at, body FROM t ORDER BY id")
        return list(cursor.fetchall())


def from_file(text: str) -> list[tuple[Any, ...]]:
    """What the table must hold, by the file alone: an empty field is NULL."""
    rows = list(csv.reader(io.StringIO(text)))[1:]
    return [tuple(v if v != "" else None for v in row) for row in rows]


def test_both_engines_load_exactly_what_the_file_says(
    tmp_path: Path, db_server: DbServer, database: str, bucket: str, s3: Any, s3_endpoint: str
) -> None:
    text = awkward_csv(ROWS)
    put_csv(s3, bucket, "input/t/a.csv", text)
    loaded = {}
    for engine, settings in ENGINES.items():
        run = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(make_job(tmp_path)),
                      **settings)  # fmt: skip
        assert run.returncode == 0, run.logs[-2:]
        assert bool(run.events("load_engine")) == (engine == "client")
        assert manifest(s3, bucket)["inputs"]["t"]["rows"] == ROWS
        loaded[engine] = table(db_server, database)
    assert loaded["client"] == loaded["pymysql"]
    assert loaded["client"] == from_file(text)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_bad_value_mid_file_fails_the_run_naming_it(
    tmp_path: Path, db_server: DbServer, database: str, bucket: str, s3: Any, s3_endpoint: str,
    engine: str,
) -> None:  # fmt: skip
    text = awkward_csv(ROWS, bad_id=25_001)  # in the third batch, after many NULLs
    line = text[: text.index("\n25001,")].count("\n") + 2  # records span lines
    put_csv(s3, bucket, "input/t/a.csv", text)
    run = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(make_job(tmp_path)),
                  **ENGINES[engine])  # fmt: skip
    assert run.returncode == 1, run.logs[-2:]
    assert run.failure["stage"] == "load"
    assert run.failure["cause"].startswith(
        f"input/t/a.csv line {line}, column amount (value '12.3.4'): "
    ), run.failure
    assert keys(s3, bucket, "output/") == [], "nothing exported"


def test_the_client_killed_mid_load_fails_the_run(
    tmp_path: Path, db_server: DbServer, database: str, bucket: str, s3: Any, s3_endpoint: str
) -> None:
    """A stand-in `mariadb` runs the real client, hands it the first megabyte of the file,
    then kills it and itself (SIGKILL: an OOM kill, say)."""
    fake = tmp_path / "bin" / "mariadb"
    fake.parent.mkdir()
    fake.write_text(
        f"#!{sys.executable}\n"
        "import os, signal, subprocess, sys\n"
        "real = subprocess.Popen(['/usr/bin/mariadb', *sys.argv[1:]], stdin=subprocess.PIPE)\n"
        "real.stdin.write(sys.stdin.buffer.read(1 << 20)); real.stdin.flush()\n"
        "real.kill(); real.wait(); os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    fake.chmod(0o755)
    put_csv(s3, bucket, "input/t/a.csv", awkward_csv(ROWS))
    run = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(make_job(tmp_path)),
                  PATH=str(fake.parent))  # fmt: skip
    assert run.returncode == 1, run.logs[-2:]
    assert run.failure["stage"] == "load"
    assert "loading input/t/a.csv: the database client failed (-9)" in run.failure["cause"]
    assert keys(s3, bucket, "output/") == [], "nothing exported"


def test_a_client_that_cannot_log_in_leaves_the_load_to_pymysql(
    tmp_path: Path, db_server: DbServer, database: str, bucket: str, s3: Any, s3_endpoint: str
) -> None:
    fake = tmp_path / "bin" / "mariadb"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "ERROR 1045 (28000): Access denied for user" >&2\nexit 1\n')
    fake.chmod(0o755)
    text = awkward_csv(100)
    put_csv(s3, bucket, "input/t/a.csv", text)
    run = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(make_job(tmp_path)),
                  PATH=str(fake.parent))  # fmt: skip
    assert run.returncode == 0, run.logs[-2:]
    [unavailable] = run.events("load_engine_unavailable")
    assert "Access denied" in unavailable["cause"]
    assert table(db_server, database) == from_file(text)
