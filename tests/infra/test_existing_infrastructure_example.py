"""examples/existing-infrastructure: a program of its own (Pulumi.yaml, Pulumi.dev.yaml) that
declares one job on existing resources. Run under Pulumi's mocks with its own stack file, it
creates none of them, and it passes the committed stacks' AWS validation and authorization
tests, imported below and run again with this module's `program` fixture. For the
authorization table the alerts topic's owner is played too: the topic, and the policy the
example's `alerts_topic_policy` output tells the owner to set."""

from __future__ import annotations

import json
import runpy
from typing import Any

import pulumi_aws as aws
import pytest
import yaml
from test_authorization import (
    test_an_alarm_or_rule_of_another_stack_or_account_may_not_publish,
    test_every_action_and_condition_key_is_one_aws_lists,
    test_every_call_is_allowed,
    test_every_resource_is_of_a_type_aws_lists_for_its_action,
    test_only_the_jobs_own_rule_may_dead_letter_into_its_queue,
    test_pass_role_to_another_service_is_denied,
    test_the_run_role_finds_a_timed_out_task_in_its_cluster_only,
    test_the_table_covers_every_call_of_the_state_machines,
)
from test_aws_validation import (
    test_every_declared_input_reaches_a_request,
    test_every_declared_type_has_a_mapping,
    test_every_request_is_valid_for_aws,
    test_every_request_keeps_the_aws_rules,
    test_the_stack_keeps_the_aws_rules_across_requests,
)
from test_public_api import SHARED_TYPES

from tools.offline import ROOT, Program, run_program

EXAMPLE = ROOT / "examples" / "existing-infrastructure"
STACK = "dev"
REUSED = [
    test_every_declared_type_has_a_mapping,
    test_every_request_is_valid_for_aws,
    test_every_request_keeps_the_aws_rules,
    test_the_stack_keeps_the_aws_rules_across_requests,
    test_every_declared_input_reaches_a_request,
    test_every_call_is_allowed,
    test_the_run_role_finds_a_timed_out_task_in_its_cluster_only,
    test_pass_role_to_another_service_is_denied,
    test_an_alarm_or_rule_of_another_stack_or_account_may_not_publish,
    test_only_the_jobs_own_rule_may_dead_letter_into_its_queue,
    test_the_table_covers_every_call_of_the_state_machines,
    test_every_action_and_condition_key_is_one_aws_lists,
    test_every_resource_is_of_a_type_aws_lists_for_its_action,
]


def example_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((EXAMPLE / f"Pulumi.{STACK}.yaml").read_text())
    return config["config"]


CONFIG = example_config()


def run_example() -> dict[str, Any]:
    return runpy.run_path(str(EXAMPLE / "__main__.py"), run_name="__main__")


def example_alone() -> Program:
    return run_program(STACK, CONFIG, main=run_example)


def topics_owner() -> None:
    """The example, and the alerts topic as its owner declares it: with the statements the
    example's `alerts_topic_policy` output names (the mocks give the topic the ARN the
    stack file names)."""
    names = run_example()
    arn: str = CONFIG["existing:alertsTopicArn"]
    topic = aws.sns.Topic(arn.rsplit(":", 1)[1])
    aws.sns.TopicPolicy("owners-policy", arn=topic.arn, policy=json.dumps(names["policy"]))


@pytest.fixture(scope="module")
def program() -> Program:
    return run_program(STACK, CONFIG, main=topics_owner)


def test_the_reused_stack_tests_run_here() -> None:
    assert all(globals()[test.__name__] is test for test in REUSED)


def test_the_topic_owner_is_played_with_the_arn_the_example_names(program: Program) -> None:
    [topic] = program.of_type("aws:sns/topic:Topic")
    assert topic.outputs["arn"] == CONFIG["existing:alertsTopicArn"]


def test_it_references_what_exists_and_creates_one_job() -> None:
    program = example_alone()
    assert not [r.type for r in program.resources if r.type in SHARED_TYPES]
    [task] = program.of_type("aws:ecs/taskDefinition:TaskDefinition")
    assert task.inputs["family"] == f"analytics-{STACK}-nightly-sessions"
    [app] = [c for c in json.loads(task.inputs["containerDefinitions"])
             if c["image"] == CONFIG["existing:imageUri"]]  # fmt: skip
    env = {e["name"]: e["value"] for e in app["environment"]}
    assert env["DATA_BUCKET"] == CONFIG["existing:bucketName"]
    assert "ETL_JOB" not in env, "the image's own ETL_JOB picks the job folder"
    [machine] = [m for m in program.of_type("aws:sfn/stateMachine:StateMachine")
                 if m.inputs["name"] == task.inputs["family"]]  # fmt: skip
    for value in [CONFIG["existing:clusterArn"], CONFIG["existing:alertsTopicArn"],
                  *CONFIG["existing:subnetIds"], *CONFIG["existing:securityGroupIds"]]:  # fmt: skip
        assert value in machine.inputs["definition"]
    assert set(program.outputs) == {"state_machine_arn", "run_task_command", "alerts_topic_policy"}
    assert "aws ecs run-task" in program.outputs["run_task_command"]


def test_it_is_its_own_project() -> None:
    project = yaml.safe_load((EXAMPLE / "Pulumi.yaml").read_text())
    assert project["name"] != "scheduled-etl" and project["runtime"]["name"] == "python"
    requirement = [line for line in (EXAMPLE / "requirements.txt").read_text().splitlines()
                   if line.strip() and not line.startswith("#")]  # fmt: skip
    assert [(EXAMPLE / line).resolve() for line in requirement] == [ROOT.resolve()]
    assert (ROOT / "pyproject.toml").is_file(), "the path installs the package"


def test_its_program_is_short() -> None:
    """The README's promise: about 20 lines of your own code (docstring and blanks aside)."""
    lines = [line for line in (EXAMPLE / "__main__.py").read_text().splitlines()[2:]
             if line.strip()]  # fmt: skip
    assert len(lines) <= 30, len(lines)
