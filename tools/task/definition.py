"""A job's task definition, as the program declares it, in the shape the runner needs (pure).

The definition is taken from the offline render of the stack (tools.offline), never from a
hand-written copy: what runs locally is what `pulumi up` would register.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tools.offline import run_program

TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"

# Fargate's default when a container sets no stopTimeout, and its maximum:
# https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerDefinition.html
DEFAULT_STOP_TIMEOUT = 30
# Container fields the runner acts on, and those it may ignore (resource reservations and port
# documentation, which change nothing on one machine). Any other field is refused, so that a
# definition is never run as if a setting it relies on held (ulimits, linuxParameters…).
ACTED_ON = frozenset({
    "name", "image", "essential", "entryPoint", "command", "environment", "secrets", "user",
    "workingDirectory", "mountPoints", "dependsOn", "healthCheck", "stopTimeout",
    "startTimeout", "logConfiguration", "readonlyRootFilesystem",
})  # fmt: skip
IGNORED = frozenset({"portMappings", "cpu", "memory", "memoryReservation", "dockerLabels"})
# Docker's health-check defaults, which ECS applies to the fields a definition leaves out:
# https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_HealthCheck.html
HEALTH_DEFAULTS = {"interval": 30, "timeout": 5, "retries": 3, "startPeriod": 0}


class DefinitionError(ValueError):
    """The task cannot start as defined (ECS would fail it before any container runs)."""


@dataclass(frozen=True)
class ContainerSpec:
    """One container definition, with the fields the runner acts on."""

    name: str
    image: str
    essential: bool
    entry_point: list[str]
    command: list[str]
    environment: dict[str, str]
    secrets: dict[str, str]  # variable name -> valueFrom
    user: str | None
    working_directory: str | None
    mounts: dict[str, str]  # containerPath -> task volume name
    depends_on: dict[str, str]  # container name -> START | COMPLETE | SUCCESS | HEALTHY
    health_check: dict[str, Any] | None
    stop_timeout: int
    start_timeout: int | None  # how long dependents wait for this one's condition; no default
    log_stream_prefix: str
    log_group: str
    readonly_root: bool = False  # readonlyRootFilesystem: only volumes are writable

    def log_stream(self, task_id: str) -> str:
        """The awslogs stream name: prefix-name/container-name/ecs-task-id.
        https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using_awslogs.html"""
        return f"{self.log_stream_prefix}/{self.name}/{task_id}"


@dataclass(frozen=True)
class TaskSpec:
    family: str
    cpu: str
    memory: str
    containers: list[ContainerSpec]
    volumes: list[str]
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    def container(self, name: str) -> ContainerSpec:
        for container in self.containers:
            if container.name == name:
                return container
        raise DefinitionError(f"no container {name!r} in {self.family}")


def _health(check: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if check is None else {**HEALTH_DEFAULTS, **check}


def container_spec(definition: dict[str, Any]) -> ContainerSpec:
    unknown = sorted(set(definition) - ACTED_ON - IGNORED)
    if unknown:
        raise DefinitionError(
            f"container {definition.get('name')}: the local runner does not reproduce "
            f"{', '.join(unknown)}"
        )
    logs = definition.get("logConfiguration", {}).get("options", {})
    return ContainerSpec(
        name=definition["name"],
        image=definition["image"],
        essential=definition.get("essential", True),
        entry_point=list(definition.get("entryPoint", [])),
        command=list(definition.get("command", [])),
        environment={e["name"]: e["value"] for e in definition.get("environment", [])},
        secrets={s["name"]: s["valueFrom"] for s in definition.get("secrets", [])},
        user=definition.get("user"),
        working_directory=definition.get("workingDirectory"),
        mounts={m["containerPath"]: m["sourceVolume"] for m in definition.get("mountPoints", [])},
        depends_on={d["containerName"]: d["condition"] for d in definition.get("dependsOn", [])},
        health_check=_health(definition.get("healthCheck")),
        stop_timeout=int(definition.get("stopTimeout", DEFAULT_STOP_TIMEOUT)),
        start_timeout=definition.get("startTimeout"),
        log_stream_prefix=logs.get("awslogs-stream-prefix", ""),
        log_group=logs.get("awslogs-group", ""),
        readonly_root=bool(definition.get("readonlyRootFilesystem", False)),
    )


def from_inputs(inputs: dict[str, Any]) -> TaskSpec:
    """A TaskSpec from a task definition resource's inputs (RegisterTaskDefinition's shape)."""
    definitions = inputs["containerDefinitions"]
    if isinstance(definitions, str):
        definitions = json.loads(definitions)
    containers = [container_spec(d) for d in definitions]
    volumes = [v["name"] for v in inputs.get("volumes", [])]
    names = {c.name for c in containers}
    for container in containers:
        for dependency in container.depends_on:
            if dependency not in names:
                raise DefinitionError(f"{container.name} depends on unknown {dependency!r}")
        for volume in container.mounts.values():
            if volume not in volumes:
                raise DefinitionError(f"{container.name} mounts unknown volume {volume!r}")
    return TaskSpec(
        family=inputs["family"],
        cpu=str(inputs.get("cpu", "")),
        memory=str(inputs.get("memory", "")),
        containers=containers,
        volumes=volumes,
        raw=inputs,
    )


def task_spec(stack: str, job: str) -> TaskSpec:
    """The job's task definition from the stack's offline render."""
    program = run_program(stack)
    found = [r for r in program.of_type(TASK_DEFINITION) if r.name == job]
    if not found:
        known = sorted(r.name for r in program.of_type(TASK_DEFINITION))
        raise DefinitionError(f"stack {stack!r} has no job {job!r}; its jobs: {', '.join(known)}")
    return from_inputs(found[0].inputs)


def start_order(task: TaskSpec) -> list[ContainerSpec]:
    """Containers ordered so that each comes after what it depends on (ECS refuses cycles)."""
    ordered: list[ContainerSpec] = []
    visiting: set[str] = set()

    def visit(container: ContainerSpec) -> None:
        if container in ordered:
            return
        if container.name in visiting:
            raise DefinitionError(f"dependency cycle through {container.name!r}")
        visiting.add(container.name)
        for dependency in container.depends_on:
            visit(task.container(dependency))
        visiting.discard(container.name)
        ordered.append(container)

    for container in task.containers:
        visit(container)
    return ordered


def secret_value(value_from: str, store: dict[str, Any]) -> str:
    """Resolve a `valueFrom` the way ECS does with Secrets Manager:
    `<secret-arn>[:<json-key>:<version-stage>:<version-id>]`; `store` maps a secret's ARN to
    its SecretString (a string, or a JSON object when keys are addressed).
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/secrets-envvar-secrets-manager.html"""
    parts = value_from.split(":")
    if len(parts) < 7 or parts[2] != "secretsmanager":
        raise DefinitionError(f"not a Secrets Manager reference: {value_from}")
    arn, extra = ":".join(parts[:7]), parts[7:]
    json_key, stage, version = [*extra, "", "", ""][:3]
    if stage or version:
        raise DefinitionError(f"{value_from}: only AWSCURRENT is stored locally")
    if arn not in store:
        raise DefinitionError(
            f"ResourceInitializationError: unable to retrieve secret {arn}: no such secret"
        )
    secret = store[arn]
    if not json_key:
        return secret if isinstance(secret, str) else json.dumps(secret)
    document = json.loads(secret) if isinstance(secret, str) else secret
    if json_key not in document:
        raise DefinitionError(
            f"ResourceInitializationError: secret {arn} has no JSON key {json_key!r}"
        )
    return str(document[json_key])


def secret_arns(task: TaskSpec) -> dict[str, set[str]]:
    """Each referenced secret's ARN and the JSON keys the task reads from it."""
    wanted: dict[str, set[str]] = {}
    for container in task.containers:
        for value_from in container.secrets.values():
            parts = value_from.split(":")
            keys = wanted.setdefault(":".join(parts[:7]), set())
            if len(parts) > 7 and parts[7]:
                keys.add(parts[7])
    return wanted
