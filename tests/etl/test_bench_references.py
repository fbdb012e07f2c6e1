"""The benchmark's yardsticks (`python -m bench`): what each C client reference loads, checked
against the CSV read by Python's csv module (an oracle that shares no code with the job or the
benchmark), and the benchmark itself run end to end on a few rows. Each test works in a
database of its own (BENCH_DB_DATABASE for the benchmark): the tests may share their server
with a benchmark running against its `etl_bench`, whose table t they must not touch."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from etl_harness import ROOT, DbServer, run_etl

from bench.__main__ import DATABASE, SHAPES, Db, make_csv, reference_load, same_result_load

ROWS = 500


@pytest.fixture
def bench_db(db_server: DbServer, database: str) -> Db:
    return Db(db_server.host, db_server.port, db_server.user, db_server.password, database)


def _schemas(db_server: DbServer) -> set[str]:
    with db_server.connect() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT schema_name FROM information_schema.schemata")
        return {row[0] for row in cursor.fetchall()}


def _nulls(db_server: DbServer, database: str, columns: list[str]) -> dict[str, int]:
    conn = db_server.connect(database)
    with conn.cursor() as cursor:
        counts = ", ".join(f"SUM(`{c}` IS NULL)" for c in columns)
        cursor.execute(f"SELECT COUNT(*), {counts} FROM t")
        row = cursor.fetchone()
    conn.close()
    assert row is not None
    return {"rows": int(row[0])} | {c: int(n) for c, n in zip(columns, row[1:], strict=True)}


@pytest.mark.parametrize("name", ["heldout", "wide", "text"])
def test_the_same_result_reference_loads_empty_fields_as_null_as_the_job_does(
    name: str, bench_db: Db, db_server: DbServer, database: str, tmp_path: Path
) -> None:
    had_bench_database = DATABASE in _schemas(db_server)
    shape = SHAPES[name]
    bench_db.run(database, "-e", shape.table_sql)
    path = tmp_path / "t.csv"
    make_csv(path, shape, ROWS)
    with path.open(newline="", encoding="utf-8") as handle:
        records = list(csv.DictReader(handle))
    conn = db_server.connect(database)
    with conn.cursor() as cursor:  # the server's word for which columns take NULL
        cursor.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND "
            "table_name = 't' AND is_nullable = 'YES'", (database,))  # fmt: skip
        nullable = [row[0] for row in cursor.fetchall()]
    conn.close()
    assert nullable, f"{name}: the shape has no nullable column to check"
    empty = {c: sum(record[c] == "" for record in records) for c in nullable}
    assert any(empty.values()), f"{name}: {ROWS} rows without one empty field"

    same_result_load(bench_db, path)
    assert _nulls(db_server, database, nullable) == {"rows": ROWS} | empty
    # The reference loads the same file straight: no SET, so no NULL at all.
    reference_load(bench_db, path)
    assert _nulls(db_server, database, nullable) == {"rows": ROWS} | dict.fromkeys(nullable, 0)
    assert (DATABASE in _schemas(db_server)) == had_bench_database  # the benchmark's, untouched


def test_the_benchmark_prints_every_ratio(db_server: DbServer, database: str) -> None:
    had_bench_database = DATABASE in _schemas(db_server)
    env = {
        **os.environ, "BENCH_DB_HOST": db_server.host, "BENCH_DB_PORT": str(db_server.port),
        "BENCH_DB_USER": db_server.user, "BENCH_DB_PASSWORD": db_server.password,
        "BENCH_DB_DATABASE": database,
    }  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--rows", "300", "--repeat", "2",
         "--shapes", "heldout,small", "--paths", "stream"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if re.match(r"\s*(heldout|small) ", line)]
    assert len(rows) == 4, done.stdout  # the medians, then each run's lowest-highest
    for line in rows[:2]:  # load and whole job: ref and same; export
        assert len(re.findall(r"\d+\.\d\dx", line)) == 5, line
    for line in rows[2:]:
        spreads = re.findall(r"(\d+\.\d\d)-(\d+\.\d\d)", line)
        assert len(spreads) == 5, line
        assert all(float(low) <= float(high) for low, high in spreads), line
    # It ran in the database it was given, and left the default one alone.
    assert (DATABASE in _schemas(db_server)) == had_bench_database
    with db_server.connect(database) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM t")
        assert cursor.fetchone() == (round(300 * SHAPES["small"].scale),)  # the job's last load


def _table(db_server: DbServer, database: str) -> list[tuple[Any, ...]]:
    with db_server.connect(database) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT * FROM t ORDER BY 1")
        return list(cursor.fetchall())


@pytest.mark.parametrize("name", list(SHAPES))
def test_the_same_result_reference_leaves_the_table_the_job_leaves(
    name: str, bench_db: Db, db_server: DbServer, database: str, bucket: str, s3_endpoint: str,
    s3: Any, tmp_path: Path,
) -> None:  # fmt: skip
    """`same` is the same result as the job's load for every shape the benchmark loads: the
    job itself is the oracle, value for value (a shape with a BIT or binary column, the word
    NULL unquoted or a time with an offset would load differently and fail here)."""
    shape = SHAPES[name]
    job = tmp_path / "job"
    (job / "export").mkdir(parents=True)
    (job / "schema.sql").write_text(shape.table_sql)
    (job / "export" / "n.sql").write_text("SELECT COUNT(*) AS n FROM t")
    path = tmp_path / "t.csv"
    make_csv(path, shape, ROWS)
    s3.put_object(Bucket=bucket, Key="input/t/t.csv", Body=path.read_bytes())
    done = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(job))
    assert done.returncode == 0, done.logs[-2:]
    loaded = _table(db_server, database)
    assert len(loaded) == ROWS

    same_result_load(bench_db, path)
    assert _table(db_server, database) == loaded


@pytest.mark.parametrize(("option", "value"), [("--shapes", "heldout,mine"), ("--paths", "shraed")])
def test_a_misspelt_name_stops_the_benchmark_before_it_measures(option: str, value: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", option, value], cwd=ROOT, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    bad = value.rsplit(",", maxsplit=1)[-1]
    assert f"argument {option}: '{bad}': not among" in done.stderr
    assert done.stdout == ""  # nothing generated, loaded or measured


def test_the_password_reaches_the_client_but_not_its_arguments(
    db_server: DbServer, database: str
) -> None:
    """`ps` and a failed command's error print a command's arguments: the password goes in
    MYSQL_PWD. A user of the test's own with a password proves the client reads it there."""
    user, password = f"bench_{database[-8:]}", "s3cret pw"
    with db_server.connect() as conn, conn.cursor() as cursor:
        cursor.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, password))
        cursor.execute(f"GRANT SELECT ON `{database}`.* TO %s@'%%'", (user,))
    try:
        db = Db(db_server.host, db_server.port, user, password, database)
        assert not [arg for arg in db.mysql("-e", "SELECT 1") if password in arg]
        assert db.run("--batch", "--skip-column-names", "-e", "SELECT CURRENT_USER()").strip() \
            == f"{user}@%"  # fmt: skip
        wrong = Db(db_server.host, db_server.port, user, "not it", database)
        with pytest.raises(subprocess.CalledProcessError) as failed:
            wrong.run("-e", "SELECT 1")
        assert "not it" not in str(failed.value)
    finally:
        with db_server.connect() as conn, conn.cursor() as cursor:
            cursor.execute("DROP USER %s@'%%'", (user,))
