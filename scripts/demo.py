"""The local demo: run the dev stack's scheduled task on generated sample data, as Fargate would.

    make demo                      # or: venv/bin/python scripts/demo.py --rows 100000
    make demo JOB=my_job INPUTS=my_data   # your job folder, on <table>/*.csv[.gz] of yours

As root (CI, the project's sessions, `sudo make demo`), the dev stack's own task definition runs
through the local task runner (python -m tools.task): the MySQL sidecar (a MariaDB stand-in for
the official image) becomes healthy, then the app container runs `python -m etl run` with the
task's environment and secrets, against an S3 emulator (moto) that holds the sample inputs.
Without root, the job runs as a plain process against a local MySQL/MariaDB instead
(DEMO_DB_HOST / DEMO_DB_PORT / DEMO_DB_USER / DEMO_DB_PASSWORD, default root@127.0.0.1:3306;
a database of its own per run, `etl_demo_<user>_<id>`, dropped afterwards); with none of
those set and nothing answering there, a throw-away MariaDB of the demo's own
(tools/throwaway_db.py), which also serves the job folder's check as root. Outputs are
copied to .demo/output/<job>/run=<slot>/ to be opened after the emulator stops.

The run's slot (SCHEDULED_TIME) is --scheduled-time (`make demo SCHEDULED_TIME=...`); without
it, a --stack-job runs at its own schedule's latest slot, and the bundled demo at
2026-11-01T04:00:00Z, the slot the generated sample orders are for. --stack-job also runs its
own job folder (its etlJob). When the inputs loaded rows but every export is empty, the summary
says so: a job that selects by its slot may have run at a slot its data is not for.

--job runs a job folder of yours instead of the bundled one: it is checked first (what
`python -m etl validate --database` checks, and that the inputs fit its tables), so a mistake
stops the demo before the task starts. Through the task runner, a copy of the folder is
bind-mounted read-only into the app container at /app/jobs/<name>, with ETL_JOB pointing there.
--inputs gives the input files (<table>/*.csv[.gz], the layout under INPUT_PREFIX) instead of
the generated sample orders, which only fit the bundled job's tables.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import getpass
import gzip
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pymysql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from components.settings import JobSettings, project_job_folder  # noqa: E402
from components.specs.containers import app_environment  # noqa: E402  (after the path fix-up)
from etl import sample, validate  # noqa: E402
from etl.contract import APP_CONTAINER, ExitCode  # noqa: E402
from etl.extract import SUFFIXES  # noqa: E402
from etl.jobdef import JobDefinitionError, created_tables  # noqa: E402
from etl.settings import BUNDLED_JOB, SettingsError, storage_from_env  # noqa: E402
from tools import job_folder, s3_emulator, throwaway_db  # noqa: E402
from tools.offline import stack_settings  # noqa: E402
from tools.run_now import latest_slot  # noqa: E402
from tools.task import task_spec  # noqa: E402
from tools.task.__main__ import app_overrides, local_secrets, platform_env  # noqa: E402
from tools.task.images import Bind, Image, app_image  # noqa: E402
from tools.task.runner import TaskRun  # noqa: E402

BUCKET = "etl-demo-data"
REGION = "us-east-1"
SAMPLE_SLOT = "2026-11-01T04:00:00Z"  # the generated orders are October 2026's: this run's month
JOBS_IN_CONTAINER = "/app/jobs"  # where a job folder of the user's is mounted (read-only)


@dataclass(frozen=True)
class Demo:
    """What runs: the job folder (None: the one the task definition names), and its inputs
    (None: `rows` generated sample orders)."""

    job: Path | None
    inputs: Path | None
    rows: int
    scheduled_time: str
    out: Path = ROOT / ".demo" / "output"  # copies of the output objects


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000, help="orders to generate")
    parser.add_argument(
        "--scheduled-time",
        help="the run's slot, such as 2026-12-06T02:30:00Z (default: the --stack-job's latest "
        f"slot, else {SAMPLE_SLOT}, the sample orders' slot)",
    )
    parser.add_argument("--stack", default="dev", help="whose task definition runs")
    parser.add_argument(
        "--stack-job",
        help="which of the stack's jobs, with its own job folder and latest slot (default: the "
        "first that runs the bundled job)",
    )
    parser.add_argument(
        "--job", type=Path,
        help="a job folder of yours (schema.sql, transform/, export/) instead of the bundled "
        "one; checked before the task starts",
    )  # fmt: skip
    parser.add_argument(
        "--inputs", type=Path,
        help="a folder of <table>/*.csv[.gz] to upload under the input prefix, instead of "
        "--rows sample orders (which fit only the bundled job)",
    )  # fmt: skip
    parser.add_argument(
        "--out", type=Path, default=ROOT / ".demo" / "output",
        help="where copies of the output objects go (default .demo/output)",
    )  # fmt: skip
    parser.add_argument(
        "--plain", action="store_true",
        help="run the job as a plain process even as root, not through the task runner",
    )  # fmt: skip
    args = parser.parse_args()
    jobs = stack_settings(args.stack).jobs
    name = args.stack_job or default_stack_job(jobs)
    if name not in jobs:
        parser.error(f"--stack-job {name}: not a job of {args.stack} ({', '.join(jobs)})")
    if jobs[name].database_server == "aurora" and not args.plain:
        # The task holds the app alone: its database is the stack's cluster, not on this machine.
        parser.error(
            f'{args.stack}\'s job {name} has jobs.{name}.databaseServer = "aurora": the local '
            "task runner runs sidecar jobs only; give --stack-job a sidecar job, or --plain to "
            "run the job folder against the local server (docs/outgrowing-the-sidecar.md)"
        )
    slot = args.scheduled_time or (
        demo_slot(jobs[name], datetime.now(UTC)) if args.stack_job else SAMPLE_SLOT
    )
    why = (
        "" if args.scheduled_time
        else f" (the latest slot of {name}: {jobs[name].schedule} {jobs[name].timezone})"
        if args.stack_job else " (the sample orders' slot)"
    )  # fmt: skip
    print(f"scheduled time: {slot}{why}; make demo SCHEDULED_TIME=... runs another")
    demo = Demo(
        job=args.job.resolve() if args.job else stack_job_folder(jobs[name]),
        inputs=args.inputs.resolve() if args.inputs else None,
        rows=args.rows,
        scheduled_time=slot,
        out=args.out.resolve(),
    )
    if (demo.job or demo.inputs) and not ready(demo):
        return ExitCode.SETTINGS  # as `python -m etl run` exits for a bad job folder
    if os.geteuid() == 0 and not args.plain:
        return run_task_definition(args.stack, name, demo)
    if args.plain:
        print("--plain: running the job as a plain process, not through the task definition")
    else:
        print("not root: the task runner needs root (sudo make demo); running the job as a "
              "plain process instead, not through the task definition")  # fmt: skip
    return run_process(demo)


def default_stack_job(jobs: Mapping[str, JobSettings]) -> str:
    """The stack's first sidecar job that runs the bundled job (the sample orders fit it),
    else its first sidecar job, else its first job (refused in main: an aurora job)."""
    sidecar = [n for n, j in jobs.items() if j.database_server == "sidecar"] or list(jobs)
    return next((n for n in sidecar if stack_job_folder(jobs[n]) is None), sidecar[0])


def stack_job_folder(job: JobSettings) -> Path | None:
    """The job folder a stack's job runs (its etlJob, in this checkout); None: the bundled."""
    inside = project_job_folder(job.etl_job) if job.etl_job else None
    folder = ROOT / inside if inside else None
    return None if folder is None or folder.resolve() == BUNDLED_JOB.resolve() else folder


def demo_slot(job: JobSettings, now: datetime) -> str:
    """The job's latest scheduled time at or before `now`: the slot a run now would get."""
    slot = latest_slot(job.schedule, job.timezone, now)
    if slot is None:
        raise SystemExit(f"{job.schedule} has no slot before now; give --scheduled-time "
                         "(make demo SCHEDULED_TIME=...)")  # fmt: skip
    return slot


def demo_db() -> dict[str, Any]:
    """The local server of the plain-process mode, and of the job folder's database check."""
    return {
        "host": os.environ.get("DEMO_DB_HOST", "127.0.0.1"),
        "port": int(os.environ.get("DEMO_DB_PORT", "3306")),
        "user": os.environ.get("DEMO_DB_USER", "root"),
        "password": os.environ.get("DEMO_DB_PASSWORD", ""),
    }


DEMO_DB = ("DEMO_DB_HOST", "DEMO_DB_PORT", "DEMO_DB_USER", "DEMO_DB_PASSWORD")


@contextlib.contextmanager
def local_server() -> Iterator[None]:
    """No DEMO_DB_* and nothing answering at the default: a throw-away MariaDB for this demo,
    so that nothing has to be running beforehand."""
    if any(name in os.environ for name in DEMO_DB) or _answers(demo_db()):
        yield
        return
    try:
        with throwaway_db.running() as server:
            print(f"no MySQL/MariaDB running: a throw-away MariaDB on port {server.port} "
                  f"(up in {server.started_seconds:.1f} s)")  # fmt: skip
            os.environ.update(
                DEMO_DB_HOST=server.host, DEMO_DB_PORT=str(server.port),
                DEMO_DB_USER=server.user, DEMO_DB_PASSWORD=server.password,
                DEMO_SHARED_ROOT=str(server.files_dir),
            )  # fmt: skip
            try:
                yield
            finally:
                for name in (*DEMO_DB, "DEMO_SHARED_ROOT"):
                    os.environ.pop(name, None)
    except throwaway_db.ServerUnavailable as exc:
        print(f"no throw-away MariaDB: {exc}", file=sys.stderr)
        yield


def _answers(db: dict[str, Any]) -> bool:
    try:
        pymysql.connect(**db, connect_timeout=2).close()
    except pymysql.err.MySQLError:
        return False
    return True


def ready(demo: Demo) -> bool:
    """Check the job folder and the inputs before anything starts; print what is wrong."""
    folder = demo.job or BUNDLED_JOB
    if demo.job:
        if unfit := job_folder.problems(folder):  # before anything reads a file of it
            for problem in unfit:
                print(f"  error: {problem}")
            print(f"{folder}: links out of the folder and special files are refused; the task "
                  "was not started", file=sys.stderr)  # fmt: skip
            return False
        print(f"checking the job folder {folder} (python -m etl validate --database)")
        findings = validate.check_folder(folder)
        try:  # the folder's name names the lock and the metrics (JOB_NAME)
            storage_from_env({"DATA_BUCKET": BUCKET, "ETL_JOB": str(folder)})
        except SettingsError as err:
            findings.append(validate.Finding("error", "", f"the folder's name: {err}"))
        columns: dict[str, list[str]] = {}
        if not any(f.level == "error" for f in findings):
            more, columns = database_check(folder, demo.scheduled_time)
            findings += more
        for finding in findings:
            print(f"  {finding}")
        errors = sum(f.level == "error" for f in findings)
        if errors:
            print(f"{folder}: {errors} error(s); the job would fail, so the task was not started",
                  file=sys.stderr)  # fmt: skip
            return False
        print(validate.summary(folder, columns, database=bool(columns)))
    problems = input_problems(folder, demo.inputs)
    for problem in problems:
        print(f"  error: {problem}")
    if problems:
        print(f"{len(problems)} problem(s) with the inputs; the task was not started",
              file=sys.stderr)  # fmt: skip
        return False
    return True


def database_check(
    folder: Path, scheduled_time: str
) -> tuple[list[validate.Finding], dict[str, list[str]]]:
    """validate --database on the local server when one answers; the task's sidecar would
    otherwise be the first to run the SQL."""
    db = demo_db()
    try:
        pymysql.connect(**db, connect_timeout=2).close()
    except pymysql.err.MySQLError as exc:
        print(f"  (no database check: no server at {db['host']}:{db['port']}: {exc})")
        return [], {}
    env = {
        "DB_HOST": db["host"], "DB_PORT": str(db["port"]), "DB_USERNAME": db["user"],
        "DB_PASSWORD": db["password"], "DB_WAIT_SECONDS": "2", "SCHEDULED_TIME": scheduled_time,
    }  # fmt: skip
    return validate.check_database(folder, env)


def input_problems(job: Path, inputs: Path | None) -> list[str]:
    """What would fail the load stage: each table of schema.sql needs a non-empty CSV file in
    its folder, and every folder must be a table's (the loader refuses others)."""
    try:
        tables = created_tables(job / "schema.sql")
    except JobDefinitionError as err:
        return [str(err)]
    if inputs is None:
        missing = [t for t in tables if t not in sample.TABLES]
        if missing:
            return [f"the sample data has no table {', '.join(missing)} (it has "
                    f"{', '.join(sample.TABLES)}): give your inputs with --inputs DIR "
                    "(DIR/<table>/*.csv)"]  # fmt: skip
        return []
    if not inputs.is_dir():
        return [f"--inputs {inputs}: not a folder"]
    problems: list[str] = []
    found: dict[str, int] = {}
    for path in input_files(inputs):
        table, _, rest = path.relative_to(inputs).as_posix().partition("/")
        if not rest:
            problems.append(f"{path}: not in a table's folder ({inputs}/<table>/{path.name})")
        elif table not in tables:
            problems.append(f"{inputs / table}/: not a table of schema.sql "
                            f"(tables: {', '.join(tables)})")  # fmt: skip
        elif rest.lower().endswith(SUFFIXES) and path.stat().st_size > 0:
            found[table] = found.get(table, 0) + 1
    problems = list(dict.fromkeys(problems))  # one line per stray folder
    for table in tables:
        if table not in found:
            problems.append(f"no input for table {table}: put CSV files (.csv or .csv.gz, "
                            f"header row) in {inputs / table}/")  # fmt: skip
    return problems


def input_files(inputs: Path) -> list[Path]:
    """The files under `inputs`, linked folders followed, hidden ones left out."""
    found = []
    for folder, dirs, files in os.walk(inputs, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(folder) / name for name in sorted(files) if not name.startswith(".")]
    return found


def upload_inputs(s3: Any, bucket: str, prefix: str, demo: Demo) -> None:
    """The user's input files, or generated sample orders, under the input prefix."""
    started = time.monotonic()
    s3.create_bucket(Bucket=bucket)
    if demo.inputs:
        files = input_files(demo.inputs)
        for path in files:
            s3.upload_file(str(path), bucket, prefix + path.relative_to(demo.inputs).as_posix())
        print(f"inputs: {len(files)} file(s) from {demo.inputs} in s3://{bucket}/{prefix}")
        return
    for path in sample.write(ROOT / ".demo" / "input", demo.rows, seed=42, month="2026-10",
                             gzipped=True):  # fmt: skip
        s3.upload_file(str(path), bucket, f"{prefix}{path.parent.name}/{path.name}")
    print(f"sample data: {demo.rows} orders in s3://{bucket}/{prefix} "
          f"({time.monotonic() - started:.1f} s)")  # fmt: skip


def run_task_definition(stack: str, stack_job: str, demo: Demo) -> int:
    """The stack's task definition through the local task runner."""
    task = task_spec(stack, stack_job)
    app = task.container(APP_CONTAINER)
    bucket, inputs, outputs = (app.environment[k] for k in
                               ("DATA_BUCKET", "INPUT_PREFIX", "OUTPUT_PREFIX"))  # fmt: skip
    overrides = app_overrides(app.name, demo.scheduled_time)
    images: dict[str, Image] = {}
    server, endpoint = s3_emulator.start()
    staged = Path(tempfile.mkdtemp(prefix="etl-demo-job-"))
    try:
        if demo.job:
            images[app.name] = job_image(app.image, demo.job, staged, app.user)
            mounted = f"{JOBS_IN_CONTAINER}/{demo.job.name}"
            # The job's name (the lock, the metrics, the manifest) is its folder's, as locally.
            overrides[app.name]["environment"] += [
                {"name": "ETL_JOB", "value": mounted},
                {"name": "JOB_NAME", "value": demo.job.name},
            ]
            print(f"job folder: {demo.job}, read-only at {mounted} in the {app.name} container")
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION,
                          aws_access_key_id="demo", aws_secret_access_key="demo")  # fmt: skip
        upload_inputs(s3, bucket, inputs, demo)
        print(f"running {task.family} ({', '.join(c.name for c in task.containers)}) "
              "through the local task runner\n")  # fmt: skip
        port = int(endpoint.rsplit(":", 1)[1])
        run = TaskRun(task, secrets=local_secrets(task), overrides=overrides,
                      platform_env=platform_env(endpoint, REGION), images=images,
                      forwards={port: ("127.0.0.1", port)}, on_log=_quiet_sidecar)  # fmt: skip
        for signum in (signal.SIGTERM, signal.SIGINT):  # Ctrl-C stops the task as StopTask
            signal.signal(signum, lambda *_: run.stop("Task stopped by user (demo interrupted)"))
        result = run.run()
        print("\n" + result.report())
        if result.exit_code() != 0:
            print(f"\nthe task failed (exit {result.exit_code()}); see the log lines above",
                  file=sys.stderr)  # fmt: skip
            return result.exit_code()
        elapsed = (result.at("app exited") or 0.0) - (result.at("app started") or 0.0)
        show_outputs(s3, bucket, outputs, demo.out, elapsed)
    finally:
        server.stop()
        shutil.rmtree(staged, ignore_errors=True)
    return 0


def job_image(reference: str, job: Path, staged: Path, user: str | None = None) -> Image:
    """The app's image with the job folder at JOBS_IN_CONTAINER/<name>. A copy is mounted,
    readable by the container's user only (tools/job_folder.py: no link out of the folder is
    followed), whatever the folder's own modes are; `staged` stays root's own (0700)."""
    image = app_image(reference)
    copy = staged / job.name
    uid, _, gid = (user or image.user or "0").partition(":")
    job_folder.copy(job, copy, int(uid), int(gid or uid))
    image.binds.append(Bind(str(copy), f"{JOBS_IN_CONTAINER}/{job.name}"))
    return image


def _quiet_sidecar(stream: str, line: str) -> None:
    """The app's lines in full; of the sidecar's, only the image entrypoint's."""
    if not stream.startswith("mysql/") or "[Entrypoint]" in line or "ready for" in line:
        print(f"{stream.split('/', maxsplit=1)[0]:>5} | {line}", flush=True)


def run_process(demo: Demo) -> int:
    """Without root: `python -m etl run` as a process, with the task's environment."""

    db = demo_db()
    database = demo_database()
    try:
        with pymysql.connect(**db) as conn, conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
        print(f"database: {database} on {db['host']}:{db['port']} (this run's; dropped after)")
    except pymysql.err.OperationalError as exc:
        print(
            f"No MySQL/MariaDB at {db['host']}:{db['port']} ({exc}). Start one, e.g. "
            "`sudo apt-get install -y mariadb-server && sudo service mariadb start`, "
            "or set DEMO_DB_HOST/DEMO_DB_PORT/DEMO_DB_USER/DEMO_DB_PASSWORD.",
            file=sys.stderr,
        )
        return 1

    server, endpoint = s3_emulator.start()
    aws = {
        "AWS_ACCESS_KEY_ID": "demo",
        "AWS_SECRET_ACCESS_KEY": "demo",
        "AWS_DEFAULT_REGION": REGION,
    }
    try:
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION,
                          aws_access_key_id="demo", aws_secret_access_key="demo")  # fmt: skip
        upload_inputs(s3, BUCKET, "input/", demo)

        # The container's environment, from the same function that writes the task definition;
        # a local folder stands in for the task volume the two containers share.
        job = JobSettings(database=database, db_username=db["user"],
                          etl_job=str(demo.job) if demo.job else None)  # fmt: skip
        env = {
            **app_environment(job, BUCKET, REGION),
            **shared_directory(db),
            "DB_HOST": db["host"],
            "DB_PORT": str(db["port"]),
            "DB_PASSWORD": db["password"],  # ECS injects this from Secrets Manager
            "SCHEDULED_TIME": demo.scheduled_time,  # EventBridge Scheduler's <scheduled-time>
            "AWS_ENDPOINT_URL_S3": endpoint,
            **aws,
        }
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "etl", "run"], cwd=ROOT, check=False,
                              env={"PATH": os.environ.get("PATH", ""), **env})  # fmt: skip
        elapsed = time.monotonic() - started
        if done.returncode != 0:
            print(
                f"\nthe job failed (exit {done.returncode}); see the JSON log above",
                file=sys.stderr,
            )
            return done.returncode
        show_outputs(s3, BUCKET, "output/", demo.out, elapsed)
    finally:
        server.stop()
        with pymysql.connect(**db) as conn, conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")  # this run's own
    return 0


def demo_database() -> str:
    """A database of this run's own: two people (or two runs) on one server do not collide."""
    user = re.sub(r"[^a-z0-9]", "", getpass.getuser().lower())[:16] or "user"
    return f"etl_demo_{user}_{uuid.uuid4().hex[:8]}"


def shared_directory(db: dict[str, Any]) -> dict[str, str]:
    """DB_SHARED_DIR when the server can write into a local folder (the shared export path),
    otherwise nothing: the job then streams rows over the connection."""
    # The throw-away server writes only under its own folder (secure_file_priv).
    folder = Path(os.environ.get("DEMO_SHARED_ROOT") or tempfile.gettempdir()) / "etl-demo-exchange"
    folder.mkdir(exist_ok=True)
    folder.chmod(0o777)  # the server writes as its own user
    probe = folder / f"probe-{os.getpid()}.txt"
    try:
        with pymysql.connect(**db) as conn, conn.cursor() as cursor:
            cursor.execute(f"SELECT 1 INTO OUTFILE '{probe}'")
        probe.unlink()
    except (pymysql.err.MySQLError, OSError) as exc:
        print(f"export path: stream (the server cannot write into {folder}: {exc})")
        return {"DB_SHARED_DIR": ""}
    print(f"export path: shared ({folder} stands in for the task volume /var/lib/mysql/exchange)")
    return {"DB_SHARED_DIR": str(folder)}


def show_outputs(s3: Any, bucket: str, prefix: str, local: Path, elapsed: float) -> None:
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    keys = [o["Key"] for o in listing["Contents"]]
    manifest_key = next(k for k in keys if k.endswith("_manifest.json"))
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
    print(f"\njob finished in {elapsed:.1f} s; manifest: s3://{bucket}/{manifest_key}")

    def copy_of(key: str) -> Path:  # local/<job>/run=<slot>/..., as under the output prefix
        return local / key.removeprefix(prefix)

    # This run's folder replaces an earlier demo's copy, which may hold another job's exports.
    shutil.rmtree(copy_of(manifest_key).parent, ignore_errors=True)
    for key in keys:
        target = copy_of(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, key, str(target))
    for name, export in manifest["exports"].items():
        files = export["files"]
        print(f"\n== {name}: {export['rows']} rows in {len(files)} file(s)"
              + (f", first: s3://{bucket}/{files[0]['key']}" if files else ""))  # fmt: skip
        if files:
            text = gzip.decompress(copy_of(files[0]["key"]).read_bytes()).decode()
            for row in list(csv.reader(io.StringIO(text, newline="")))[:6]:
                print("   " + " | ".join(value.replace("\n", "\\n") for value in row))
    print(f"\ncopies of every output object: {local}/ (manifest: {copy_of(manifest_key)})")
    if warning := empty_exports_warning(manifest):
        print(f"\n{warning}")


def empty_exports_warning(manifest: dict[str, Any]) -> str:
    """A job that selects by its slot exports nothing from data of another period: say so
    rather than let an empty success pass for a good run."""
    loaded = sum(table["rows"] for table in manifest["inputs"].values())
    if not loaded or any(export["rows"] for export in manifest["exports"].values()):
        return ""
    return (
        f"warning: the inputs loaded {loaded} rows but every export is empty. If the job "
        f"selects by its slot, the data may not be for {manifest['scheduled_time']}: run at "
        "the slot it is for (make demo SCHEDULED_TIME=<time> or --scheduled-time)."
    )


if __name__ == "__main__":
    with local_server():
        sys.exit(main())
