"""The alert for an execution that ends outside its planned outcomes (pure).

The run state machine ends in one planned outcome and alerts for it itself; a failed run ends
with `RunFailed` or `RunTimedOut`, a missed slot's watchdog with `SlotMissed`. Anything else
that ends either machine (`States.Runtime`, an alert that could not be published, a stop by
hand, a machine timeout) is told by no state: an EventBridge rule on Step Functions' "Execution
Status Change" events matches those ends and publishes a message to the alerts topic.

Step Functions sends one event per status change; its `detail` holds what DescribeExecution
returns (executionArn, stateMachineArn, name, status, error, cause...). Delivery: best effort.
https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html
https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-states.html
"""

from __future__ import annotations

from typing import Any

from components.specs.state_machine import RUN_FAILED, RUN_TIMED_OUT, execution_url
from components.specs.watchdog import SLOT_MISSED

DETAIL_TYPE = "Step Functions Execution Status Change"
PLANNED_ERRORS = [RUN_FAILED, RUN_TIMED_OUT, SLOT_MISSED]  # alerted by the machines themselves
ENDS = ["FAILED", "TIMED_OUT", "ABORTED"]


def unplanned_end_pattern(machine_arns: list[str]) -> dict[str, Any]:
    """FAILED with any error but the planned ones, and every TIMED_OUT or ABORTED, of these
    machines. ("anything-but" on `error`; `$or` so that an end with no error still matches:
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html)"""
    return {
        "source": ["aws.states"],
        "detail-type": [DETAIL_TYPE],
        "detail": {
            "stateMachineArn": machine_arns,
            "$or": [
                {"status": ["TIMED_OUT", "ABORTED"]},
                {"status": ["FAILED"], "error": [{"anything-but": PLANNED_ERRORS}]},
            ],
        },
    }


# Event fields placed inside the message text: present in every such event (DescribeExecution
# requires them) and unable to hold a quote or backslash (ARNs, an execution name, a status).
INPUT_PATHS = {
    "status": "$.detail.status",
    "name": "$.detail.name",
    "execution": "$.detail.executionArn",
    "machine": "$.detail.stateMachineArn",
}


def unplanned_end_message(job: str, full_name: str, region: str) -> dict[str, Any]:
    """The input transformer: a JSON message whose first line says what happened and what to
    do; the error, cause and input (free text, maybe absent) travel inside the whole event,
    which EventBridge inserts as JSON (the only safe place for them, specs/event_input.py)."""
    console = execution_url(region).replace("{}", "<execution>")
    template = (
        "{"
        f'"alert": "UNPLANNED END of {full_name}: execution <name> of <machine> ended '
        '<status>, outside the planned outcomes; no other alert was sent for it.", '
        f'"history": "{console}", '
        '"next": "Read the error and cause below and the history. A run: rerun its slot with '
        f"python -m tools.run_now {job} --scheduled-time (the input's scheduledTime). "
        'The watchdog: check that slot by hand.", '
        '"event": <aws.events.event.json>'
        "}"
    )
    return {"input_paths": INPUT_PATHS, "input_template": template}
