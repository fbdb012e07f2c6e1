"""One run of the job, its stages in order: job definition -> lock -> connect -> schema ->
extract -> load -> transform -> export -> manifest. Each stage lives in its own module (extract,
load, transform, export, manifest; SQL helpers in db); this one only sequences them, logs each
stage's start and end, and names the stage a failure or a stop happened in.

Output becomes visible atomically from a reader's point of view: the run's manifest is
written last, and a rerun removes the old manifest before anything else under its folder.

A run deletes only what it owns (docs/ownership.md): its run folder OUTPUT_PREFIX<JOB_NAME>/
run=<time>/, through S3 calls that each check the lock's lease first (lock.Leased), and
scratch folders no live run holds (flock).
"""

from __future__ import annotations

import fcntl
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from etl import db, lock, log, manifest, shared_server, storage
from etl.context import RunContext
from etl.contract import DbServer, ExportPath
from etl.export import export_all, server_files
from etl.extract import discover
from etl.jobdef import (
    ExportQuery,
    JobDefinition,
    JobDefinitionError,
    created_tables,
    export_query,
    load_job,
    statements,
)
from etl.load import load_all
from etl.settings import Settings
from etl.transform import create_schema, run_transforms


class Terminated(BaseException):
    """SIGTERM: ECS is stopping the task (stopTimeout later it sends SIGKILL). A
    BaseException, like KeyboardInterrupt: no `except Exception` on the way may swallow it."""


class StageFailed(Exception):
    def __init__(self, stage: str, cause: BaseException) -> None:
        super().__init__(f"{stage}: {cause}")
        self.stage, self.cause = stage, cause


def run(settings: Settings) -> dict[str, Any]:
    """Run the job once, holding the job's lock; returns the manifest. Raises StageFailed
    naming the stage (its cause is LockHeld when another run holds the lock)."""
    started = datetime.now(UTC)
    bucket, root = settings.data_bucket, settings.output_root
    log.info(
        "run_started",
        scheduled_time=manifest.iso(settings.scheduled_time),
        job=settings.job_name,
        job_dir=str(settings.job_dir),
        output=settings.url(root),  # the folder in local mode, not s3:///tmp/...
    )
    with stage("job_definition"):
        try:
            job = load_job(settings.job_dir)
            for path in (job.schema, *job.transforms):
                statements(path)  # every SQL file readable and splittable before the lock
            tables = created_tables(job.schema)
            exports = [export_query(name, path) for name, path in job.exports.items()]
        except (OSError, UnicodeError, ValueError, IndexError, StopIteration) as exc:
            raise JobDefinitionError(f"{settings.job_dir}: {exc}") from exc
    s3 = storage.open_store(settings.data_dir)  # S3, or a folder in local mode
    with stage("lock", key=settings.lock_key):
        held = lock.acquire(s3, bucket, settings.lock_key, settings.lock_stale_seconds,
                            {"scheduled_time": manifest.iso(settings.scheduled_time)})  # fmt: skip
    try:
        with lock.Heartbeat(s3, bucket, held, settings.lock_stale_seconds) as heartbeat:
            leased = lock.Leased(s3, heartbeat)  # every write and delete checks the lease
            document = _run_locked(settings, leased, job, tables=tables, exports=exports,
                                   started=started, heartbeat=heartbeat)  # fmt: skip
    finally:
        try:
            lock.release(s3, bucket, held)  # on success, failure and SIGTERM alike
        except Exception as exc:  # (S3 refusing): the run's own outcome is what counts
            log.error("lock_not_released", key=held.key, cause=str(exc))
    log.info(
        "run_succeeded",
        manifest=settings.url(f"{root}{manifest.MANIFEST}"),
        elapsed_s=round((datetime.now(UTC) - started).total_seconds(), 3),
    )
    return document


def _run_locked(
    settings: Settings,
    s3: Any,
    job: JobDefinition,
    *,
    tables: list[str],
    exports: list[ExportQuery],
    started: datetime,
    heartbeat: lock.Heartbeat,
) -> dict[str, Any]:
    bucket, root = settings.data_bucket, settings.output_root
    with ExitStack() as held:
        with stage("connect", server=settings.db_server) as done:
            if settings.db_server == DbServer.SHARED:
                # The run's own schema and user (etl/shared_server.py), dropped at the end.
                settings = held.enter_context(shared_server.run_database(settings, done, heartbeat))
            conn = held.enter_context(db.connect(settings))
            loader = held.enter_context(db.connect(settings, loads=True))
            if settings.db_server == DbServer.TASK:
                done.update(waited_s=conn.waited_s, attempts=conn.attempts)
        tmp = held.enter_context(_scratch(settings))
        _clean_leftovers(settings)  # (after _scratch: this run's own folder is held)
        ctx = RunContext(conn, s3, bucket, tmp, settings.job_name, loader, settings.csv_null)
        with stage("schema", tables=tables):
            columns = create_schema(conn, job.schema, tables)
        with stage("extract"):
            inputs = discover(s3, bucket, settings.input_prefix, tables)
        with stage("load"):
            load_all(ctx, inputs, columns)
        with stage("transform", files=[p.name for p in job.transforms]):
            run_transforms(conn, job.transforms, settings.scheduled_time, loader)
        try:
            db.reset_session(conn)  # whatever the transforms SET, exports read UTC and UTF-8
            mode = ExportPath.SHARED if settings.db_shared_dir else ExportPath.STREAM
            with stage("export", exports=[e.name for e in exports], path=mode):
                # A rerun replaces the run folder. The old manifest goes first, so no reader
                # ever sees a manifest beside parts that are not its own; multipart uploads
                # a killed run left open go too.
                manifest.withdraw(s3, bucket, root)
                storage.clear_prefix(s3, bucket, root)
                results = export_all(ctx, root, exports, settings.export_part_rows,
                                     settings.db_shared_dir)  # fmt: skip
            with stage("manifest"):
                heartbeat.check()  # never publish a run another run has taken over from us
                document = manifest.build(settings, job.name, started, inputs, results)
                manifest.publish(s3, bucket, root, document)
        except BaseException:
            _clear_after_failure(s3, bucket, root, heartbeat)
            raise
    return document


def _clear_after_failure(s3: Any, bucket: str, root: str, heartbeat: lock.Heartbeat) -> None:
    """No half-written run folder: abort open multipart uploads, remove finished parts; but
    only while the lease holds (after a takeover the folder is the other run's), and never in
    place of the failure that brought us here."""
    if not heartbeat.held:
        log.error("cleanup_skipped", prefix=root, cause=heartbeat.lock.lost)
        return
    try:
        storage.clear_prefix(s3, bucket, root)
    except Exception as exc:
        log.error("cleanup_failed", prefix=root, cause=str(exc))


@contextmanager
def stage(name: str, **fields: Any) -> Iterator[dict[str, Any]]:
    """Log the stage's start and end, name it in a failure; what the block puts in the
    dict it gets goes into `stage_finished` (the connect stage's wait for the database)."""
    started, done = time.monotonic(), dict[str, Any]()
    try:
        log.info("stage_started", stage=name, **fields)  # (a SIGTERM just after it: this stage)
        yield done
    except StageFailed:
        raise
    except (Exception, Terminated) as exc:
        raise StageFailed(name, exc) from exc
    log.info(
        "stage_finished",
        stage=name,
        elapsed_s=round(time.monotonic() - started, 3),
        peak_rss_mb=peak_rss_mb(),
        **done,
    )


def peak_rss_mb() -> int:
    """This process's peak memory so far, what the task's memory size has to cover. VmHWM
    counts from exec; ru_maxrss would include the parent's memory before the fork."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


@contextmanager
def _scratch(settings: Settings) -> Iterator[Path]:
    """This run's scratch folder, flock-held while the run lives: another run's clean-up
    tells it from a dead run's leftover by the lock, not by its name."""
    path = Path(tempfile.mkdtemp(prefix=_scratch_prefix(settings)))
    handle = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        os.close(handle)


def _dead_scratch(path: Path) -> bool:
    """Remove `path` if it is a scratch folder of ours that no live run holds; True if done."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return False  # gone, a link, or not a folder
    try:
        if os.fstat(handle).st_uid != os.getuid():
            return False  # another user's
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(handle)
        return False  # a live run holds it (flock): not ours to remove
    try:
        shutil.rmtree(path, ignore_errors=True)
    finally:
        os.close(handle)
    return True


def _clean_leftovers(settings: Settings) -> None:
    """Remove what runs of this job killed earlier (kill -9, a lost task) left on this
    machine: scratch folders no live run holds, and the server's export files (the job's
    lock is held, so no live run of the job is writing them)."""
    candidates = sorted(Path(tempfile.gettempdir()).glob(f"{_scratch_prefix(settings)}*"))
    left = [path for path in candidates if _dead_scratch(path)]
    if settings.db_shared_dir:
        files = server_files(settings.db_shared_dir, settings.job_name)
        for path in files:
            path.unlink(missing_ok=True)
        left += files
    if left:
        log.info("leftovers_removed", paths=[str(p) for p in left])


def _scratch_prefix(settings: Settings) -> str:
    # '@' is never in a job name. Not main's `etl@<job>@`: a run of the older code would
    # delete this run's folder by its name (and this one would remove that run's unlocked one).
    return f"etl-run@{settings.job_name}@"
