"""Check what the program declares against the real AWS API models shipped with botocore.

Pulumi inputs arrive camelCase with numbers as floats; the AWS APIs want their own member
names and integers. These translators do only that renaming, so a misspelt or mistyped field
still fails validation as AWS would reject it.
"""

from __future__ import annotations

import json
from typing import Any

import botocore.session
from botocore.validate import ParamValidator

_session = botocore.session.get_session()


def input_shape(service: str, operation: str, member: str | None = None) -> Any:
    shape = _session.get_service_model(service).operation_model(operation).input_shape
    return shape.members[member] if member else shape


def errors(params: Any, service: str, operation: str, member: str | None = None) -> str:
    """'' when `params` is a valid input for the operation (or one of its members)."""
    report = ParamValidator().validate(params, input_shape(service, operation, member))
    return report.generate_report() if report.has_errors() else ""


def _ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


def register_task_definition_params(inputs: dict[str, Any]) -> dict[str, Any]:
    """aws.ecs.TaskDefinition inputs -> ECS RegisterTaskDefinition request."""
    params = {k: v for k, v in _ints(inputs).items() if k not in {"skipDestroy", "trackLatest"}}
    params["containerDefinitions"] = json.loads(params["containerDefinitions"])
    if "ephemeralStorage" in params:  # Terraform spells it sizeInGib, the API sizeInGiB
        params["ephemeralStorage"] = {"sizeInGiB": params["ephemeralStorage"]["sizeInGib"]}
    return params


def _pascal(value: Any) -> Any:
    """Scheduler's members are PascalCase, except the parts it borrows from ECS (below)."""
    if isinstance(value, list):
        return [_pascal(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        if key == "capacityProviderStrategies":  # ECS's camelCase members, singular name
            out["CapacityProviderStrategy"] = item
        elif key == "networkConfiguration":  # nested one level deeper, public IP as an enum
            vpc = {
                **item,
                "assignPublicIp": "ENABLED" if item.get("assignPublicIp") else "DISABLED",
            }
            out["NetworkConfiguration"] = {"awsvpcConfiguration": _pascal(vpc)}
        elif key == "enableEcsManagedTags":
            out["EnableECSManagedTags"] = item
        else:
            out[key[:1].upper() + key[1:]] = _pascal(item)
    return out


def create_schedule_params(inputs: dict[str, Any]) -> dict[str, Any]:
    """aws.scheduler.Schedule inputs -> EventBridge Scheduler CreateSchedule request."""
    params = _pascal(_ints(inputs))
    params.pop("NamePrefix", None)
    return params
