"""The local demo: run the ETL job exactly as its container would, against a local
MySQL/MariaDB and an S3 emulator (moto), on generated sample data.

    make demo                      # or: venv/bin/python scripts/demo.py --rows 100000

Database: DEMO_DB_HOST / DEMO_DB_PORT / DEMO_DB_USER / DEMO_DB_PASSWORD (default
root@127.0.0.1:3306, no password); the demo creates and reuses the database `etl_demo`.
Outputs are copied to .demo/output/ so they can be opened after the emulator stops.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import logging
import os
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

from components.containers import app_environment  # noqa: E402  (after the path fix-up)
from components.settings import JobSettings  # noqa: E402
from etl import sample  # noqa: E402

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
    args = parser.parse_args()

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

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the emulator's request log
    port = free_port()
    emulator = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    emulator.start()
    endpoint = f"http://127.0.0.1:{port}"
    aws = {
        "AWS_ACCESS_KEY_ID": "demo",
        "AWS_SECRET_ACCESS_KEY": "demo",
        "AWS_DEFAULT_REGION": REGION,
    }
    try:
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION,
                          aws_access_key_id="demo", aws_secret_access_key="demo")  # fmt: skip
        s3.create_bucket(Bucket=BUCKET)
        workdir = ROOT / ".demo"
        started = time.monotonic()
        for path in sample.write(
            workdir / "input", args.rows, seed=42, month="2026-10", gzipped=True
        ):
            s3.upload_file(str(path), BUCKET, f"input/{path.parent.name}/{path.name}")
        print(f"sample data: {args.rows} orders in s3://{BUCKET}/input/ "
              f"({time.monotonic() - started:.1f} s)")  # fmt: skip

        # The container's environment, from the same function that writes the task definition;
        # a local folder stands in for the task volume the two containers share.
        job = JobSettings(database=DATABASE, db_username=db["user"])
        env = {
            **app_environment(job, BUCKET, REGION),
            **shared_directory(db),
            "DB_HOST": db["host"],
            "DB_PORT": str(db["port"]),
            "DB_PASSWORD": db["password"],  # ECS injects this from Secrets Manager
            "SCHEDULED_TIME": args.scheduled_time,  # EventBridge Scheduler's <scheduled-time>
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
        show_outputs(s3, workdir / "output", elapsed)
    finally:
        emulator.stop()
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


def show_outputs(s3: object, local: Path, elapsed: float) -> None:
    listing = s3.list_objects_v2(Bucket=BUCKET, Prefix="output/")  # type: ignore[attr-defined]
    keys = [o["Key"] for o in listing["Contents"]]
    manifest_key = next(k for k in keys if k.endswith("_manifest.json"))
    body = s3.get_object(Bucket=BUCKET, Key=manifest_key)["Body"].read()  # type: ignore[attr-defined]
    manifest = json.loads(body)
    print(f"\njob finished in {elapsed:.1f} s; manifest: s3://{BUCKET}/{manifest_key}")
    for key in keys:
        target = local / key
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(BUCKET, key, str(target))  # type: ignore[attr-defined]
    for name, export in manifest["exports"].items():
        print(f"\n== {name}: {export['rows']} rows in {len(export['files'])} file(s), "
              f"first: s3://{BUCKET}/{export['files'][0]['key']}")  # fmt: skip
        text = gzip.decompress((local / export["files"][0]["key"]).read_bytes()).decode()
        for row in list(csv.reader(io.StringIO(text, newline="")))[:6]:
            print("   " + " | ".join(value.replace("\n", "\\n") for value in row))
    print(f"\ncopies of every output object: {local}/")


if __name__ == "__main__":
    sys.exit(main())
