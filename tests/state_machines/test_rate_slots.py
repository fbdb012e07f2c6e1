"""A rate() job's run and watchdog, executed in moto: with the start date both schedules share
(required, tests/infra/test_schedules.py) the watchdog finds every slot's run; with schedules
counting from their own creation, seconds apart, it would alert *missed* for a run that ran."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sfn_harness as h
from sfn_harness import moto_sfn, wait_for
from test_state_machines import World, _build, declared

from tools.offline import run_program, stack_config, with_image_digest
from tools.run_now import slots

START = "2030-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    config = with_image_digest(stack_config("staging"))
    jobs = {name: {**job, "schedule": "rate(1 hour)", "startDate": START}
            for name, job in config["scheduled-etl:jobs"].items()}  # fmt: skip
    program = run_program("staging", {**config, "scheduled-etl:jobs": jobs})
    job, *_ = declared("staging", program)  # the stack's first job (staging has two)
    with pytest.MonkeyPatch.context() as env:
        for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                           "AWS_DEFAULT_REGION": h.REGION}.items():  # fmt: skip
            env.setenv(key, value)
        with moto_sfn():
            yield _build(job)


def test_with_a_shared_start_date_the_watchdog_finds_each_slots_run(world: World) -> None:
    # Both schedules count START + k hours (Scheduler's rule for a rate() with a StartDate).
    run_slots = slots("rate(1 hour)", "UTC", "2030-01-01", "2030-01-01T02:00:00Z", START)
    watch_slots = slots("rate(1 hour)", "UTC", "2030-01-01", "2030-01-01T02:00:00Z", START)
    assert run_slots == watch_slots == [
        "2030-01-01T00:00:00Z", "2030-01-01T01:00:00Z", "2030-01-01T02:00:00Z"]  # fmt: skip
    for slot in run_slots:
        assert wait_for(world.sfn, world.start(slot))["status"] == "SUCCEEDED"
    for slot in watch_slots:
        check = wait_for(world.sfn, world.start(slot, machine=world.watchdog_arn))
        assert check["status"] == "SUCCEEDED", check
    assert not [a for a in world.alerts() if a.startswith("MISSED")]


def test_without_one_the_slots_differ_by_seconds_and_the_watchdog_cries_wolf(
    world: World,
) -> None:
    """What the refusal prevents: each schedule counting from its own creation."""
    slot = datetime(2030, 2, 1, 4, tzinfo=UTC)
    created_later = (slot + timedelta(seconds=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert wait_for(world.sfn, world.start(created_later))["status"] == "SUCCEEDED"
    watch = slot.strftime("%Y-%m-%dT%H:%M:%SZ")
    check = wait_for(world.sfn, world.start(watch, machine=world.watchdog_arn))
    assert check["status"] == "FAILED" and check["error"] == "SlotMissed"
