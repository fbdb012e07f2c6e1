"""The whole task, run locally as Fargate runs it: how soon the sidecar is healthy, and the total.

    venv/bin/python -m bench.task --stack dev --job monthly-orders --rows 20000 --repeat 3

Prints, per run and as medians, the sidecar's time from start to HEALTHY next to the reference:
the moment its server accepts TCP connections (the log line with `port: 3306`), i.e. as fast as
the database allows; then the app's run time and the task's total (start to STOPPED). Needs root.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import tempfile
import time
from pathlib import Path

import boto3

from etl import sample
from etl.contract import APP_CONTAINER, DB_CONTAINER
from tools import s3_emulator
from tools.task import TaskSpec, task_spec
from tools.task.__main__ import app_overrides, local_secrets, platform_env
from tools.task.runner import TaskRun


def as_before(task: TaskSpec) -> TaskSpec:
    """The task as declared before the sidecar was tuned (--before): health checks every 10 s,
    the time-zone tables loaded on first start. (The app keeps today's user: with the image's
    own, 10001:10001, the run fails at export and its total would not compare.)"""
    mysql = task.container(DB_CONTAINER)
    env = {k: v for k, v in mysql.environment.items() if k != "MYSQL_INITDB_SKIP_TZINFO"}
    check = {**(mysql.health_check or {}), "interval": 10, "timeout": 5}
    slower = dataclasses.replace(mysql, environment=env, health_check=check)
    containers = [slower if c.name == DB_CONTAINER else c for c in task.containers]
    return dataclasses.replace(task, containers=containers)


def one_run(stack: str, job: str, endpoint: str, before: bool) -> dict[str, float]:
    task = task_spec(stack, job)
    task = as_before(task) if before else task
    ready: list[float] = []
    port = int(endpoint.rsplit(":", 1)[1])

    def on_log(stream: str, line: str) -> None:
        if stream.startswith("mysql/") and "port: 3306" in line and not ready:
            ready.append(time.monotonic() - run.started)

    run = TaskRun(
        task,
        secrets=local_secrets(task),
        overrides=app_overrides(APP_CONTAINER, "2026-11-01T04:00:00Z"),
        platform_env=platform_env(endpoint, "us-east-1"),
        forwards={port: ("127.0.0.1", port)},
        on_log=on_log,
    )
    result = run.run()
    sidecar_start = result.at("mysql started") or 0.0
    return {
        "db_accepts_tcp": ready[0] - sidecar_start,
        "healthy": (result.at("mysql HEALTHY") or 0.0) - sidecar_start,
        "app": (result.at("app exited") or 0.0) - (result.at("app started") or 0.0),
        "total": result.at("task STOPPED") or 0.0,
        "exit": float(result.exit_code()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--job", default="monthly-orders")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--before", action="store_true", help="the sidecar as first declared")
    args = parser.parse_args()
    server, endpoint = s3_emulator.start()
    try:
        app = task_spec(args.stack, args.job).container(APP_CONTAINER).environment
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )
        s3.create_bucket(Bucket=app["DATA_BUCKET"])
        with tempfile.TemporaryDirectory() as folder:
            for path in sample.write(
                Path(folder), args.rows, seed=42, month="2026-10", gzipped=True
            ):
                s3.upload_file(
                    str(path),
                    app["DATA_BUCKET"],
                    f"{app['INPUT_PREFIX']}{path.parent.name}/{path.name}",
                )
        runs = [one_run(args.stack, args.job, endpoint, args.before) for _ in range(args.repeat)]
    finally:
        server.stop()
    label = " (--before: interval 10 s, time-zone tables loaded)" if args.before else ""
    print(f"{args.stack}/{args.job}{label}, {args.rows} orders, {args.repeat} runs (seconds)")
    header = ("run", "db accepts TCP (ref)", "sidecar HEALTHY", "app", "task", "exit")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (6, 21, 16, 7, 7, 5), strict=True)))
    for i, r in enumerate(runs, 1):
        print(
            f"{i:>6} {r['db_accepts_tcp']:>21.2f} {r['healthy']:>16.2f} {r['app']:>7.2f} "
            f"{r['total']:>7.2f} {r['exit']:>5.0f}"
        )
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k != "exit"}
    print(
        f"{'median':>6} {med['db_accepts_tcp']:>21.2f} {med['healthy']:>16.2f} {med['app']:>7.2f} "
        f"{med['total']:>7.2f}"
    )
    lag = statistics.median(r["healthy"] - r["db_accepts_tcp"] for r in runs)
    print(f"sidecar HEALTHY a median {lag:.2f} s after its database could serve; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip


if __name__ == "__main__":
    main()
