"""Bounded waits, prompt stops, the lock's heartbeat, leftovers of killed runs, and SQL in a job
folder that tries to read the container's files. Each runs the job for real (subprocess, the
real database server, S3 over HTTP)."""

from __future__ import annotations

import json
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pymysql
import pytest
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError
from etl_harness import (
    DbServer,
    finish,
    keys,
    manifest,
    one_table_job,
    put_csv,
    read_bytes,
    run_etl,
    start_etl,
)

from etl import db, export, runner, storage
from etl.context import RunContext
from etl.jobdef import ExportQuery
from etl.settings import from_env

LOCK = "output/_locks/stop_job.lock"
ROOT_OUT = "output/stop_job/run=20261101T040000Z/"


def make_job(
    tmp_path: Path, transform: str = "", export: str = "SELECT * FROM t ORDER BY id"
) -> Path:
    return one_table_job(tmp_path / "stop_job", transform, export)


def put_rows(s3: Any, bucket: str, rows: int) -> None:
    lines = "".join(f'{i},"value {i}, {"x" * 80}"\n' for i in range(rows))
    put_csv(s3, bucket, "input/t/t.csv", "id,v\n" + lines)


def running_queries(db_server: DbServer, database: str) -> list[str]:
    with db_server.connect() as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT info FROM information_schema.processlist "
            "WHERE db = %s AND command = 'Query' AND id <> CONNECTION_ID()",
            (database,),
        )
        return [row[0] for row in cursor.fetchall()]


# --- SIGTERM: exit 143 within seconds, in every stage, the server's statement killed ----------

STAGES = {
    # stage -> (rows, transform, export, settings, log marker to wait for)
    "load": (400_000, "", "SELECT * FROM t ORDER BY id", {}, '"stage": "load"'),
    "transform": (10, "DO SLEEP(60);", "SELECT * FROM t ORDER BY id", {}, '"stage": "transform"'),
    "export-stream": (200, "", "SELECT id, SLEEP(0.3) AS s FROM t", {}, '"stage": "export"'),
    "export-shared": (200, "", "SELECT id, SLEEP(0.3) AS s FROM t", {"shared": "1"},
                      '"stage": "export"'),
}  # fmt: skip


@pytest.mark.parametrize("where", list(STAGES))
def test_sigterm_stops_every_stage_within_seconds(
    env: tuple[Any, ...], s3: Any, tmp_path: Path, shared_dir: Path, where: str
) -> None:
    db_server, database, bucket, endpoint = env
    rows, transform, export, extra, marker = STAGES[where]
    put_rows(s3, bucket, rows)
    settings = {"ETL_JOB": str(make_job(tmp_path, transform, export))}
    if extra:
        settings["DB_SHARED_DIR"] = str(shared_dir)
    process = start_etl(db_server, database, bucket, endpoint, **settings)
    assert process.stdout is not None
    for line in process.stdout:
        if marker in line and "stage_started" in line:
            break
    time.sleep(0.5)  # inside the stage's statement
    stopped = time.monotonic()
    process.send_signal(signal.SIGTERM)
    run = finish(process, timeout=60)
    assert time.monotonic() - stopped < 10, "well inside the task's 120 s stop timeout"
    assert run.returncode == 143, run.logs[-3:]
    assert run.failure["stage"] == where.split("-", maxsplit=1)[0]
    assert "SIGTERM" in run.failure["cause"]
    assert keys(s3, bucket, "output/") == [], "no parts, no manifest, no lock"
    deadline = time.monotonic() + 5
    while running_queries(db_server, database) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert running_queries(db_server, database) == [], "the server's statement was killed"
    if extra:
        assert list(shared_dir.iterdir()) == [], "the server's file is removed"


# --- bounded waits -------------------------------------------------------------------------


class SilentServer:
    """Accepts TCP connections and never sends a byte: a database that hangs."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.clients: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        try:
            while True:
                self.clients.append(self.server.accept()[0])
        except OSError:
            pass

    def close(self) -> None:
        self.server.close()
        for client in self.clients:
            client.close()


def test_a_database_that_never_answers_fails_the_run_in_bounded_time(
    env: tuple[Any, ...], s3: Any, tmp_path: Path
) -> None:
    db_server, database, bucket, endpoint = env
    put_rows(s3, bucket, 5)
    silent = SilentServer()
    try:
        started = time.monotonic()
        run = run_etl(db_server, database, bucket, endpoint, ETL_JOB=str(make_job(tmp_path)),
                      DB_HOST="127.0.0.1", DB_PORT=str(silent.port), DB_WAIT_SECONDS="5",
                      timeout=90)  # fmt: skip
    finally:
        silent.close()
    assert time.monotonic() - started < 60
    assert run.returncode == 1 and run.failure["stage"] == "connect", run.logs[-2:]
    assert "DB_WAIT_SECONDS" in run.failure["cause"]
    assert keys(s3, bucket, "output/") == [], "the lock is released"


def test_a_statement_longer_than_the_timeout_is_killed(
    env: tuple[Any, ...], s3: Any, tmp_path: Path
) -> None:
    db_server, database, bucket, endpoint = env
    put_rows(s3, bucket, 5)
    started = time.monotonic()
    run = run_etl(db_server, database, bucket, endpoint,
                  ETL_JOB=str(make_job(tmp_path, transform="DO SLEEP(40);")),
                  DB_STATEMENT_TIMEOUT_SECONDS="2")  # fmt: skip
    assert time.monotonic() - started < 20
    assert run.returncode == 1 and run.failure["stage"] == "transform", run.logs[-2:]
    assert "longer than 2 s (DB_STATEMENT_TIMEOUT_SECONDS)" in run.failure["cause"]
    assert running_queries(db_server, database) == []


class FreezingProxy:
    """A TCP proxy to the database that, once frozen, forwards nothing more in either
    direction and answers no new connection: a server hung in the middle of a statement."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.frozen = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        try:
            while True:
                client, _ = self.server.accept()
                self.sockets.append(client)
                if self.frozen.is_set():
                    continue  # accepted, never answered
                upstream = socket.create_connection(self.target)
                self.sockets.append(upstream)
                for pair in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pipe, args=pair, daemon=True).start()
        except OSError:
            pass

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                if self.frozen.is_set():
                    return
                dst.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self.server.close()
        for sock in self.sockets:
            sock.close()


def test_a_server_hung_mid_statement_is_cut_off(
    env: tuple[Any, ...], s3: Any, tmp_path: Path
) -> None:
    db_server, database, bucket, endpoint = env
    put_rows(s3, bucket, 5)
    proxy = FreezingProxy((db_server.host, db_server.port))
    try:
        process = start_etl(db_server, database, bucket, endpoint,
                            ETL_JOB=str(make_job(tmp_path, transform="DO SLEEP(1); DO SLEEP(60);")),
                            DB_HOST="127.0.0.1", DB_PORT=str(proxy.port),
                            DB_STATEMENT_TIMEOUT_SECONDS="4")  # fmt: skip
        assert process.stdout is not None
        for line in process.stdout:
            if '"stage": "transform"' in line and "stage_started" in line:
                break
        time.sleep(2)  # inside the long statement
        proxy.frozen.set()
        frozen = time.monotonic()
        run = finish(process, timeout=90)
    finally:
        proxy.close()
    assert time.monotonic() - frozen < 30
    assert run.returncode == 1 and run.failure["stage"] == "transform", run.logs[-2:]
    assert "DB_STATEMENT_TIMEOUT_SECONDS" in run.failure["cause"]
    assert run.events("statement_cut"), "KILL QUERY could not get through: the socket was cut"
    assert keys(s3, bucket, "output/") == [], "the lock is released"


# --- the lock: renewed while the run lives ---------------------------------------------------


def test_a_long_healthy_run_keeps_its_lock(env: tuple[Any, ...], s3: Any, tmp_path: Path) -> None:
    db_server, database, bucket, endpoint = env
    put_rows(s3, bucket, 5)
    folder = str(make_job(tmp_path, transform="DO SLEEP(8);"))
    first = start_etl(db_server, database, bucket, endpoint, ETL_JOB=folder,
                      LOCK_STALE_SECONDS="3")  # fmt: skip
    time.sleep(6)  # twice LOCK_STALE_SECONDS after the first run took the lock
    second = run_etl(db_server, database, bucket, endpoint, ETL_JOB=folder, LOCK_STALE_SECONDS="3")
    assert second.returncode == 3, "a renewed lock is not stale"
    assert "last renewed" in second.events("run_skipped")[0]["cause"]
    assert finish(first).returncode == 0
    assert keys(s3, bucket, "output/_locks/") == []


def test_a_lock_taken_over_is_never_published_over(
    env: tuple[Any, ...], s3: Any, tmp_path: Path
) -> None:
    db_server, database, bucket, endpoint = env
    put_rows(s3, bucket, 5)
    folder = str(make_job(tmp_path, transform="DO SLEEP(4);"))
    first = start_etl(db_server, database, bucket, endpoint, ETL_JOB=folder,
                      LOCK_STALE_SECONDS="3")  # fmt: skip
    deadline = time.monotonic() + 20
    while LOCK not in keys(s3, bucket, "output/_locks/") and time.monotonic() < deadline:
        time.sleep(0.05)
    # Another run takes the lock over (as if ours had not been renewed in time).
    s3.put_object(Bucket=bucket, Key=LOCK, Body=json.dumps({"owner": "other", "host": "h",
                  "acquired_at": "2026-11-01T04:00:00+00:00"}))  # fmt: skip
    run = finish(first)
    assert run.returncode == 1 and run.failure["error"] == "LockLost", run.logs[-2:]
    assert json.loads(read_bytes(s3, bucket, LOCK))["owner"] == "other", "not ours to release"
    assert keys(s3, bucket, ROOT_OUT) == []


# --- what killed runs leave behind ------------------------------------------------------------


def test_a_rerun_cleans_what_a_killed_run_left(
    env: tuple[Any, ...], s3: Any, tmp_path: Path, shared_dir: Path
) -> None:
    db_server, database, bucket, endpoint = env
    put_rows(s3, bucket, 100)
    folder = str(make_job(tmp_path, export="SELECT id, SLEEP(0.05) AS s FROM t"))
    process = start_etl(db_server, database, bucket, endpoint, ETL_JOB=folder,
                        DB_SHARED_DIR=str(shared_dir))  # fmt: skip
    assert process.stdout is not None
    for line in process.stdout:
        if '"stage": "export"' in line and "stage_started" in line:
            break
    deadline = time.monotonic() + 20
    while not list(shared_dir.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.kill()  # kill -9: no cleanup at all
    process.wait()
    process.stdout.close()
    scratch = [p for p in Path(tempfile.gettempdir()).glob("etl*stop_job*")]
    assert scratch and list(shared_dir.iterdir()), "the killed run left its files"
    # An upload a killed run left open under the run folder.
    s3.create_multipart_upload(Bucket=bucket, Key=f"{ROOT_OUT}rows/part-00003.csv.gz")
    s3.delete_object(Bucket=bucket, Key=LOCK)  # (or wait LOCK_STALE_SECONDS)
    time.sleep(6)  # the server finishes the killed run's query
    rerun = run_etl(db_server, database, bucket, endpoint, ETL_JOB=folder,
                    DB_SHARED_DIR=str(shared_dir))  # fmt: skip
    assert rerun.returncode == 0, rerun.logs[-2:]
    assert manifest(s3, bucket)["exports"]["rows"]["rows"] == 100
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert list(shared_dir.iterdir()) == []
    assert not any(p.exists() for p in scratch), "the killed run's scratch folder is gone"


# --- LOAD DATA LOCAL INFILE sends only the loader's own stream --------------------------------

LEAK = """
DROP TABLE IF EXISTS leak;
CREATE TABLE leak (line TEXT);
LOAD DATA LOCAL INFILE '/proc/self/environ' INTO TABLE leak LINES TERMINATED BY '\\0';
"""


@pytest.mark.parametrize("where", ["transform", "schema"])
def test_sql_in_a_job_folder_cannot_read_the_containers_files(
    env: tuple[Any, ...], s3: Any, tmp_path: Path, where: str
) -> None:
    db_server, database, bucket, endpoint = env
    put_rows(s3, bucket, 5)
    folder = make_job(tmp_path, export="SELECT * FROM leak")
    if where == "transform":
        (folder / "transform" / "10_step.sql").write_text(LEAK)
    else:
        (folder / "schema.sql").write_text((folder / "schema.sql").read_text() + LEAK)
        (folder / "export" / "rows.sql").write_text("SELECT * FROM t")
    run = run_etl(db_server, database, bucket, endpoint, ETL_JOB=str(folder),
                  SECRET_TOKEN="s3cr3t-in-the-environment")  # fmt: skip
    assert run.returncode == 1 and run.failure["stage"] == where, run.logs[-2:]
    assert "s3cr3t" not in json.dumps(run.logs)
    assert keys(s3, bucket, ROOT_OUT) == []
    with db_server.connect(database) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'leak' "
                       "AND table_schema = DATABASE()")  # fmt: skip
        if cursor.fetchone()[0]:
            cursor.execute("SELECT COUNT(*) FROM leak")
            assert cursor.fetchone()[0] == 0


def test_the_loader_sends_no_file_but_the_one_it_registered(
    db_server: DbServer, database: str, tmp_path: Path
) -> None:
    settings = from_env({"DB_HOST": db_server.host, "DB_PORT": str(db_server.port),
                         "DB_DATABASE": database, "DB_USERNAME": db_server.user,
                         "DB_PASSWORD": db_server.password, "DATA_BUCKET": "b"})  # fmt: skip
    mine, other = tmp_path / "mine.tsv", tmp_path / "other.tsv"
    mine.write_text("1\n")
    other.write_text("2\n")
    with db.connect(settings, loads=True) as loader, loader.cursor() as cursor:
        cursor.execute("CREATE TABLE n (v INT)")
        loader.local_file = str(mine)
        with pytest.raises(db.LocalFileRefused, match=r"other\.tsv"):
            cursor.execute("LOAD DATA LOCAL INFILE %s INTO TABLE n", (str(other),))
        cursor.execute("LOAD DATA LOCAL INFILE %s INTO TABLE n", (str(mine),))  # still in step
        cursor.execute("SELECT v FROM n")
        assert cursor.fetchall() == (("1",),)
    with (
        db.connect(settings) as session,
        session.cursor() as cursor,
        pytest.raises(pymysql.err.MySQLError),
    ):
        cursor.execute("LOAD DATA LOCAL INFILE %s INTO TABLE n", (str(mine),))


def test_overlapping_prefixes_exit_2_before_anything(
    env: tuple[Any, ...], s3: Any, tmp_path: Path
) -> None:
    db_server, database, bucket, endpoint = env
    put_rows(s3, bucket, 5)
    run = run_etl(db_server, database, bucket, endpoint, ETL_JOB=str(make_job(tmp_path)),
                  INPUT_PREFIX="data/", OUTPUT_PREFIX="data/out/")  # fmt: skip
    assert run.returncode == 2 and "overlap" in run.failure["cause"]
    assert keys(s3, bucket, "data/") == []


def test_an_s3_endpoint_that_never_answers_fails_the_call_in_bounded_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The job's S3 client gives up on an endpoint that accepts connections and never answers:
    each attempt ends at read_timeout, and attempts are counted. Shown with a 1 s read timeout
    and 2 attempts; the deployed bound is (connect 10 s + read 30 s) x 10 attempts plus backoff,
    under 7 minutes, and SIGTERM stops the job sooner (test_sigterm_stops_every_stage...)."""
    silent = socket.create_server(("127.0.0.1", 0))  # accepts (the kernel's backlog), never reads
    port = silent.getsockname()[1]
    assert storage.CLIENT_CONFIG.read_timeout == 30 and storage.CLIENT_CONFIG.connect_timeout == 10
    assert storage.CLIENT_CONFIG.retries == {"mode": "standard", "max_attempts": 10}
    fast = storage.CLIENT_CONFIG.merge(Config(read_timeout=1, retries={"max_attempts": 2}))
    monkeypatch.setattr(storage, "CLIENT_CONFIG", fast)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{port}")
    for key, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
                       "AWS_DEFAULT_REGION": "eu-west-1"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    started = time.monotonic()
    with silent, pytest.raises(ReadTimeoutError):
        storage.client().get_object(Bucket="any-bucket", Key="k")
    assert time.monotonic() - started < 10


def test_a_stop_before_the_shared_export_reaches_the_server_does_not_wait_for_it(
    db_server: DbServer, database: str, tmp_path: Path, shared_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """SIGTERM right after the export's statement was handed to its worker thread, before the
    thread sent it: a KILL QUERY then finds nothing, and the statement (60 s here) would run
    anyway while the stop waited for it (seen once under load in CI)."""
    settings = from_env({"DB_HOST": db_server.host, "DB_PORT": str(db_server.port),
                         "DB_DATABASE": database, "DB_USERNAME": db_server.user,
                         "DB_PASSWORD": db_server.password, "DATA_BUCKET": "b"})  # fmt: skip
    sent = export._execute

    def late(ctx: Any, statement: str, what: str) -> None:
        time.sleep(1)  # a worker thread slow to start, as on a loaded machine
        sent(ctx, statement, what)

    def stopped(path: Path, done: Any) -> Any:
        raise runner.Terminated("stopped by SIGTERM")
        yield b""  # a generator, as _follow is

    monkeypatch.setattr(export, "_execute", late)
    monkeypatch.setattr(export, "_follow", stopped)
    with db.connect(settings) as conn, conn.cursor() as cursor:
        cursor.execute("CREATE TABLE t (id INT)")
        cursor.executemany("INSERT INTO t VALUES (%s)", [(i,) for i in range(200)])
        ctx = RunContext(conn, s3=None, bucket="b", workdir=tmp_path, job="stop_job")
        query = ExportQuery("rows", "SELECT id, SLEEP(0.3) AS s FROM t", False, False)
        started = time.monotonic()
        with pytest.raises(runner.Terminated):
            export.export_shared(ctx, shared_dir, "output/", query, 1000)
    assert time.monotonic() - started < 10, "the stop waited for the statement"
    deadline = time.monotonic() + 5
    while running_queries(db_server, database) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert running_queries(db_server, database) == [], "the statement never ran on"


def test_a_stop_while_a_load_packet_is_half_sent_does_not_wait_for_the_server(
    db_server: DbServer, database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM can interrupt a socket send mid-packet (Python's sendall raises from the signal
    handler). Ending the file then would leave the server waiting for the rest of the packet
    (net_read_timeout, 30 s) and fail the run as a lost connection: the load cuts the
    connection instead, and the stop goes on at once (seen about once in six stops under load)."""
    settings = from_env({"DB_HOST": db_server.host, "DB_PORT": str(db_server.port),
                         "DB_DATABASE": database, "DB_USERNAME": db_server.user,
                         "DB_PASSWORD": db_server.password, "DATA_BUCKET": "b"})  # fmt: skip
    stream = tmp_path / "rows.tsv"
    stream.write_text("".join(f"{i}\n" for i in range(200_000)))
    packets = 0
    whole = db.Session.write_packet

    def interrupted(self: db.Session, payload: bytes) -> None:
        nonlocal packets
        packets += 1
        if packets == 3:  # what sendall does when the signal handler raises mid-send
            self._write_bytes(b"\xff\xff\x00\x01" + payload[:100])  # a header, then 100 bytes
            raise runner.Terminated("stopped by SIGTERM")
        whole(self, payload)

    with db.connect(settings, loads=True) as loader, loader.cursor() as cursor:
        cursor.execute("CREATE TABLE n (v INT)")
        loader.local_file = str(stream)
        monkeypatch.setattr(db.Session, "write_packet", interrupted)
        started = time.monotonic()
        with pytest.raises(runner.Terminated):
            cursor.execute("LOAD DATA LOCAL INFILE %s INTO TABLE n", (str(stream),))
    assert time.monotonic() - started < 10, "the stop waited for the server"


def test_a_stop_while_the_export_columns_are_probed_does_not_wait_for_the_server(
    db_server: DbServer, database: str, tmp_path: Path
) -> None:
    """SIGTERM while the column probe (the export's query with LIMIT 0, character_set_results
    NULL) waits on the server, here for a table another session holds locked, is a stop
    (exit 143), at once: PyMySQL closes its socket when a read is interrupted, and the SET
    that restores the session then failed with InterfaceError (0, ''), which took the stop's
    place (a failed run, exit 1) and kept the guard from killing the statement."""
    settings = from_env({"DB_HOST": db_server.host, "DB_PORT": str(db_server.port),
                         "DB_DATABASE": database, "DB_USERNAME": db_server.user,
                         "DB_PASSWORD": db_server.password, "DATA_BUCKET": "b",
                         "DB_STATEMENT_TIMEOUT_SECONDS": "20"})  # fmt: skip

    def terminate(signum: int, frame: Any) -> None:
        raise runner.Terminated("stopped by SIGTERM")

    with db.connect(settings) as conn, conn.cursor() as cursor, db_server.connect(
        database
    ) as holder, holder.cursor() as locking:  # fmt: skip
        cursor.execute("CREATE TABLE t (id INT)")
        locking.execute("LOCK TABLES t WRITE")
        ctx = RunContext(conn, s3=None, bucket="b", workdir=tmp_path, job="stop_job")
        query = ExportQuery("rows", "SELECT id FROM t", False, False)
        previous = signal.signal(signal.SIGALRM, terminate)
        started = time.monotonic()
        try:
            signal.setitimer(signal.ITIMER_REAL, 1.0)
            with pytest.raises(runner.Terminated):
                export.export_columns(ctx, query)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            elapsed = time.monotonic() - started
            locking.execute("UNLOCK TABLES")
    assert elapsed < 8, f"the stop waited {elapsed:.1f} s for the server"
    deadline = time.monotonic() + 5
    while running_queries(db_server, database) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert running_queries(db_server, database) == [], "the probe never ran on"
