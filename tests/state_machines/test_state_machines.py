"""Execute the state machines each stack declares, in moto, and check every slot ends in exactly
one outcome with exactly one alert for everything but success: the machines' own alerts and the
job's unplanned-end rule (emulated by tests/event_bridge.py for every execution that ends).

The definitions come from the offline render of the real program (tools/offline.py), not
from a copy: what the tests run is what `pulumi up` would create. moto runs them with the shims
of tests/sfn_harness.py (AWS's `.sync` rule, PascalCase mapping, variables, a fast clock), and a
Fargate stand-in that ends each task as the scenario says.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
import sfn_harness as h
from aws_models import errors
from event_bridge import deliver, parsed, status_change_event
from moto.sns import exceptions as sns_exceptions
from moto.sns import models as sns_models
from sfn_harness import FARGATE, Ending, moto_sfn, wait_for

from components.specs.names import WATCHDOG_SUFFIX
from components.specs.unplanned import PLANNED_ERRORS
from tools.offline import STACKS, Program, rendered

SLOT = "2026-11-01T04:00:00Z"
MACHINE = "aws:sfn/stateMachine:StateMachine"


@dataclass
class Declared:
    """One job's two state machines as the program declares them."""

    stack: str
    job: str
    full_name: str
    run: dict[str, Any]
    watchdog: dict[str, Any]
    capacity: str
    retries: int
    timeout_minutes: int
    topic_name: str
    cluster_name: str
    rule: dict[str, Any]  # the unplanned-end EventRule's inputs
    target: dict[str, Any]  # and its EventTarget's


def declared(stack: str, program: Program) -> list[Declared]:
    config = program.outputs["jobs"]
    machines = {r.inputs["name"]: r.inputs for r in program.of_type(MACHINE)}
    [topic] = program.of_type("aws:sns/topic:Topic")
    [cluster] = program.of_type("aws:ecs/cluster:Cluster")
    found = []
    for job, outputs in config.items():
        full_name = outputs["state_machine_arn"].rsplit(":", 1)[1]
        run = json.loads(machines[full_name]["definition"])
        prepare = run["States"]["Prepare"]["Assign"]
        found.append(
            Declared(
                stack=stack,
                job=job,
                full_name=full_name,
                run=run,
                watchdog=json.loads(machines[full_name + WATCHDOG_SUFFIX]["definition"]),
                capacity=prepare["capacity"],
                retries=len(prepare["delays"]),
                timeout_minutes=run["States"]["RunTask"]["TimeoutSeconds"] // 60,
                topic_name=topic.name,
                cluster_name=cluster.name,
                rule=program.one("aws:cloudwatch/eventRule:EventRule", f"{job}-unplanned").inputs,
                target=program.one(
                    "aws:cloudwatch/eventTarget:EventTarget", f"{job}-unplanned"
                ).inputs,
            )
        )
    return found


JOBS = [job for stack in STACKS for job in declared(stack, rendered(stack))]


@dataclass
class World:
    """moto with the job's cluster, task definition, topic (read through a queue) and both
    state machines, created from the declared definitions."""

    job: Declared
    sfn: Any
    sqs: Any
    queue: str
    run_arn: str
    watchdog_arn: str
    topic_arn: str

    def start(self, scheduled_time: str = SLOT, machine: str | None = None) -> str:
        return str(
            self.sfn.start_execution(
                stateMachineArn=machine or self.run_arn,
                name=f"test-{uuid.uuid4().hex[:12]}",
                input=json.dumps({"scheduledTime": scheduled_time}),
            )["executionArn"]
        )

    def wait(self, execution_arn: str) -> dict[str, Any]:
        """The ended execution; its status-change event went through the unplanned-end rule
        (EventBridge to the alerts topic)."""
        execution = wait_for(self.sfn, execution_arn)
        event = status_change_event(execution, h.REGION, h.ACCOUNT)
        if (message := deliver(self.job.rule, self.job.target, event)) is not None:
            boto3.client("sns").publish(TopicArn=self.topic_arn, Message=message)
        return execution

    def run(self, *script: Ending) -> tuple[dict[str, Any], list[str]]:
        FARGATE.script[:] = list(script)
        execution = self.wait(self.start())
        return execution, self.alerts()

    def alerts(self) -> list[str]:
        bodies = []
        while messages := self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            for message in messages:
                bodies.append(message["Body"])
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])
        return bodies


@pytest.fixture(scope="module", params=JOBS, ids=[f"{j.stack}-{j.job}" for j in JOBS])
def moto_world(request: pytest.FixtureRequest) -> Iterator[World]:
    """One moto account per job (creating a state machine parses its ASL: seconds)."""
    job: Declared = request.param
    with pytest.MonkeyPatch.context() as env:
        for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                           "AWS_DEFAULT_REGION": h.REGION}.items():  # fmt: skip
            env.setenv(key, value)
        with moto_sfn():
            yield _build(job)


@pytest.fixture
def world(moto_world: World) -> World:
    """A fresh Fargate script and an empty alerts queue for each test."""
    FARGATE.script.clear()
    FARGATE.requests.clear()
    FARGATE.endings.clear()
    FARGATE.by_time.clear()
    moto_world.alerts()
    return moto_world


def _build(job: Declared) -> World:
    ec2, ecs = boto3.client("ec2"), boto3.client("ecs")
    sns, sqs, sfn = boto3.client("sns"), boto3.client("sqs"), boto3.client("stepfunctions")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="t", Description="t", VpcId=vpc)["GroupId"]
    FARGATE.network = {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}}
    ecs.create_cluster(clusterName=job.cluster_name)
    ecs.register_task_definition(
        family=job.full_name, requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
        cpu="1024", memory="2048",
        containerDefinitions=[{"name": "app", "image": "a:1", "memory": 1024},
                              {"name": "mysql", "image": "mysql:8.4", "memory": 1024}],
    )  # fmt: skip
    topic = sns.create_topic(Name=job.topic_name)["TopicArn"]
    queue = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs",
                  Endpoint=queue_arn["Attributes"]["QueueArn"],
                  Attributes={"RawMessageDelivery": "true"})  # fmt: skip
    role = f"arn:aws:iam::{h.ACCOUNT}:role/sfn"
    run_arn = sfn.create_state_machine(
        name=job.full_name, definition=json.dumps(job.run), roleArn=role
    )["stateMachineArn"]
    watchdog_arn = sfn.create_state_machine(
        name=job.full_name + WATCHDOG_SUFFIX, definition=json.dumps(job.watchdog),
        roleArn=role,
    )["stateMachineArn"]  # fmt: skip
    return World(job, sfn, sqs, queue, run_arn, watchdog_arn, topic)


def outcome(execution: dict[str, Any]) -> str:
    if execution["status"] == "SUCCEEDED":
        return str(json.loads(execution["output"])["outcome"])
    return {"RunFailed": "failed", "RunTimedOut": "timed-out"}.get(
        execution.get("error", ""), f"{execution['status']} {execution.get('error')}"
    )


def check_alert(world: World, alert: str, execution: dict[str, Any], headline: str) -> None:
    assert alert.startswith(headline), alert
    assert f"Job: {world.job.full_name}" in alert
    assert f"Scheduled time: {SLOT}" in alert
    assert f"#/v2/executions/details/{execution['executionArn']}" in alert  # console link
    assert f"--scheduled-time {SLOT}" in alert


def _camel(value: Any) -> Any:
    if isinstance(value, dict):
        return {k[:1].lower() + k[1:]: _camel(v) for k, v in value.items()}
    return [_camel(v) for v in value] if isinstance(value, list) else value


def overrides(request: dict[str, Any]) -> list[dict[str, str]]:
    [container] = request["overrides"]["containerOverrides"]
    assert container["name"] == "app"
    return list(container["environment"])


def test_success_is_one_run_and_no_alert(world: World) -> None:
    execution, alerts = world.run(h.SUCCESS)
    assert outcome(execution) == "succeeded"
    assert alerts == []
    [request] = FARGATE.requests
    assert overrides(request) == [{"name": "SCHEDULED_TIME", "value": SLOT}]
    assert request["capacityProviderStrategy"] == [
        {"capacityProvider": world.job.capacity, "weight": 1}
    ]
    assert request["taskDefinition"].endswith(f"task-definition/{world.job.full_name}:1")
    # The declared parameters, mapped as Step Functions maps them, make a valid RunTask request.
    declared = {**request, "networkConfiguration": world.job.run["States"]["RunTask"]
                ["Parameters"]["NetworkConfiguration"]}  # fmt: skip
    assert errors(_camel(declared), "ecs", "RunTask") == ""


def test_exit_1_then_success_on_retry_with_the_same_scheduled_time(world: World) -> None:
    assert world.job.retries > 0  # every stack retries
    execution, alerts = world.run(h.EXIT_1, h.SUCCESS)
    assert outcome(execution) == "succeeded"
    assert json.loads(execution["output"])["attempts"] == 2
    assert alerts == []
    assert [overrides(r) for r in FARGATE.requests] == [
        [{"name": "SCHEDULED_TIME", "value": SLOT}]
    ] * 2


def test_failure_after_all_retries_is_one_alert(world: World) -> None:
    attempts = world.job.retries + 1
    execution, alerts = world.run(*[h.EXIT_1] * attempts)
    assert outcome(execution) == "failed"
    assert len(FARGATE.requests) == attempts
    [alert] = alerts
    check_alert(world, alert, execution, "FAILED")
    assert f"Attempts: {attempts}\n" in alert
    assert alert.count('exit codes ["app=1","mysql=0"]') == attempts
    assert "stop code EssentialContainerExited (Essential container in task exited)" in alert


def test_timeout_stops_the_task_and_alerts_once(world: World) -> None:
    ecs = boto3.client("ecs")
    execution, alerts = world.run(h.HANG)
    assert outcome(execution) == "timed-out"
    [arn] = FARGATE.endings
    [task] = ecs.describe_tasks(cluster=world.job.cluster_name, tasks=[arn])["tasks"]
    assert task["desiredStatus"] == "STOPPED"  # stopped, not abandoned
    assert f"timeoutMinutes ({world.job.timeout_minutes})" in task["stoppedReason"]
    [alert] = alerts
    check_alert(world, alert, execution, "TIMED OUT")
    assert f"still running after {world.job.timeout_minutes} minutes (timeoutMinutes)" in alert
    assert "its task was stopped" in alert


def test_a_timeout_stops_only_its_own_task(world: World) -> None:
    ecs = boto3.client("ecs")
    # A task of the same family started by someone else (a person, another execution).
    [other] = ecs.run_task(
        cluster=world.job.cluster_name, taskDefinition=world.job.full_name, launchType="FARGATE",
        group="manual", networkConfiguration=FARGATE.network,
    )["tasks"]  # fmt: skip
    execution, _ = world.run(h.HANG)
    assert outcome(execution) == "timed-out"
    [ours] = FARGATE.endings
    described = ecs.describe_tasks(cluster=world.job.cluster_name, tasks=[ours, other["taskArn"]])
    status = {t["taskArn"]: t["desiredStatus"] for t in described["tasks"]}
    assert status == {ours: "STOPPED", other["taskArn"]: "RUNNING"}


def test_spot_capacity_failure_then_on_demand_success(world: World) -> None:
    execution, alerts = world.run(h.SPOT_NO_CAPACITY, h.SUCCESS)
    assert outcome(execution) == "succeeded"
    assert alerts == []
    strategies = [r["capacityProviderStrategy"][0]["capacityProvider"] for r in FARGATE.requests]
    if world.job.capacity == "FARGATE_SPOT":
        assert strategies == ["FARGATE_SPOT", "FARGATE"]
    else:  # on-demand already: the refusal is an ordinary failed attempt, retried
        assert strategies == ["FARGATE", "FARGATE"]


def test_spot_interruption_reruns_on_demand_without_using_a_retry(world: World) -> None:
    if world.job.capacity != "FARGATE_SPOT":  # on-demand: an ordinary failed attempt
        execution, _ = world.run(h.SPOT_INTERRUPTED, h.SUCCESS)
        assert outcome(execution) == "succeeded"
        assert json.loads(execution["output"])["attempts"] == 2
        return
    attempts = world.job.retries + 1
    execution, alerts = world.run(h.SPOT_INTERRUPTED, *[h.EXIT_1] * attempts)
    assert outcome(execution) == "failed"
    strategies = [r["capacityProviderStrategy"][0]["capacityProvider"] for r in FARGATE.requests]
    assert strategies == ["FARGATE_SPOT"] + ["FARGATE"] * attempts
    [alert] = alerts
    assert "stop code SpotInterruption" in alert


@pytest.mark.parametrize("refusal", [
    # Failures in RunTask's answer, in words that do not say "capacity".
    Ending(refused="RESOURCE:FARGATE_SPOT"),
    # A RunTask error: what re:Post says Step Functions records for missing Fargate capacity.
    Ending(refused=h.CAPACITY_REASON, refused_as="ECS.AmazonECSException"),
], ids=["failures", "exception"])  # fmt: skip
def test_a_spot_task_not_placed_reruns_on_demand_whatever_the_cause_says(
    world: World, refusal: Ending
) -> None:
    """The fallback reads the error's name (documented), not the cause's text (not)."""
    execution, alerts = world.run(refusal, h.SUCCESS)
    assert outcome(execution) == "succeeded" and alerts == []
    strategies = [r["capacityProviderStrategy"][0]["capacityProvider"] for r in FARGATE.requests]
    assert strategies == [world.job.capacity, "FARGATE"]


def test_a_refusal_that_is_not_about_placement_is_an_ordinary_attempt(world: World) -> None:
    """Access denied, even worded with "capacity provider": retried where it ran, no fallback."""
    denied = Ending(
        refused_as="ECS.AccessDeniedException",
        refused="User is not authorized to perform: ecs:RunTask on capacity provider FARGATE_SPOT",
    )
    attempts = world.job.retries + 1
    execution, alerts = world.run(*[denied] * attempts)
    assert outcome(execution) == "failed" and len(alerts) == 1
    strategies = [r["capacityProviderStrategy"][0]["capacityProvider"] for r in FARGATE.requests]
    assert strategies == [world.job.capacity] * attempts


def test_a_sidecar_killed_after_the_app_succeeded_is_no_failure(world: World) -> None:
    """mysqld past its stopTimeout gets SIGKILL (137): the app's exit code decides, no alert."""
    execution, alerts = world.run(Ending(app=0, mysql=137))
    assert outcome(execution) == "succeeded" and alerts == []
    assert len(FARGATE.requests) == 1  # not retried


def test_lock_held_is_skipped_not_failed(world: World) -> None:
    execution, alerts = world.run(h.LOCKED)
    assert outcome(execution) == "skipped"
    assert execution["status"] == "SUCCEEDED"
    assert len(FARGATE.requests) == 1  # not retried
    [alert] = alerts
    check_alert(world, alert, execution, "SKIPPED")
    assert 'exit codes ["app=3","mysql=0"]' in alert


def test_a_task_that_never_started_fails_with_its_reason(world: World) -> None:
    reason = "CannotPullContainerError: pull image manifest has been retried"
    never = Ending(app=None, mysql=None, stop_code="TaskFailedToStart", reason=reason)
    execution, alerts = world.run(*[never] * (world.job.retries + 1))
    assert outcome(execution) == "failed"
    [alert] = alerts
    assert 'exit codes ["app=none","mysql=none"]' in alert
    assert "TaskFailedToStart (CannotPullContainerError" in alert


def test_a_missed_slot_alerts_once(world: World) -> None:
    missed = "2027-02-01T04:00:00Z"  # no test runs this slot
    world.start("2027-01-01T04:00:00Z")  # another slot's run does not count
    check = world.wait(world.start(missed, machine=world.watchdog_arn))
    assert check["status"] == "FAILED" and check["error"] == "SlotMissed"
    [alert] = world.alerts()  # the watchdog's own: its planned end is not "unplanned"
    assert alert.startswith("MISSED")
    assert f"no run of {world.job.full_name} started for scheduled time {missed}" in alert
    assert f"--scheduled-time {missed}" in alert
    assert f"#/v2/executions/details/{check['executionArn']}" in alert


def test_the_watchdog_reads_every_page_of_runs(world: World) -> None:
    # The declared watchdog with a page of 2 instead of 100 (the only change), so that the
    # slot's run sits on the third page, behind newer runs of other slots. (Past slots: the
    # runs start now, after them, as Scheduler starts a slot's run.)
    paged = json.loads(
        json.dumps(world.job.watchdog).replace('"MaxResults": 100', '"MaxResults": 2')
    )
    machine = world.sfn.create_state_machine(
        name="paged-watch", definition=json.dumps(paged), roleArn=f"arn:aws:iam::{h.ACCOUNT}:role/r"
    )["stateMachineArn"]
    slot = "2026-04-01T04:00:00Z"
    runs = [world.start(slot)] + [world.start(f"2026-04-0{d}T04:00:00Z") for d in range(2, 7)]
    for run in runs:
        wait_for(world.sfn, run)
    check = wait_for(world.sfn, world.start(slot, machine=machine))
    assert check["status"] == "SUCCEEDED"
    missed = wait_for(world.sfn, world.start("2026-05-15T04:00:00Z", machine=machine))
    assert missed["status"] == "FAILED"  # every page read, none for that slot
    assert len([a for a in world.alerts() if a.startswith("MISSED")]) == 1


def test_a_slot_with_a_run_raises_nothing(world: World) -> None:
    slot = "2027-03-01T04:00:00Z"
    run = world.start(slot)
    check = world.wait(world.start(slot, machine=world.watchdog_arn))
    assert check["status"] == "SUCCEEDED"
    assert outcome(world.wait(run)) == "succeeded"
    assert world.alerts() == []


def check_unplanned(world: World, alert: str, execution: dict[str, Any], machine: str) -> None:
    """The rule's message: what ended, how, where to read it, and the event (error, cause)."""
    message = parsed(alert)
    assert message["alert"].startswith(
        f"UNPLANNED END of {world.job.full_name}: execution {execution['name']} of {machine} "
        f"ended {execution['status']}, outside the planned outcomes"
    ), message["alert"]
    assert message["history"].endswith(f"#/v2/executions/details/{execution['executionArn']}")
    assert f"python -m tools.run_now {world.job.job} --scheduled-time" in message["next"]
    detail = message["event"]["detail"]
    assert (detail.get("error"), detail["executionArn"]) == (
        execution.get("error"), execution["executionArn"])  # fmt: skip


def test_a_run_failing_outside_its_outcomes_alerts_once(world: World) -> None:
    # AWS cuts a failed Task state's cause (the stopped task's description) at 32,768
    # characters; a longer description (here a long stopped reason) no longer parses as JSON,
    # and the run fails in ReadStoppedTask with no outcome of its own.
    long = Ending(app=1, reason="Essential container in task exited: " + "x" * h.MAX_CAUSE)
    execution, alerts = world.run(long)
    assert execution["status"] == "FAILED"
    assert execution["error"] not in PLANNED_ERRORS  # States.Runtime in moto
    [alert] = alerts  # from the rule; the run published nothing
    check_unplanned(world, alert, execution, world.run_arn)


def test_an_aborted_run_alerts_once(world: World) -> None:
    FARGATE.script[:] = [h.HANG]
    arn = world.start()
    while not FARGATE.endings:  # the task started
        time.sleep(0.1)
    world.sfn.stop_execution(executionArn=arn, cause="stopped by hand")
    execution = world.wait(arn)
    assert execution["status"] == "ABORTED"
    [alert] = world.alerts()
    check_unplanned(world, alert, execution, world.run_arn)


@pytest.fixture
def failing_alerts(monkeypatch: pytest.MonkeyPatch) -> None:
    """SNS refuses every message the state machines publish (their subjects start "ETL "),
    so their Publish states fail after their retries; the rule's messages still go through."""
    publish = sns_models.Topic.publish

    def refuse(self: sns_models.Topic, message: str, subject: str | None = None,
               **kwargs: Any) -> str:  # fmt: skip
        if subject is not None and subject.startswith("ETL "):
            raise sns_exceptions.InternalError("test: SNS refuses the state machine's alert")
        return publish(self, message, subject=subject, **kwargs)

    monkeypatch.setattr(sns_models.Topic, "publish", refuse)


@pytest.mark.usefixtures("failing_alerts")
def test_an_alert_that_cannot_be_published_alerts_once_through_the_rule(world: World) -> None:
    execution, alerts = world.run(*[h.EXIT_1] * (world.job.retries + 1))
    assert (execution["status"], execution["error"]) == ("FAILED", "AlertNotPublished")
    [alert] = alerts
    check_unplanned(world, alert, execution, world.run_arn)
    assert "failed alert could not be published" in parsed(alert)["event"]["detail"]["cause"]
    # The watchdog's missed-slot alert, too.
    check = world.wait(world.start("2026-08-01T04:00:00Z", machine=world.watchdog_arn))
    assert (check["status"], check["error"]) == ("FAILED", "AlertNotPublished")
    [alert] = world.alerts()
    check_unplanned(world, alert, check, world.watchdog_arn)
