"""Execute the program's Step Functions definitions in moto, with ECS tasks that end as a test
says (Fargate stand-in), and AWS's rules where moto's port of the interpreter has none.

moto runs Amazon States Language (`mock_aws(config={"stepfunctions": {"execute_state_machine":
True}})`). Its port lacks three things a real definition needs (see
shared/notes/stepfunctions-in-moto.md), patched here, in the tests only:

1. request normalisation: Step Functions takes PascalCase parameters and maps them onto the
   service's API shape; the port passes them unchanged. `_normalise_parameters` maps each key
   to the botocore input shape's member, recursively (the port's own `_to_boto_request`).
2. response normalisation: integrations answer in PascalCase (`TaskArns`, `Tasks`...); the
   port answers in boto3's camelCase. `_normalise_response` upper-cases each key's first letter
   and writes timestamps as AWS does ("2013-08-23T01:02:15.422Z", not a Python datetime: see
   https://github.com/sam-goodwin/functionless/issues/489); Choice rules compare them with
   fractional seconds, as AWS does (`_timestamp`).
3. the ECS `.sync` rule: AWS fails the Task state with `States.TaskFailed` and the stopped
   task's description (JSON) as the cause when an essential container exits non-zero or the
   task never started, and with `AmazonECS.Unknown` when RunTask answers with `Failures`;
   the port returns every stopped task as a success. `FakeFargate` applies AWS's rule.

Time runs faster: Wait states and Retry intervals are divided by `SPEED` and TimeoutSeconds by
`TIMEOUT_SPEED`, so a 6-hour timeout or a 2-hour grace period takes seconds, and the
definitions stay as declared.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import boto3
import botocore.session
from moto import mock_aws
from moto.ec2.models.elastic_network_interfaces import NetworkInterface
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.query_language import QueryLanguageMode
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.common.string.string_expression import (
    StringVariableSample,
)
from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds
from moto.stepfunctions.parser.asl.component.state.choice.comparison.operator.implementations.is_operator import (  # noqa: E501
    IsTimestamp,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_aws_sdk as aws_sdk,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_ecs as ecs_service,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (  # noqa: E501
    StateTaskService,
)
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
    WaitFunction,
)

from etl.contract import ExitCode

REGION = "eu-west-1"
ACCOUNT = "123456789012"
SPEED = 36000.0  # Wait states: ten hours of the state machines' time per second
# TimeoutSeconds: one hour per second, so that a task state that is merely slow here (a busy
# machine runs moto's interpreter slowly; that time is not compressed) never times out.
TIMEOUT_SPEED = 3600.0
APP, MYSQL = "app", "mysql"
CAPACITY_REASON = "Capacity is unavailable at this time. Please try again later or in a different availability zone"  # noqa: E501
# https://docs.aws.amazon.com/step-functions/latest/apireference/API_TaskFailedEventDetails.html
MAX_CAUSE = 32_768
_BOTOCORE = botocore.session.get_session()
_SHAPES: dict[tuple[str, str], Any] = {}


def _input_shape(service: str, action: str) -> Any:
    key = (service, action)
    if key not in _SHAPES:
        model = _BOTOCORE.get_service_model(service)
        names = {n.lower(): n for n in model.operation_names}
        _SHAPES[key] = model.operation_model(names[action.replace("_", "")]).input_shape
    return _SHAPES[key]


def _normalise_parameters(
    self: StateTaskService,
    parameters: dict[str, Any],
    boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    service = self._get_boto_service_name(boto_service_name)
    action = self._get_boto_service_action(service_action_name)
    shape = _input_shape(service, action)
    # Case-insensitive: "AwsvpcConfiguration" -> awsvpcConfiguration, "TaskArns" -> taskArns.
    _recase(parameters, shape)


def _recase(parameters: dict[str, Any], shape: Any) -> None:
    members = {name.lower(): (name, member) for name, member in shape.members.items()}
    for key in list(parameters):
        if key.lower() not in members:
            continue
        name, member = members[key.lower()]
        value = parameters.pop(key)
        if member.type_name == "structure" and isinstance(value, dict):
            _recase(value, member)
        elif member.type_name == "list" and isinstance(value, list):
            for item in value:
                if member.member.type_name == "structure" and isinstance(item, dict):
                    _recase(item, member.member)
        parameters[name] = value


def _pascal(value: Any) -> Any:
    if isinstance(value, dict):
        return {k[:1].upper() + k[1:]: _pascal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_pascal(v) for v in value]
    if isinstance(value, datetime):  # AWS: "2013-08-23T01:02:15.422Z" (UTC, milliseconds)
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return value


def _normalise_response(
    self: StateTaskService,
    response: Any,
    boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    if isinstance(response, dict):
        fixed = _pascal(response)
        response.clear()
        response.update(fixed)


@dataclass
class Ending:
    """How one RunTask call ends, as AWS would report it."""

    app: int | None = 0  # the app's exit code (None: never ran)
    mysql: int | None = 0
    stop_code: str = "EssentialContainerExited"
    reason: str = "Essential container in task exited"
    refused: str | None = None  # RunTask answers with this failure reason, no task
    # How Step Functions names the refusal: Failures in RunTask's answer (AWS's .sync rule), or
    # an error RunTask raised, such as ECS.AmazonECSException (the reason is then the cause).
    refused_as: str = "AmazonECS.Unknown"
    hang: bool = False  # runs until someone stops it


SUCCESS = Ending()
EXIT_1 = Ending(app=1)
LOCKED = Ending(app=int(ExitCode.LOCKED))
HANG = Ending(hang=True)
SPOT_NO_CAPACITY = Ending(refused=CAPACITY_REASON)
SPOT_INTERRUPTED = Ending(
    app=143, mysql=143, stop_code="SpotInterruption",
    reason="Your Spot Task was interrupted.")  # fmt: skip


@dataclass
class FakeFargate:
    """Ends each RunTask the next way `script` says (success once the script runs out), and
    records every RunTask request as ECS received it."""

    script: list[Ending] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    endings: dict[str, Ending] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    network: dict[str, Any] = field(default_factory=dict)

    by_time: dict[str, list[Ending]] = field(default_factory=dict)  # per SCHEDULED_TIME

    def next_ending(self, request: dict[str, Any]) -> Ending:
        [container] = request["overrides"]["containerOverrides"]
        [scheduled] = [
            e["value"] for e in container["environment"] if e["name"] == "SCHEDULED_TIME"
        ]
        with self.lock:
            if self.by_time.get(scheduled):
                return self.by_time[scheduled].pop(0)
            return self.script.pop(0) if self.script else SUCCESS

    def description(self, ecs: Any, cluster: str, arn: str) -> dict[str, Any] | None:
        """The task as DescribeTasks shows it once stopped (PascalCase), or None if running."""
        [task] = ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"]
        ending = self.endings[arn]
        if ending.hang:
            if task.get("desiredStatus") != "STOPPED":
                return None
            ending = Ending(app=137, mysql=137, stop_code="UserInitiated",
                            reason=task.get("stoppedReason") or "stopped")  # fmt: skip
        task.pop("containers", None)
        containers = [{"Name": name, "LastStatus": "STOPPED"} | (
            {} if code is None else {"ExitCode": code})
            for name, code in ((APP, ending.app), (MYSQL, ending.mysql))]  # fmt: skip
        return {**_pascal(task), "LastStatus": "STOPPED", "StopCode": ending.stop_code,
                "StoppedReason": ending.reason, "Containers": containers}  # fmt: skip


FARGATE = FakeFargate()


def _eval_ecs(
    self: Any, env: Any, resource_runtime_part: Any, normalised_parameters: dict[str, Any],
    state_credentials: Any,
) -> None:  # fmt: skip
    ecs = boto3.client("ecs", region_name=resource_runtime_part.region)
    ending = FARGATE.next_ending(normalised_parameters)
    FARGATE.requests.append(dict(normalised_parameters))
    if ending.refused:
        # AWS: "a non-empty Failures field ... the task is failed with an AmazonECS.Unknown error"
        failures = [{"Reason": ending.refused}]
        cause = (json.dumps({"Failures": failures, "Tasks": []})
                 if ending.refused_as == "AmazonECS.Unknown" else ending.refused)  # fmt: skip
        raise FailureEventException(aws_sdk.StateTaskServiceAwsSdk._get_task_failure_event(
            self, env=env, error=ending.refused_as, cause=cause))  # fmt: skip
    # moto places capacity-provider tasks on EC2 instances only; as a launch type it runs them,
    # in the stand-in's own subnet (the declared subnets exist only in the render).
    request = {k: v for k, v in normalised_parameters.items() if k != "capacityProviderStrategy"}
    request["networkConfiguration"] = FARGATE.network
    reply = ecs.run_task(**request, launchType="FARGATE")
    [task] = reply["tasks"]
    FARGATE.endings[task["taskArn"]] = ending
    env.stack.append({"Tasks": [{"TaskArn": task["taskArn"], "ClusterArn": task["clusterArn"]}]})


def _build_sync_resolver(
    self: Any, env: Any, resource_runtime_part: Any, normalised_parameters: dict[str, Any],
    state_credentials: Any,
) -> Any:  # fmt: skip
    ecs = boto3.client("ecs", region_name=resource_runtime_part.region)
    submitted = env.stack.pop()
    arn, cluster = submitted["Tasks"][0]["TaskArn"], submitted["Tasks"][0]["ClusterArn"]

    def resolve() -> dict[str, Any] | None:
        task = FARGATE.description(ecs, cluster, arn)
        if task is None:
            return None
        essential = [c for c in task["Containers"] if c["Name"] == APP]
        if any(c.get("ExitCode") != 0 for c in essential):
            # A cause longer than AWS keeps is cut (TaskFailedEventDetails: at most 32,768).
            cause = json.dumps(task)[:MAX_CAUSE]
            raise FailureEventException(aws_sdk.StateTaskServiceAwsSdk._get_task_failure_event(
                self, env=env, error="States.TaskFailed", cause=cause))  # fmt: skip
        return task

    return resolve


@contextmanager
def patched_interpreter() -> Iterator[None]:
    """The three shims and the fast clock, undone afterwards."""
    originals = {
        (StateTaskService, "_normalise_parameters"): StateTaskService._normalise_parameters,
        (StateTaskService, "_normalise_response"): StateTaskService._normalise_response,
        (ecs_service.StateTaskServiceEcs, "_eval_service_task"):
            ecs_service.StateTaskServiceEcs._eval_service_task,
        (ecs_service.StateTaskServiceEcs, "_build_sync_resolver"):
            ecs_service.StateTaskServiceEcs._build_sync_resolver,
        (WaitFunction, "_wait_interval"): WaitFunction._wait_interval,
        (TimeoutSeconds, "_eval_body"): TimeoutSeconds._eval_body,
        (StringVariableSample, "_eval_body"): StringVariableSample._eval_body,
        (IsTimestamp, "string_to_timestamp"): IsTimestamp.string_to_timestamp,
    }  # fmt: skip
    wait_interval = WaitFunction._wait_interval
    timeout_body = TimeoutSeconds._eval_body

    def fast_wait(self: WaitFunction, env: Any, wait_seconds: float) -> None:
        if wait_seconds > 0:
            env.program_state_event.wait(wait_seconds / SPEED)

    def fast_timeout(self: TimeoutSeconds, env: Any) -> None:
        timeout_body(self, env)
        env.stack.append(env.stack.pop() / TIMEOUT_SPEED)

    StateTaskService._normalise_parameters = _normalise_parameters  # type: ignore[method-assign]
    StateTaskService._normalise_response = _normalise_response  # type: ignore[method-assign]
    ecs_service.StateTaskServiceEcs._eval_service_task = _eval_ecs  # type: ignore[method-assign]
    ecs_service.StateTaskServiceEcs._build_sync_resolver = _build_sync_resolver  # type: ignore[method-assign]
    WaitFunction._wait_interval = fast_wait  # type: ignore[method-assign]
    TimeoutSeconds._eval_body = fast_timeout  # type: ignore[method-assign]
    StringVariableSample._eval_body = _read_variable  # type: ignore[method-assign]
    IsTimestamp.string_to_timestamp = staticmethod(_timestamp)  # type: ignore[method-assign,assignment]
    # 5. AWS's ECS integration takes CapacityProviderStrategy (CDK's EcsRunTask
    #    capacityProviderOptions); the port drops it as unsupported.
    supported = ecs_service._SUPPORTED_API_PARAM_BINDINGS["runtask"]
    added = "CapacityProviderStrategy" not in supported
    supported.add("CapacityProviderStrategy")
    # Retriers sleep their intervals (5 s, 10 s, 20 s...) on the fast clock too.
    retrier_decl.time = SimpleNamespace(sleep=lambda seconds: time.sleep(seconds / SPEED))  # type: ignore[assignment]
    had_dns = hasattr(NetworkInterface, "private_dns_name")
    if not had_dns:
        NetworkInterface.private_dns_name = "ip-10-0-1-1.eu-west-1.compute.internal"  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for (owner, name), value in originals.items():
            setattr(owner, name, staticmethod(value) if owner is IsTimestamp else value)
        del wait_interval
        retrier_decl.time = time  # type: ignore[assignment]
        if added:
            supported.discard("CapacityProviderStrategy")
        if not had_dns:
            del NetworkInterface.private_dns_name  # type: ignore[attr-defined]


@contextmanager
def moto_sfn() -> Iterator[None]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}), \
            patched_interpreter():  # fmt: skip
        FARGATE.script.clear()
        FARGATE.requests.clear()
        FARGATE.endings.clear()
        FARGATE.by_time.clear()
        yield


def wait_for(sfn: Any, execution_arn: str, seconds: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return dict(described)
        time.sleep(0.1)
    raise AssertionError(f"{execution_arn} still running after {seconds} s")


_VARIABLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z0-9_]+)*)")


def _read_variable(self: StringVariableSample, env: Any) -> None:
    """4. variables: the port reads `$name` through JSONata on a JVM (not here); read the
    variable store directly, for the plain `$name` / `$name.field` forms JSONPath allows."""
    match = _VARIABLE.fullmatch(self.expression)
    if self.query_language_mode != QueryLanguageMode.JSONPath or match is None:
        raise NotImplementedError(f"variable expression {self.expression!r}")
    value = env.variable_store.get(match[1])
    for part in filter(None, match[2].split(".")):
        value = value[part]
    env.stack.append(copy.deepcopy(value))


_FRACTION = re.compile(r"\.\d+(?=Z$)")


def _timestamp(string: str) -> datetime | None:
    """6. Choice timestamps: AWS accepts fractional seconds (and ignores them), as in the
    timestamps its SDK integrations return; the port takes whole seconds only.
    https://github.com/localstack/localstack/pull/9813 (recorded against AWS)."""
    try:
        return datetime.strptime(_FRACTION.sub("", string), "%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError):
        return None
