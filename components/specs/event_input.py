"""EventBridge input transformers: what PutTargets accepts and what the target then receives.

EventBridge rejects a template that holds a placeholder which is neither a key of its
InputPathsMap nor a predefined ``aws.events.*`` variable; ``<`` and ``>`` cannot be escaped.
Once accepted, it substitutes values WITHOUT escaping them inside a JSON string, but as JSON
values (strings quoted) where a placeholder stands in a value position, and leaves out a
variable whose path is absent from the event. So free text (a stopped reason) is safe only in a
value position, and a field that may be absent only inside a string.

Sources:
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html
(predefined variables; "Common issues": quotes are required for strings, a missing path creates
no variable, values extracted by input path are not escaped) and
https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_InputTransformer.html
(at most 100 paths; keys may not start with "AWS."; a placeholder may not be an object key).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

PREDEFINED = {
    "aws.events.rule-arn": "arn:aws:events:eu-west-1:123456789012:rule/r",
    "aws.events.rule-name": "r",
    "aws.events.event.ingestion-time": "2030-01-01T00:00:00Z",
    "aws.events.event": {"source": "aws.ecs"},
    "aws.events.event.json": {"source": "aws.ecs", "detail": {}},
}
# Only usable as the value of a JSON field: their content is not escaped.
JSON_ONLY = {"aws.events.event", "aws.events.event.json"}
MAX_PATHS = 100

# Event fields whose values cannot hold a quote, backslash or control character (so they may
# stand inside a JSON string), with a typical value, for the ECS Task State Change event:
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_task_events.html
# (time: ISO 8601; ARNs; stopCode: an enum; exitCode: an integer) and container names
# (letters, numbers, hyphens, underscores):
# https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerDefinition.html
_PLAIN_FIELDS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\$\.time"), "2030-01-01T04:00:00Z"),
    (re.compile(r"\$\.detail\.(taskArn|clusterArn|taskDefinitionArn)"),
     "arn:aws:ecs:eu-west-1:123456789012:task/c/0123456789abcdef"),
    (re.compile(r"\$\.detail\.stopCode"), "EssentialContainerExited"),
    (re.compile(r"\$\.detail\.containers\[\d+\]\.exitCode"), "137"),
    (re.compile(r"\$\.detail\.containers\[\d+\]\.name"), "app"),
    # Step Functions Execution Status Change (its detail is DescribeExecution's answer): ARNs,
    # a status (an enum) and an execution name (no quotes, backslashes or control characters):
    # https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html
    (re.compile(r"\$\.detail\.(executionArn|stateMachineArn)"),
     "arn:aws:states:eu-west-1:123456789012:execution:m:e"),
    (re.compile(r"\$\.detail\.status"), "FAILED"),
    (re.compile(r"\$\.detail\.name"), "run-now-20261101T040000Z-0a1b2c3d"),
]  # fmt: skip
# Fields present on every STOPPED task event (everything else may be absent, e.g. exitCode of
# a container that never ran, or a second container), and on every Step Functions execution
# event (DescribeExecution's required members; error, cause, input may be absent).
_ALWAYS_PRESENT = re.compile(
    r"\$\.(time|detail\.(taskArn|clusterArn|stoppedReason|lastStatus"
    r"|executionArn|stateMachineArn|name|status))"
)
# What a hostile event could put in a free-text field.
HOSTILE = 'it said "no" \\ <b>\n\t{"x": 1}'

_PLACEHOLDER = re.compile(r"<([^<>]*)>")


@dataclass(frozen=True)
class _Use:
    name: str
    start: int
    end: int
    in_string: bool


def _uses(template: str) -> list[_Use]:
    """Every <placeholder>, and whether it stands inside a JSON string literal."""
    uses, in_string, i = [], False, 0
    while i < len(template):
        char = template[i]
        if in_string and char == "\\":
            i += 2
            continue
        if char == '"':
            in_string = not in_string
        elif char == "<" and (match := _PLACEHOLDER.match(template, i)):
            uses.append(_Use(match[1], i, match.end(), in_string))
            i = match.end()
            continue
        i += 1
    return uses


def _value(path: str | None, name: str, optional_absent: bool) -> object:
    """A value EventBridge could substitute: the predefined one, None for an absent field,
    a typical value for a field that cannot hold special characters, else hostile text."""
    if path is None:
        return PREDEFINED[name]
    if optional_absent and not _ALWAYS_PRESENT.fullmatch(path):
        return None
    for pattern, typical in _PLAIN_FIELDS:
        if pattern.fullmatch(path):
            return typical
    return HOSTILE


def _substitute(template: str, uses: list[_Use], values: Mapping[str, object]) -> str:
    out, last = [], 0
    for use in uses:
        out.append(template[last : use.start])
        value = values[use.name]
        if use.in_string:
            out.append("" if value is None else str(value))  # not escaped
        elif value is not None:
            out.append(json.dumps(value))  # absent: the variable is not created
        last = use.end
    return "".join([*out, template[last:]])


def input_transformer_problems(input_paths: Mapping[str, str], template: str) -> list[str]:
    """What EventBridge rejects, or what would reach the target as invalid JSON: '' problems
    when the transformer is sound for every event, hostile text and absent fields included."""
    problems = []
    if len(input_paths) > MAX_PATHS:
        problems.append(f"InputPathsMap has {len(input_paths)} keys; at most {MAX_PATHS}")
    for key in input_paths:
        if key in PREDEFINED or key.lower().startswith("aws."):
            problems.append(f"InputPathsMap key {key!r} is reserved (aws.*)")
    uses = _uses(template)
    for use in uses:
        if use.name not in input_paths and use.name not in PREDEFINED:
            problems.append(
                f"InputTemplate contains invalid placeholder <{use.name}>: not a key of "
                "InputPathsMap nor a predefined aws.events.* variable ('<' cannot be escaped)"
            )
        elif use.name in JSON_ONLY and use.in_string:
            problems.append(f"<{use.name}> may only be the value of a JSON field")
        elif not use.in_string and template[use.end :].lstrip()[:1] == ":":
            problems.append(f"<{use.name}> is used as an object key")
    if problems:
        return problems
    for absent in (False, True):
        values = {u.name: _value(input_paths.get(u.name), u.name, absent) for u in uses}
        filled = _substitute(template, uses, values)
        try:
            json.loads(filled)
        except ValueError as err:
            case = "optional fields are absent" if absent else "fields hold hostile text"
            problems.append(f"InputTemplate is not valid JSON when {case}: {err}: {filled!r}")
    return problems


def fill(template: str, values: Mapping[str, object]) -> str:
    """What the target receives: `values` (by placeholder; None for a path absent from the
    event) substituted as EventBridge does (see the module's sources)."""
    return _substitute(template, _uses(template), values)
