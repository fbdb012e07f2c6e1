"""A run deletes only what it owns (issue 19): its own run folder, under its job's name and a
prefix no other job of the stack shares, only while its lease on the lock holds, and scratch
folders it made itself."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from etl_harness import (
    ROOT,
    FlakyS3,
    etl_env,
    finish,
    keys,
    manifest,
    one_table_job,
    put_csv,
    read_bytes,
    run_demo,
    run_etl,
    run_root,
    start_etl,
    users_job,
)

from components.settings import ConfigError, parse_settings
from etl import lock
from tools import job_folder


def put_rows(s3: Any, bucket: str, rows: int) -> None:
    put_csv(s3, bucket, "input/t/t.csv", "id,v\n" + "".join(f"{i},v{i}\n" for i in range(rows)))


# --- 1. jobs never share a run folder ---------------------------------------------------------


def test_two_jobs_on_one_output_prefix_keep_each_others_runs(
    env: tuple[Any, ...], s3: Any, tmp_path: Path
) -> None:
    """Same OUTPUT_PREFIX, same SCHEDULED_TIME, two JOB_NAMEs: the second run must not replace
    the first's manifest and parts (on main both wrote output/run=<time>/)."""
    db, database, bucket, endpoint = env
    put_rows(s3, bucket, 4)
    folder = str(one_table_job(tmp_path / "job"))
    for name in ("first", "second"):
        run = run_etl(db, database, bucket, endpoint, ETL_JOB=folder, JOB_NAME=name)
        assert run.returncode == 0, run.logs[-2:]
    for name in ("first", "second"):
        document = manifest(s3, bucket, run_root(name))
        assert document["job"] == "job"  # the folder's name; the run folder is JOB_NAME's
        [part] = document["exports"]["rows"]["files"]
        assert part["key"].startswith(run_root(name))
        assert part["key"] in keys(s3, bucket, run_root(name))


def job_config(prefixes: dict[str, str]) -> dict[str, Any]:
    jobs = {name: {"s3Prefix": prefix} for name, prefix in prefixes.items()}
    return {"image": {"build": {}}, "network": {"mode": "new"}, "jobs": jobs}


@pytest.mark.parametrize(
    ("prefixes", "overlap"),
    [
        ({"aa": "", "bb": ""}, ('jobs.bb.s3Prefix = ""', 'jobs.aa.s3Prefix = ""')),
        ({"aa": "team/", "bb": "team/eu/"}, ('jobs.bb.s3Prefix = "team/eu/"', '"team/"')),
        ({"aa": "eu/", "bb": ""}, ('jobs.bb.s3Prefix = ""', 'jobs.aa.s3Prefix = "eu/"')),
    ],
)
def test_overlapping_job_prefixes_are_refused_naming_both_keys(
    prefixes: dict[str, str], overlap: tuple[str, str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(job_config(prefixes))
    message = str(caught.value)
    assert all(f"scheduled-etl:{key}" in message or key in message for key in overlap), message
    assert "overlaps" in message


def test_separate_job_prefixes_are_accepted() -> None:
    settings = parse_settings(job_config({"aa": "team/a/", "bb": "team/b/", "cc": "teamc/"}))
    assert sorted(settings.jobs) == ["aa", "bb", "cc"]


# --- 2. only while the lease holds ------------------------------------------------------------

LOCK = "output/_locks/owned.lock"


def wait_for_lock(s3: Any, bucket: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while LOCK not in keys(s3, bucket, "output/_locks/"):
        assert time.monotonic() < deadline, "the first run never took the lock"
        time.sleep(0.05)
    return json.loads(read_bytes(s3, bucket, LOCK))  # type: ignore[no-any-return]


def test_a_run_taken_over_leaves_the_new_holders_run_folder_alone(
    env: tuple[Any, ...], s3: Any, tmp_path: Path
) -> None:
    """A sleeps in its transform; an operator force-releases its lock and B runs to success.
    On main A then withdrew B's manifest, cleared B's parts and exited 1 ("taken over")."""
    db, database, bucket, endpoint = env
    put_rows(s3, bucket, 6)
    slow = str(one_table_job(tmp_path / "slow", transform="DO SLEEP(6);"))
    quick = str(one_table_job(tmp_path / "quick"))
    first = start_etl(db, database, bucket, endpoint, ETL_JOB=slow, JOB_NAME="owned",
                      LOCK_STALE_SECONDS="3")  # fmt: skip
    holder = wait_for_lock(s3, bucket)
    tools = {**etl_env(db, database, bucket, endpoint), "JOB_NAME": "owned"}
    released = subprocess.run(
        [sys.executable, "-m", "etl", "unlock", "--force", "--holder", holder["owner"]],
        env=tools, cwd=ROOT, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert released.returncode == 0, released.stderr
    second = run_etl(db, database, bucket, endpoint, ETL_JOB=quick, JOB_NAME="owned")
    assert second.returncode == 0, second.logs[-2:]
    published = read_bytes(s3, bucket, f"{run_root('owned')}_manifest.json")
    parts = keys(s3, bucket, run_root("owned"))

    taken = finish(first)
    assert taken.returncode == 1
    assert taken.failure["error"] == "LockLost", taken.failure
    assert taken.events("cleanup_skipped"), "no clean-up of a folder that is not ours"
    assert read_bytes(s3, bucket, f"{run_root('owned')}_manifest.json") == published
    assert keys(s3, bucket, run_root("owned")) == parts
    assert keys(s3, bucket, "output/_locks/") == [], "B released its lock, A deleted nothing"


def test_renewals_refused_past_the_lease_end_the_run_before_it_writes(
    env: tuple[Any, ...], s3: Any, tmp_path: Path
) -> None:
    """A's renewals get 403 (not 412/404) for longer than LOCK_STALE_SECONDS: B takes the lock
    over and publishes. On main A only logged the refusals, exited 0 and replaced B's output."""
    db, database, bucket, endpoint = env
    put_rows(s3, bucket, 6)
    slow = str(one_table_job(tmp_path / "slow", transform="DO SLEEP(7);"))
    quick = str(one_table_job(tmp_path / "quick"))

    def renewal(method: str, path: str, headers: Any) -> bool:
        return (
            method == "PUT"
            and path.split("?", maxsplit=1)[0].endswith(LOCK)
            and "If-Match" in headers
        )

    with FlakyS3(endpoint, deny=renewal) as proxy:
        first = start_etl(db, database, bucket, proxy.url, ETL_JOB=slow, JOB_NAME="owned",
                          LOCK_STALE_SECONDS="3")  # fmt: skip
        wait_for_lock(s3, bucket)
        time.sleep(3.5)  # the lock is stale for everyone else now
        second = run_etl(db, database, bucket, endpoint, ETL_JOB=quick, JOB_NAME="owned",
                         LOCK_STALE_SECONDS="3")  # fmt: skip
        assert second.returncode == 0, second.logs[-2:]
        assert second.events("lock_taken_over")
        published = read_bytes(s3, bucket, f"{run_root('owned')}_manifest.json")
        parts = keys(s3, bucket, run_root("owned"))
        lapsed = finish(first)
    assert proxy.denied >= 1
    assert lapsed.returncode == 1, lapsed.logs[-3:]
    assert lapsed.failure["error"] == "LockLost" and "lapsed" in lapsed.failure["cause"]
    assert read_bytes(s3, bucket, f"{run_root('owned')}_manifest.json") == published
    assert keys(s3, bucket, run_root("owned")) == parts


class TakeoverBetweenReadAndDelete:
    """An S3 client on which another run takes the lock over just before our delete."""

    def __init__(self, s3: Any) -> None:
        self.s3 = s3

    def __getattr__(self, name: str) -> Any:
        return getattr(self.s3, name)

    def delete_object(self, **kwargs: Any) -> Any:
        newer = {"owner": "b", "host": "h", "acquired_at": "2026-11-01T04:00:00+00:00"}
        self.s3.put_object(Bucket=kwargs["Bucket"], Key=kwargs["Key"], Body=json.dumps(newer))
        return self.s3.delete_object(**kwargs)

    def get_object(self, **kwargs: Any) -> Any:
        return self.s3.get_object(**kwargs)


def test_release_deletes_only_the_lock_version_it_wrote(s3: Any, bucket: str) -> None:
    held = lock.acquire(s3, bucket, LOCK, 60, {"scheduled_time": "2026-11-01T04:00:00Z"})
    lock.release(TakeoverBetweenReadAndDelete(s3), bucket, held)
    assert json.loads(read_bytes(s3, bucket, LOCK))["owner"] == "b", "the new holder's lock"
    s3.delete_object(Bucket=bucket, Key=LOCK)
    mine = lock.acquire(s3, bucket, LOCK, 60, {})
    lock.release(s3, bucket, mine)
    assert keys(s3, bucket, LOCK) == []


def test_writes_through_a_lapsed_lease_are_refused(s3: Any, bucket: str) -> None:
    held = lock.acquire(s3, bucket, LOCK, 3, {})
    heartbeat = lock.Heartbeat(s3, bucket, held, 3)  # never started: no renewal gets through
    leased = lock.Leased(s3, heartbeat)
    leased.put_object(Bucket=bucket, Key="output/owned/x", Body=b"1")  # within the lease
    held.renewed -= heartbeat.lease  # as if renewals had failed for the whole lease
    with pytest.raises(lock.LockLost, match="lapsed"):
        leased.delete_object(Bucket=bucket, Key="output/owned/x")
    assert keys(s3, bucket, "output/owned/") == ["output/owned/x"]
    assert leased.get_object(Bucket=bucket, Key="output/owned/x")["Body"].read() == b"1"


# --- 2. scratch folders: only those no live run holds -----------------------------------------


def test_start_of_run_clean_up_spares_a_live_runs_scratch_folder(
    env: tuple[Any, ...], s3: Any, tmp_path: Path
) -> None:
    db, database, bucket, endpoint = env
    put_rows(s3, bucket, 3)
    name = f"scratch{uuid.uuid4().hex[:8]}"
    base = Path(tempfile.gettempdir())
    live, dead = base / f"etl-run@{name}@live", base / f"etl-run@{name}@dead"
    for folder in (live, dead):
        folder.mkdir()
        (folder / "part.csv.gz").write_bytes(b"x")
    handle = os.open(live, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)  # as a running job holds its scratch folder
        run = run_etl(db, database, bucket, endpoint, ETL_JOB=str(one_table_job(tmp_path / "j")),
                      JOB_NAME=name)  # fmt: skip
        assert run.returncode == 0, run.logs[-2:]
        assert (live / "part.csv.gz").exists(), "another live run's folder is not ours"
        assert not dead.exists(), "a dead run's leftover goes"
        [removed] = run.events("leftovers_removed")
        assert removed["paths"] == [str(dead)]
    finally:
        os.close(handle)
        shutil.rmtree(live, ignore_errors=True)
        shutil.rmtree(dead, ignore_errors=True)


# --- 7. local mode: every input or none, and never through a link -----------------------------

NOBODY = 65534


def local_run(
    db: Any, database: str, data: Path, job: Path, drop_dac: bool = False
) -> subprocess.CompletedProcess[str]:
    """`python -m etl run` in local mode (DATA_DIR); with `drop_dac`, as root without the
    capabilities that let root read any folder (it still reads the checkout and venv it owns,
    wherever they are, which another user could not when they sit in a 0700 temp folder)."""
    env = etl_env(db, database, "unused", "http://unused", DATA_DIR=str(data), ETL_JOB=str(job))
    for name in ("DATA_BUCKET", "AWS_ENDPOINT_URL_S3"):
        env.pop(name)
    caps = "-dac_override,-dac_read_search"
    unprivileged = ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}"] if drop_dac else []
    return subprocess.run(  # the exit status is part of what the test checks
        [*unprivileged, sys.executable, "-m", "etl", "run"], env=env, cwd=ROOT,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_local_mode_fails_on_an_input_folder_it_cannot_read(
    env: tuple[Any, ...], tmp_path: Path
) -> None:
    """On main the unreadable folder was skipped and the run exited 0 with half the rows.
    (Root reads every folder, so as root the job runs without CAP_DAC_OVERRIDE.)"""
    db, database, _, _ = env
    data, job = tmp_path / "data", one_table_job(tmp_path / "job")
    (data / "input" / "t" / "later").mkdir(parents=True)
    (data / "input" / "t" / "a.csv").write_text("id,v\n1,a\n")
    (data / "input" / "t" / "later" / "b.csv").write_text("id,v\n2,b\n")
    (data / "input" / "t" / "later").chmod(0)
    try:
        done = local_run(db, database, data, job, drop_dac=os.geteuid() == 0)
        assert done.returncode == 1, done.stdout[-1500:] + done.stderr[-1500:]
        failed = [json.loads(line) for line in done.stdout.splitlines() if "run_failed" in line]
        assert failed[0]["stage"] == "extract", failed
        assert f"cannot list {data}/input/t/later" in failed[0]["cause"]
        assert not (data / "output" / "job").exists(), "no run folder, no manifest"
    finally:
        (data / "input" / "t" / "later").chmod(0o755)


def test_a_local_rerun_never_deletes_through_a_link_in_its_run_folder(
    env: tuple[Any, ...], tmp_path: Path
) -> None:
    """A link in the run folder to a folder elsewhere: on main the rerun's clear listed the
    files behind it and deleted them."""
    db, database, _, _ = env
    data, job = tmp_path / "data", one_table_job(tmp_path / "job")
    (data / "input" / "t").mkdir(parents=True)
    (data / "input" / "t" / "a.csv").write_text("id,v\n1,a\n")
    assert local_run(db, database, data, job).returncode == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious.txt").write_text("keep me")
    (data / run_root("job") / "notes").symlink_to(elsewhere)
    rerun = local_run(db, database, data, job)
    assert (elsewhere / "precious.txt").read_text() == "keep me"
    assert rerun.returncode == 1, rerun.stdout[-1500:]
    assert "is a symbolic link: local mode never writes or deletes through links" in rerun.stdout


# --- 8. validate --database: the folder's SQL touches only its throw-away database ------------


def throwaway_users(db: Any) -> set[str]:
    with db.connect() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT user FROM mysql.user WHERE user LIKE 'etl\\_validate\\_%'")
        return {row[0] for row in cursor.fetchall()}


def validate_database(db: Any, folder: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "DB_HOST": db.host,
           "DB_PORT": str(db.port), "DB_USERNAME": db.user, "DB_PASSWORD": db.password}  # fmt: skip
    return subprocess.run(  # the exit status is part of what the test checks
        [sys.executable, "-m", "etl", "validate", str(folder), "--database"], env=env,
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_validate_database_runs_the_folders_sql_confined_to_its_database(
    db_server: Any, shared_dir: Path, tmp_path: Path
) -> None:
    """On main the SQL ran as DB_USERNAME (root here): it created another database and read
    and wrote server files. Now each statement below is refused, and nothing stays behind."""
    victim, written = f"victim_{uuid.uuid4().hex[:8]}", shared_dir / "written.txt"
    users = throwaway_users(db_server)
    attacks = {
        "another database": f"CREATE DATABASE {victim};",
        "a server file written": f"SELECT 1 INTO OUTFILE '{written}';",
        "mysql.user read": "CREATE TABLE leak AS SELECT user FROM mysql.user;",
    }
    for what, sql in attacks.items():
        folder = one_table_job(tmp_path / what.replace(" ", "_"), transform=sql)
        done = validate_database(db_server, folder)
        assert done.returncode == 1, (what, done.stdout)
        assert "denied" in done.stdout.lower(), (what, done.stdout)
    assert not written.exists()
    with db_server.connect() as conn, conn.cursor() as cursor:
        assert cursor.execute("SHOW DATABASES LIKE %s", (victim,)) == 0
    assert throwaway_users(db_server) == users, "the throw-away account is dropped"


def test_validate_database_still_runs_a_good_folder(db_server: Any, tmp_path: Path) -> None:
    folder = one_table_job(tmp_path / "good", transform="CREATE TABLE u AS SELECT id FROM t;",
                           export="SELECT id FROM u ORDER BY id")  # fmt: skip
    done = validate_database(db_server, folder)
    assert done.returncode == 0, done.stdout
    assert "export rows: id" in done.stdout


# --- 8. the demo's copy of a job folder ---------------------------------------------------------


def test_a_job_folder_with_a_link_out_or_a_device_is_refused_before_anything_reads_it(
    tmp_path: Path,
) -> None:
    """On main the demo copied through links (a link to /etc/shadow ended up world-readable, a
    link to /dev/zero copied until the disk filled)."""
    secret = tmp_path / "secret.sql"
    secret.write_text("SELECT 'not yours';")
    for name, target in (("leak", secret), ("zero", Path("/dev/zero"))):
        folder = one_table_job(tmp_path / name)
        (folder / "transform" / "20_more.sql").symlink_to(target)
        [problem] = job_folder.problems(folder)
        assert "outside the job folder" in problem and str(target) in problem
        with pytest.raises(job_folder.JobFolderError):
            job_folder.copy(folder, tmp_path / f"{name}-copy", os.getuid(), os.getgid())
    fifo = one_table_job(tmp_path / "fifo")
    os.mkfifo(fifo / "transform" / "20_pipe.sql")
    assert job_folder.problems(fifo) == [
        f"{fifo.resolve()}/transform/20_pipe.sql is not a regular file or folder"
    ]


def test_the_copy_keeps_inner_links_and_is_readable_by_its_user_only(tmp_path: Path) -> None:
    folder = one_table_job(tmp_path / "job")
    (folder / "transform" / "20_again.sql").symlink_to("10_step.sql")
    (folder / "transform" / "10_step.sql").write_text("DO 1;")
    copy = tmp_path / "staged" / "job"
    copy.parent.mkdir()
    job_folder.copy(folder, copy, NOBODY, NOBODY)
    linked = copy / "transform" / "20_again.sql"
    assert linked.is_symlink() and os.readlink(linked) == "10_step.sql"
    assert linked.read_text() == "DO 1;"
    for path in [copy, *copy.rglob("*")]:
        info = path.lstat()
        assert (info.st_uid, info.st_gid) == (NOBODY, NOBODY), path
        if not path.is_symlink():
            assert info.st_mode & 0o077 == 0, f"{path} is readable by others"


def demo_env(db: Any) -> dict[str, str]:
    return {**os.environ, "DEMO_DB_HOST": db.host, "DEMO_DB_PORT": str(db.port),
            "DEMO_DB_USER": db.user, "DEMO_DB_PASSWORD": db.password}  # fmt: skip


def test_the_demo_stops_on_a_job_folder_linking_out(db_server: Any, tmp_path: Path) -> None:
    job, inputs = users_job(tmp_path)
    outside = tmp_path / "outside.sql"
    outside.write_text("DO 1;")
    (job / "transform" / "20_outside.sql").symlink_to(outside)
    done = run_demo("--plain", "--job", str(job), "--inputs", str(inputs),
                    "--out", str(tmp_path / "out"), env=demo_env(db_server))  # fmt: skip
    assert done.returncode == 2, done.stdout[-2000:]
    assert f"links to {outside}, outside the job folder" in done.stdout
    assert "the task was not started" in done.stderr


class LateRenewals:
    """S3 whose renewals (If-Match writes) are applied but answered `delay` seconds late."""

    def __init__(self, s3: Any, delay: float) -> None:
        self.s3, self.delay = s3, delay

    def put_object(self, **kwargs: Any) -> Any:
        reply = self.s3.put_object(**kwargs)
        if "IfMatch" in kwargs:
            time.sleep(self.delay)
        return reply


def test_a_run_whose_renewal_lands_after_its_lease_lapsed_still_releases_the_lock(
    s3: Any, bucket: str
) -> None:
    """The renewal was written but answered after the lease had lapsed: main kept the old
    ETag, so the release was refused (412) and the lock, freshly renewed, blocked the job's
    next runs for LOCK_STALE_SECONDS although nobody held it."""
    held = lock.acquire(s3, bucket, LOCK, 3, {})
    with lock.Heartbeat(LateRenewals(s3, 2.0), bucket, held, 3) as heartbeat:
        time.sleep(heartbeat.lease + 0.3)  # the renewal sent at `every` is not answered yet
        assert not heartbeat.held  # the lease counted from the acquisition is over
    lock.release(s3, bucket, held)
    assert keys(s3, bucket, LOCK) == [], "nobody else holds it: the lock goes"


def test_a_lock_renewed_by_a_host_with_a_slow_clock_is_not_taken_over(s3: Any, bucket: str) -> None:
    """The holder's clock is 20 minutes behind: main read its just-written renewed_at as 20
    minutes old and took over a lock renewed a moment ago (the holder's margin is one beat,
    LOCK_STALE_SECONDS / 3 at most 5 minutes). S3's clock decides the lock's age."""
    slow = (datetime.now(UTC) - timedelta(minutes=20)).isoformat(timespec="seconds")
    body = {"owner": "slow", "host": "h", "acquired_at": slow, "renewed_at": slow}
    s3.put_object(Bucket=bucket, Key=LOCK, Body=json.dumps(body).encode())
    with pytest.raises(lock.LockHeld, match="held by run slow"):
        lock.acquire(s3, bucket, LOCK, 600, {})
    assert json.loads(read_bytes(s3, bucket, LOCK))["owner"] == "slow"
