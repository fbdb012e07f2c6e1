"""ECS controls: task definitions' containers and the cluster.
https://docs.aws.amazon.com/securityhub/latest/userguide/ecs-controls.html"""

from __future__ import annotations

import re
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from fsbp.common import json_value, suppressed

TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
CLUSTER = "aws:ecs/cluster:Cluster"
SECRET_LOOKING = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|PRIVATE|API_?KEY|ACCESS_?KEY")


def _containers(args: ResourceValidationArgs) -> list[dict[str, Any]]:
    if args.resource_type != TASK_DEFINITION:
        return []
    definitions = json_value(args.props.get("containerDefinitions"))
    return list(definitions) if isinstance(definitions, list) else []  # unknown in a preview


def _readonly_root(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for container in _containers(args):
        if container.get("readonlyRootFilesystem") is not True:
            report(
                f"ECS.5: container {container.get('name')} needs readonlyRootFilesystem "
                "true (give it task volumes where it writes)",
                None,
            )


def _non_root(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for container in _containers(args):
        user = str(container.get("user") or "")
        if user.split(":", maxsplit=1)[0] in ("", "0", "root"):
            report(
                f"ECS.20: container {container.get('name')} runs as root (user {user!r}); "
                "set a non-root uid:gid",
                None,
            )


def _not_privileged(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for container in _containers(args):
        if container.get("privileged"):
            report(f"ECS.4: container {container.get('name')} is privileged", None)


def _no_secrets_in_environment(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for container in _containers(args):
        for variable in container.get("environment") or []:
            if SECRET_LOOKING.search(str(variable.get("name", "")).upper()):
                report(
                    f"ECS.8: container {container.get('name')} sets {variable['name']} in "
                    "its environment; pass it as a secret (valueFrom)",
                    None,
                )


def _logs(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for container in _containers(args):
        if not (container.get("logConfiguration") or {}).get("logDriver"):
            report(f"ECS.9: container {container.get('name')} has no logConfiguration", None)


def _not_host_network(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == TASK_DEFINITION and args.props.get("networkMode") == "host":
        report("ECS.17: the task definition uses the host network mode", None)


def _container_insights(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != CLUSTER or suppressed(args.props, "ECS.12"):
        return
    settings = {s.get("name"): s.get("value") for s in args.props.get("settings") or []}
    if settings.get("containerInsights") not in ("enabled", "enhanced"):
        report(
            "ECS.12: Container Insights is off; enable it (containerInsights) or say why "
            "not in the fsbp-suppressed tag",
            None,
        )


POLICIES = [
    ResourceValidationPolicy(
        name="ecs-containers-readonly-access",
        description="ECS.5: containers run with a read-only root file system",
        validate=_readonly_root,
    ),
    ResourceValidationPolicy(
        name="ecs-task-definition-nonroot-user",
        description="ECS.20: Linux containers run as a non-root user",
        validate=_non_root,
    ),
    ResourceValidationPolicy(
        name="ecs-containers-nonprivileged",
        description="ECS.4: no container is privileged",
        validate=_not_privileged,
    ),
    ResourceValidationPolicy(
        name="ecs-no-environment-secrets",
        description="ECS.8: secrets are not passed as plain environment variables",
        validate=_no_secrets_in_environment,
    ),
    ResourceValidationPolicy(
        name="ecs-task-definition-log-configuration",
        description="ECS.9: every container has a log configuration",
        validate=_logs,
    ),
    ResourceValidationPolicy(
        name="ecs-task-definition-network-mode-not-host",
        description="ECS.17: task definitions do not use the host network mode",
        validate=_not_host_network,
    ),
    ResourceValidationPolicy(
        name="ecs-container-insights-enabled",
        description="ECS.12: clusters use Container Insights (a cost choice: advisory in dev)",
        validate=_container_insights,
    ),
]
