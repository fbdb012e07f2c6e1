"""The public API as a newcomer's program calls it wrongly: every mistake in the args is
reported in one pass (ConfigError: `args.<key>`, the bad value, what is allowed) before
anything exists, never as a traceback from inside the components; and what the args take
(image build arguments) reaches the resources."""

from __future__ import annotations

from typing import Any

import pytest

from components.args import JobPlatformArgs, ScheduledFargateJobArgs
from components.job import ScheduledFargateJob
from components.platform import JobPlatform
from components.settings import ConfigError
from tools.offline import ACCOUNT, REGION, RecordingMocks, run_program

STACK = "dev"
PREFIX = "lake-dev"
# A job's valid args on existing resources; each test breaks some of them.
VALID: dict[str, Any] = {
    "name_prefix": PREFIX,
    "cluster_arn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/shared",
    "subnet_ids": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
    "security_group_ids": ["sg-0123456789abcdef0"],
    "bucket_name": "consumer-data-lake",
    "alerts_topic_arn": f"arn:aws:sns:{REGION}:{ACCOUNT}:consumer-alerts",
    "image_uri": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/etl:1.0",
    "s3_prefix": "nightly/",
}


def job_error(**changes: Any) -> str:
    """The ConfigError of a job on VALID changed by `changes` (a None value: left out), after
    checking that nothing was declared."""
    args = {k: v for k, v in {**VALID, **changes}.items() if v is not None}
    mocks = RecordingMocks()
    with pytest.raises(ConfigError) as raised:
        run_program(
            STACK, {}, mocks,
            main=lambda: ScheduledFargateJob("nightly", ScheduledFargateJobArgs(**args)),
        )  # fmt: skip
    assert mocks.resources == []
    message = str(raised.value)
    assert message.startswith("invalid args of job nightly (nothing was created):"), message
    return message


def test_the_daylight_saving_hint_names_the_args_key() -> None:
    message = job_error(schedule="cron(30 2 * * ? *)", timezone="Europe/Berlin")
    assert f'{PREFIX}-nightly: args.schedule = "cron(30 2 * * ? *)"' in message
    assert "accept it with accept_daylight_saving_changes=True" in message
    assert "acceptDaylightSavingChanges" not in message


def test_image_build_passes_its_build_args_to_docker() -> None:
    """The own-job image template (examples/own-job-image) needs RUNTIME_IMAGE."""
    build_args = {"RUNTIME_IMAGE": "registry.example/scheduled-etl-runtime:v0.2.0"}

    def consumer() -> None:
        JobPlatform("mine", JobPlatformArgs(
            name_prefix="mine",
            image_build={"context": "examples/own-job-image", "args": build_args},
        ))  # fmt: skip

    program = run_program(STACK, {}, main=consumer)
    [image] = program.of_type("awsx:ecr:Image")
    assert image.inputs["args"] == build_args
    assert image.inputs["context"] == "examples/own-job-image"


def test_image_build_args_must_be_plain_strings() -> None:
    def consumer() -> None:
        build: Any = {"args": {"RUNTIME_IMAGE": 2}}
        JobPlatform("mine", JobPlatformArgs(name_prefix="mine", image_build=build))

    mocks = RecordingMocks()
    with pytest.raises(Exception, match=r"args\.image_?[bB]uild\.args") as raised:
        run_program(STACK, {}, mocks, main=consumer)
    assert "plain strings" in str(raised.value)
    assert mocks.resources == []
