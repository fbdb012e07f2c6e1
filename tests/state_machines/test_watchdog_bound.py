"""The watchdog's work is bounded by the executions started since its slot, not by the 90 days of
executions Step Functions keeps (issue 18, point 5): executed in moto against 3,000 kept
executions of an hourly job, as Scheduler would have started them (each at its slot)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import sfn_harness as h
from moto.stepfunctions.parser.models import stepfunctions_parser_backends as stepfunctions_backends
from sfn_harness import moto_sfn, wait_for

from components.settings import JobSettings, parse_settings
from components.specs.watchdog import PAGE, watchdog_definition

KEPT = 3000  # an hourly job keeps ~2,200 executions over Step Functions' 90 days
FIRST = datetime(2026, 6, 1, tzinfo=UTC)
HISTORY_LIMIT = 25_000  # a Standard execution fails past 25,000 history events (AWS quota)
ROLE = f"arn:aws:iam::{h.ACCOUNT}:role/r"


def hourly_job() -> JobSettings:
    raw = {"network": {"mode": "new"}, "image": {"build": {}},
           "jobs": {"hourly": {"schedule": "cron(0 * * * ? *)"}}}  # fmt: skip
    return parse_settings(raw).jobs["hourly"]


def slot(n: int) -> str:
    return (FIRST + timedelta(hours=n)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def kept() -> Iterator[tuple[Any, str, str]]:
    """(sfn client, run machine ARN, topic ARN) with KEPT hourly runs, the slot KEPT - 10
    missing; each run started 30 seconds after its slot."""
    with pytest.MonkeyPatch.context() as env:
        for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                           "AWS_DEFAULT_REGION": h.REGION}.items():  # fmt: skip
            env.setenv(key, value)
        with moto_sfn():
            sfn = boto3.client("stepfunctions")
            topic = boto3.client("sns").create_topic(Name="alerts")["TopicArn"]
            # The watchdog reads only the runs' list and inputs: a Pass machine stands in.
            run = sfn.create_state_machine(
                name="scheduled-etl-test-hourly", roleArn=ROLE,
                definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass",
                                                                          "End": True}}}),
            )["stateMachineArn"]  # fmt: skip
            started = {}
            for n in range(KEPT):
                if n == KEPT - 10:
                    continue
                arn = sfn.start_execution(
                    stateMachineArn=run, name=f"run-{n}",
                    input=json.dumps({"scheduledTime": slot(n)}),
                )["executionArn"]  # fmt: skip
                started[arn] = FIRST + timedelta(hours=n, seconds=30)
            backend = stepfunctions_backends[h.ACCOUNT][h.REGION]
            for execution in backend.describe_state_machine(run).executions:
                execution.start_date = started[execution.execution_arn]
            yield sfn, run, topic


def check(sfn: Any, run: str, topic: str, scheduled: str) -> tuple[dict[str, Any], list[Any]]:
    definition = watchdog_definition(
        hourly_job(), full_name="scheduled-etl-test-hourly", region=h.REGION,
        run_machine_arn=run, topic_arn=topic,
    )  # fmt: skip
    name = f"watch-{scheduled.replace(':', '')}"
    machine = sfn.create_state_machine(name=name, roleArn=ROLE, definition=json.dumps(definition))
    execution = wait_for(sfn, sfn.start_execution(
        stateMachineArn=machine["stateMachineArn"],
        input=json.dumps({"scheduledTime": scheduled}))["executionArn"], seconds=300)  # fmt: skip
    pages = sfn.get_paginator("get_execution_history").paginate(
        executionArn=execution["executionArn"]
    )
    return execution, [event for page in pages for event in page["events"]]


def listings(events: list[Any]) -> int:
    return sum(1 for e in events if e["type"] == "TaskScheduled"
               and e["taskScheduledEventDetails"]["resource"] == "listExecutions")  # fmt: skip


def describes(events: list[Any]) -> int:
    return sum(1 for e in events if e["type"] == "TaskScheduled"
               and e["taskScheduledEventDetails"]["resource"] == "describeExecution")  # fmt: skip


def test_a_missed_slot_among_3000_kept_runs_reads_one_page(kept: tuple[Any, str, str]) -> None:
    sfn, run, topic = kept
    execution, events = check(sfn, run, topic, slot(KEPT - 10))
    assert execution["status"] == "FAILED" and execution["error"] == "SlotMissed"
    # Nine runs started after the slot, the rest before: the first page reaches back before
    # the slot, so no further page is read (the unbounded watchdog read KEPT / PAGE pages).
    assert listings(events) == 1
    assert describes(events) <= PAGE
    assert len(events) < HISTORY_LIMIT // 10, len(events)


def test_a_slot_with_a_run_among_3000_kept_runs_is_found_on_the_first_page(
    kept: tuple[Any, str, str],
) -> None:
    sfn, run, topic = kept
    execution, events = check(sfn, run, topic, slot(KEPT - 50))
    assert execution["status"] == "SUCCEEDED"
    assert listings(events) == 1 and describes(events) <= PAGE
    assert len(events) < HISTORY_LIMIT // 10, len(events)


def test_an_old_slot_with_no_run_stops_at_the_page_that_reaches_before_it(
    kept: tuple[Any, str, str],
) -> None:
    # A slot 250 hours back: its run would be among the 250 executions started since, so the
    # watchdog reads the three pages that hold them and no more (of KEPT / PAGE = 30).
    sfn, run, topic = kept
    backend = stepfunctions_backends[h.ACCOUNT][h.REGION]
    gone = next(e for e in backend.describe_state_machine(run).executions
                if json.loads(e.execution_input)["scheduledTime"] == slot(KEPT - 250))  # fmt: skip
    backend.describe_state_machine(run).executions.remove(gone)  # as if never started
    execution, events = check(sfn, run, topic, slot(KEPT - 250))
    assert execution["status"] == "FAILED" and execution["error"] == "SlotMissed"
    assert listings(events) == -(-250 // PAGE)
    assert len(events) < HISTORY_LIMIT // 2, len(events)


def _run_of(run: str, n: int) -> Any:
    backend = stepfunctions_backends[h.ACCOUNT][h.REGION]
    return next(e for e in backend.describe_state_machine(run).executions
                if json.loads(e.execution_input)["scheduledTime"] == slot(n))  # fmt: skip


def test_a_run_started_after_the_next_slots_run_is_found(kept: tuple[Any, str, str]) -> None:
    """Scheduler's retries (up to maxEventAgeSeconds) can start a slot's run after the next
    slot's: newest first, it still lies before the first execution older than its slot."""
    sfn, run, topic = kept
    _run_of(run, KEPT - 20).start_date = FIRST + timedelta(hours=KEPT - 19, minutes=10)
    execution, events = check(sfn, run, topic, slot(KEPT - 20))
    assert execution["status"] == "SUCCEEDED"
    assert listings(events) == 1


def test_a_run_started_exactly_at_its_slot_is_found(kept: tuple[Any, str, str]) -> None:
    """A start date equal to the slot is not "before" it (the comparison is strict)."""
    sfn, run, topic = kept
    late_neighbour = _run_of(run, KEPT - 31)  # started at its slot + 30 s, before KEPT - 30
    _run_of(run, KEPT - 30).start_date = FIRST + timedelta(hours=KEPT - 30)
    assert late_neighbour.start_date < FIRST + timedelta(hours=KEPT - 30)
    execution, _ = check(sfn, run, topic, slot(KEPT - 30))
    assert execution["status"] == "SUCCEEDED"


def test_a_missed_slot_with_exactly_a_page_of_runs_since_reads_the_next_page(
    kept: tuple[Any, str, str],
) -> None:
    """Exactly PAGE executions started since the slot: the first page holds none older, so
    the watchdog must read the second (which starts older) before it alerts, and no third."""
    sfn, run, topic = kept
    backend = stepfunctions_backends[h.ACCOUNT][h.REGION]
    executions = backend.describe_state_machine(run).executions

    def since(n: int) -> int:
        return sum(e.start_date >= FIRST + timedelta(hours=n) for e in executions)

    n = next(n for n in range(KEPT - 1, 0, -1) if since(n) == PAGE + 1)  # its run included
    executions.remove(_run_of(run, n))  # as if never started: PAGE runs since its slot
    execution, events = check(sfn, run, topic, slot(n))
    assert execution["status"] == "FAILED" and execution["error"] == "SlotMissed"
    assert listings(events) == 2
