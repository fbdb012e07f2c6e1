"""`python -m tools.logs`: a run's lines of both containers, found from its execution, against
moto's Step Functions (running the declared run definition, tasks ending as scripted) and
moto's CloudWatch Logs (the streams the awslogs driver would have written)."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import sfn_harness as h
from sfn_harness import FARGATE, moto_sfn
from test_state_machines import JOBS, SLOT, World, _build

from tools import logs as logs_tool

JOB = JOBS[0]  # any declared job: the lookup is the same for each
GROUP = f"/ecs/{JOB.full_name}"


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[World, Path]]:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": h.REGION}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    with moto_sfn():
        FARGATE.script.clear()
        world = _build(JOB)
        outputs = {"jobs": {JOB.job: {"state_machine_arn": world.run_arn,
                                      "log_group_name": GROUP}}}  # fmt: skip
        path = tmp_path / "outputs.json"
        path.write_text(json.dumps(outputs))
        boto3.client("logs").create_log_group(logGroupName=GROUP)
        yield world, path


def write_logs(task_arns: list[str], start: int) -> None:
    """What the awslogs driver writes for each task: <container>/<container>/<task id>."""
    client = boto3.client("logs")
    for n, arn in enumerate(task_arns):
        task_id = arn.rsplit("/", 1)[-1]
        for offset, container in ((0, "mysql"), (1, "app")):
            stream = f"{container}/{container}/{task_id}"
            client.create_log_stream(logGroupName=GROUP, logStreamName=stream)
            events = [
                {"timestamp": start + 1000 * (10 * n + offset + 2 * i),
                 "message": f"{container} line {i} of attempt {n + 1}"}
                for i in range(2)
            ]  # fmt: skip
            answer = client.put_log_events(
                logGroupName=GROUP, logStreamName=stream, logEvents=events
            )
            assert "rejectedLogEventsInfo" not in answer, answer


def cli(path: Path, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    status = logs_tool.main([JOB.job, "--outputs", str(path), *args], out=out)
    return status, out.getvalue()


def test_a_run_shows_both_containers_of_every_attempt_in_time_order(
    world: tuple[World, Path],
) -> None:
    moto, path = world
    FARGATE.script[:] = [h.EXIT_1, h.SUCCESS]  # the first attempt fails, the retry succeeds
    execution = h.wait_for(moto.sfn, moto.start(SLOT))["executionArn"]
    other = h.wait_for(moto.sfn, moto.start("2026-12-01T04:00:00Z"))["executionArn"]
    tasks = logs_tool.task_arns(moto.sfn, execution)
    assert len(tasks) == 2 and set(tasks).isdisjoint(logs_tool.task_arns(moto.sfn, other))
    write_logs(tasks, start=int(time.time() * 1000) - 3_600_000)  # CloudWatch refuses old lines

    status, by_slot = cli(path, "--scheduled-time", SLOT)
    assert status == 0, by_slot
    lines = by_slot.splitlines()
    assert lines[0] == f"# execution {execution}: 2 task(s), log group {GROUP}"
    shown = [line.split(" ", 2) for line in lines[1:]]
    ids = [arn.rsplit("/", 1)[-1][:8] for arn in tasks]
    assert [(who, text) for who, _, text in shown] == [
        (f"{container}/{ids[n]}", f"{container} line {i} of attempt {n + 1}")
        for n in range(2)
        for container, i in (("mysql", 0), ("app", 0), ("mysql", 1), ("app", 1))
    ]
    assert [when for _, when, _ in shown] == sorted(when for _, when, _ in shown)
    # The same run by its execution ARN, and a zone-less time read as UTC.
    assert cli(path, "--execution", execution) == (0, by_slot)
    assert cli(path, "--scheduled-time", SLOT.removesuffix("Z")) == (0, by_slot)


def test_the_latest_run_by_default_and_what_is_missing(world: tuple[World, Path]) -> None:
    moto, path = world
    FARGATE.script[:] = [h.SUCCESS, h.SUCCESS]
    h.wait_for(moto.sfn, moto.start(SLOT))
    latest = h.wait_for(moto.sfn, moto.start("2026-12-01T04:00:00Z"))["executionArn"]
    status, shown = cli(path)
    assert status == 0
    assert shown.startswith(f"# execution {latest}: 1 task(s)")
    [task] = logs_tool.task_arns(moto.sfn, latest)
    task_id = task.rsplit("/", 1)[-1]
    assert f"# no log stream app/app/{task_id} (the container never started" in shown
    assert f"# no log stream mysql/mysql/{task_id}" in shown
    assert cli(path, "--scheduled-time", "2020-01-01T00:00:00Z")[0] == 1  # no such run
