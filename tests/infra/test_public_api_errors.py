"""The public API as a newcomer's program calls it wrongly: every mistake in the args is
reported in one pass (ConfigError: `args.<key>`, the bad value, what is allowed) before
anything exists, never as a traceback from inside the components; and what the args take
(image build arguments) reaches the resources."""

from __future__ import annotations

from typing import Any, cast

import pytest
from pulumi import Output

from components.args import JobPlatformArgs, ScheduledFargateJobArgs
from components.job import ScheduledFargateJob
from components.platform import JobPlatform
from tools.offline import ACCOUNT, REGION, RecordingMocks, refusal, run_program

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

    def consumer() -> None:
        ScheduledFargateJob("nightly", cast(ScheduledFargateJobArgs, args))

    message = refusal(consumer, STACK)
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


def test_missing_required_keys_are_named() -> None:
    message = job_error(image_uri=None, name_prefix=None, cluster_arn=None)
    for key in ("image_uri", "name_prefix", "cluster_arn"):
        assert f"args.{key}: required key is missing" in message, key
    assert "KeyError" not in message


def test_plain_resource_keys_are_checked_as_a_stack_file_checks_them() -> None:
    """All at once: each key's path, its value and what is allowed."""
    message = job_error(
        cluster_arn="data-cluster",
        alerts_topic_arn=f"arn:aws:sqs:{REGION}:{ACCOUNT}:alerts",
        subnet_ids=[],
        security_group_ids=[f"sg-0123456789abcdef{i}" for i in range(6)],
        log_retention_days=10,
        image_uri=f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/etl:latest",
        bucket_name="Data_Lake",
    )
    expected = {
        'args.cluster_arn = "data-cluster": not an ARN': "arn:aws:ecs:<region>:<account>:cluster/",
        "args.alerts_topic_arn = ": "an ARN of sqs, not of sns",
        "args.subnet_ids = []: ": "at least 1 item",
        "args.security_group_ids = [": "at most 5 items",
        "args.log_retention_days = 10: ": "allowed: 1, 3, 5, 7, 14, 30",
        "args.image_uri = ": "pin the image",
        'args.bucket_name = "Data_Lake": ': "pattern",
    }
    for start, allowed in expected.items():
        line = next((ln for ln in message.splitlines() if start in ln), "")
        assert allowed in line, (start, message)
    assert "IndexError" not in message


def test_a_malformed_subnet_or_group_id_is_refused() -> None:
    message = job_error(subnet_ids=["subnet-1", "subnet-1"], security_group_ids=["default"])
    assert 'args.subnet_ids.0 = "subnet-1": expected subnet- and 8 or 17 hex digits' in message
    assert 'args.security_group_ids.0 = "default": expected sg-' in message


def test_a_topic_in_another_region_than_the_cluster_is_refused() -> None:
    message = job_error(alerts_topic_arn=f"arn:aws:sns:eu-west-3:{ACCOUNT}:alerts")
    assert "args.alerts_topic_arn" in message and "region" in message


def test_outputs_in_resource_keys_are_left_to_aws() -> None:
    """An output is not known before deployment: not checked here (AWS checks it)."""

    def consumer() -> None:
        ScheduledFargateJob("nightly", cast(ScheduledFargateJobArgs, {
            **VALID, "cluster_arn": Output.from_input(VALID["cluster_arn"]),
            "subnet_ids": Output.from_input(VALID["subnet_ids"]),
        }))  # fmt: skip

    program = run_program(STACK, {}, main=consumer)
    assert program.of_type("aws:ecs/taskDefinition:TaskDefinition")


@pytest.mark.parametrize("key", ["schedule", "s3_prefix", "name_prefix", "environment"])
def test_an_output_in_a_plain_key_is_refused_by_name(key: str) -> None:
    value = {"A": Output.from_input("x")} if key == "environment" else Output.from_input("x/")
    message = job_error(**{key: value})
    assert f"args.{key}: must be a plain value known before deployment, not an Output" in message
    assert "__getstate__" not in message and "Calling __str__" not in message
    assert message.count("\n  - ") == 1, message  # that key only, no name-length errors


def test_a_camel_case_key_gets_its_python_name() -> None:
    message = job_error(cluster_arn=None, clusterArn=VALID["cluster_arn"], timeZone="UTC")
    assert "args.clusterArn: unknown key; did you mean 'cluster_arn'?" in message
    assert "args.timeZone: unknown key; did you mean 'timezone'?" in message
    assert "args.cluster_arn: required key is missing" in message


def test_the_platform_checks_its_plain_resource_keys_and_key_names() -> None:
    def consumer() -> None:
        given: Any = {"name_prefix": "mine", "cluster_arn": "data-cluster",
                      "subnet_ids": ["subnet-0123456789abcdef0"] * 2, "vpc_id": "vpc-1",
                      "alerts_topic_arn": "consumer-alerts", "bucketName": "b",
                      "log_retention_days": 10,
                      "container_insights": Output.from_input("on")}  # fmt: skip
        JobPlatform("mine", cast(JobPlatformArgs, given))

    message = refusal(consumer, STACK)
    for line in ('args.cluster_arn = "data-cluster": not an ARN',
                 "args.subnet_ids = [", 'args.vpc_id = "vpc-1": expected vpc-',
                 'args.alerts_topic_arn = "consumer-alerts": not an ARN',
                 "args.bucketName: unknown key; did you mean 'bucket_name'?",
                 "args.log_retention_days = 10: allowed",
                 "args.container_insights: must be a plain value"):  # fmt: skip
        assert f"  - mine: {line}" in message, (line, message)


def test_s3_prefix_has_no_default_on_a_given_bucket() -> None:
    """Left out, it would be the whole (shared) bucket, which the task may delete in."""
    message = job_error(s3_prefix=None)
    assert "args.s3_prefix: required key is missing" in message and "'<job>/'" in message


def test_the_whole_bucket_must_be_asked_for() -> None:
    def consumer() -> None:
        ScheduledFargateJob("nightly", cast(ScheduledFargateJobArgs, {**VALID, "s3_prefix": ""}))

    program = run_program(STACK, {}, main=consumer)
    [policy] = [p for p in program.of_type("aws:iam/rolePolicy:RolePolicy")
                if p.name == "nightly-task-bucket"]  # fmt: skip
    assert f"arn:aws:s3:::{VALID['bucket_name']}/*" in policy.inputs["policy"]
