"""The local demo: run the dev stack's scheduled task on generated sample data, as Fargate would.

    make demo                      # or: venv/bin/python scripts/demo.py --rows 100000

As root (CI, the project's sessions, `sudo make demo`), the dev stack's own task definition runs
through the local task runner (python -m tools.task): the MySQL sidecar (a MariaDB stand-in for
the official image) becomes healthy, then the app container runs `python -m etl run` with the
task's environment and secrets, against an S3 emulator (moto) that holds the sample inputs.
Without root, the job runs as a plain process against a local MySQL/MariaDB instead
(DEMO_DB_HOST / DEMO_DB_PORT / DEMO_DB_USER / DEMO_DB_PASSWORD, default root@127.0.0.1:3306;
database `etl_demo`). Outputs are copied to .demo/output/ to be opened after the emulator stops.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
import pymysql
from moto.server import ThreadedMotoServer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from components.settings import JobSettings  # noqa: E402
from components.specs.containers import app_environment  # noqa: E402  (after the path fix-up)
from etl import sample  # noqa: E402
from tools.task import task_spec  # noqa: E402
from tools.task.__main__ import app_overrides, local_secrets, platform_env  # noqa: E402
from tools.task.runner import TaskRun  # noqa: E402

BUCKET = "etl-demo-data"
DATABASE = "etl_demo"
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000, help="orders to generate")
    parser.add_argument("--scheduled-time", default="2026-11-01T04:00:00Z")
    parser.add_argument("--stack", default="dev", help="whose task definition runs (as root)")
    parser.add_argument("--job", default="monthly-orders")
    args = parser.parse_args()
    if os.geteuid() == 0:
        return run_task_definition(args.stack, args.job, args.rows, args.scheduled_time)
    print("not root: the task runner needs root (sudo make demo); running the job as a "
          "plain process instead, not through the task definition")  # fmt: skip
    return run_process(args.rows, args.scheduled_time)


def emulator() -> tuple[ThreadedMotoServer, str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the emulator's request log
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server, f"http://127.0.0.1:{port}"


def upload_samples(s3: Any, bucket: str, prefix: str, rows: int) -> None:
    started = time.monotonic()
    s3.create_bucket(Bucket=bucket)
    for path in sample.write(ROOT / ".demo" / "input", rows, seed=42, month="2026-10",
                             gzipped=True):  # fmt: skip
        s3.upload_file(str(path), bucket, f"{prefix}{path.parent.name}/{path.name}")
    print(f"sample data: {rows} orders in s3://{bucket}/{prefix} "
          f"({time.monotonic() - started:.1f} s)")  # fmt: skip


def run_task_definition(stack: str, job: str, rows: int, scheduled_time: str) -> int:
    """The stack's task definition through the local task runner."""
    task = task_spec(stack, job)
    app = task.containers[0]
    bucket, inputs, outputs = (app.environment[k] for k in
                               ("DATA_BUCKET", "INPUT_PREFIX", "OUTPUT_PREFIX"))  # fmt: skip
    server, endpoint = emulator()
    try:
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION,
                          aws_access_key_id="demo", aws_secret_access_key="demo")  # fmt: skip
        upload_samples(s3, bucket, inputs, rows)
        print(f"running {task.family} ({', '.join(c.name for c in task.containers)}) "
              "through the local task runner\n")  # fmt: skip
        port = int(endpoint.rsplit(":", 1)[1])
        run = TaskRun(task, secrets=local_secrets(task),
                      overrides=app_overrides(app.name, scheduled_time),
                      platform_env=platform_env(endpoint, REGION),
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
        show_outputs(s3, bucket, outputs, ROOT / ".demo" / "output", elapsed)
    finally:
        server.stop()
    return 0


def _quiet_sidecar(stream: str, line: str) -> None:
    """The app's lines in full; of the sidecar's, only the image entrypoint's."""
    if not stream.startswith("mysql/") or "[Entrypoint]" in line or "ready for" in line:
        print(f"{stream.split('/', maxsplit=1)[0]:>5} | {line}", flush=True)


def run_process(rows: int, scheduled_time: str) -> int:
    """Without root: `python -m etl run` as a process, with the task's environment."""

    db = {
        "host": os.environ.get("DEMO_DB_HOST", "127.0.0.1"),
        "port": int(os.environ.get("DEMO_DB_PORT", "3306")),
        "user": os.environ.get("DEMO_DB_USER", "root"),
        "password": os.environ.get("DEMO_DB_PASSWORD", ""),
    }
    try:
        with pymysql.connect(**db) as conn, conn.cursor() as cursor:  # type: ignore[arg-type]
            cursor.execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE} CHARACTER SET utf8mb4")
    except pymysql.err.OperationalError as exc:
        print(
            f"No MySQL/MariaDB at {db['host']}:{db['port']} ({exc}). Start one, e.g. "
            "`sudo apt-get install -y mariadb-server && sudo service mariadb start`, "
            "or set DEMO_DB_HOST/DEMO_DB_PORT/DEMO_DB_USER/DEMO_DB_PASSWORD.",
            file=sys.stderr,
        )
        return 1

    server, endpoint = emulator()
    aws = {
        "AWS_ACCESS_KEY_ID": "demo",
        "AWS_SECRET_ACCESS_KEY": "demo",
        "AWS_DEFAULT_REGION": REGION,
    }
    try:
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION,
                          aws_access_key_id="demo", aws_secret_access_key="demo")  # fmt: skip
        upload_samples(s3, BUCKET, "input/", rows)
        workdir = ROOT / ".demo"

        # The container's environment, from the same function that writes the task definition;
        # a local folder stands in for the task volume the two containers share.
        job = JobSettings(database=DATABASE, db_username=db["user"])
        env = {
            **app_environment(job, BUCKET, REGION),
            **shared_directory(db),
            "DB_HOST": db["host"],
            "DB_PORT": str(db["port"]),
            "DB_PASSWORD": db["password"],  # ECS injects this from Secrets Manager
            "SCHEDULED_TIME": scheduled_time,  # EventBridge Scheduler's <scheduled-time>
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
        show_outputs(s3, BUCKET, "output/", workdir / "output", elapsed)
    finally:
        server.stop()
    return 0


def shared_directory(db: dict[str, Any]) -> dict[str, str]:
    """DB_SHARED_DIR when the server can write into a local folder (the shared export path),
    otherwise nothing: the job then streams rows over the connection."""
    folder = Path(tempfile.gettempdir()) / "etl-demo-exchange"
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
    print(f"export path: shared ({folder} stands in for the task volume /exchange)")
    return {"DB_SHARED_DIR": str(folder)}


def show_outputs(s3: Any, bucket: str, prefix: str, local: Path, elapsed: float) -> None:
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    keys = [o["Key"] for o in listing["Contents"]]
    manifest_key = next(k for k in keys if k.endswith("_manifest.json"))
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
    print(f"\njob finished in {elapsed:.1f} s; manifest: s3://{bucket}/{manifest_key}")
    for key in keys:
        target = local / key
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, key, str(target))
    for name, export in manifest["exports"].items():
        print(f"\n== {name}: {export['rows']} rows in {len(export['files'])} file(s), "
              f"first: s3://{bucket}/{export['files'][0]['key']}")  # fmt: skip
        text = gzip.decompress((local / export["files"][0]["key"]).read_bytes()).decode()
        for row in list(csv.reader(io.StringIO(text, newline="")))[:6]:
            print("   " + " | ".join(value.replace("\n", "\\n") for value in row))
    print(f"\ncopies of every output object: {local}/")


if __name__ == "__main__":
    sys.exit(main())
