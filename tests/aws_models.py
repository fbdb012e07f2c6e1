"""Check requests against the real AWS API models shipped with botocore, as strictly as AWS does.

botocore's own ParamValidator checks types, required members and minimums only. `errors()`
adds what AWS's request validation also rejects: maximum lengths, sizes and values, `enum`
values, `pattern`s, unknown members and tagged unions with more or less than one member.

Patterns in the models are Java regular expressions, which AWS matches against the whole value
(its error reads "Member must satisfy regular expression pattern: ..."). They run here under
the `regex` module with Java's meaning restored where Python's differs: `\\w`, `\\d`, `\\s` are
ASCII-only in Java (Unicode in Python) and are rewritten; `\\p{..}` Unicode categories,
possessive quantifiers and look-arounds mean the same in both. A pattern this translation
cannot express raises UncheckedPattern rather than passing silently.

Pulumi inputs arrive camelCase with numbers as floats; the translators below do only the
renaming, so a misspelt or mistyped field still fails validation as AWS would reject it.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Mapping
from typing import Any

import botocore.session
import regex
from botocore.validate import ParamValidator

_session = botocore.session.get_session()
_JAVA_CLASSES = {"w": "a-zA-Z0-9_", "d": "0-9", "s": " \\t\\n\\x0B\\f\\r"}
_INT_RANGE = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


class UncheckedPatternError(ValueError):
    """A model pattern whose Java meaning this module cannot reproduce."""


def service_model(service: str) -> Any:
    return _session.get_service_model(service)


def input_shape(service: str, operation: str, member: str | None = None) -> Any:
    shape = service_model(service).operation_model(operation).input_shape
    return shape.members[member] if member else shape


@functools.cache
def java_pattern(pattern: str) -> regex.Pattern[str]:
    """A Java regular expression as a `regex` pattern with the same meaning."""
    out, i, depth = [], 0, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            escaped = pattern[i + 1]
            if escaped in _JAVA_CLASSES:
                body = _JAVA_CLASSES[escaped]
                out.append(body if depth else f"[{body}]")
            elif escaped.lower() in _JAVA_CLASSES:
                if depth:  # a negated class inside a class: would need set operations
                    raise UncheckedPatternError(pattern)
                out.append(f"[^{_JAVA_CLASSES[escaped.lower()]}]")
            elif escaped in "zZ":  # Java \z is Python's \Z; Java \Z allows a final newline
                out.append(r"\Z" if escaped == "z" else r"(?=\n?\Z)")
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if char == "[":
            if depth:  # Java's nested class is a union; V0 would read '[' literally
                raise UncheckedPatternError(pattern)
            depth += 1
            out.append(char)
            # a ']' first in a class (after an optional '^') is literal, as in Java
            if pattern[i + 1 : i + 2] == "^":
                out.append("^")
                i += 1
            i += 1
            continue
        if char == "]" and depth:
            depth -= 1
        out.append(char)
        i += 1
    return regex.compile("".join(out), flags=regex.VERSION0)


def _name(shape: Any) -> str:
    return str(shape.name)


def strict_errors(value: Any, shape: Any, path: str = "") -> list[str]:
    """Every way `value` breaks `shape`: required, type, min/max, enum, pattern, members."""
    where = path or "request"
    kind, meta = shape.type_name, shape.metadata
    problems: list[str] = []
    low, high = meta.get("min"), meta.get("max")

    def bounds(size: float, what: str) -> None:
        if low is not None and size < low:
            problems.append(f"{where}: {what} {size} is below the minimum {low}")
        if high is not None and size > high:
            problems.append(f"{where}: {what} {size} is above the maximum {high}")

    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{where}: expected a structure, got {type(value).__name__}"]
        for member in shape.required_members:
            if member not in value:
                problems.append(f"{where}: missing required member {member}")
        for key, item in value.items():
            if key not in shape.members:
                problems.append(f"{where}: unknown member {key} (allowed: {list(shape.members)})")
            else:
                problems += strict_errors(item, shape.members[key], f"{path}.{key}".lstrip("."))
        if meta.get("union") and len(value) != 1:
            problems.append(f"{where}: a union takes exactly one member, got {sorted(value)}")
    elif kind == "list":
        if not isinstance(value, list | tuple):
            return [f"{where}: expected a list, got {type(value).__name__}"]
        bounds(len(value), "length")
        for n, item in enumerate(value):
            problems += strict_errors(item, shape.member, f"{where}[{n}]")
    elif kind == "map":
        if not isinstance(value, dict):
            return [f"{where}: expected a map, got {type(value).__name__}"]
        bounds(len(value), "size")
        for key, item in value.items():
            problems += strict_errors(key, shape.key, f"{where} key {key!r}")
            problems += strict_errors(item, shape.value, f"{where}[{key!r}]")
    elif kind == "string":
        if not isinstance(value, str):
            return [f"{where}: expected a string, got {type(value).__name__} {value!r}"]
        bounds(len(value), "length")
        if shape.enum and value not in shape.enum:
            problems.append(f"{where}: {value!r} is not one of {shape.enum}")
        if (pattern := meta.get("pattern")) and not java_pattern(pattern).fullmatch(value):
            problems.append(f"{where}: {value!r} does not match the pattern {pattern}")
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            return [f"{where}: expected an integer, got {type(value).__name__} {value!r}"]
        bounds(value, "value")
        floor, ceiling = _INT_RANGE[kind]
        if not floor <= value <= ceiling:
            problems.append(f"{where}: {value} does not fit a {kind}")
    elif kind in ("float", "double"):
        if not isinstance(value, int | float) or isinstance(value, bool):
            return [f"{where}: expected a number, got {type(value).__name__} {value!r}"]
        bounds(value, "value")
    elif kind == "boolean":
        if not isinstance(value, bool):
            return [f"{where}: expected a boolean, got {type(value).__name__} {value!r}"]
    elif kind == "timestamp":
        if not isinstance(value, dt.datetime | str | int | float):
            return [f"{where}: expected a timestamp, got {type(value).__name__}"]
    elif kind == "blob":
        if not isinstance(value, bytes | bytearray | str):
            return [f"{where}: expected bytes, got {type(value).__name__}"]
    else:
        problems.append(f"{where}: shape type {kind} ({_name(shape)}) is not checked")
    return problems


def errors(params: Any, service: str, operation: str, member: str | None = None) -> str:
    """'' when `params` is a valid input for the operation (or one of its members): botocore's
    own validator and the strict walker above."""
    shape = input_shape(service, operation, member)
    report = ParamValidator().validate(params, shape)
    found = [report.generate_report()] if report.has_errors() else []
    found += strict_errors(params, shape)
    return "\n".join(found)


def _ints(value: Any) -> Any:
    """Plain dicts and lists, with integral floats as ints (every key is read)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {k: _ints(value[k]) for k in value}
    if isinstance(value, list | tuple):
        return [_ints(v) for v in value]
    return value


# Provider-only TaskDefinition inputs (keep old revisions; track the latest): never sent.
TASK_DEFINITION_PROVIDER_ONLY = frozenset({"skipDestroy", "trackLatest"})


def register_task_definition_params(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """aws.ecs.TaskDefinition inputs -> ECS RegisterTaskDefinition request."""
    params = _ints({k: inputs[k] for k in inputs if k not in TASK_DEFINITION_PROVIDER_ONLY})
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
