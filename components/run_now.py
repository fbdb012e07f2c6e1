"""Run a job now, exactly as its schedule would, wait for it, and show how it ended.

    python -m components.run_now monthly-orders --stack prod
    python -m components.run_now monthly-orders --stack prod --scheduled-time 2026-11-01T04:00:00Z
    python -m components.run_now monthly-orders --outputs outputs.json   # saved stack outputs

It reads the stack's outputs (`pulumi stack output --json`), calls ECS RunTask with the same
parameters as the schedule (cluster, task definition, capacity, platform version, subnets,
security group, public IP) and an explicit SCHEDULED_TIME for the app, waits for the task to
stop, then prints each container's exit code and the app's log stream with its last lines.
Exit status: the app container's exit code (1 if the task never ran it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

from components.containers import APP
from components.schedule import task_overrides


def stack_outputs(stack: str | None, outputs_file: str | None) -> dict[str, Any]:
    if outputs_file:
        with open(outputs_file, encoding="utf-8") as handle:
            return dict(json.load(handle))
    command = ["pulumi", "stack", "output", "--json"] + (["--stack", stack] if stack else [])
    return dict(
        json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    )


def start(ecs: Any, job: dict[str, Any], scheduled_time: str) -> str:
    """RunTask as the schedule does; returns the task ARN."""
    request = {**job["run_task"], "overrides": task_overrides(scheduled_time)}
    reply = ecs.run_task(**request)
    if reply.get("failures") or not reply.get("tasks"):
        raise SystemExit(f"ECS did not start the task: {reply.get('failures')}")
    return str(reply["tasks"][0]["taskArn"])


def wait(
    ecs: Any, cluster: str, task_arn: str, poll_seconds: int, timeout_seconds: int
) -> dict[str, Any]:
    ecs.get_waiter("tasks_stopped").wait(
        cluster=cluster,
        tasks=[task_arn],
        WaiterConfig={
            "Delay": poll_seconds,
            "MaxAttempts": max(1, timeout_seconds // poll_seconds),
        },
    )
    return dict(ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"][0])


def last_log_lines(logs: Any, group: str, stream: str, lines: int) -> list[str]:
    try:
        events = logs.get_log_events(
            logGroupName=group, logStreamName=stream, limit=lines, startFromHead=False
        )["events"]
    except ClientError as err:
        return [f"(no log events: {err.response['Error']['Code']})"]
    return [str(event["message"]) for event in events]


def report(task: dict[str, Any], group: str, logs: Any, lines: int) -> int:
    task_id = task["taskArn"].rsplit("/", 1)[-1]
    print(f"task {task['taskArn']} {task.get('lastStatus')}: "
          f"{task.get('stopCode', '')} {task.get('stoppedReason', '')}".rstrip())  # fmt: skip
    codes = {c["name"]: c.get("exitCode") for c in task.get("containers", [])}
    for name, code in codes.items():
        print(f"  container {name}: exit code {code}")
    stream = f"{APP}/{APP}/{task_id}"  # awslogs: <stream prefix>/<container>/<task id>
    print(f"app log: group {group}, stream {stream}")
    for line in last_log_lines(logs, group, stream, lines):
        print(f"  {line}")
    code = codes.get(APP)
    return code if isinstance(code, int) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m components.run_now",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("job", help="the job's name in the stack config (scheduled-etl:jobs)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--stack", help="the Pulumi stack (default: the selected one)")
    source.add_argument("--outputs", help="a file with `pulumi stack output --json`")
    parser.add_argument("--scheduled-time", help="the run's logical time, ISO 8601 (default: now)")
    parser.add_argument("--region", help="default: the region in the run_task_command output")
    parser.add_argument("--poll-seconds", type=int, default=15)
    parser.add_argument("--timeout-seconds", type=int, default=6 * 3600)
    parser.add_argument("--log-lines", type=int, default=20)
    args = parser.parse_args(argv)

    outputs = stack_outputs(args.stack, args.outputs)
    jobs = outputs.get("jobs", {})
    if args.job not in jobs:
        parser.error(f"no job {args.job!r} in the stack outputs; jobs: {', '.join(jobs) or 'none'}")
    job = jobs[args.job]
    region = args.region or job["run_task_command"].split("--region ", 1)[1].split()[0]
    scheduled = args.scheduled_time or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    ecs = boto3.client("ecs", region_name=region)
    logs = boto3.client("logs", region_name=region)

    task_arn = start(ecs, job, scheduled)
    print(f"started {task_arn} (SCHEDULED_TIME={scheduled}); waiting for it to stop", flush=True)
    cluster = job["run_task"]["cluster"]
    task = wait(ecs, cluster, task_arn, args.poll_seconds, args.timeout_seconds)
    return report(task, job["log_group_name"], logs, args.log_lines)


if __name__ == "__main__":
    sys.exit(main())
