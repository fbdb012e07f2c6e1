"""AWS rules the API models cannot express, on the create requests themselves (pure).

Each rule is a small function taking the request AWS receives (botocore's member names) and
returning what AWS would reject, one line per problem; its docstring cites the documentation.
`RULES` lists them by API operation, `STACK_RULES` those across a stack's requests;
tests/infra/test_aws_validation.py applies them to every request each stack makes, and each has a
planted-violation test in tests/infra/test_aws_rules.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from components.specs.event_input import input_transformer_problems

Request = dict[str, Any]
_ECS = "https://docs.aws.amazon.com/AmazonECS/latest"

# Values CloudWatch Logs accepts for retentionInDays:
# https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


def log_retention(request: Request) -> list[str]:
    """retentionInDays is one of LOG_RETENTION_DAYS (the model says only 'integer'):
    https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html"""
    days = request.get("retentionInDays")
    if days is None or days in LOG_RETENTION_DAYS:
        return []
    return [f"retentionInDays {days} is not one of {', '.join(map(str, LOG_RETENTION_DAYS))}"]


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


def fargate_start_timeout(request: Request) -> list[str]:
    """On Fargate, startTimeout is 2-120 seconds:
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerDefinition.html"""
    if "FARGATE" not in request.get("requiresCompatibilities", []):
        return []
    return [
        f"container {c['name']}: startTimeout {c['startTimeout']} is outside Fargate's 2-120 s"
        for c in request.get("containerDefinitions", [])
        if "startTimeout" in c and not 2 <= c["startTimeout"] <= 120
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
        parse_utc(value)
    except ValueError:
        return "not a calendar date and time"
    return ""


def parse_utc(value: str) -> datetime:
    """A timestamp utc_timestamp_problem accepts, as an aware datetime (so that
    2030-01-01T00:00:00.5Z sorts after 2030-01-01T00:00:00Z, which strings do not)."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# CreateSchedule rejects a StartDate earlier than about five minutes before the request
# ("The StartDate you specify cannot be earlier than 5 minutes ago."; not in the API reference,
# reported from the service in https://github.com/getmoto/moto/pull/8172).
START_DATE_SLACK = timedelta(minutes=5)


def start_date_problem(value: str, now: datetime) -> str:
    """'' when Scheduler takes `value` as a StartDate at `now`; what is wrong otherwise."""
    if parse_utc(value) < now - START_DATE_SLACK:
        return (
            f"is in the past (now is {now:%Y-%m-%dT%H:%M:%SZ}); CreateSchedule rejects a "
            "StartDate earlier than 5 minutes ago: give a later one or leave it out"
        )
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
                dates[key] = parse_utc(str(value))
    if len(dates) == 2 and dates["StartDate"].astimezone(UTC) >= dates["EndDate"].astimezone(UTC):
        problems.append("StartDate must be before EndDate")
    return problems


def schedule_ecs_placement(request: Request) -> list[str]:
    """Scheduler's ECS target: LaunchType and CapacityProviderStrategy exclude each other, and
    the API reference permits AssignPublicIp ENABLED only with LaunchType FARGATE (so not with
    FARGATE_SPOT through a capacity-provider strategy; not verified against the service):
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
    """Each target's input transformer (components/specs/event_input.py has the sources)."""
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
    60-1209600 s, VisibilityTimeout 0-43200 s, DelaySeconds 0-900 s, booleans 'true'/'false';
    redrive policies are JSON objects; a FIFO queue's name ends in .fifo:
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
        elif key in _QUEUE_BOOLEANS and value not in ("true", "false"):
            problems.append(f"Attributes.{key} {value!r} is not 'true' or 'false'")
        elif key in ("RedrivePolicy", "RedriveAllowPolicy"):
            problems += _queue_policy_problems(key, value)
    fifo = request.get("Attributes", {}).get("FifoQueue") == "true"
    if fifo != request.get("QueueName", "").endswith(".fifo"):
        problems.append(f"QueueName {request.get('QueueName')!r}: a FIFO queue's name ends in "
                        ".fifo, and only a FIFO queue's does")  # fmt: skip
    return problems


_QUEUE_BOOLEANS = ("SqsManagedSseEnabled", "FifoQueue", "ContentBasedDeduplication")


def _queue_policy_problems(key: str, value: str) -> list[str]:
    """RedrivePolicy: a JSON object with deadLetterTargetArn and maxReceiveCount (a positive
    integer); RedriveAllowPolicy: a JSON object with redrivePermission (same page)."""
    try:
        policy = json.loads(value)
    except ValueError:
        return [f"Attributes.{key} {value!r} is not JSON"]
    if not isinstance(policy, dict):
        return [f"Attributes.{key} {value!r} is not a JSON object"]
    if key == "RedriveAllowPolicy":
        ok = policy.get("redrivePermission") in ("allowAll", "denyAll", "byQueue")
        return [] if ok else [f"Attributes.{key}: redrivePermission is not allowAll, denyAll "
                              "or byQueue"]  # fmt: skip
    problems = []
    if not str(policy.get("deadLetterTargetArn", "")).startswith("arn:"):
        problems.append(f"Attributes.{key}: deadLetterTargetArn is not an ARN")
    count = policy.get("maxReceiveCount")
    if not str(count).isdigit() or int(str(count)) < 1:
        problems.append(f"Attributes.{key}: maxReceiveCount {count!r} is not a positive integer")
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


# Scheduler replaces these in a target's Input when it invokes the target:
# https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html
SCHEDULER_CONTEXT = {
    "aws.scheduler.schedule-arn": "arn:aws:scheduler:eu-west-1:123456789012:schedule/default/s",
    "aws.scheduler.scheduled-time": "2030-01-01T04:00:00Z",
    "aws.scheduler.execution-id": "d32c5kddcf5bb8c3",
    "aws.scheduler.attempt-number": "1",
}


def schedule_input(request: Request) -> list[str]:
    """A templated target's Input may use only Scheduler's context attributes, and for an ECS
    target it must be a JSON object (the RunTask overrides) once they are filled in:
    https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html
    https://docs.aws.amazon.com/scheduler/latest/APIReference/API_Target.html"""
    target = request.get("Target", {})
    if "Input" not in target:
        return []
    text = target["Input"]
    problems = [
        f"Target.Input uses <{name}>, which is not a Scheduler context attribute"
        for name in re.findall(r"<([^<>]*)>", text)
        if name not in SCHEDULER_CONTEXT
    ]
    for name, value in SCHEDULER_CONTEXT.items():
        text = text.replace(f"<{name}>", value)
    try:
        filled = json.loads(text)
    except ValueError as err:
        problems.append(f"Target.Input is not valid JSON once filled in: {err}")
    else:
        if "EcsParameters" in target and not isinstance(filled, dict):
            problems.append("Target.Input of an ECS target must be a JSON object (overrides)")
    return problems


def _non_whitespace(document: str) -> int:
    return len("".join(document.split()))


def trust_policy_size(request: Request) -> list[str]:
    """A role trust policy has at most 2,048 characters, white space not counted (the default
    quota; the model allows 131072):
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"""
    size = _non_whitespace(request.get("AssumeRolePolicyDocument", ""))
    return [f"trust policy has {size} characters; the quota is 2048"] if size > 2048 else []


def security_group_text(request: Request) -> list[str]:
    """Group name and description, and rule descriptions: up to 255 of a-z, A-Z, 0-9, spaces
    and ._-:/()#,@[]+=&;{}!$*; a group name may not start with sg-:
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSecurityGroup.html
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_IpRange.html"""
    allowed = re.compile(r"[A-Za-z0-9 ._\-:/()#,@\[\]+=&;{}!$*]{0,255}")
    texts: list[tuple[str, str]] = [
        (k, request[k]) for k in ("GroupName", "Description") if k in request
    ]
    for permission in request.get("IpPermissions", []):
        for peers in ("IpRanges", "Ipv6Ranges", "PrefixListIds", "UserIdGroupPairs"):
            texts += [(f"{peers}.Description", r["Description"])
                      for r in permission.get(peers, []) if "Description" in r]  # fmt: skip
    problems = [f"{key} {text!r}: up to 255 of a-zA-Z0-9 ._-:/()#,@[]+=&;{{}}!$* and spaces"
                for key, text in texts if not allowed.fullmatch(text)]  # fmt: skip
    if request.get("GroupName", "").lower().startswith("sg-"):
        problems.append("GroupName may not start with sg-")
    return problems


def role_inline_policies(requests: list[tuple[str, Request]]) -> list[str]:
    """All inline policies of one role together have at most 10,240 characters, white space
    not counted: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"""
    totals: dict[str, int] = {}
    for operation, request in requests:
        if operation == "PutRolePolicy":
            role = request["RoleName"]
            totals[role] = totals.get(role, 0) + _non_whitespace(request["PolicyDocument"])
    return [f"role {role}: inline policies total {size} characters; at most 10240"
            for role, size in totals.items() if size > 10240]  # fmt: skip


def overrides_name_containers(requests: list[tuple[str, Request]]) -> list[str]:
    """RunTask overrides (a schedule's Input) may only name containers of the task definition:
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerOverride.html"""
    containers = {
        r["family"]: {c["name"] for c in r["containerDefinitions"]}
        for operation, r in requests
        if operation == "RegisterTaskDefinition"
    }
    problems = []
    for operation, request in requests:
        ecs = (
            request.get("Target", {}).get("EcsParameters")
            if operation == "CreateSchedule"
            else None
        )
        if not ecs or "Input" not in request["Target"]:
            continue
        family = ecs["TaskDefinitionArn"].rsplit("task-definition/", 1)[-1].split(":")[0]
        text = request["Target"]["Input"]
        for name, value in SCHEDULER_CONTEXT.items():
            text = text.replace(f"<{name}>", value)
        names = {o["name"] for o in json.loads(text).get("containerOverrides", [])}
        if unknown := names - containers.get(family, set()):
            problems.append(f"schedule {request['Name']}: overrides name {sorted(unknown)}, "
                            f"not containers of {family}")  # fmt: skip
    return problems


# Rules across the requests of one stack.
STACK_RULES: list[Callable[[list[tuple[str, Request]]], list[str]]] = [
    role_inline_policies,
    overrides_name_containers,
]

RULES: dict[str, list[Callable[[Request], list[str]]]] = {
    "CreateRole": [trust_policy_size],
    "CreateSecurityGroup": [security_group_text],
    "AuthorizeSecurityGroupEgress": [security_group_text],
    "AuthorizeSecurityGroupIngress": [security_group_text],
    "CreateQueue": [queue_attributes],
    "PutRetentionPolicy": [log_retention],
    "PutMetricAlarm": [alarm_period],
    "RegisterTaskDefinition": [
        health_check_ranges,
        fargate_stop_timeout,
        fargate_start_timeout,
        container_dependencies,
        mounts_and_logs,
        awsvpc_port_mappings,
    ],
    "CreateSchedule": [schedule_dates, schedule_ecs_placement, schedule_input],
    "PutTargets": [input_transformers],
}


def rule_problems(operation: str, request: Request) -> list[str]:
    """Every rule of `operation` applied to `request`."""
    return [problem for rule in RULES.get(operation, []) for problem in rule(request)]
