"""Schedules the watchdog can follow (docs/schedules.md): rate() slots anchored on a start date
both schedules share, a grace period no shorter than Scheduler's own delivery retries, and no
slot that a clock change of the time zone skips or repeats unless the stack accepts it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from components.settings import (
    DST_HORIZON_YEARS,
    ConfigError,
    parse_settings,
    schedule_problems,
)
from components.specs.daylight_saving import GAP, OVERLAP, clock_change_slots, clock_changes
from tools.offline import STACKS, run_program, stack_config, with_image_digest

SCHEDULE = "aws:scheduler/schedule:Schedule"
NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)


def settings_of(**fields: Any) -> Any:
    return parse_settings({"image": {"build": {}}, "jobs": {"nightly": fields}})


def error_of(**fields: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        settings_of(**fields)
    return str(caught.value)


# --- rate(): both schedules count from one start date ---------------------------------------


@pytest.mark.parametrize("rate", ["rate(1 hour)", "rate(15 minutes)", "rate(2 days)"])
def test_a_rate_schedule_without_a_start_date_is_refused(rate: str) -> None:
    message = error_of(schedule=rate)
    assert f'scheduled-etl:jobs.nightly.startDate: required with schedule "{rate}"' in message
    # The example it gives is a start date CreateSchedule takes.
    [example] = re.findall(r"such as (\S+)", message)
    assert datetime.fromisoformat(example) > datetime.now(UTC) + timedelta(minutes=5)


def test_a_rate_schedule_with_a_start_date_gives_both_schedules_that_first_slot() -> None:
    config = with_image_digest(stack_config("staging"))
    name = next(iter(config["scheduled-etl:jobs"]))  # any job of the stack: it runs alone here
    start = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:00:00Z")
    job = {**config["scheduled-etl:jobs"][name], "schedule": "rate(1 hour)", "startDate": start}
    if job.get("databaseServer") != "aurora":  # a cluster no job uses is refused
        config.pop("scheduled-etl:aurora", None)
    prog = run_program("staging", {**config, "scheduled-etl:jobs": {name: job}})
    run, watch = prog.one(SCHEDULE, name).inputs, prog.one(SCHEDULE, f"{name}-watch").inputs
    assert run["scheduleExpression"] == watch["scheduleExpression"] == "rate(1 hour)"
    assert run["startDate"] == watch["startDate"] == start


def test_a_passed_start_date_stays_on_a_rate_schedule() -> None:
    """It anchors the slots: removing it would restart both schedules' counts at the next
    deploy, seconds apart. (A cron() start date that has passed is still refused:
    tests/infra/test_bad_config.py.)"""
    config = with_image_digest(stack_config("dev"))
    name = next(iter(config["scheduled-etl:jobs"]))  # any job of the stack: it runs alone here
    job = {**config["scheduled-etl:jobs"][name], "schedule": "rate(1 day)",
           "startDate": "2020-01-01T04:00:00Z"}  # fmt: skip
    prog = run_program("dev", {**config, "scheduled-etl:jobs": {name: job}})
    assert prog.one(SCHEDULE, f"{name}-watch").inputs["startDate"] == "2020-01-01T04:00:00Z"


# --- the grace period covers Scheduler's retries ---------------------------------------------


@pytest.mark.parametrize(("age", "grace", "ok"), [
    (3600, 59, False), (3600, 60, True), (7200, 120, True), (7201, 120, False), (300, 5, True),
])  # fmt: skip
def test_the_grace_period_is_at_least_schedulers_maximum_event_age(
    age: int, grace: int, ok: bool
) -> None:
    fields = {
        "maxEventAgeSeconds": age,
        "missedRunGraceMinutes": grace,
        "flexibleWindowMinutes": 15,
    }
    if ok:
        assert settings_of(**fields).jobs["nightly"].missed_run_grace_minutes == grace
        return
    message = error_of(**fields)
    assert f"scheduled-etl:jobs.nightly.missedRunGraceMinutes = {grace}: shorter than " in message
    assert f"at least {-(-age // 60)}" in message


# --- daylight saving -------------------------------------------------------------------------


def _exists(local: datetime, zone: ZoneInfo) -> bool:
    """A wall time exists when it survives a round trip through UTC."""
    aware = local.replace(tzinfo=zone)
    return aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == local


def _repeated(local: datetime, zone: ZoneInfo) -> bool:
    return (
        local.replace(tzinfo=zone, fold=0).utcoffset()
        != local.replace(tzinfo=zone, fold=1).utcoffset()
    )


@pytest.mark.parametrize("timezone", ["Europe/Berlin", "America/New_York", "Australia/Sydney",
                                      "Australia/Lord_Howe", "UTC", "Asia/Tokyo"])  # fmt: skip
def test_clock_changes_are_the_zones_own(timezone: str) -> None:
    zone = ZoneInfo(timezone)
    changes = clock_changes(zone, NOW, NOW + timedelta(days=3 * 366))
    for change in changes:
        inside = change.start + (change.end - change.start) / 2
        if change.kind == GAP:
            assert not _exists(change.start, zone) and not _exists(inside, zone)
            assert _exists(change.start - timedelta(seconds=1), zone) and _exists(change.end, zone)
        else:
            assert _repeated(change.start, zone) and _repeated(inside, zone)
            assert not _repeated(change.end, zone)
    # Every hour of the three years that is skipped or repeated lies in one of the changes.
    hour, odd = NOW.replace(tzinfo=None, minute=0), 0
    while hour < (NOW + timedelta(days=3 * 366)).replace(tzinfo=None):
        if not _exists(hour, zone) or _repeated(hour, zone):
            odd += 1
            assert any(c.start <= hour < c.end for c in changes), hour
        hour += timedelta(hours=1)
    assert (odd == 0) == (changes == []) and (timezone in ("UTC", "Asia/Tokyo")) == (odd == 0)


@pytest.mark.parametrize(
    ("schedule", "timezone"),
    [
        ("cron(30 2 * * ? *)", "Europe/Berlin"),  # the nightly job
        ("cron(30 2 ? * SUN *)", "Europe/Berlin"),  # clocks change on Sundays
        ("cron(0/20 1 * * ? *)", "America/New_York"),  # 01:00-01:59 happens twice in November
        ("cron(30 2 ? 3 SUN#2 *)", "America/New_York"),  # the second Sunday of March
        ("at(2027-03-28T02:30:00)", "Europe/Berlin"),
        ("at(2027-03-28T02:00:00)", "Europe/Berlin"),  # the first skipped second itself
        ("cron(0 2 * * ? *)", "America/New_York"),  # a slot on the gap's first minute
        ("cron(15 2 * * ? *)", "Australia/Lord_Howe"),  # a 30-minute change, southern spring
        ("cron(45 1 * * ? *)", "Australia/Lord_Howe"),  # its 30-minute overlap in April
        ("cron(0 2 ? * 1L *)", "Europe/Berlin"),  # the month's last Sunday: change days
        ("cron(0 0 * * ? *)", "America/Santiago"),  # a gap at midnight
    ],
)
def test_a_slot_a_clock_change_skips_or_repeats_is_refused(schedule: str, timezone: str) -> None:
    message = error_of(schedule=schedule, timezone=timezone)
    key = "scheduled-etl:jobs.nightly"
    assert f'{key}.schedule = "{schedule}": (timezone "{timezone}")' in message
    assert f"{key}.acceptDaylightSavingChanges: true" in message and "or timezone UTC" in message
    zone = ZoneInfo(timezone)
    listed = re.findall(r"(skipped|repeated) on ([^(]*)\(", message)
    assert listed
    for kind, days in listed:
        for day, times in re.findall(r"(\d{4}-\d{2}-\d{2}) ([\d:/]+)", days):
            for time in times.split("/"):
                local = datetime.fromisoformat(f"{day}T{time}")
                assert (not _exists(local, zone)) if kind == GAP else _repeated(local, zone)


def test_every_affected_slot_is_listed() -> None:
    """Against an independent count: each night's 02:30 in Berlin over the horizon."""
    zone = ZoneInfo("Europe/Berlin")
    settings = settings_of(schedule="cron(30 2 * * ? *)", timezone="Europe/Berlin",
                           acceptDaylightSavingChanges=True)  # fmt: skip
    assert schedule_problems(settings, NOW) == []
    end = NOW + timedelta(days=366 * DST_HORIZON_YEARS)
    nights = [(NOW + timedelta(days=d)).replace(tzinfo=None, hour=2, minute=30, second=0)
              for d in range((end - NOW).days + 1)]  # fmt: skip
    expected = [n for n in nights if NOW.replace(tzinfo=None) <= n < end.replace(tzinfo=None)
                and (not _exists(n, zone) or _repeated(n, zone))]  # fmt: skip
    found = clock_change_slots("cron(30 2 * * ? *)", "Europe/Berlin", NOW, end)
    assert [s.local for s in found] == expected
    assert {s.kind for s in found} == {GAP, OVERLAP}


@pytest.mark.parametrize(
    ("schedule", "timezone"),
    [
        ("cron(30 2 * * ? *)", "UTC"),
        ("cron(30 2 * * ? *)", "Asia/Tokyo"),  # no daylight saving
        ("cron(0 6 1 * ? *)", "Europe/Berlin"),  # prod's EU job
        ("cron(30 4 * * ? *)", "Europe/Berlin"),
        ("rate(1 hour)", "Europe/Berlin"),  # a rate counts hours, not wall-clock times
        ("cron(30 2 * * ? 2020)", "Europe/Berlin"),  # only in the past
        ("at(2027-03-28T03:00:00)", "Europe/Berlin"),  # the first local time after the gap
        ("cron(30 2 * * ? *)", "Australia/Lord_Howe"),  # just after its 30-minute gap
    ],
)
def test_a_schedule_clear_of_clock_changes_passes(schedule: str, timezone: str) -> None:
    start = {"startDate": "2030-01-01T00:00:00Z"} if schedule.startswith("rate(") else {}
    assert settings_of(schedule=schedule, timezone=timezone, **start).jobs["nightly"]


def test_the_committed_stacks_meet_no_clock_change() -> None:
    for stack in STACKS:
        config = stack_config(stack)
        raw = {"image": {"build": {}}, "jobs": config["scheduled-etl:jobs"]}
        if "scheduled-etl:aurora" in config:  # what its aurora jobs need
            raw["aurora"] = config["scheduled-etl:aurora"]
        assert schedule_problems(parse_settings(raw), datetime.now(UTC)) == []


def test_a_one_time_schedule_is_checked_however_far_ahead_it_is() -> None:
    """at() names one instant: a skipped local time years past the cron() horizon still never
    runs (and its watchdog with it)."""
    far = NOW.year + DST_HORIZON_YEARS + 3
    march = datetime(far, 3, 31)
    last_sunday = march - timedelta(days=(march.weekday() + 1) % 7)  # EU: clocks change then
    schedule = f"at({last_sunday:%Y-%m-%d}T02:30:00)"
    message = error_of(schedule=schedule, timezone="Europe/Berlin")
    assert f"skipped on {last_sunday:%Y-%m-%d} 02:30" in message


@pytest.mark.parametrize("dates", [{"startDate": "2027-06-01T00:00:00Z"},
                                   {"endDate": "2027-01-01T00:00:00Z"}])  # fmt: skip
def test_a_one_time_schedule_is_checked_whatever_its_start_and_end_dates(
    dates: dict[str, str],
) -> None:
    """Scheduler "ignores StartDate [and EndDate] for one-time schedules" (CreateSchedule),
    so dates around an at() time do not keep it from the check.
    https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html"""
    message = error_of(schedule="at(2027-03-28T02:30:00)", timezone="Europe/Berlin", **dates)
    assert "skipped on 2027-03-28 02:30" in message


def test_every_schedule_problem_is_reported_in_one_pass() -> None:
    jobs = {
        "hourly": {"schedule": "rate(1 hour)", "missedRunGraceMinutes": 30, "s3Prefix": "h/"},
        "nightly": {
            "schedule": "cron(30 2 * * ? *)",
            "timezone": "Europe/Berlin",
            "s3Prefix": "n/",
        },
    }
    with pytest.raises(ConfigError) as caught:
        parse_settings({"image": {"build": {}}, "jobs": jobs})
    lines = str(caught.value).splitlines()[1:]
    assert [line.split(":")[1].split(" ")[0] for line in lines] == [
        "jobs.hourly.startDate",
        "jobs.hourly.missedRunGraceMinutes",
        "jobs.nightly.schedule",
    ]
