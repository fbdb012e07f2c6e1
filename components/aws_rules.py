"""AWS rules the API models cannot express, on the create requests themselves (pure).

Each rule is a small function taking the request AWS receives (botocore's member names) and
returning what AWS would reject, one line per problem; its docstring cites the documentation.
`RULES` lists them by API operation; tests/test_aws_validation.py applies them to every request
each stack makes, and each has a planted-violation test in tests/test_aws_rules.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from components.event_input import input_transformer_problems

Request = dict[str, Any]
_ECS = "https://docs.aws.amazon.com/AmazonECS/latest"


def health_check_ranges(request: Request) -> list[str]:
    """interval 5-300 s, timeout 2-120 s, retries 1-10, startPeriod 0-300 s:
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_HealthCheck.html"""
    ranges = {
        "interval": (5, 300),
        "timeout": (2, 120),
        "retries": (1, 10),
        "startPeriod": (0, 300),
    }
    problems = []
    for container in request.get("containerDefinitions", []):
        check = container.get("healthCheck") or {}
        for key, (low, high) in ranges.items():
            if key in check and not low <= check[key] <= high:
                problems.append(f"container {container['name']}: healthCheck.{key} "
                                f"{check[key]} is outside {low}-{high}")  # fmt: skip
    return problems


def fargate_stop_timeout(request: Request) -> list[str]:
    """On Fargate, stopTimeout is at most 120 seconds:
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerDefinition.html"""
    if "FARGATE" not in request.get("requiresCompatibilities", []):
        return []
    return [
        f"container {c['name']}: stopTimeout {c['stopTimeout']} is above Fargate's 120 s"
        for c in request.get("containerDefinitions", [])
        if c.get("stopTimeout", 30) > 120
    ]


def container_dependencies(request: Request) -> list[str]:
    """dependsOn names a container of the task, not itself, without cycles; COMPLETE and SUCCESS
    may not target an essential container; HEALTHY needs the target's health check; at least
    one container is essential:
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerDependency.html
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_definition_parameters.html#container_definition_dependson
    """
    containers = {c["name"]: c for c in request.get("containerDefinitions", [])}
    problems = []
    if len(containers) != len(request.get("containerDefinitions", [])):
        problems.append("container names must be unique within a task definition")
    if containers and not any(c.get("essential", True) for c in containers.values()):
        problems.append("a task needs at least one essential container")
    for name, container in containers.items():
        for dependency in container.get("dependsOn", []):
            target_name, condition = dependency["containerName"], dependency["condition"]
            target = containers.get(target_name)
            if target is None or target_name == name:
                problems.append(f"container {name}: dependsOn {target_name!r} is not another "
                                "container of this task")  # fmt: skip
                continue
            if condition in ("COMPLETE", "SUCCESS") and target.get("essential", True):
                problems.append(f"container {name}: dependsOn {target_name} {condition}, but "
                                f"{target_name} is essential")  # fmt: skip
            if condition == "HEALTHY" and "healthCheck" not in target:
                problems.append(f"container {name}: dependsOn {target_name} HEALTHY, but "
                                f"{target_name} has no healthCheck")  # fmt: skip
    graph = {n: [d["containerName"] for d in c.get("dependsOn", [])] for n, c in containers.items()}
    if _has_cycle(graph):
        problems.append("container dependencies form a cycle")
    return problems


def _has_cycle(graph: dict[str, list[str]]) -> bool:
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(node: str) -> bool:
        if state.get(node) == 1:
            return True
        if state.get(node) == 2 or node not in graph:
            return False
        state[node] = 1
        found = any(visit(child) for child in graph[node])
        state[node] = 2
        return found

    return any(visit(node) for node in graph)


def mounts_and_logs(request: Request) -> list[str]:
    """Every mountPoint's sourceVolume is a task volume; awslogs needs awslogs-group and
    awslogs-region, and on Fargate awslogs-stream-prefix:
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_MountPoint.html
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using_awslogs.html"""
    volumes = {v["name"] for v in request.get("volumes", [])}
    fargate = "FARGATE" in request.get("requiresCompatibilities", [])
    problems = []
    for container in request.get("containerDefinitions", []):
        name = container["name"]
        for mount in container.get("mountPoints", []):
            if mount.get("sourceVolume") not in volumes:
                problems.append(f"container {name}: mount of unknown volume "
                                f"{mount.get('sourceVolume')!r}")  # fmt: skip
        logs = container.get("logConfiguration") or {}
        if logs.get("logDriver") == "awslogs":
            needed = {"awslogs-group", "awslogs-region"} | (
                {"awslogs-stream-prefix"} if fargate else set()
            )
            if missing := needed - set(logs.get("options", {})):
                problems.append(f"container {name}: awslogs needs {sorted(missing)}")
    return problems


def awsvpc_port_mappings(request: Request) -> list[str]:
    """In awsvpc mode a hostPort, if given, equals the containerPort:
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_PortMapping.html"""
    if request.get("networkMode") != "awsvpc":
        return []
    return [
        f"container {c['name']}: hostPort {m['hostPort']} differs from {m['containerPort']}"
        for c in request.get("containerDefinitions", [])
        for m in c.get("portMappings", [])
        if "hostPort" in m and m["hostPort"] != m.get("containerPort")
    ]


# Scheduler's dates: UTC timestamps (botocore sends what it parses; a naive or date-only value
# would be read in the deployer's local time zone), the start before the end.
UTC_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z")


def utc_timestamp_problem(value: str) -> str:
    """'' for a UTC timestamp such as 2030-01-01T01:00:00Z (the form the provider's
    start_date/end_date take); what is wrong otherwise:
    https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html"""
    if not UTC_TIMESTAMP.fullmatch(value):
        return "expected a UTC timestamp such as 2030-01-01T01:00:00Z (date, time and a final Z)"
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return "not a calendar date and time"
    return ""


def schedule_dates(request: Request) -> list[str]:
    """StartDate and EndDate are UTC timestamps, the start before the end:
    https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html"""
    problems = []
    dates: dict[str, datetime] = {}
    for key in ("StartDate", "EndDate"):
        if key in request:
            value = request[key]
            if isinstance(value, datetime):
                if value.utcoffset() is None:
                    problems.append(f"{key} {value} has no time zone")
                else:
                    dates[key] = value
            elif problem := utc_timestamp_problem(str(value)):
                problems.append(f"{key} {value!r}: {problem}")
            else:
                dates[key] = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if len(dates) == 2 and dates["StartDate"].astimezone(UTC) >= dates["EndDate"].astimezone(UTC):
        problems.append("StartDate must be before EndDate")
    return problems


def schedule_ecs_placement(request: Request) -> list[str]:
    """Scheduler's ECS target: LaunchType and CapacityProviderStrategy exclude each other, and
    AssignPublicIp may be ENABLED only when LaunchType is FARGATE (so not with FARGATE_SPOT
    through a capacity-provider strategy):
    https://docs.aws.amazon.com/scheduler/latest/APIReference/API_AwsVpcConfiguration.html
    https://docs.aws.amazon.com/scheduler/latest/APIReference/API_EcsParameters.html"""
    ecs = request.get("Target", {}).get("EcsParameters")
    if not ecs:
        return []
    problems = []
    if "LaunchType" in ecs and ecs.get("CapacityProviderStrategy"):
        problems.append("EcsParameters: give LaunchType or CapacityProviderStrategy, not both")
    vpc = ecs.get("NetworkConfiguration", {}).get("awsvpcConfiguration", {})
    if vpc.get("AssignPublicIp") == "ENABLED" and ecs.get("LaunchType") != "FARGATE":
        got = ecs.get("LaunchType") or "a capacity-provider strategy"
        problems.append(f"AssignPublicIp ENABLED needs LaunchType FARGATE (got {got})")
    return problems


def input_transformers(request: Request) -> list[str]:
    """Each target's input transformer (components/event_input.py has the sources)."""
    return [
        f"target {t['Id']}: {problem}"
        for t in request.get("Targets", [])
        if "InputTransformer" in t
        for problem in input_transformer_problems(
            t["InputTransformer"].get("InputPathsMap", {}), t["InputTransformer"]["InputTemplate"]
        )
    ]


def queue_attributes(request: Request) -> list[str]:
    """SQS attribute values are strings with ranges of their own: MessageRetentionPeriod
    60-1209600 s, VisibilityTimeout 0-43200 s, DelaySeconds 0-900 s, booleans 'true'/'false':
    https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html"""
    ranges = {"MessageRetentionPeriod": (60, 1209600), "VisibilityTimeout": (0, 43200),
              "DelaySeconds": (0, 900), "ReceiveMessageWaitTimeSeconds": (0, 20),
              "MaximumMessageSize": (1024, 1048576)}  # fmt: skip
    problems = []
    for key, value in request.get("Attributes", {}).items():
        if key in ranges:
            low, high = ranges[key]
            if not value.isdigit() or not low <= int(value) <= high:
                problems.append(f"Attributes.{key} {value!r} is not an integer in {low}-{high}")
        elif key == "SqsManagedSseEnabled" and value not in ("true", "false"):
            problems.append(f"Attributes.{key} {value!r} is not 'true' or 'false'")
    return problems


def alarm_period(request: Request) -> list[str]:
    """Period is 10, 20, 30 or a multiple of 60 seconds, and Period x EvaluationPeriods is at
    most one day for periods under an hour, else at most 7 days:
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html"""
    period, evaluations = request.get("Period"), request.get("EvaluationPeriods", 1)
    if period is None:
        return []
    problems = []
    if period not in (10, 20, 30) and period % 60:
        problems.append(f"Period {period} is not 10, 20, 30 or a multiple of 60")
    window = 86400 if period < 3600 else 7 * 86400
    if period * evaluations > window:
        problems.append(f"Period x EvaluationPeriods = {period * evaluations} s exceeds {window} s")
    return problems


RULES: dict[str, list[Callable[[Request], list[str]]]] = {
    "CreateQueue": [queue_attributes],
    "PutMetricAlarm": [alarm_period],
    "RegisterTaskDefinition": [
        health_check_ranges,
        fargate_stop_timeout,
        container_dependencies,
        mounts_and_logs,
        awsvpc_port_mappings,
    ],
    "CreateSchedule": [schedule_dates, schedule_ecs_placement],
    "PutTargets": [input_transformers],
}


def rule_problems(operation: str, request: Request) -> list[str]:
    """Every rule of `operation` applied to `request`."""
    return [problem for rule in RULES.get(operation, []) for problem in rule(request)]
