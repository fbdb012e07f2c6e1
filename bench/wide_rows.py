"""Peak memory of the stream export path on wide rows (issue 19, point 9).

    DB_HOST=127.0.0.1 DB_USERNAME=root venv/bin/python -m bench.wide_rows [--rows 300]
        [--mib 1] [--app DIR]

Runs `python -m etl run` in local mode (DATA_DIR: no S3 needed) with a job whose transform
makes `--rows` rows of `--mib` MiB each and whose export streams them over the connection,
then prints the export stage's peak RSS (VmHWM, the runner's `peak_rss_mb`). `--app` runs
another checkout of the job (e.g. the commit before the fix) on the same data: the numbers
before and after a change, on the same machine. Needs a database at DB_HOST (a throw-away
database `etl_bench_wide` is created and dropped).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pymysql

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "etl_bench_wide"


def job_folder(folder: Path, rows: int, mib: int) -> Path:
    """A job: one tiny input table, a transform that makes the wide rows, their export."""
    (folder / "transform").mkdir(parents=True)
    (folder / "export").mkdir()
    (folder / "schema.sql").write_text(
        "DROP TABLE IF EXISTS seed; CREATE TABLE seed (id INT PRIMARY KEY);"
    )
    (folder / "transform" / "10_wide.sql").write_text(
        "DROP TABLE IF EXISTS wide; CREATE TABLE wide (id INT PRIMARY KEY, v LONGTEXT);"
        f"INSERT INTO wide WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
        f"WHERE i < {rows}) SELECT i, REPEAT('x', {mib * 1024 * 1024}) FROM n;"
    )
    (folder / "export" / "wide.sql").write_text("SELECT id, v FROM wide ORDER BY id")
    return folder


def export_peak_mb(app: Path, rows: int, mib: int) -> int:
    """The export stage's peak RSS in MB of one run of the job from `app`."""
    with tempfile.TemporaryDirectory(prefix="bench-wide-") as tmp:
        data = Path(tmp) / "data"
        (data / "input" / "seed").mkdir(parents=True)
        (data / "input" / "seed" / "seed.csv").write_text("id\n1\n")
        env = {
            **os.environ,
            "PYTHONPATH": str(app),
            "DATA_DIR": str(data),
            "ETL_JOB": str(job_folder(Path(tmp) / "wide_job", rows, mib)),
            "DB_DATABASE": DATABASE,
            "DB_USERNAME": os.environ.get("DB_USERNAME", "root"),
            "SCHEDULED_TIME": "2026-11-01T04:00:00Z",
            "LOG_FORMAT": "json",
        }
        done = subprocess.run(  # the job's own log lines carry the numbers
            [sys.executable, "-m", "etl", "run"],
            env=env, cwd=app, capture_output=True, text=True, check=False, timeout=1800,
        )  # fmt: skip
        logs = [json.loads(line) for line in done.stdout.splitlines()]
        if done.returncode != 0:
            raise SystemExit(f"the run failed: {logs[-2:] if logs else done.stderr[-2000:]}")
        [peak] = [
            e["peak_rss_mb"]
            for e in logs
            if e["event"] == "stage_finished" and e["stage"] == "export"
        ]
        return int(peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--mib", type=int, default=1)
    parser.add_argument("--app", type=Path, default=ROOT, help="the job's checkout to run")
    args = parser.parse_args()
    host = os.environ.get("DB_HOST", "127.0.0.1")
    admin = pymysql.connect(
        host=host,
        port=int(os.environ.get("DB_PORT", "3306")),
        user=os.environ.get("DB_USERNAME", "root"),
        password=os.environ.get("DB_PASSWORD", ""),
        autocommit=True,
    )
    with admin, admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{DATABASE}`")
        try:
            peak = export_peak_mb(args.app.resolve(), args.rows, args.mib)
        finally:
            cursor.execute(f"DROP DATABASE IF EXISTS `{DATABASE}`")
    size = args.rows * args.mib
    print(f"{args.app}: {args.rows} rows x {args.mib} MiB ({size} MiB) -> export peak {peak} MB")


if __name__ == "__main__":
    main()
