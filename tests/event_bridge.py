"""EventBridge between Step Functions and the alerts topic, for executions run in moto (which
emits no Step Functions events): the event AWS sends when an execution ends, the declared rule's
pattern evaluated by moto's EventBridge pattern matcher, and the declared input transformer
filled by AWS's substitution rules (components/specs/event_input.py).

The event: "the detail section in the event data provides the same information as the
DescribeExecution API" (dates in epoch milliseconds, as in the page's examples).
https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from jsonpath_ng import parse as jsonpath  # moto's own dependency for input paths
from moto.events.models import EventPattern

from components.specs.event_input import fill
from components.specs.unplanned import DETAIL_TYPE

DETAIL_FIELDS = ("executionArn", "stateMachineArn", "name", "status", "input", "output",
                 "error", "cause")  # fmt: skip


def _millis(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def status_change_event(execution: dict[str, Any], region: str, account: str) -> dict[str, Any]:
    """The Execution Status Change event of an ended execution (DescribeExecution's answer);
    members DescribeExecution leaves out (error of a success, output of a failure) are absent."""
    detail: dict[str, Any] = {key: execution[key] for key in DETAIL_FIELDS if key in execution}
    detail |= {"startDate": _millis(execution["startDate"]),
               "stopDate": _millis(execution["stopDate"]),
               "inputDetails": {"included": True}}  # fmt: skip
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": "aws.states",
        "account": account,
        "time": execution["stopDate"].strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [execution["executionArn"]],
        "detail": detail,
    }


def matches(event_pattern: str, event: dict[str, Any]) -> bool:
    return bool(EventPattern.load(event_pattern).matches_event(event))


def transformed(transformer: dict[str, Any], event: dict[str, Any], rule: str) -> str:
    """What the target receives: each input path's value (None when absent) and the
    predefined variables, substituted into the template."""
    values: dict[str, object] = {
        "aws.events.rule-name": rule,
        "aws.events.rule-arn": f"arn:aws:events:{event['region']}:{event['account']}:rule/{rule}",
        "aws.events.event.ingestion-time": event["time"],
        "aws.events.event": {k: v for k, v in event.items() if k != "detail"},
        "aws.events.event.json": event,
    }
    for key, path in transformer.get("inputPaths", {}).items():
        found = jsonpath(path).find(event)
        values[key] = found[0].value if found else None
    return fill(transformer["inputTemplate"], values)


def deliver(rule: dict[str, Any], target: dict[str, Any], event: dict[str, Any]) -> str | None:
    """The message the rule's target gets for `event`, or None if the rule does not match.
    `rule` and `target` are the declared EventRule and EventTarget inputs."""
    if not matches(rule["eventPattern"], event):
        return None
    return transformed(target["inputTransformer"], event, rule["name"])


def parsed(message: str) -> dict[str, Any]:
    """The transformed message as on-call reads it (it must be JSON)."""
    result: dict[str, Any] = json.loads(message)
    return result
