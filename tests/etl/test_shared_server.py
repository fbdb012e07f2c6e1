"""The job on a server shared by jobs (DB_SERVER=shared, what an Aurora job's task sets): TLS
verified against a test CA, a schema and user per run made with the admin account and dropped
at the end, a killed run's leftovers removed by the next run of the same job only, a paused
server waited out, and exports byte-identical to the same job on a server of its own.

The server is a real TLS-only MariaDB outside the job (tests/tls_server.py), `python -m etl run`
a subprocess, S3 moto's server over HTTP.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pymysql
import pytest
from etl_harness import (
    ROOT,
    DbServer,
    DelayedProxy,
    Run,
    etl_env,
    keys,
    one_table_job,
    put_csv,
    read_bytes,
    run_etl,
)
from tls_server import TlsFiles, make_ca

from etl import db, lock, sample, shared_server
from etl.sandbox import grant_name
from etl.settings import SettingsError, from_env
from tools.s3_emulator import free_port

SLOT = datetime(2026, 11, 1, 4, tzinfo=UTC)  # etl_env's SCHEDULED_TIME


def shared_env(
    server: DbServer, tls: TlsFiles, bucket: str, endpoint: str, **settings: str
) -> dict[str, str]:
    """An Aurora job's task environment, pointed at the TLS-only server: no database or user
    named, the admin's credentials, the CA."""
    env = etl_env(server, "-", bucket, endpoint)
    for name in ("DB_DATABASE", "DB_USERNAME", "DB_PASSWORD"):
        del env[name]
    return {
        **env,
        "DB_SERVER": "shared",
        "DB_ADMIN_USERNAME": server.user,
        "DB_ADMIN_PASSWORD": server.password,
        "DB_TLS_CA": str(tls.ca),
        **settings,
    }


def start_shared(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "etl", "run"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def finish(process: subprocess.Popen[str], timeout: float = 180) -> Run:
    out, err = process.communicate(timeout=timeout)
    return Run(process.returncode, [json.loads(line) for line in out.splitlines()], err)


def run_shared(env: dict[str, str], timeout: float = 180) -> Run:
    return finish(start_shared(env), timeout)


def admin(server: DbServer, tls: TlsFiles) -> pymysql.Connection:  # type: ignore[type-arg]
    return pymysql.connect(host=server.host, port=server.port, user=server.user,
                           password=server.password, ssl_ca=str(tls.ca),
                           ssl_verify_identity=True, autocommit=True)  # fmt: skip


def job_names_on(server: DbServer, tls: TlsFiles, job: str) -> list[str]:
    """The schemas and users of `job`'s runs on the server."""
    pattern = shared_server.job_prefix(job).replace("_", "\\_") + "%"
    with admin(server, tls) as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s",
            (pattern,),
        )
        schemas = [f"schema {s}" for (s,) in cursor.fetchall()]
        cursor.execute("SELECT User FROM mysql.user WHERE User LIKE %s", (pattern,))
        return schemas + [f"user {u}" for (u,) in cursor.fetchall()]


def stage_done(run: Run, name: str) -> dict[str, Any]:
    [done] = [e for e in run.events("stage_finished") if e["stage"] == name]
    return done


def export_objects(s3: Any, bucket: str, root: str) -> dict[str, bytes]:
    """The run folder's part files, by their path below it (the manifest, which records
    times, aside)."""
    return {
        key.removeprefix(root): read_bytes(s3, bucket, key)
        for key in keys(s3, bucket, root)
        if not key.endswith("_manifest.json")
    }


# --- names and settings -----------------------------------------------------------------------


def test_run_names_fit_mysqls_limits_and_start_with_the_jobs_own_prefix() -> None:
    long_job = "scheduled-etl-production-" + "x" * 100
    for job in ("a", "monthly_orders", "scheduled-etl-staging-big-orders", long_job):
        names = shared_server.run_names(job, SLOT)
        prefix = shared_server.job_prefix(job)
        assert len(grant_name(names.schema)) - 2 <= 64 and len(names.user) <= 32, names
        assert names.schema.startswith(prefix) and names.user.startswith(prefix)
        assert "20261101t040000z" in names.user
    # Two jobs, one a prefix of the other's name: neither's prefix matches the other's names.
    one, two = "orders", "orders-eu"
    assert not shared_server.run_names(two, SLOT).schema.startswith(shared_server.job_prefix(one))
    assert shared_server.run_names(one, SLOT) != shared_server.run_names(
        one, SLOT.replace(month=12)
    )


BASE = {"DB_HOST": "h", "DATA_BUCKET": "b", "DB_ADMIN_USERNAME": "admin"}


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"DB_SERVER": "aurora"}, "DB_SERVER='aurora' must be task or shared"),
        ({"DB_SERVER": "shared"}, "DB_TLS_CA is required with DB_SERVER=shared"),
        ({"DB_SERVER": "shared", "DB_DATABASE": "d"}, "DB_DATABASE may not be set"),
        ({"DB_SERVER": "shared", "DB_SHARED_DIR": "/tmp"}, "DB_SHARED_DIR may not be set"),
        ({"DB_DATABASE": "d", "DB_USERNAME": "u"}, "DB_ADMIN_USERNAME may not be set"),
        ({"DB_SERVER": "shared", "DB_TLS_CA": "/nonexistent.pem"}, "is not a readable file"),
    ],
)
def test_settings_refuse_what_does_not_fit_the_server(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(SettingsError, match=fragment.replace("(", r"\(")):
        from_env({**BASE, **env})


def test_shared_settings_carry_the_admin_and_no_database(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-")
    settings = from_env({**BASE, "DB_SERVER": "shared", "DB_TLS_CA": str(ca),
                         "DB_ADMIN_PASSWORD": "pw"})  # fmt: skip
    assert (settings.db_username, settings.db_password, settings.db_database) == ("admin", "pw", "")
    assert settings.db_tls_ca == ca


# --- against the TLS-only server --------------------------------------------------------------


def test_the_server_refuses_connections_without_tls(
    tls_db_server: tuple[DbServer, TlsFiles],
) -> None:
    server, _ = tls_db_server
    with pytest.raises(pymysql.err.OperationalError):
        pymysql.connect(host=server.host, port=server.port, user=server.user,
                        password=server.password, ssl_disabled=True)  # fmt: skip


def test_exports_are_byte_identical_to_the_same_job_on_a_server_of_its_own(
    db_server: DbServer,
    database: str,
    tls_db_server: tuple[DbServer, TlsFiles],
    s3: Any,
    bucket: str,
    s3_endpoint: str,
    tmp_path: Path,
) -> None:
    """The bundled job, once as the sidecar runs it and once on the shared TLS server: every
    part file the same bytes; the run's schema and user are gone afterwards."""
    for path in sample.write(tmp_path / "in", rows=3000, seed=3, month="2026-10", gzipped=True):
        s3.upload_file(str(path), bucket, f"input/{path.parent.name}/{path.name}")
    own = run_etl(db_server, database, bucket, s3_endpoint, JOB_NAME="orders",
                  OUTPUT_PREFIX="own/")  # fmt: skip
    assert own.returncode == 0, own.logs[-3:]
    server, tls = tls_db_server
    shared = run_shared(
        shared_env(server, tls, bucket, s3_endpoint, JOB_NAME="orders", OUTPUT_PREFIX="shared/")
    )
    assert shared.returncode == 0, (shared.logs[-3:], shared.stderr[-2000:])
    run = "orders/run=20261101T040000Z/"
    mine, theirs = (
        export_objects(s3, bucket, f"own/{run}"),
        export_objects(s3, bucket, f"shared/{run}"),
    )
    assert len(mine) >= 2 and mine == theirs
    [created] = shared.events("run_database_created")
    assert created["schema"] == shared_server.run_names("orders", SLOT).schema
    assert shared.events("run_database_dropped")
    assert job_names_on(server, tls, "orders") == []
    # Every export went through the C client over TLS, not a fallback.
    assert shared.events("export_engine") and not shared.events("export_engine_unavailable")


def test_a_certificate_from_another_ca_fails_at_once(
    tls_db_server: tuple[DbServer, TlsFiles], bucket: str, s3: Any, s3_endpoint: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    server, tls = tls_db_server
    other, _ = make_ca(tmp_path, "another CA")
    started = time.monotonic()
    run = run_shared(
        shared_env(
            server, TlsFiles(other, tls.cert, tls.key), bucket, s3_endpoint, DB_WAIT_SECONDS="120"
        )
    )
    assert run.returncode == 1
    assert run.failure["stage"] == "connect" and "CERTIFICATE_VERIFY_FAILED" in run.failure["cause"]
    assert time.monotonic() - started < 60  # not waited out for DB_WAIT_SECONDS
    assert not run.events("waiting_for_database")


def test_a_paused_server_is_waited_out_and_the_wait_is_in_the_connect_stage(
    tls_db_server: tuple[DbServer, TlsFiles], bucket: str, s3: Any, s3_endpoint: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    """A server that refuses connections for 20 s, then accepts: a paused Aurora Serverless
    v2 cluster resuming (AWS: up to about 15 s)."""
    server, tls = tls_db_server
    put_csv(s3, bucket, "input/t/a.csv", "id,v\n1,x\n")
    port = free_port()
    with DelayedProxy(port, (server.host, server.port), delay=20.0):
        run = run_shared(
            shared_env(
                server,
                tls,
                bucket,
                s3_endpoint,
                DB_PORT=str(port),
                ETL_JOB=str(one_table_job(tmp_path / "paused")),
            )
        )
    assert run.returncode == 0, run.logs[-3:]
    waits = run.events("waiting_for_database")
    assert waits and all("Can't connect" in w["cause"] for w in waits)
    done = stage_done(run, "connect")
    assert done["waited_s"] >= 19 and done["attempts"] == len(waits) + 1


def _transform_span(run: Run) -> tuple[datetime, datetime]:
    [start] = [e for e in run.events("stage_started") if e["stage"] == "transform"]
    end = stage_done(run, "transform")
    return datetime.fromisoformat(start["time"]), datetime.fromisoformat(end["time"])


def _leftover(conn: Any, job: str, slot: datetime) -> str:
    """What a run of `job` killed at `slot` leaves: its schema with a table, its user, and a
    session of that user still running a statement. Returns the user."""
    names = shared_server.run_names(job, slot)
    with conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{names.schema}`")
        cursor.execute(f"CREATE TABLE `{names.schema}`.t (id INT)")
        cursor.execute("CREATE USER %s@'127.0.0.1' IDENTIFIED BY 'pw'", (names.user,))
        cursor.execute(f"GRANT ALL ON `{names.schema}`.* TO %s@'127.0.0.1'", (names.user,))
    return names.user


def _busy_session(server: DbServer, tls: TlsFiles, user: str) -> threading.Thread:
    """A session of `user` running a long statement, as a killed task's may on the server."""

    def sleep() -> None:
        try:
            with pymysql.connect(host=server.host, port=server.port, user=user, password="pw",
                                 ssl_ca=str(tls.ca)) as conn, conn.cursor() as cursor:  # fmt: skip
                cursor.execute("SELECT SLEEP(120)")
        except pymysql.err.MySQLError:
            pass  # killed

    thread = threading.Thread(target=sleep, daemon=True)
    thread.start()
    return thread


def test_the_next_run_cleans_its_jobs_leftovers_and_never_another_jobs(
    tls_db_server: tuple[DbServer, TlsFiles], bucket: str, s3: Any, s3_endpoint: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    server, tls = tls_db_server
    put_csv(s3, bucket, "input/t/a.csv", "id,v\n1,x\n")
    earlier = SLOT.replace(month=10)
    with admin(server, tls) as conn:
        mine = _leftover(conn, "job-a", earlier)
        theirs = _leftover(conn, "job-b", earlier)
    busy_mine, busy_theirs = _busy_session(server, tls, mine), _busy_session(server, tls, theirs)
    time.sleep(1)
    job = str(one_table_job(tmp_path / "job"))
    run = run_shared(shared_env(server, tls, bucket, s3_endpoint, JOB_NAME="job-a", ETL_JOB=job))
    assert run.returncode == 0, run.logs[-3:]
    [removed] = [e for e in run.events("leftovers_removed") if "database" in e]
    assert sorted(removed["database"]) == sorted([
        f"schema {shared_server.run_names('job-a', earlier).schema}", f"user {mine}@127.0.0.1",
    ])  # fmt: skip
    busy_mine.join(timeout=30)
    assert not busy_mine.is_alive()  # its statement was ended, so its schema could go
    assert job_names_on(server, tls, "job-a") == []
    # job-b's leftovers, and its session, are untouched.
    assert len(job_names_on(server, tls, "job-b")) == 2 and busy_theirs.is_alive()
    with admin(server, tls) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT id FROM information_schema.processlist WHERE user = %s", (theirs,))
        for (thread,) in cursor.fetchall():
            cursor.execute(f"KILL {int(thread)}")
        shared_server.leftovers(conn_session(server, tls), "job-b")
    assert job_names_on(server, tls, "job-b") == []


def conn_session(server: DbServer, tls: TlsFiles) -> Any:
    """A db.Session as the admin, for the module's own clean-up."""
    env = shared_env(server, tls, "b", "-")
    return db.connect(from_env(env))


def test_two_jobs_at_once_each_see_and_touch_only_their_own_schema(
    tls_db_server: tuple[DbServer, TlsFiles], bucket: str, s3: Any, s3_endpoint: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    """Two jobs' runs overlap on one server: each exports the schemas it can see (its own
    only), and one's attempt to drop the other's live schema fails without harm."""
    server, tls = tls_db_server
    put_csv(s3, bucket, "input/t/a.csv", "id,v\n1,x\n")
    b_schema = shared_server.run_names("job-b", SLOT).schema
    seen = "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'etl%'"
    job_a = one_table_job(tmp_path / "a", transform="DO SLEEP(4)", export=seen)
    job_b = one_table_job(tmp_path / "b", transform="DO SLEEP(4)", export=seen)
    first = start_shared(shared_env(server, tls, bucket, s3_endpoint, JOB_NAME="job-a",
                                    ETL_JOB=str(job_a)))  # fmt: skip
    second = start_shared(shared_env(server, tls, bucket, s3_endpoint, JOB_NAME="job-b",
                                     ETL_JOB=str(job_b)))  # fmt: skip
    a, b = finish(first), finish(second)
    assert a.returncode == 0 and b.returncode == 0, (a.logs[-3:], b.logs[-3:])
    for job in ("job-a", "job-b"):
        root = f"output/{job}/run=20261101T040000Z/rows/"
        [part] = keys(s3, bucket, root)
        text = gzip.decompress(read_bytes(s3, bucket, part)).decode()
        assert text.split("\r\n")[1:-1] == [shared_server.run_names(job, SLOT).schema]
    # Their transforms (4 s each) overlapped in time.
    spans = [_transform_span(run) for run in (a, b)]
    assert max(start for start, _ in spans) < min(end for _, end in spans)
    # One job's run may not touch another's schema, even by name.
    rogue = one_table_job(tmp_path / "rogue", transform=f"DROP DATABASE `{b_schema}`")
    with admin(server, tls) as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{b_schema}`")
        try:
            run = run_shared(shared_env(server, tls, bucket, s3_endpoint, JOB_NAME="job-a",
                                        ETL_JOB=str(rogue)))  # fmt: skip
            assert run.returncode == 1 and run.failure["stage"] == "transform"
            assert "denied" in run.failure["cause"]
            cursor.execute("SHOW DATABASES LIKE %s", (b_schema,))
            assert cursor.fetchall() == ((b_schema,),)
        finally:
            cursor.execute(f"DROP DATABASE IF EXISTS `{b_schema}`")
    assert job_names_on(server, tls, "job-a") == []  # dropped after the failed run too


def _wait_for(process: subprocess.Popen[str], event: str, stage: str) -> list[dict[str, Any]]:
    """Read the run's log lines until `event` of `stage` (the lines so far)."""
    assert process.stdout is not None
    seen: list[dict[str, Any]] = []
    for line in process.stdout:
        seen.append(json.loads(line))
        if seen[-1]["event"] == event and seen[-1].get("stage") == stage:
            return seen
    raise AssertionError(f"the run ended before {event} {stage}: {seen[-3:]}")


def test_a_stopped_run_drops_its_schema_and_user(
    tls_db_server: tuple[DbServer, TlsFiles], bucket: str, s3: Any, s3_endpoint: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    """SIGTERM (ECS stopping the task) mid-transform: the statement is killed, the run exits
    143, and its schema and user are dropped before it does."""
    server, tls = tls_db_server
    put_csv(s3, bucket, "input/t/a.csv", "id,v\n1,x\n")
    job = one_table_job(tmp_path / "stopped", transform="DO SLEEP(60)")
    process = start_shared(shared_env(server, tls, bucket, s3_endpoint, JOB_NAME="stopped",
                                      ETL_JOB=str(job)))  # fmt: skip
    _wait_for(process, "stage_started", "transform")
    time.sleep(1)
    process.terminate()
    run = finish(process, timeout=60)
    assert run.returncode == 143
    assert run.events("run_database_dropped")
    assert job_names_on(server, tls, "stopped") == []


def test_a_killed_runs_leftovers_go_with_the_next_run_of_the_job(
    tls_db_server: tuple[DbServer, TlsFiles], bucket: str, s3: Any, s3_endpoint: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    """kill -9 mid-transform (a lost task): its schema, its user and its statement still
    running on the server stay behind, until the job's next run removes them."""
    server, tls = tls_db_server
    put_csv(s3, bucket, "input/t/a.csv", "id,v\n1,x\n")
    job = one_table_job(tmp_path / "killed", transform="DO SLEEP(90)")
    env = shared_env(server, tls, bucket, s3_endpoint, JOB_NAME="killed", ETL_JOB=str(job),
                     LOCK_STALE_SECONDS="3")  # fmt: skip
    process = start_shared(env)
    _wait_for(process, "stage_started", "transform")
    process.kill()
    process.communicate(timeout=30)
    assert len(job_names_on(server, tls, "killed")) == 2  # its schema and user
    time.sleep(3)  # its lock goes stale (LOCK_STALE_SECONDS)
    quick = one_table_job(tmp_path / "quick")
    run = run_shared({**env, "ETL_JOB": str(quick)})
    assert run.returncode == 0, run.logs[-3:]
    # Its scratch folder on this machine, and what it left on the server.
    [removed] = [e for e in run.events("leftovers_removed") if "database" in e]
    assert any(item.startswith("schema ") for item in removed["database"])
    assert job_names_on(server, tls, "killed") == []


class _Lease:
    """The run's hold on the job's lock (lock.Heartbeat's `held` and `check()`), switchable."""

    def __init__(self) -> None:
        self.held = True

    def check(self) -> None:
        if not self.held:
            raise lock.LockLost("taken over")


def test_a_run_whose_lock_was_taken_over_drops_nothing(
    tls_db_server: tuple[DbServer, TlsFiles],
) -> None:
    """The run that took the job's lock over (a retry of the same slot: the same names) may be
    using the schema and user: the run that lost its lease neither drops them at its end nor,
    at its start, removes the job's names as leftovers."""
    server, tls = tls_db_server
    settings = from_env(shared_env(server, tls, "b", "-", JOB_NAME="lease-job"))
    lease = _Lease()
    with shared_server.run_database(settings, {}, lease) as mine:
        lease.held = False  # taken over while the run works
    names = shared_server.run_names("lease-job", SLOT)
    assert mine.db_database == names.schema
    assert sorted(job_names_on(server, tls, "lease-job")) == [
        f"schema {names.schema}", f"user {names.user}",
    ]  # fmt: skip
    with pytest.raises(lock.LockLost), shared_server.run_database(settings, {}, lease):
        pass
    assert len(job_names_on(server, tls, "lease-job")) == 2  # the new holder's, untouched
    shared_server.leftovers(conn_session(server, tls), "lease-job")
    assert job_names_on(server, tls, "lease-job") == []
