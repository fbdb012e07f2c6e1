"""`python -m tools.run_now`: run now and backfill through the job's state machine, executed
in moto (the dev stack's declared definitions, tests/sfn_harness.py), and the slot arithmetic."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
import sfn_harness as h
from sfn_harness import FARGATE, moto_sfn
from test_state_machines import JOBS, World, _build

from tools import run_now
from tools.run_now import latest_slot, slots

DEV = next(job for job in JOBS if job.stack == "dev")


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[World, Path]]:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": h.REGION}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    with moto_sfn():
        world = _build(DEV)
        outputs = {"jobs": {DEV.job: {"state_machine_arn": world.run_arn,
                   "schedule": "cron(0 4 1 * ? *)", "timezone": "UTC"}}}  # fmt: skip
        path = tmp_path / "outputs.json"
        path.write_text(json.dumps(outputs))
        yield world, path


def cli(path: Path, *args: str) -> int:
    return run_now.main([DEV.job, "--outputs", str(path), "--poll-seconds", "0.05", *args])


def test_backfill_runs_each_slot_once_and_prints_its_outcome(
    world: tuple[World, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    moto, path = world
    FARGATE.by_time = {
        "2026-02-01T04:00:00Z": [h.EXIT_1] * (DEV.retries + 1),
        "2026-03-01T04:00:00Z": [h.LOCKED],
        "2026-04-01T04:00:00Z": [h.EXIT_1, h.SUCCESS],
    }
    code = cli(path, "--from", "2026-01-01", "--to", "2026-04-30")
    printed = capsys.readouterr().out
    outcomes = dict(re.findall(r"\] (\S+)  (\S+)", printed))
    assert outcomes == {
        "2026-01-01T04:00:00Z": "succeeded",
        "2026-02-01T04:00:00Z": "failed",
        "2026-03-01T04:00:00Z": "skipped",
        "2026-04-01T04:00:00Z": "succeeded",
    }
    assert code == 1  # a slot failed
    assert "outcomes: failed 1, skipped 1, succeeded 2" in printed
    assert "not done: 1 skipped (another run held the job's lock), 1 failed or timed out" in printed
    assert "--slots 2026-02-01T04:00:00Z,2026-03-01T04:00:00Z" in printed
    assert re.search(r"\.\.\. \d/4 done, \d running, \d waiting", printed)  # progress
    assert "#/v2/executions/details/arn:aws:states:eu-west-1" in printed
    executions = moto.sfn.list_executions(stateMachineArn=moto.run_arn)["executions"]
    assert len(executions) == 4  # one per slot
    assert len(moto.alerts()) == 2  # the failed and the skipped slot, one alert each


def test_a_skipped_slot_is_reported_and_fails_the_backfill(
    world: tuple[World, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """On main a slot skipped for the lock (no output at all) still let the tool exit 0."""
    _, path = world
    FARGATE.by_time = {"2026-02-01T04:00:00Z": [h.LOCKED]}
    assert cli(path, "--from", "2026-01-01", "--to", "2026-03-31") == 1
    printed = capsys.readouterr().out
    assert "not done: 1 skipped (another run held the job's lock), 0 failed" in printed
    assert f"python -m tools.run_now {DEV.job} --slots 2026-02-01T04:00:00Z" in printed


def test_backfill_runs_the_slots_of_a_job_one_at_a_time(
    world: tuple[World, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    moto, path = world
    client = boto3.client("stepfunctions")
    most = 0

    def start_execution(**request: Any) -> dict[str, Any]:
        nonlocal most
        running = client.list_executions(stateMachineArn=moto.run_arn, statusFilter="RUNNING")
        most = max(most, len(running["executions"]) + 1)
        return dict(client.start_execution(**request))

    class Client:
        def __getattr__(self, name: str) -> Any:
            return start_execution if name == "start_execution" else getattr(client, name)

    # Only the CLI's client counts; the interpreter inside moto keeps its own.
    monkeypatch.setattr(run_now, "boto3", SimpleNamespace(client=lambda *a, **k: Client()))
    FARGATE.by_time = {f"2026-{m:02d}-01T04:00:00Z": [h.EXIT_1, h.SUCCESS] for m in range(1, 7)}
    assert cli(path, "--from", "2026-01-01", "--to", "2026-06-01") == 0
    assert most == 1
    with pytest.raises(SystemExit) as refused:  # a second slot at once would be skipped
        cli(path, "--from", "2026-01-01", "--to", "2026-06-01", "--concurrency", "2")
    assert refused.value.code == 2


def test_run_now_is_one_execution_for_the_given_time(
    world: tuple[World, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    moto, path = world
    assert cli(path, "--scheduled-time", "2026-11-01T04:00:00Z") == 0
    [execution] = moto.sfn.list_executions(stateMachineArn=moto.run_arn)["executions"]
    assert execution["name"].startswith("run-now-20261101T040000Z-")
    described = moto.sfn.describe_execution(executionArn=execution["executionArn"])
    assert json.loads(described["input"]) == {"scheduledTime": "2026-11-01T04:00:00Z"}
    [request] = FARGATE.requests
    [container] = request["overrides"]["containerOverrides"]
    assert container["environment"] == [{"name": "SCHEDULED_TIME", "value": "2026-11-01T04:00:00Z"}]
    assert "succeeded" in capsys.readouterr().out


def test_unknown_job_names_the_ones_there_are(world: tuple[World, Path]) -> None:
    _, path = world
    with pytest.raises(SystemExit):
        run_now.main(["nightly", "--outputs", str(path)])


@pytest.mark.parametrize(
    ("schedule", "timezone", "start", "end", "expected"),
    [
        ("cron(0 4 1 * ? *)", "UTC", "2026-01-01", "2026-03-31",
         ["2026-01-01T04:00:00Z", "2026-02-01T04:00:00Z", "2026-03-01T04:00:00Z"]),
        # 06:00 in Berlin: 05:00 UTC in winter, 04:00 UTC in summer.
        ("cron(0 6 1 * ? *)", "Europe/Berlin", "2026-03-01", "2026-04-30",
         ["2026-03-01T05:00:00Z", "2026-04-01T04:00:00Z"]),
        ("cron(0 4 L * ? *)", "UTC", "2026-02-01", "2026-02-28T23:00:00Z",
         ["2026-02-28T04:00:00Z"]),
        ("rate(12 hours)", "UTC", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z",
         ["2026-01-01T00:00:00Z", "2026-01-01T12:00:00Z", "2026-01-02T00:00:00Z"]),
        ("at(2026-05-01T10:00:00)", "UTC", "2026-05-01", "2026-05-02", ["2026-05-01T10:00:00Z"]),
        ("at(2026-05-01T10:00:00)", "UTC", "2026-06-01", "2026-06-02", []),
        # A date is the whole day: the last day's slot is in (issue 18).
        ("cron(0 4 L * ? *)", "UTC", "2026-01-01", "2026-03-31",
         ["2026-01-31T04:00:00Z", "2026-02-28T04:00:00Z", "2026-03-31T04:00:00Z"]),
        ("cron(30 23 * * ? *)", "Europe/Berlin", "2026-03-30", "2026-03-31",
         ["2026-03-30T21:30:00Z", "2026-03-31T21:30:00Z"]),
        # 02:30 does not exist in Berlin on 2027-03-28: Scheduler skips it, so does a backfill;
        # 02:30 on 2027-10-31 happens twice and is one slot.
        ("cron(30 2 * * ? *)", "Europe/Berlin", "2027-03-27", "2027-03-29",
         ["2027-03-27T01:30:00Z", "2027-03-29T00:30:00Z"]),
        ("cron(30 2 * * ? *)", "Europe/Berlin", "2027-10-31", "2027-10-31",
         ["2027-10-31T00:30:00Z"]),
        ("rate(1 day)", "UTC", "2026-01-01T00:00:00Z", "2026-01-03",
         ["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"]),
    ],
)  # fmt: skip
def test_slots(schedule: str, timezone: str, start: str, end: str, expected: list[str]) -> None:
    assert slots(schedule, timezone, start, end) == expected


@pytest.mark.parametrize(("start", "end", "expected"), [
    # The grid of the schedule's startDate (2025-06-01T03:00Z + 12 h steps), from --from on.
    ("2026-01-01", "2026-01-01", ["2026-01-01T03:00:00Z", "2026-01-01T15:00:00Z"]),
    ("2026-01-01T03:00:01Z", "2026-01-02T03:00:00Z",
     ["2026-01-01T15:00:00Z", "2026-01-02T03:00:00Z"]),
    ("2025-01-01", "2025-06-01", ["2025-06-01T03:00:00Z", "2025-06-01T15:00:00Z"]),
])  # fmt: skip
def test_rate_slots_fall_on_the_start_dates_grid(start: str, end: str, expected: list[str]) -> None:
    """As Scheduler counts them, so a backfilled slot has the scheduled time the schedule (and
    the watchdog) would have given it."""
    assert slots("rate(12 hours)", "UTC", start, end, "2025-06-01T03:00:00Z") == expected


def test_a_range_backwards_is_refused() -> None:
    with pytest.raises(ValueError, match="before"):
        slots("cron(0 4 1 * ? *)", "UTC", "2026-02-01", "2026-01-01")


@pytest.mark.parametrize(
    ("schedule", "timezone", "expected"),
    [
        # 02:30 in Berlin is 01:30 UTC in winter: today's slot has passed at 12:00 UTC.
        ("cron(30 2 * * ? *)", "Europe/Berlin", "2026-12-06T01:30:00Z"),
        ("cron(0 4 1 * ? *)", "UTC", "2026-12-01T04:00:00Z"),
        ("cron(0 4 L * ? *)", "UTC", "2026-11-30T04:00:00Z"),
        ("at(2030-01-01T00:00:00)", "UTC", None),  # still to come
    ],
)
def test_latest_slot_is_the_last_one_at_or_before_now(
    schedule: str, timezone: str, expected: str | None
) -> None:
    """What `make demo STACK_JOB=…` runs at when no SCHEDULED_TIME is given."""
    now = datetime(2026, 12, 6, 12, tzinfo=UTC)
    assert latest_slot(schedule, timezone, now) == expected
