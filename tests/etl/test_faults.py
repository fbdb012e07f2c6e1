"""Faults, each injected for real: none may publish partial output or touch the input.

The job runs as a subprocess against the real database server and S3 over HTTP; proxies in
between make the database late or cut it off, or make S3 answer 503 for a while.
"""

from __future__ import annotations

import json
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from etl_harness import (
    CuttingProxy,
    DelayedProxy,
    FlakyS3,
    finish,
    keys,
    manifest,
    one_table_job,
    put_csv,
    read_bytes,
    run_etl,
    start_etl,
)

from etl import sample
from tools.s3_emulator import free_port

LOCK = "output/_locks/fault_job.lock"
ROOT_OUT = "output/fault_job/run=20261101T040000Z/"


def make_job(
    tmp_path: Path, transform: str = "", export: str = "SELECT * FROM t ORDER BY id"
) -> Path:
    return one_table_job(tmp_path / "fault_job", transform, export)


def put_rows(s3: Any, bucket: str, rows: int) -> None:
    lines = "".join(
        f'{i},"value {i}, with ""quotes"" and padding {"x" * 60}"\n' for i in range(rows)
    )
    put_csv(s3, bucket, "input/t/t.csv", "id,v\n" + lines)


def snapshot(s3: Any, bucket: str, prefix: str) -> dict[str, bytes]:
    return {key: read_bytes(s3, bucket, key) for key in keys(s3, bucket, prefix)}


def assert_clean_failure(
    run: Any, s3: Any, bucket: str, inputs: dict[str, bytes], code: int = 1
) -> None:
    assert run.returncode == code, run.logs[-3:]
    assert len(run.events("run_failed")) == 1
    assert keys(s3, bucket, "output/") == [], "no manifest, no parts, no lock left behind"
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert snapshot(s3, bucket, "input/") == inputs, "the input is never touched"
    assert run.events("run_metrics")[0]["Succeeded"] == 0


# --- one run at a time ----------------------------------------------------------------------


def test_a_second_concurrent_run_exits_with_its_own_code(
    env: tuple[Any, ...], s3: Any, tmp_path: Path
) -> None:
    db, database, bucket, endpoint = env
    put_rows(s3, bucket, 10)
    folder = str(make_job(tmp_path, transform="DO SLEEP(3);"))
    first = start_etl(db, database, bucket, endpoint, ETL_JOB=folder)
    deadline = time.monotonic() + 20
    while LOCK not in keys(s3, bucket, "output/_locks/") and time.monotonic() < deadline:
        time.sleep(0.05)
    second = run_etl(db, database, bucket, endpoint, ETL_JOB=folder)
    assert second.returncode == 3
    [skipped] = second.events("run_skipped")
    assert skipped["stage"] == "lock" and "is held by run" in skipped["cause"]
    assert second.events("run_metrics") == [], "a skipped run reports no metrics"
    assert finish(first).returncode == 0
    assert manifest(s3, bucket)["exports"]["rows"]["rows"] == 10
    assert keys(s3, bucket, "output/_locks/") == [], "the lock is released at the end"


def test_a_stale_lock_is_taken_over(env: tuple[Any, ...], s3: Any, tmp_path: Path) -> None:
    db, database, bucket, endpoint = env
    put_rows(s3, bucket, 5)
    old = (datetime.now(UTC) - timedelta(hours=7)).isoformat(timespec="seconds")
    holder = {"owner": "dead", "host": "gone", "acquired_at": old}
    s3.put_object(Bucket=bucket, Key=LOCK, Body=json.dumps(holder))
    run = run_etl(db, database, bucket, endpoint, ETL_JOB=str(make_job(tmp_path)))
    assert run.returncode == 0, run.logs[-2:]
    [taken] = run.events("lock_taken_over")
    assert taken["stale_owner"] == "dead" and taken["age_s"] >= 7 * 3600
    assert keys(s3, bucket, "output/_locks/") == []


def test_a_fresh_lock_is_respected(env: tuple[Any, ...], s3: Any, tmp_path: Path) -> None:
    db, database, bucket, endpoint = env
    put_rows(s3, bucket, 5)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    s3.put_object(Bucket=bucket, Key=LOCK,
                  Body=json.dumps({"owner": "alive", "host": "h", "acquired_at": now}))  # fmt: skip
    run = run_etl(db, database, bucket, endpoint, ETL_JOB=str(make_job(tmp_path)))
    assert run.returncode == 3
    assert json.loads(read_bytes(s3, bucket, LOCK))["owner"] == "alive", "not ours to release"
    assert keys(s3, bucket, ROOT_OUT) == []


# --- the database: late, or lost mid-export ---------------------------------------------------


def test_database_ready_only_after_30_seconds(
    env: tuple[Any, ...], s3: Any, tmp_path: Path
) -> None:
    db, database, bucket, endpoint = env
    put_rows(s3, bucket, 20)
    port = free_port()
    with DelayedProxy(port, (db.host, db.port), delay=30.0):
        run = run_etl(db, database, bucket, endpoint, ETL_JOB=str(make_job(tmp_path)),
                      DB_HOST="127.0.0.1", DB_PORT=str(port), timeout=180)  # fmt: skip
    assert run.returncode == 0, run.logs[-2:]
    assert run.events("waiting_for_database"), "it said it was waiting"
    # The port opens 30 s in: the connect stage cannot end earlier (the last wait line's own
    # time depends on the backoff schedule and the machine's load, so it is not asserted).
    [connected] = [e for e in run.events("stage_finished") if e["stage"] == "connect"]
    assert connected["elapsed_s"] >= 25
    assert manifest(s3, bucket)["exports"]["rows"]["rows"] == 20


def test_connection_killed_mid_export(env: tuple[Any, ...], s3: Any, tmp_path: Path) -> None:
    db, database, bucket, endpoint = env
    put_rows(s3, bucket, 60_000)  # ~6 MB to stream back
    inputs = snapshot(s3, bucket, "input/")
    with CuttingProxy((db.host, db.port), after_bytes=2_000_000) as proxy:
        run = run_etl(db, database, bucket, endpoint, ETL_JOB=str(make_job(tmp_path)),
                      DB_HOST="127.0.0.1", DB_PORT=str(proxy.port), DB_WAIT_SECONDS="1",
                      EXPORT_PART_ROWS="5000")  # fmt: skip
    assert proxy.cut.is_set()
    assert run.failure["stage"] == "export", run.failure
    assert_clean_failure(run, s3, bucket, inputs)

    rerun = run_etl(db, database, bucket, endpoint, ETL_JOB=str(make_job(tmp_path)),
                    EXPORT_PART_ROWS="5000")  # fmt: skip
    assert rerun.returncode == 0, "a rerun of the same scheduled time after a failure"
    assert manifest(s3, bucket)["exports"]["rows"]["rows"] == 60_000


# --- the task is stopped -------------------------------------------------------------------


def test_sigterm_mid_run(env: tuple[Any, ...], s3: Any, tmp_path: Path) -> None:
    db, database, bucket, endpoint = env
    put_rows(s3, bucket, 10)
    inputs = snapshot(s3, bucket, "input/")
    process = start_etl(db, database, bucket, endpoint,
                        ETL_JOB=str(make_job(tmp_path, transform="DO SLEEP(60);")))  # fmt: skip
    assert process.stdout is not None
    lines = []
    for line in process.stdout:  # wait until the job is inside the long transform
        lines.append(line)
        if '"stage": "transform"' in line and "stage_started" in line:
            break
    stopped = time.monotonic()
    process.send_signal(signal.SIGTERM)
    run = finish(process, timeout=30)
    assert time.monotonic() - stopped < 10, "well inside the task's 120 s stop timeout"
    assert run.returncode == 143
    assert run.failure["stage"] == "transform" and "SIGTERM" in run.failure["cause"]
    assert_clean_failure(run, s3, bucket, inputs, code=143)


def test_failed_export_aborts_multipart_uploads_and_removes_parts(
    env: tuple[Any, ...], s3: Any, tmp_path: Path
) -> None:
    db, database, bucket, endpoint = env
    put_rows(s3, bucket, 100)
    inputs = snapshot(s3, bucket, "input/")
    # An upload a killed earlier attempt left open under this run's folder.
    s3.create_multipart_upload(Bucket=bucket, Key=f"{ROOT_OUT}rows/part-00007.csv.gz")
    folder = make_job(tmp_path)
    (folder / "export" / "zz_broken.sql").write_text("SELECT no_such_column FROM t")
    run = run_etl(db, database, bucket, endpoint, ETL_JOB=str(folder), EXPORT_PART_ROWS="30")
    assert run.failure["stage"] == "export" and "no_such_column" in run.failure["cause"]
    assert_clean_failure(run, s3, bucket, inputs)


# --- S3 -------------------------------------------------------------------------------------


def test_s3_answering_503_for_a_while(env: tuple[Any, ...], s3: Any, tmp_path: Path) -> None:
    db, database, bucket, endpoint = env
    put_rows(s3, bucket, 50)
    with FlakyS3(endpoint, failures=6) as flaky:
        run = run_etl(db, database, bucket, flaky.url, ETL_JOB=str(make_job(tmp_path)),
                      AWS_REQUEST_CHECKSUM_CALCULATION="when_required")  # fmt: skip
    assert flaky.failed == 6
    assert run.returncode == 0, run.logs[-2:]
    assert manifest(s3, bucket)["exports"]["rows"]["rows"] == 50


def test_s3_answering_403_mid_export_fails_like_any_stage(
    env: tuple[Any, ...], s3: Any, tmp_path: Path
) -> None:
    """The role loses access to the run folder once the first part goes up (a policy changed
    mid-run). On main: a traceback, no run_failed line, no metrics (the clean-up's own 403
    escaped every handler)."""
    db, database, bucket, endpoint = env
    put_rows(s3, bucket, 50)
    revoked = {"at": False}

    def run_folder(method: str, path: str, headers: Any) -> bool:
        path = unquote(path)
        revoked["at"] = revoked["at"] or (method == "PUT" and "/rows/part-" in path)
        return revoked["at"] and ROOT_OUT in path

    with FlakyS3(endpoint, deny=run_folder) as proxy:
        run = run_etl(db, database, bucket, proxy.url, ETL_JOB=str(make_job(tmp_path)),
                      EXPORT_PART_ROWS="10",
                      AWS_REQUEST_CHECKSUM_CALCULATION="when_required")  # fmt: skip
    assert proxy.denied >= 1
    assert "Traceback" not in run.stderr, run.stderr[-2000:]
    assert run.returncode == 1
    assert run.failure["stage"] == "export" and "AccessDenied" in run.failure["cause"]
    assert run.events("cleanup_failed"), "the clean-up's 403 is said, not raised"
    assert run.events("run_metrics")[0]["Succeeded"] == 0
    assert keys(s3, bucket, "output/_locks/") == [], "the lock is released"


def test_an_input_deleted_between_list_and_get_is_named(
    env: tuple[Any, ...], s3: Any, tmp_path: Path
) -> None:
    db, database, bucket, endpoint = env
    put_rows(s3, bucket, 5)
    inputs = snapshot(s3, bucket, "input/")

    def deleted(method: str, path: str, headers: Any) -> bool:
        return method == "GET" and path.endswith("/input/t/t.csv")  # the get, not the list

    with FlakyS3(endpoint, gone=deleted) as proxy:
        run = run_etl(db, database, bucket, proxy.url, ETL_JOB=str(make_job(tmp_path)))
    assert proxy.denied >= 1
    assert run.failure["stage"] == "load"
    assert f"s3://{bucket}/input/t/t.csv was listed but is gone" in run.failure["cause"]
    assert_clean_failure(run, s3, bucket, inputs)


@pytest.mark.parametrize(
    ("name", "value"),
    [("SCHEDULED_TIME", "9999-12-31T23:59:59-01:00"), ("DB_STATEMENT_TIMEOUT_SECONDS", "1e300")],
)
def test_settings_out_of_range_exit_2_naming_the_setting(
    env: tuple[Any, ...], s3: Any, tmp_path: Path, name: str, value: str
) -> None:
    db, database, bucket, endpoint = env
    put_rows(s3, bucket, 3)
    run = run_etl(db, database, bucket, endpoint, ETL_JOB=str(make_job(tmp_path)),
                  **{name: value})  # fmt: skip
    assert "Traceback" not in run.stderr, run.stderr[-2000:]
    assert run.returncode == 2
    assert run.failure["stage"] == "settings" and f"{name}={value!r}" in run.failure["cause"]
    assert keys(s3, bucket, "output/") == []


def test_a_csv_at_the_input_prefix_root_is_logged(
    env: tuple[Any, ...], s3: Any, tmp_path: Path
) -> None:
    db, database, bucket, endpoint = env
    put_rows(s3, bucket, 3)
    put_csv(s3, bucket, "input/t.csv", "id,v\n99,meant for t\n")
    run = run_etl(db, database, bucket, endpoint, ETL_JOB=str(make_job(tmp_path)))
    assert run.returncode == 0, run.logs[-2:]
    [skipped] = [e for e in run.events("input_skipped") if e["key"] == "input/t.csv"]
    assert "not in a table's folder (input/<table>/)" in skipped["reason"]
    assert manifest(s3, bucket)["inputs"]["t"]["rows"] == 3


def test_malformed_csv_fails_cleanly(env: tuple[Any, ...], s3: Any, tmp_path: Path) -> None:
    db, database, bucket, endpoint = env
    put_csv(s3, bucket, "input/t/t.csv", 'id,v\n1,"fine"\n2,"broken\n')
    inputs = snapshot(s3, bucket, "input/")
    run = run_etl(db, database, bucket, endpoint, ETL_JOB=str(make_job(tmp_path)))
    assert run.failure["stage"] == "load" and "malformed CSV" in run.failure["cause"]
    assert_clean_failure(run, s3, bucket, inputs)


def test_sample_sized_run_after_faults(env: tuple[Any, ...], s3: Any, tmp_path: Path) -> None:
    """After all that, the bundled job still runs end to end on the same machinery."""
    db, database, bucket, endpoint = env
    for path in sample.write(tmp_path / "s", rows=500, seed=3, month="2026-10", gzipped=True):
        s3.upload_file(str(path), bucket, f"input/{path.parent.name}/{path.name}")
    assert run_etl(db, database, bucket, endpoint).returncode == 0
