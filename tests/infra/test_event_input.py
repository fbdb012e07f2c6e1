"""EventBridge input-transformer rules (components/specs/event_input.py): each planted violation is
reported, and sound templates pass."""

from __future__ import annotations

import pytest

from components.specs.event_input import HOSTILE, input_transformer_problems

PATHS = {"reason": "$.detail.stoppedReason", "exit": "$.detail.containers[0].exitCode",
         "task": "$.detail.taskArn"}  # fmt: skip


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # The defect of issue 9: a literal <task id> in the text.
        ('{"r": <reason>, "s": "stream app/app/<task id>"}', "invalid placeholder <task id>"),
        (
            '{"r": <reason>, "s": "<aws.events.rule-nam>"}',
            "invalid placeholder <aws.events.rule-nam>",
        ),
        # Free text inside a string: EventBridge does not escape it.
        ('"failed: <reason>"', "not valid JSON when fields hold hostile text"),
        # A field that may be absent in a value position leaves `"e": ,`.
        ('{"r": <reason>, "e": <exit>}', "not valid JSON when optional fields are absent"),
        ("{<task>: <reason>}", "<task> is used as an object key"),
        ('{"e": "<aws.events.event>"}', "may only be the value of a JSON field"),
        ("not json <task>", "not valid JSON"),
    ],
)
def test_planted_violations_are_reported(template: str, expected: str) -> None:
    problems = input_transformer_problems(PATHS, template)
    assert any(expected in p for p in problems), problems


def test_sound_templates_pass() -> None:
    for template in (
        '{"r": <reason>, "s": "task <task> exit <exit>", "rule": <aws.events.rule-name>}',
        '"<aws.events.rule-name> saw task <task> exit <exit>"',
        '{"event": <aws.events.event>}',
    ):
        assert input_transformer_problems(PATHS, template) == [], template


def test_reserved_and_too_many_keys() -> None:
    assert input_transformer_problems({"aws.events.rule-name": "$.x"}, '"x"') == [
        "InputPathsMap key 'aws.events.rule-name' is reserved (aws.*)"
    ]
    many = {f"v{i}": "$.time" for i in range(101)}
    assert "InputPathsMap has 101 keys; at most 100" in input_transformer_problems(many, '"x"')


def test_hostile_text_holds_what_breaks_json() -> None:
    assert '"' in HOSTILE and "\\" in HOSTILE and "\n" in HOSTILE
