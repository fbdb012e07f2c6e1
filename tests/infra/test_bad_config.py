"""Invalid stack configurations: each stops the program before anything is registered, with an
error that names the key (under the project namespace) and what is wrong."""

# One case per line reads as a table; long lines are the point here.
# ruff: noqa: E501

from __future__ import annotations

from typing import Any

import pytest

from components.settings import ConfigError
from tools.offline import RecordingMocks, run_program, stack_config, with_image_digest

JOB = "scheduled-etl:jobs"
CASES: list[tuple[str, dict[str, Any], str]] = [
    ("cpu not a number", {JOB: {"etl": {"cpu": "lots"}}}, "jobs.etl.cpu = \"lots\": Input should be a valid integer"),
    ("cpu not a Fargate size", {JOB: {"etl": {"cpu": 3000}}}, "jobs.etl.cpu = 3000: not a Fargate size"),
    ("memory too big for cpu", {JOB: {"etl": {"cpu": 512, "memory": 8192}}}, "memory 8192 does not fit cpu 512"),
    ("ephemeral storage too small", {JOB: {"etl": {"ephemeralStorageGiB": 20}}}, "jobs.etl.ephemeralStorageGiB = 20"),
    ("ephemeral storage too big", {JOB: {"etl": {"ephemeralStorageGiB": 500}}}, "less than or equal to 200"),
    ("cron with 5 fields", {JOB: {"etl": {"schedule": "cron(0 4 1 * ?)"}}}, "6 required, 5 provided"),
    ("cron without ?", {JOB: {"etl": {"schedule": "cron(0 4 1 * * *)"}}}, "One must be a question mark"),
    ("rate with a bad unit", {JOB: {"etl": {"schedule": "rate(2 weeks)"}}}, "jobs.etl.schedule = \"rate(2 weeks)\""),
    ("unix cron", {JOB: {"etl": {"schedule": "0 4 1 * *"}}}, "expected cron(m h dom mon dow year)"),
    ("unknown time zone", {JOB: {"etl": {"timezone": "Mars/Olympus"}}}, "jobs.etl.timezone = \"Mars/Olympus\""),
    ("job name with capitals", {JOB: {"ETL": {}}}, "jobs.ETL = \"ETL\": job names are 2-24 of a-z"),
    ("job name too long", {JOB: {"a" * 25: {}}}, "job names are 2-24"),
    ("no jobs", {JOB: {}}, "scheduled-etl:jobs = {}"),
    ("jobs not a map", {JOB: ["etl"]}, "scheduled-etl:jobs = [\"etl\"]: Input should be a valid dictionary"),
    ("log retention not allowed", {"scheduled-etl:logRetentionDays": 10}, "logRetentionDays = \"10\": allowed: 1, 3, 5"),
    ("existing network without subnets", {"scheduled-etl:network": {"mode": "existing", "vpcId": "vpc-0a1b2c3d"}}, "network.subnetIds: required key is missing"),
    ("bad subnet id", {"scheduled-etl:network": {"mode": "existing", "vpcId": "vpc-0a1b2c3d", "subnetIds": ["sub-1"]}}, "network.subnetIds.0 = \"sub-1\""),
    ("unknown network mode", {"scheduled-etl:network": {"mode": "peered"}}, "expected tags: 'default', 'new', 'existing'"),
    ("both image sources", {"scheduled-etl:image": {"build": {}, "uri": "app:1.0.0"}}, "image = "),
    ("neither image source", {"scheduled-etl:image": {}}, "set exactly one of 'repository', 'uri' or 'build'"),
    ("unpinned image", {"scheduled-etl:image": {"uri": "app:latest"}}, "pin the image"),
    ("unknown job key", {JOB: {"etl": {"shedule": "rate(1 day)"}}}, "jobs.etl.shedule = \"rate(1 day)\": unknown key; did you mean 'schedule'?"),
    ("unknown stack key", {"scheduled-etl:logRetention": 7}, "scheduled-etl:logRetention = \"7\": unknown key; did you mean 'logRetentionDays'?"),
    ("secret in environment", {JOB: {"etl": {"environment": {"DB_PASSWORD": "hunter2"}}}}, "DB_PASSWORD is set by the program"),
    ("bad alert email", {"scheduled-etl:alertEmail": "oncall"}, "alertEmail = \"oncall\""),
    ("prefix without slash", {JOB: {"etl": {"s3Prefix": "team"}}}, "jobs.etl.s3Prefix = \"team\""),
    ("retry attempts out of range", {JOB: {"etl": {"retryAttempts": 500}}}, "jobs.etl.retryAttempts = 500"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "change", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_config_names_the_key_and_creates_nothing(
    case: str, change: dict[str, Any], expected: str
) -> None:
    config = {**stack_config("dev"), **change}
    mocks = RecordingMocks()
    with pytest.raises(ConfigError) as caught:
        run_program("dev", config, mocks)
    message = str(caught.value)
    assert message.startswith("invalid stack configuration (nothing was created):")
    assert "scheduled-etl:" in message and expected in message, message
    assert mocks.resources == [], f"{case}: resources were registered"


def test_the_table_is_long_enough() -> None:
    assert len({c[0] for c in CASES}) >= 15


def test_a_long_stack_name_stops_the_program_before_any_resource() -> None:
    # scheduled-etl-<30 s>-monthly-orders-watch is 65 characters: Scheduler allows 64.
    mocks = RecordingMocks()
    with pytest.raises(
        ConfigError, match=r"scheduled-etl:jobs.monthly-orders: the EventBridge Scheduler schedule"
    ):
        run_program("s" * 30, with_image_digest(stack_config("dev")), mocks)
    assert mocks.resources == []


def test_a_start_date_in_the_past_stops_the_program() -> None:
    """CreateSchedule rejects it; checked when the stack loads (not in parse_settings, whose
    result must not depend on the clock)."""
    config = with_image_digest(stack_config("dev"))
    config[JOB] = {name: {**job, "startDate": "2020-01-01T00:00:00Z"}
                   for name, job in config[JOB].items()}  # fmt: skip
    mocks = RecordingMocks()
    with pytest.raises(ConfigError) as caught:
        run_program("dev", config, mocks)
    assert '.startDate = "2020-01-01T00:00:00Z": is in the past' in str(caught.value)
    assert mocks.resources == []


def test_pulumi_up_lists_clock_checks_with_every_other_problem() -> None:
    """A start date in the past (checked when the stack loads) comes with a bad key of another
    job, in one message, instead of one fix later."""
    config = with_image_digest(stack_config("dev"))
    jobs = config[JOB]
    first, *_ = jobs
    config[JOB] = {**jobs, first: {**jobs[first], "startDate": "2020-01-01T00:00:00Z"},
                   "extra-job": {"timezone": "Nowhere"}}  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        run_program("dev", config, RecordingMocks())
    message = str(caught.value)
    assert f'jobs.{first}.startDate = "2020-01-01T00:00:00Z": is in the past' in message
    assert 'jobs.extra-job.timezone = "Nowhere"' in message
