"""The state machine builders (pure), and every declared definition through asl-validator.

What the definitions *do* is executed in tests/state_machines/test_state_machines.py; here:
their shape, the settings they carry, and AWS's language rules (asl-validator, the npm package
AWS's own tools use; `npm ci` installs the pinned version from package-lock.json).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from components.settings import JobSettings, parse_settings
from components.specs.names import SCHEDULE
from components.specs.state_machine import RunTarget, format_literal, run_definition
from components.specs.watchdog import grace_seconds, watchdog_definition
from tools.offline import ROOT, STACKS, rendered, stack_settings

VALIDATOR = ROOT / "node_modules" / ".bin" / "asl-validator"
TARGET = RunTarget(
    full_name="scheduled-etl-dev-j1", region="eu-west-1",
    cluster_arn="arn:aws:ecs:eu-west-1:123456789012:cluster/etl",
    task_definition_arn="arn:aws:ecs:eu-west-1:123456789012:task-definition/scheduled-etl-dev-j1:3",
    subnet_ids=["subnet-1"], security_group_ids=["sg-1"], assign_public_ip=False,
    topic_arn="arn:aws:sns:eu-west-1:123456789012:alerts",
)  # fmt: skip
MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:scheduled-etl-dev-j1"


def make_job(**fields: Any) -> JobSettings:
    return parse_settings(
        {"image": {"build": {}}, "network": {"mode": "new"}, "jobs": {"j1": fields}}
    ).jobs["j1"]


def states(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = dict(definition["States"])
    for state in definition["States"].values():
        if "ItemProcessor" in state:
            found.update(states(state["ItemProcessor"]))
    return found


def test_settings_reach_the_definition() -> None:
    job = make_job(timeoutMinutes=90, runRetries=3, retryIntervalSeconds=30,
                   capacity="FARGATE_SPOT")  # fmt: skip
    definition = run_definition(job, TARGET)
    prepare = definition["States"]["Prepare"]["Assign"]
    assert definition["States"]["RunTask"]["TimeoutSeconds"] == 90 * 60
    assert prepare["delays"] == [30, 60, 120]  # doubling
    assert prepare["strategy"] == [{"CapacityProvider": "FARGATE_SPOT", "Weight": 1}]
    assert prepare["fallback"] is True
    retry = definition["States"]["RetryOrFail"]["Choices"][0]
    assert (retry["Variable"], retry["NumericLessThan"]) == ("$retried", 3)


@pytest.mark.parametrize(("fields", "fallback"), [
    ({"capacity": "FARGATE_SPOT", "spotFallback": False}, False),
    ({"capacity": "FARGATE"}, False),
    ({"capacity": "FARGATE", "spotFallback": True}, False),
])  # fmt: skip
def test_fallback_only_from_spot_and_when_asked(fields: dict[str, Any], fallback: bool) -> None:
    assert run_definition(make_job(**fields), TARGET)["States"]["Prepare"]["Assign"][
        "fallback"] is fallback  # fmt: skip


def test_every_transition_lands_on_a_state_and_every_end_is_an_outcome() -> None:
    for definition in (run_definition(make_job(), TARGET),
                       watchdog_definition(make_job(), full_name="j", region="eu-west-1",
                                           run_machine_arn=MACHINE, topic_arn="t")):  # fmt: skip
        everything = states(definition)
        targets = [s.get("Next") for s in everything.values()]
        targets += [c["Next"] for s in everything.values() for c in s.get("Choices", [])]
        targets += [c["Next"] for s in everything.values() for c in s.get("Catch", [])]
        targets += [s.get("Default") for s in everything.values()]
        assert {t for t in targets if t} <= set(everything)


def test_the_run_ends_in_the_four_outcomes_only() -> None:
    top = run_definition(make_job(), TARGET)["States"]
    ends = {name for name, s in top.items() if s.get("End") or s["Type"] in ("Succeed", "Fail")}
    # ...or, when an outcome's alert cannot be published, in AlertNotPublished (which the
    # unplanned-end rule alerts).
    lost = {f"NotPublished-{o}" for o in ("skipped", "failed", "timed-out")}
    assert ends == {"Succeeded", "Skipped", "Failed", "TimedOut"} | lost
    assert (top["Failed"]["Error"], top["TimedOut"]["Error"]) == ("RunFailed", "RunTimedOut")
    assert {top[name]["Error"] for name in lost} == {"AlertNotPublished"}


def test_every_publish_falls_back_to_alert_not_published() -> None:
    for definition in (run_definition(make_job(), TARGET),
                       watchdog_definition(make_job(), full_name="j", region="eu-west-1",
                                           run_machine_arn=MACHINE, topic_arn="t")):  # fmt: skip
        top = definition["States"]
        publishes = [s for s in top.values() if s.get("Resource") == "arn:aws:states:::sns:publish"]
        assert publishes
        for publish in publishes:
            [catch] = publish["Catch"]
            assert catch["ErrorEquals"] == ["States.ALL"]
            assert top[catch["Next"]]["Error"] == "AlertNotPublished"


def test_alert_subjects_fit_sns_for_the_longest_names() -> None:
    longest = RunTarget(
        **{**TARGET.__dict__, "full_name": "x" * (SCHEDULE.max_length - len("-watch"))}
    )
    top = run_definition(make_job(), longest)["States"]
    subjects = [s["Parameters"]["Subject"] for s in top.values()
                if s.get("Resource") == "arn:aws:states:::sns:publish"]  # fmt: skip
    assert len(subjects) == 3 and all(len(s) <= 100 for s in subjects)


def test_format_literals_escape_what_intrinsics_reserve() -> None:
    assert format_literal("a {b} \\ %s") == "'a \\{b\\} \\\\ {}'"
    with pytest.raises(ValueError, match="apostrophe"):
        format_literal("the job's lock")


def test_watchdog_waits_the_window_and_the_grace() -> None:
    job = make_job(flexibleWindowMinutes=15, missedRunGraceMinutes=60)
    assert grace_seconds(job) == 75 * 60
    definition = watchdog_definition(job, full_name="j", region="eu-west-1",
                                     run_machine_arn=MACHINE, topic_arn="t")  # fmt: skip
    assert definition["States"]["Grace"]["Seconds"] == 75 * 60
    assert definition["States"]["ListRuns"]["Parameters"]["StateMachineArn"] == MACHINE


def declared_definitions() -> list[tuple[str, str]]:
    return [(f"{stack}-{r.name}", r.inputs["definition"]) for stack in STACKS
            for r in rendered(stack).of_type("aws:sfn/stateMachine:StateMachine")]  # fmt: skip


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    if not VALIDATOR.exists():
        pytest.fail(f"{VALIDATOR} is missing: run `npm ci` (make does it) to install asl-validator")
    return subprocess.run([str(VALIDATOR), "--json-path", str(path)],
                          capture_output=True, text=True, check=False)  # fmt: skip


def test_every_declared_definition_is_valid_asl(tmp_path: Path) -> None:
    definitions = declared_definitions()
    jobs = sum(len(stack_settings(stack).jobs) for stack in STACKS)
    assert len(definitions) == 2 * jobs  # the run and its watchdog, for each job
    for name, text in definitions:
        path = tmp_path / f"{name}.json"
        path.write_text(text)
        result = validate(path)
        assert result.returncode == 0, (name, result.stdout, result.stderr)


def test_the_validator_rejects_a_broken_definition(tmp_path: Path) -> None:
    definition = run_definition(make_job(), TARGET)
    definition["States"]["Decide"]["Default"] = "NoSuchState"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(definition))
    assert validate(path).returncode != 0
