"""Read a run's logs, both containers, from CloudWatch Logs (like `copilot job logs`).

    python -m tools.logs monthly-orders --stack prod                  # the latest run
    python -m tools.logs monthly-orders --scheduled-time 2026-11-01T04:00:00Z
    python -m tools.logs monthly-orders --execution arn:aws:states:...:execution:...
    python -m tools.logs monthly-orders --outputs outputs.json ...    # saved stack outputs

A run is one execution of the job's state machine (one slot); each attempt of it is an ECS
task. The task ARNs come from the execution's history; each task's containers log to the job's
log group as <container>/<container>/<task id> (the awslogs driver's stream name with the
container's name as its prefix). Lines of the app and the sidecar are printed in time order,
each with its container and task. Exit status 1 when the run or its tasks cannot be found.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

import boto3

from etl.contract import APP_CONTAINER, DB_CONTAINER
from tools.run_now import iso, job_parser, stack_outputs

CONTAINERS = (APP_CONTAINER, DB_CONTAINER)
_TASK_ARN = re.compile(r"arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task/[A-Za-z0-9_/-]+")


def utc(moment: str) -> str:
    """An ISO 8601 time (UTC when it names no zone) as Scheduler writes scheduled times."""
    parsed = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return iso(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


class NotFound(Exception):
    """No such run, or no task of it."""


@dataclass(frozen=True)
class Line:
    timestamp: int  # milliseconds since the epoch, as CloudWatch Logs keeps them
    container: str
    task_id: str
    message: str

    def __str__(self) -> str:
        moment = datetime.fromtimestamp(self.timestamp / 1000, UTC)
        when = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return f"{self.container}/{self.task_id[:8]} {when} {self.message}"


def find_execution(sfn: Any, machine_arn: str, scheduled_time: str | None) -> str:
    """The latest execution of the run state machine, or the latest one for `scheduled_time`
    (executions of one slot: the schedule's, and any run now or backfill of it)."""
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=machine_arn)
    for page in pages:  # newest first
        for execution in page["executions"]:
            if scheduled_time is None:
                return str(execution["executionArn"])
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            given = json.loads(described.get("input") or "{}").get("scheduledTime", "")
            if given and utc(given) == scheduled_time:
                return str(execution["executionArn"])
    slot = f" for {scheduled_time}" if scheduled_time else ""
    raise NotFound(f"no execution of {machine_arn}{slot}")


def task_arns(sfn: Any, execution_arn: str) -> list[str]:
    """The ECS tasks an execution ran, one per attempt, in the order they started (RunTask's
    answer and the stopped task's description both carry the ARN)."""
    found: list[str] = []
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
    for page in pages:
        for event in page["events"]:
            for arn in _TASK_ARN.findall(json.dumps(event, default=str)):
                if arn not in found:
                    found.append(arn)
    return found


def stream_events(logs: Any, group: str, stream: str) -> Iterator[dict[str, Any]]:
    """Every event of a stream, oldest first (the forward token repeats at the end)."""
    token: str | None = None
    while True:
        extra = {"nextToken": token} if token else {}
        page = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True,
                                   **extra)  # fmt: skip
        yield from page["events"]
        if page.get("nextForwardToken") in (None, token):
            return
        token = page["nextForwardToken"]


def run_lines(logs: Any, group: str, tasks: list[str]) -> tuple[list[Line], list[str]]:
    """The tasks' lines of both containers in time order, and the streams that do not exist
    (a container that never started)."""
    lines: list[Line] = []
    missing: list[str] = []
    for arn in tasks:
        task_id = arn.rsplit("/", 1)[-1]
        for container in CONTAINERS:
            stream = f"{container}/{container}/{task_id}"
            try:
                lines += [Line(e["timestamp"], container, task_id, e["message"])
                          for e in stream_events(logs, group, stream)]  # fmt: skip
            except logs.exceptions.ResourceNotFoundException:
                missing.append(stream)
    return sorted(lines, key=lambda line: line.timestamp), missing


def show(
    sfn: Any, logs: Any, job: dict[str, Any], *, execution: str | None,
    scheduled_time: str | None, out: TextIO,
) -> int:  # fmt: skip
    """Print the run's lines; 1 when the run or its tasks cannot be found."""
    group = job["log_group_name"]
    try:
        arn = execution or find_execution(sfn, job["state_machine_arn"], scheduled_time)
    except NotFound as err:
        print(str(err), file=sys.stderr)
        return 1
    tasks = task_arns(sfn, arn)
    print(f"# execution {arn}: {len(tasks)} task(s), log group {group}", file=out)
    if not tasks:
        print("no ECS task in the execution's history (it may not have started one yet)",
              file=sys.stderr)  # fmt: skip
        return 1
    lines, missing = run_lines(logs, group, tasks)
    for stream in missing:
        print(f"# no log stream {stream} (the container never started, or its logs expired)",
              file=out)  # fmt: skip
    for line in lines:
        print(line, file=out)
    return 0


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = job_parser("python -m tools.logs", __doc__)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--scheduled-time", help="the run of this slot, ISO 8601 (UTC if no zone)")
    which.add_argument("--execution", help="the run with this execution ARN")
    args = parser.parse_args(argv)
    jobs = stack_outputs(args.stack, args.outputs).get("jobs", {})
    if args.job not in jobs:
        parser.error(f"no job {args.job!r} in the stack outputs; jobs: {', '.join(jobs) or 'none'}")
    job = jobs[args.job]
    region = job["state_machine_arn"].split(":")[3]
    slot = utc(args.scheduled_time) if args.scheduled_time else None
    sfn = boto3.client("stepfunctions", region_name=region)
    logs = boto3.client("logs", region_name=region)
    return show(sfn, logs, job, execution=args.execution, scheduled_time=slot, out=out)


if __name__ == "__main__":
    sys.exit(main())
