"""Tools for job authors and operators: local mode (DATA_DIR), `validate`, `runs`, `show`,
`unlock`, `--help`, LOG_FORMAT=text and `make demo JOB=…`, each on its success path and its
refusals.

Runs are real: `python -m etl …` subprocesses against the database server, moto's S3 over
HTTP, and local folders.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from etl_harness import (
    DEMO_ROWS,
    ROOT,
    DbServer,
    demo_export,
    etl_env,
    keys,
    manifest,
    one_table_job,
    read_bytes,
    run_demo,
    run_etl,
    users_job,
)

from etl import runs, sample
from etl.contract import ENVIRONMENT, IN_ECS
from etl.local import LocalStore
from etl.settings import (
    BUNDLED_JOB,
    SettingsError,
    StorageSettings,
    from_env,
    storage_from_env,
)
from tools.offline import STACKS, stack_settings
from tools.s3_emulator import free_port

OUT = "output/monthly_orders/"  # OUTPUT_PREFIX<JOB_NAME>/
RUN = f"{OUT}run=20261101T040000Z/"
LOCK = "output/_locks/monthly_orders.lock"


def etl(
    *args: str, env: Mapping[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # the exit status is part of what the tests check
        [sys.executable, "-m", "etl", *args],
        env=dict(env), capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False,
    )  # fmt: skip


def local_env(db: DbServer, database: str, data_dir: Path, **settings: str) -> dict[str, str]:
    """The job's environment in local mode: no bucket, no AWS keys, no S3 endpoint."""
    env = etl_env(db, database, "unused", "http://unused", DATA_DIR=str(data_dir), **settings)
    for name in (
        "DATA_BUCKET",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ):
        env.pop(name)
    return env


def content(store: Any, bucket: str, key: str) -> bytes:
    with store.get_object(Bucket=bucket, Key=key)["Body"] as body:
        return bytes(body.read())


def sample_folder(root: Path, rows: int = 2000) -> Path:
    sample.write(root / "input", rows=rows, seed=7, month="2026-10", gzipped=True)
    return root


# --- local mode ------------------------------------------------------------------------------


def test_local_mode_logs_name_the_local_folder(
    db_server: DbServer, database: str, tmp_path: Path
) -> None:
    """They used to say output=s3:///tmp/...: a bucket-less S3 address of a local folder."""
    data = sample_folder(tmp_path / "data", rows=50)
    local = etl("run", env=local_env(db_server, database, data))
    assert local.returncode == 0, local.stdout[-2000:]
    lines = [line for line in local.stdout.splitlines() if line.startswith("{")]
    events = {e["event"]: e for e in map(json.loads, lines)}
    assert events["run_started"]["output"] == f"{data}/{RUN}"
    assert events["run_succeeded"]["manifest"] == f"{data}/{RUN}_manifest.json"
    assert "s3://" not in local.stdout


def test_local_mode_writes_what_s3_gets_byte_for_byte(
    db_server: DbServer, database: str, s3: Any, bucket: str, s3_endpoint: str, tmp_path: Path
) -> None:
    data = sample_folder(tmp_path / "data")
    for path in sorted((data / "input").rglob("*.csv.gz")):
        s3.put_object(Bucket=bucket, Key=path.relative_to(data).as_posix(), Body=path.read_bytes())
    in_s3 = run_etl(db_server, database, bucket, s3_endpoint)
    assert in_s3.returncode == 0, in_s3.logs[-3:]

    local = etl("run", env=local_env(db_server, database, data))
    assert local.returncode == 0, local.stdout[-2000:]
    assert "run_succeeded" in local.stdout

    written = sorted(
        p.relative_to(data).as_posix() for p in (data / "output").rglob("*") if p.is_file()
    )
    assert written == keys(s3, bucket, "output/")  # same layout, no lock or temp file left
    for key in written:
        if not key.endswith("_manifest.json"):
            assert (data / key).read_bytes() == read_bytes(s3, bucket, key), key
    timeless = {"started_at", "finished_at"}
    on_disk = json.loads((data / RUN / "_manifest.json").read_text())
    in_bucket = manifest(s3, bucket)
    assert {k: v for k, v in on_disk.items() if k not in timeless} == {
        k: v for k, v in in_bucket.items() if k not in timeless
    }


def test_local_mode_rerun_replaces_and_failure_leaves_the_last_output(
    db_server: DbServer, database: str, tmp_path: Path
) -> None:
    data = sample_folder(tmp_path / "data")
    env = local_env(db_server, database, data, EXPORT_PART_ROWS="50")
    assert etl("run", env=env).returncode == 0
    first = sorted(p.name for p in (data / RUN / "revenue_per_customer").iterdir())
    assert len(first) > 1  # several parts

    assert etl("run", env={**env, "EXPORT_PART_ROWS": "1000000"}).returncode == 0
    assert sorted(p.name for p in (data / RUN / "revenue_per_customer").iterdir()) == [
        "part-00000.csv.gz"
    ]  # the rerun's parts only

    before = (data / RUN / "_manifest.json").read_bytes()
    (data / "input" / "orders" / "bad.csv").write_text("order_id,quantity\n1,many\n")
    failed = etl("run", env=env)
    assert failed.returncode == 1, failed.stdout[-1500:]
    assert '"stage": "load", "cause": "input/orders/bad.csv' in failed.stdout
    assert (data / RUN / "_manifest.json").read_bytes() == before
    assert not (data / "output" / "_locks").exists()  # released, its folder pruned


def test_local_mode_lock_refuses_a_second_run_and_takes_over_a_stale_one(
    db_server: DbServer, database: str, tmp_path: Path
) -> None:
    data = sample_folder(tmp_path / "data", rows=200)
    lock = data / LOCK
    lock.parent.mkdir(parents=True)
    holder = {"owner": "other", "host": "h", "acquired_at": datetime.now(UTC).isoformat()}
    lock.write_text(json.dumps(holder))
    env = local_env(db_server, database, data)
    held = etl("run", env=env)
    assert held.returncode == 3 and "run_skipped" in held.stdout
    assert json.loads(lock.read_text())["owner"] == "other"

    holder["acquired_at"] = "2020-01-01T00:00:00+00:00"
    lock.write_text(json.dumps(holder))
    taken = etl("run", env=env)
    assert taken.returncode == 0 and "lock_taken_over" in taken.stdout
    assert not lock.exists()


def test_local_store_conditional_writes_let_exactly_one_writer_win(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    wins: list[int] = []
    start = threading.Barrier(8)

    def contend(number: int) -> None:
        start.wait()
        try:
            store.put_object(Bucket="b", Key="l/k", Body=str(number).encode(), IfNoneMatch="*")
            wins.append(number)
        except ClientError as err:
            assert err.response["Error"]["Code"] == "PreconditionFailed"

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1
    assert content(store, "b", "l/k") == str(wins[0]).encode()

    etag = store.head_object(Bucket="b", Key="l/k")["ETag"]
    store.put_object(Bucket="b", Key="l/k", Body=b"renewed", IfMatch=etag)
    for attempt in (
        lambda: store.put_object(Bucket="b", Key="l/k", Body=b"late", IfMatch=etag),
        lambda: store.delete_object(Bucket="b", Key="l/k", IfMatch=etag),
    ):
        with pytest.raises(ClientError, match="PreconditionFailed"):
            attempt()
    assert content(store, "b", "l/k") == b"renewed"
    with pytest.raises(ClientError, match="NoSuchKey"):
        store.get_object(Bucket="b", Key="l/missing")


def test_local_store_lists_like_s3_and_refuses_keys_outside_its_folder(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "data")
    (tmp_path / "data").mkdir()
    (tmp_path / "secret").write_text("x")
    for key in ("in/b.csv", "in/a/z.csv", "in/a.csv", "in-other/x.csv", "in/é.csv"):
        store.put_object(Bucket="b", Key=key, Body=b"1")
    (tmp_path / "data" / "in" / ".~etl-half-written").write_text("partial")
    [page] = store.get_paginator("list_objects_v2").paginate(Bucket="b", Prefix="in/")
    assert [o["Key"] for o in page["Contents"]] == [
        "in/a.csv",
        "in/a/z.csv",
        "in/b.csv",
        "in/é.csv",
    ]
    assert page["Contents"][0]["Size"] == 1
    for bad in ("../secret", "in/../../secret", "/etc/passwd", "in//x", ""):
        with pytest.raises(ClientError, match="InvalidArgument"):
            store.get_object(Bucket="b", Key=bad)
    with pytest.raises(NotImplementedError, match="list_buckets"):
        store.get_paginator("list_buckets")
    store.delete_objects(Bucket="b", Delete={"Objects": [{"Key": "in/a/z.csv"}]})
    assert not (tmp_path / "data" / "in" / "a").exists()  # no empty folder left behind


def test_local_store_follows_linked_input_folders_and_survives_a_loop(tmp_path: Path) -> None:
    elsewhere = tmp_path / "big-disk" / "orders"
    elsewhere.mkdir(parents=True)
    (elsewhere / "2026-10.csv").write_text("order_id\n1\n")
    (tmp_path / "data" / "input").mkdir(parents=True)
    (tmp_path / "data" / "input" / "orders").symlink_to(elsewhere)
    (elsewhere / "loop").symlink_to(tmp_path / "data" / "input")  # input/orders/loop -> input
    store = LocalStore(tmp_path / "data")
    [page] = store.get_paginator("list_objects_v2").paginate(Bucket="b", Prefix="input/")
    found = [o["Key"] for o in page["Contents"]]
    assert "input/orders/2026-10.csv" in found
    assert len(found) == len(set(found)) < 10  # the loop was walked at most once
    assert content(store, "b", "input/orders/2026-10.csv") == b"order_id\n1\n"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"DATA_BUCKET": "b"}, "DATA_BUCKET and DATA_DIR are both set"),
        ({"DATA_DIR": "/nonexistent/folder"}, "DATA_DIR='/nonexistent/folder' is not a directory"),
        ({"LOG_FORMAT": "yaml"}, "LOG_FORMAT='yaml' must be json or text"),
        ({IN_ECS: "http://169.254.170.2/v4/x"}, "DATA_DIR (local mode) is refused in an ECS task"),
    ],
)
def test_bad_local_settings_exit_2(
    db_server: DbServer, database: str, tmp_path: Path, settings: dict[str, str], message: str
) -> None:
    done = etl("run", env={**local_env(db_server, database, tmp_path), **settings})
    assert done.returncode == 2
    assert message in json.loads(done.stdout.splitlines()[-1])["cause"]


# --- --help and the environment table ------------------------------------------------------


class Recording(dict[str, str]):
    """An environment that notes every variable read from it."""

    def __init__(self, values: Mapping[str, str]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return super().__getitem__(key)


BASE = {"DB_HOST": "h", "DB_DATABASE": "d", "DB_USERNAME": "u", "DATA_BUCKET": "b"}


def test_environment_table_is_what_the_job_reads(tmp_path: Path) -> None:
    documented = {v.name for v in ENVIRONMENT}
    read: set[str] = set()
    for env in (BASE, {**BASE, "DATA_BUCKET": "", "DATA_DIR": str(tmp_path)}):
        for reader in (from_env, storage_from_env):
            recording = Recording(env)
            reader(recording)
            read |= recording.read
    assert read == documented | {IN_ECS}  # a new setting needs its line, and the reverse

    fixed = {**BASE, "SCHEDULED_TIME": "2026-11-01T04:00:00Z"}
    spelled = {"none": "", "empty": "", "the bundled job": str(BUNDLED_JOB),
               "the job folder's name": BUNDLED_JOB.name}  # fmt: skip
    ca = tmp_path / "ca.pem"
    ca.write_text("-")
    shared = {"DB_HOST": "h", "DATA_BUCKET": "b", "DB_SERVER": "shared", "DB_TLS_CA": str(ca),
              "DB_ADMIN_USERNAME": "a", "SCHEDULED_TIME": "2026-11-01T04:00:00Z"}  # fmt: skip
    for variable in ENVIRONMENT:
        # A variable of a shared server's task only is tried in such a task's environment.
        base = shared if "(shared server)" in variable.default else fixed
        if variable.default.startswith("required"):
            with pytest.raises(SettingsError, match=f"{variable.name} is required"):
                from_env({k: v for k, v in base.items() if k != variable.name})
        elif variable.name != "SCHEDULED_TIME":  # "now" cannot be compared
            value = spelled.get(variable.default, variable.default)
            assert from_env({**base, variable.name: value}) == from_env(base), variable


def test_help_lists_every_setting_with_its_default() -> None:
    for args in (["--help"], ["run", "--help"]):
        done = etl(*args, env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)})
        assert done.returncode == 0
        for variable in ENVIRONMENT:
            assert f"  {variable.name} " in done.stdout and f"[{variable.default}]" in done.stdout
        if args == ["--help"]:
            for command in ("run", "validate", "runs", "show", "unlock"):
                assert f"\n    {command} " in done.stdout


def test_text_log_format_is_readable_and_json_stays_the_default(
    db_server: DbServer, database: str, tmp_path: Path
) -> None:
    data = sample_folder(tmp_path / "data", rows=200)
    text = etl("run", env=local_env(db_server, database, data, LOG_FORMAT="text"))
    assert text.returncode == 0
    lines = text.stdout.splitlines()
    assert not any(line.startswith("{") for line in lines)
    [done] = [line for line in lines if " run_succeeded " in line]
    assert f"{data}/{RUN}_manifest.json" in done  # (s3:// prefixed today: the runner's message)
    assert " INFO  stage_started stage=schema tables=" in text.stdout
    default = etl("run", env=local_env(db_server, database, data))
    assert all(json.loads(line)["event"] for line in default.stdout.splitlines())


# --- validate --------------------------------------------------------------------------------


def job_folder(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


GOOD = {
    "schema.sql": "DROP TABLE IF EXISTS t;\nCREATE TABLE t (a INT, b VARCHAR(10));\n",
    "transform/10_sum.sql": "DROP TABLE IF EXISTS s;\nCREATE TABLE s AS SELECT a, b FROM t;\n",
    "export/out.sql": "-- the export\nSELECT a, b FROM s ORDER BY a;\n",
}


def test_validate_accepts_a_good_folder_offline(tmp_path: Path) -> None:
    done = etl("validate", str(job_folder(tmp_path, GOOD)), env=os.environ)
    assert done.returncode == 0, done.stdout
    assert "valid" in done.stdout and "input tables: t" in done.stdout
    bundled = etl("validate", env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)})
    assert bundled.returncode == 0 and "monthly_orders: valid" in bundled.stdout


def test_validate_lists_every_problem_of_a_broken_folder(tmp_path: Path) -> None:
    folder = job_folder(tmp_path, {
        **GOOD,
        "transforms/20_more.sql": "SELECT 1;",  # misspelled folder: never runs
        "transform/30_quote.sql": "UPDATE s SET b = 'x WHERE a = 1;",
        "export/Fine.SQL": "SELECT 1",  # wrong case: ignored
        "export/two.sql": "SELECT 1;\nSELECT 2;",
        "export/paren.sql": "SELECT a FROM s WHERE (a > 1",
        "export/delete.sql": "DELETE FROM s",
    })  # fmt: skip
    (folder / "export" / "latin1.sql").write_bytes("SELECT 'caf\xe9'".encode("latin-1"))
    done = etl("validate", str(folder), env=os.environ)
    assert done.returncode == 1
    expected = [
        "warning: transforms: ignored by the runner; did you mean transform?",
        "warning: export/Fine.SQL: ignored by the runner; did you mean Fine.sql?",
        "error: transform/30_quote.sql:1: statement 1: unterminated '",
        "error: export/two.sql: an export holds exactly one SELECT, found 2",
        "error: export/paren.sql:1: statement 1: 1 '(' never closed",
        "error: export/delete.sql: an export is a SELECT, found DELETE",
        "error: export/latin1.sql: not UTF-8 (byte 11",
    ]
    for line in expected:
        assert line in done.stdout, done.stdout
    assert "5 error(s)" in done.stdout


def test_validate_refuses_a_folder_without_schema_or_exports(tmp_path: Path) -> None:
    done = etl("validate", str(job_folder(tmp_path, {"export/x.sql": "SELECT 1"})), env=os.environ)
    assert done.returncode == 1 and "no schema.sql" in done.stdout
    empty = etl(
        "validate", str(job_folder(tmp_path / "e", {"schema.sql": "SELECT 1"})), env=os.environ
    )
    assert empty.returncode == 1 and "no export/*.sql" in empty.stdout
    missing = etl("validate", str(tmp_path / "nope"), env=os.environ)
    assert missing.returncode == 1 and "not a folder" in missing.stdout


def db_env(db: DbServer, **settings: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "DB_HOST": db.host,
        "DB_PORT": str(db.port), "DB_USERNAME": db.user, "DB_PASSWORD": db.password, **settings,
    }  # fmt: skip


def validate_databases(db: DbServer) -> set[str]:
    with db.connect() as conn, conn.cursor() as cursor:
        cursor.execute("SHOW DATABASES LIKE 'etl\\_validate\\_%'")
        return {row[0] for row in cursor.fetchall()}


def test_validate_database_runs_the_sql_on_empty_tables(
    db_server: DbServer, tmp_path: Path
) -> None:
    before = validate_databases(db_server)
    done = etl("validate", str(job_folder(tmp_path, GOOD)), "--database", env=db_env(db_server))
    assert done.returncode == 0, done.stdout
    assert "ran on empty tables" in done.stdout and "export out: a, b" in done.stdout
    bundled = etl("validate", "--database", env=db_env(db_server))
    assert bundled.returncode == 0, bundled.stdout
    assert (
        "export top_products: month, product_id, name, category, units, revenue" in bundled.stdout
    )
    assert validate_databases(db_server) == before  # the throwaway databases are gone


def test_validate_database_warns_of_an_order_mariadb_exports_at_pymysql_speed(
    db_server: DbServer, tmp_path: Path
) -> None:
    """On MariaDB an export ordered by anything but its own columns runs on the PyMySQL engine
    (docs/job-authoring.md, Row order): a third of the speed, said only in the run's log."""
    files = {
        "export/out.sql": "SELECT b FROM s ORDER BY a",
        "export/fast.sql": "SELECT a FROM s ORDER BY 1",
    }
    done = etl("validate", str(job_folder(tmp_path, {**GOOD, **files})), "--database",
               env=db_env(db_server))  # fmt: skip
    assert done.returncode == 0, done.stdout
    with db_server.connect() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT VERSION()")
        mariadb = "MariaDB" in cursor.fetchone()[0]
    warned = [line for line in done.stdout.splitlines() if "PyMySQL engine" in line]
    assert [w.split(":")[1].strip() for w in warned] == (["export/out.sql"] if mariadb else [])
    assert all(w.startswith("warning:") and "ORDER BY" in w for w in warned), warned


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"schema.sql": "CREATE TABLE t (a INT);\nCREATE TABLE u (a INT,);"},
            "error: schema.sql:2: statement 2: You have an error in your SQL syntax",
        ),
        (
            {
                "transform/10_sum.sql": "\n\nDROP TABLE IF EXISTS s;\n"
                "CREATE TABLE s AS SELECT c FROM t;"
            },
            "error: transform/10_sum.sql:4: statement 2: Unknown column 'c'",
        ),
        (
            {"export/out.sql": "SELECT a, nope FROM s"},
            "error: export/out.sql: Unknown column 'nope'",
        ),
        (
            {"export/out.sql": "SELECT a, a FROM s"},
            "error: export/out.sql: duplicate column name(s) ['a']; alias them",
        ),
        (
            {
                "export/out.sql": "SELECT b, COUNT(*) AS n FROM s GROUP BY a"
            },  # strict: ONLY_FULL_GROUP_BY
            "error: export/out.sql: ",
        ),
    ],
)
def test_validate_database_reports_what_the_server_refuses(
    db_server: DbServer, tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    before = validate_databases(db_server)
    done = etl("validate", str(job_folder(tmp_path, {**GOOD, **files})), "--database",
               env=db_env(db_server))  # fmt: skip
    assert done.returncode == 1
    assert expected in done.stdout, done.stdout
    assert validate_databases(db_server) == before


def test_validate_database_refusals(db_server: DbServer, tmp_path: Path) -> None:
    folder = str(job_folder(tmp_path, GOOD))
    no_host = etl("validate", folder, "--database", env={"PATH": os.environ["PATH"]})
    assert no_host.returncode == 2 and "DB_HOST is required" in no_host.stderr
    started = time.monotonic()
    nobody = etl("validate", folder, "--database",
                 env=db_env(db_server, DB_PORT=str(free_port()), DB_WAIT_SECONDS="1"))  # fmt: skip
    assert nobody.returncode == 1 and "cannot connect" in nobody.stdout
    assert time.monotonic() - started < 30

    user, password = f"etl_v_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with db_server.connect() as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
    try:
        env = db_env(db_server, DB_USERNAME=user, DB_PASSWORD=password)
        denied = etl("validate", folder, "--database", env=env)
        assert denied.returncode == 1
        assert "cannot create a throwaway database" in denied.stdout
    finally:
        with db_server.connect() as conn, conn.cursor() as cursor:
            cursor.execute(f"DROP USER '{user}'@'%'")


# --- make demo JOB=… INPUTS=… (the task runner's path: tests/task/test_task_runner.py) ---


def demo_env(db: DbServer) -> dict[str, str]:
    return {**os.environ, "DEMO_DB_HOST": db.host, "DEMO_DB_PORT": str(db.port),
            "DEMO_DB_USER": db.user, "DEMO_DB_PASSWORD": db.password}  # fmt: skip


def test_demo_runs_a_users_job_folder_as_a_plain_process(
    db_server: DbServer, tmp_path: Path
) -> None:
    job, inputs = users_job(tmp_path)
    out = tmp_path / "out"
    done = run_demo("--plain", "--job", str(job), "--inputs", str(inputs), "--out", str(out),
                    env=demo_env(db_server))  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr
    assert f"{job}: valid (ran on empty tables in a throwaway database)" in done.stdout
    assert "export rows: id, v" in done.stdout
    assert demo_export(out, "rows") == DEMO_ROWS
    assert manifest_of(out)["job"] == "my_job"
    manifest_key = "output/my_job/run=20261101T040000Z/_manifest.json"
    assert f"manifest: s3://etl-demo-data/{manifest_key}" in done.stdout
    # The copies sit as under the output prefix: out/<job>/run=<slot>/ (not out/output/...).
    copies = f"{out}/my_job/run=20261101T040000Z/_manifest.json"
    assert f"copies of every output object: {out}/ (manifest: {copies})" in done.stdout
    assert not (out / "output").exists()
    # A database of the run's own, dropped afterwards (it was etl_demo for everyone).
    [line] = [x for x in done.stdout.splitlines() if x.startswith("database: ")]
    database = line.split()[1]
    assert database.startswith("etl_demo_") and database != "etl_demo_"
    with db_server.connect() as conn, conn.cursor() as cursor:
        cursor.execute("SHOW DATABASES LIKE %s", (database,))
        assert cursor.fetchall() == ()
    assert "warning" not in done.stdout


def test_demo_warns_when_rows_loaded_but_every_export_is_empty(
    db_server: DbServer, tmp_path: Path
) -> None:
    """A nightly job at the sample's monthly slot exported 0 rows and reported success."""
    job, inputs = users_job(tmp_path)
    (job / "export" / "rows.sql").write_text(
        "SELECT id, v FROM u WHERE DATE(@scheduled_time) = '2026-12-06' ORDER BY id"
    )
    args = ["--plain", "--job", str(job), "--inputs", str(inputs), "--out", str(tmp_path / "o")]
    done = run_demo(*args, env=demo_env(db_server))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr
    assert "scheduled time: 2026-11-01T04:00:00Z (the sample orders' slot)" in done.stdout
    assert (
        "warning: the inputs loaded 3 rows but every export is empty. If the job selects by "
        "its slot, the data may not be for 2026-11-01T04:00:00Z" in done.stdout
    )
    # At the slot the data is for: rows, no warning.
    again = run_demo(*args, "--scheduled-time", "2026-12-06T02:30:00Z", env=demo_env(db_server))
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr
    assert "scheduled time: 2026-12-06T02:30:00Z;" in again.stdout
    assert "== rows: 2 rows" in again.stdout and "warning" not in again.stdout


def manifest_of(out: Path) -> dict[str, Any]:
    folder = out / "my_job" / "run=20261101T040000Z"
    return json.loads((folder / "_manifest.json").read_text())  # type: ignore[no-any-return]


def _unknown_column(job: Path, inputs: Path) -> list[str]:
    (job / "export" / "rows.sql").write_text("SELECT id, nope FROM u ORDER BY id")
    return ["error: export/rows.sql: Unknown column 'nope'", "1 error(s); the job would fail"]


def _no_export(job: Path, inputs: Path) -> list[str]:
    (job / "export" / "rows.sql").rename(job / "export" / "rows.txt")
    return ["no export/*.sql, so the job would produce nothing"]


def _table_without_input(job: Path, inputs: Path) -> list[str]:
    (inputs / "t" / "part-1.csv").rename(inputs / "t" / "part-1.txt")
    return [f"error: no input for table t: put CSV files (.csv or .csv.gz, header row) in "
            f"{inputs / 't'}/", "1 problem(s) with the inputs"]  # fmt: skip


def _folder_not_a_table(job: Path, inputs: Path) -> list[str]:
    (inputs / "orders").mkdir()
    (inputs / "orders" / "a.csv").write_text("id\n1\n")
    return [f"error: {inputs / 'orders'}/: not a table of schema.sql (tables: t)"]


def _sample_data_for_another_job(job: Path, inputs: Path) -> list[str]:
    inputs.rename(inputs.with_name("unused"))  # no --inputs: the generated sample orders
    return ["error: the sample data has no table t (it has customers, products, orders): "
            "give your inputs with --inputs DIR"]  # fmt: skip


@pytest.mark.parametrize(
    "breaks",
    [_unknown_column, _no_export, _table_without_input, _folder_not_a_table,
     _sample_data_for_another_job],
)  # fmt: skip
def test_demo_stops_before_the_task_starts_on_a_bad_job_folder(
    breaks: Any, db_server: DbServer, tmp_path: Path
) -> None:
    job, inputs = users_job(tmp_path)
    expected = breaks(job, inputs)
    out = tmp_path / "out"
    args = ["--job", str(job), "--out", str(out)]
    if inputs.exists():
        args += ["--inputs", str(inputs)]
    done = run_demo(*args, env=demo_env(db_server))  # as root: the task runner's path
    assert done.returncode == 2, done.stdout + done.stderr
    for text in expected:
        assert text in done.stdout + done.stderr
    assert "the task was not started" in done.stderr
    assert "running" not in done.stdout and not out.exists()


def test_a_job_folders_name_must_name_a_lock(db_server: DbServer, tmp_path: Path) -> None:
    job = one_table_job(tmp_path / "my job")
    done = run_demo("--job", str(job), env=demo_env(db_server))
    assert done.returncode == 2
    assert "error: the folder's name: JOB_NAME='my job' may hold letters" in done.stdout


# --- runs, show, unlock ----------------------------------------------------------------------


@pytest.fixture
def ran(
    db_server: DbServer, database: str, bucket: str, s3: Any, s3_endpoint: str, tmp_path: Path
) -> dict[str, str]:
    """A bucket with one complete run; returns the tools' environment."""
    data = sample_folder(tmp_path / "data", rows=500)
    for path in sorted((data / "input").rglob("*.csv.gz")):
        s3.put_object(Bucket=bucket, Key=path.relative_to(data).as_posix(), Body=path.read_bytes())
    assert run_etl(db_server, database, bucket, s3_endpoint).returncode == 0
    env = etl_env(db_server, database, bucket, s3_endpoint)
    return {k: v for k, v in env.items() if not k.startswith("DB_")}  # no database needed


def test_runs_lists_run_folders_with_their_state(ran: dict[str, str], s3: Any, bucket: str) -> None:
    s3.put_object(
        Bucket=bucket, Key=f"{OUT}run=20261201T040000Z/top_products/part-00000.csv.gz", Body=b"x"
    )
    s3.put_object(Bucket=bucket, Key="output/notes.txt", Body=b"not a run")
    done = etl("runs", env=ran)
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines[0].split() == [
        "RUN",
        "STATUS",
        "JOB",
        "FINISHED",
        "ROWS",
        "IN",
        "ROWS",
        "OUT",
        "FILES",
    ]
    complete = lines[1].split()
    assert complete[:3] == ["run=20261101T040000Z", "complete", "monthly_orders"]
    exported = sum(e["rows"] for e in manifest(s3, bucket)["exports"].values())
    assert complete[-1] == "2" and complete[-2] == f"{exported:,}"
    assert lines[2].split()[:2] == ["run=20261201T040000Z", "incomplete"]
    assert lines[-1] == f"lock s3://{bucket}/{LOCK}: free"

    part = manifest(s3, bucket)["exports"]["top_products"]["files"][0]["key"]
    s3.delete_object(Bucket=bucket, Key=part)
    data = json.loads(etl("runs", "--json", env=ran).stdout)
    assert data["runs"][0]["status"] == "damaged"
    assert "top_products: top_products/part-00000.csv.gz missing" in data["runs"][0]["problem"]


def test_runs_shows_a_running_run_and_an_empty_prefix(
    ran: dict[str, str], s3: Any, bucket: str
) -> None:
    s3.put_object(
        Bucket=bucket, Key=f"{OUT}run=20261201T040000Z/top_products/part-00000.csv.gz", Body=b"x"
    )
    holder = {"owner": "o1", "host": "ip-10-0-0-1", "acquired_at": datetime.now(UTC).isoformat(),
              "scheduled_time": "2026-12-01T04:00:00Z"}  # fmt: skip
    s3.put_object(Bucket=bucket, Key=LOCK, Body=json.dumps(holder).encode())
    done = etl("runs", env=ran)
    assert "run=20261201T040000Z  running" in done.stdout
    assert "held by run o1 on ip-10-0-0-1 for 2026-12-01T04:00:00Z" in done.stdout
    empty = etl("runs", env={**ran, "OUTPUT_PREFIX": "elsewhere/"})
    assert (
        empty.returncode == 0 and f"no run folders under s3://{bucket}/elsewhere/" in empty.stdout
    )


@pytest.mark.parametrize(
    "wrong",
    [{"exports": ["rows"]}, {"inputs": {}, "exports": {"rows": 5}},
     {"inputs": {}, "exports": {"rows": {"rows": 1, "columns": [], "files": [{"key": 3}]}}}],
)  # fmt: skip
def test_one_manifest_of_the_wrong_shape_loses_no_listing(
    ran: dict[str, str], s3: Any, bucket: str, wrong: Any
) -> None:
    """On main `runs` and `show` crashed on such a manifest and listed nothing."""
    bad = f"{OUT}run=20261201T040000Z/"
    s3.put_object(Bucket=bucket, Key=f"{bad}_manifest.json", Body=json.dumps(wrong).encode())
    listed = etl("runs", "--json", env=ran)
    assert listed.returncode == 0, listed.stderr
    states = {r["run"]: (r["status"], r["problem"]) for r in json.loads(listed.stdout)["runs"]}
    assert states["run=20261101T040000Z"] == ("complete", "")
    assert states["run=20261201T040000Z"][0] == "damaged"
    assert "manifest" in states["run=20261201T040000Z"][1]
    assert "Traceback" not in etl("runs", env=ran).stderr
    shown = etl("show", "latest", env=ran)  # the newest usable manifest
    assert shown.returncode == 0 and "run=20261101T040000Z" in shown.stdout, shown.stderr
    refused = etl("show", "2026-12-01T04:00:00Z", env=ran)
    problem = states["run=20261201T040000Z"][1]
    assert refused.returncode == 1 and problem in refused.stderr, refused.stderr


def test_show_prints_and_verifies_a_manifest(ran: dict[str, str], s3: Any, bucket: str) -> None:
    document = manifest(s3, bucket)
    for name in ("latest", "run=20261101T040000Z", "20261101T040000Z", "2026-11-01T05:00:00+01:00"):
        done = etl("show", name, "--verify", env=ran)
        assert done.returncode == 0, done.stderr
        assert "scheduled time  2026-11-01T04:00:00Z" in done.stdout
        assert (
            f"orders: {document['inputs']['orders']['rows']:,} rows from 1 file(s)" in done.stdout
        )
        assert "columns: month, product_id, name, category, units, revenue" in done.stdout
        assert "verified: 2 file(s) match their bytes and sha256" in done.stdout
    assert json.loads(etl("show", "--json", env=ran).stdout) == document

    part = document["exports"]["top_products"]["files"][0]
    forged = gzip.compress(b"month\r\n")
    forged += b"\0" * (part["bytes"] - len(forged))  # same size: only the hash can tell
    s3.put_object(Bucket=bucket, Key=part["key"], Body=forged)
    tampered = etl("show", "--verify", env=ran)
    assert tampered.returncode == 1
    assert f"MISMATCH top_products: {part['key']}: {part['bytes']} bytes, sha256" in tampered.stderr


def test_show_refuses_what_is_not_a_finished_run(ran: dict[str, str], s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key=f"{OUT}run=20261201T040000Z/x/part-00000.csv.gz", Body=b"x")
    unfinished = etl("show", "2026-12-01T04:00:00Z", env=ran)
    assert unfinished.returncode == 1 and "has no readable manifest" in unfinished.stderr
    absent = etl("show", "run=20250101T000000Z", env=ran)
    assert (
        absent.returncode == 1
        and f"no run folder s3://{bucket}/{OUT}run=20250101T000000Z/" in absent.stderr
    )
    nonsense = etl("show", "yesterday", env=ran)
    assert nonsense.returncode == 1 and "'yesterday' names no run" in nonsense.stderr
    nothing = etl("show", env={**ran, "OUTPUT_PREFIX": "elsewhere/"})
    assert nothing.returncode == 1 and "no run with a manifest" in nothing.stderr
    no_bucket = etl("runs", env={k: v for k, v in ran.items() if k != "DATA_BUCKET"})
    assert no_bucket.returncode == 2 and "DATA_BUCKET is required" in no_bucket.stderr
    gone = etl("runs", env={**ran, "DATA_BUCKET": f"{bucket}-gone"})
    assert gone.returncode == 1 and "S3: " in gone.stderr and "NoSuchBucket" in gone.stderr
    assert "Traceback" not in gone.stderr


def put_lock(s3: Any, bucket: str, owner: str = "o1") -> None:
    holder = {"owner": owner, "host": "ip-10-0-0-1", "acquired_at": datetime.now(UTC).isoformat(),
              "scheduled_time": "2026-12-01T04:00:00Z"}  # fmt: skip
    s3.put_object(Bucket=bucket, Key=LOCK, Body=json.dumps(holder).encode())


def test_unlock_refuses_a_live_lock_unless_forced_naming_its_holder(
    ran: dict[str, str], s3: Any, bucket: str
) -> None:
    assert "nothing to release" in etl("unlock", env=ran).stdout
    put_lock(s3, bucket)
    refused = etl("unlock", env=ran)
    assert refused.returncode == 1
    assert "refused" in refused.stderr and "unlock --force --holder o1" in refused.stderr
    unnamed = etl("unlock", "--force", env=ran)
    assert (
        unnamed.returncode == 1 and "needs --holder naming the lock's owner 'o1'" in unnamed.stderr
    )
    wrong = etl("unlock", "--force", "--holder", "o2", env=ran)
    assert wrong.returncode == 1 and "not 'o2'" in wrong.stderr
    assert keys(s3, bucket, LOCK) == [LOCK]  # every refusal left it alone

    forced = etl("unlock", "--force", "--holder", "o1", env=ran)
    assert forced.returncode == 0 and f"released s3://{bucket}/{LOCK}" in forced.stdout
    assert keys(s3, bucket, LOCK) == []


def test_unlock_releases_a_stale_lock(ran: dict[str, str], s3: Any, bucket: str) -> None:
    put_lock(s3, bucket)
    time.sleep(2.1)  # its last write is what ages (a renewal rewrites the lock)
    done = etl("unlock", env={**ran, "LOCK_STALE_SECONDS": "2"})
    assert done.returncode == 0 and "(stale)" in done.stdout
    assert keys(s3, bucket, LOCK) == []


class Renewing:
    """A store whose lock is renewed by its run right after the tool has read it."""

    def __init__(self, store: Any, renew: Any) -> None:
        self.store, self.renew = store, renew

    def get_object(self, **kwargs: Any) -> Any:
        reply = self.store.get_object(**kwargs)
        self.renew()
        return reply

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


@pytest.mark.parametrize("where", ["s3", "local"])
def test_unlock_never_deletes_a_lock_renewed_meanwhile(
    where: str, s3: Any, bucket: str, tmp_path: Path
) -> None:
    store: Any = s3 if where == "s3" else LocalStore(tmp_path)
    settings = StorageSettings(bucket, tmp_path if where == "local" else None, "input/", "output/",
                               "monthly_orders", 21600)  # fmt: skip
    put_lock(store, bucket)
    time.sleep(0.01)  # a different modification time for the local ETag
    renewing = Renewing(store, lambda: put_lock(store, bucket))
    with pytest.raises(runs.ToolError, match="changed while it was read"):
        runs.unlock(renewing, settings, force=True, holder="o1")
    assert json.loads(content(store, bucket, LOCK))["owner"] == "o1"


def test_tools_work_on_a_local_folder(db_server: DbServer, database: str, tmp_path: Path) -> None:
    data = sample_folder(tmp_path / "data", rows=200)
    env = local_env(db_server, database, data)
    assert etl("run", env=env).returncode == 0
    listed = etl("runs", env=env)
    assert "run=20261101T040000Z  complete" in listed.stdout
    assert f"lock {data}/{LOCK}: free" in listed.stdout
    shown = etl("show", "--verify", env=env)
    assert shown.returncode == 0 and f"{data}/{RUN}" in shown.stdout
    put_lock(LocalStore(data), "unused")
    assert etl("unlock", env=env).returncode == 1
    assert etl("unlock", "--force", "--holder", "o1", env=env).returncode == 0
    assert not (data / LOCK).exists()


def test_demo_refuses_an_aurora_job_naming_its_key_and_the_ways_out() -> None:
    """The task runner has no cluster to give an aurora job's task: the demo used to start it
    and fail at connect with an SSL error naming no cause."""
    found = [(s, n) for s in STACKS for n, j in stack_settings(s).jobs.items()
             if j.database_server == "aurora"]  # fmt: skip
    assert found, "no committed stack has an aurora job to try"
    stack, job = found[0]
    done = run_demo("--stack", stack, "--stack-job", job)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f'jobs.{job}.databaseServer = "aurora"' in done.stderr
    assert "--plain" in done.stderr and "sidecar" in done.stderr
