"""The unplanned-end rule (components/specs/unplanned.py): which Step Functions status-change
events its pattern matches (moto's EventBridge pattern matcher), and what its input transformer
sends for hostile or absent fields (the event-input rules). Executed against real executions in
tests/state_machines/test_state_machines.py."""

from __future__ import annotations

import json
from typing import Any

import pytest
from event_bridge import matches, parsed, transformed

from components.specs.event_input import HOSTILE, input_transformer_problems
from components.specs.unplanned import (
    PLANNED_ERRORS,
    unplanned_end_message,
    unplanned_end_pattern,
)

HEAD = "arn:aws:states:eu-west-1:123456789012"
RUN, WATCH = f"{HEAD}:stateMachine:etl-dev-j1", f"{HEAD}:stateMachine:etl-dev-j1-watch"
EXECUTION = f"{HEAD}:execution:etl-dev-j1:e1"
PATTERN = json.dumps(unplanned_end_pattern([RUN, WATCH]))


def event(
    status: str, error: str | None = None, machine: str = RUN, **extra: Any
) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "executionArn": EXECUTION, "stateMachineArn": machine, "name": "e1", "status": status,
        "input": '{"scheduledTime": "2026-11-01T04:00:00Z"}', **extra,
    }  # fmt: skip
    if error is not None:
        detail |= {"error": error, "cause": "why"}
    return {
        "version": "0", "id": "1", "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states", "account": "123456789012", "time": "2026-11-01T05:00:00Z",
        "region": "eu-west-1", "resources": [EXECUTION], "detail": detail,
    }  # fmt: skip


@pytest.mark.parametrize("machine", [RUN, WATCH])
@pytest.mark.parametrize(
    ("status", "error"),
    [("FAILED", "States.Runtime"), ("FAILED", "AlertNotPublished"), ("FAILED", "SNS.Throttled"),
     ("TIMED_OUT", "States.Timeout"), ("TIMED_OUT", None), ("ABORTED", None),
     ("ABORTED", "States.Aborted")],
)  # fmt: skip
def test_unplanned_ends_match(machine: str, status: str, error: str | None) -> None:
    assert matches(PATTERN, event(status, error, machine))


@pytest.mark.parametrize(
    ("status", "error"),
    [*(("FAILED", e) for e in PLANNED_ERRORS), ("SUCCEEDED", None), ("RUNNING", None)],
)
def test_planned_ends_and_other_changes_do_not(status: str, error: str | None) -> None:
    assert not matches(PATTERN, event(status, error))


def test_other_machines_do_not_match() -> None:
    assert not matches(PATTERN, event("FAILED", "States.Runtime", f"{RUN}-other"))


def test_the_planned_errors_are_the_fail_states_that_alert() -> None:
    assert PLANNED_ERRORS == ["RunFailed", "RunTimedOut", "SlotMissed"]


def test_the_message_passes_the_event_input_rules() -> None:
    message = unplanned_end_message("j1", "etl-dev-j1", "eu-west-1")
    assert input_transformer_problems(message["input_paths"], message["input_template"]) == []


@pytest.mark.parametrize("error", [HOSTILE, None])
def test_the_message_is_json_with_hostile_or_absent_fields(error: str | None) -> None:
    message = unplanned_end_message("j1", "etl-dev-j1", "eu-west-1")
    transformer = {"inputPaths": message["input_paths"], "inputTemplate": message["input_template"]}
    received = parsed(transformed(transformer, event("FAILED", error), "etl-dev-j1-ended"))
    assert received["alert"].startswith(
        f"UNPLANNED END of etl-dev-j1: execution e1 of {RUN} ended FAILED"
    )
    assert received["history"] == (
        "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1"
        f"#/v2/executions/details/{EXECUTION}"
    )
    assert received["event"]["detail"].get("error") == error
