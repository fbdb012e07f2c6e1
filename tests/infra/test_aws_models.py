"""The strict model walker (tests/aws_models.py) rejects what botocore's ParamValidator lets
through, as AWS does: maximums, patterns (Java semantics), enums, unknown members."""

# One case per line reads as a table.
# ruff: noqa: E501

from __future__ import annotations

import pytest
from aws_models import UncheckedPatternError, errors, input_shape, java_pattern
from botocore.validate import ParamValidator

ROLE = {"RoleName": "etl", "AssumeRolePolicyDocument": "{}"}


@pytest.mark.parametrize(
    ("params", "service", "operation", "expected"),
    [
        ({**ROLE, "RoleName": "r" * 65}, "iam", "CreateRole", "RoleName: length 65 is above the maximum 64"),
        ({**ROLE, "RoleName": "a b"}, "iam", "CreateRole", "does not match the pattern"),
        ({**ROLE, "MaxSessionDuration": 50000}, "iam", "CreateRole", "value 50000 is above the maximum 43200"),
        ({"Name": "r", "State": "ON"}, "events", "PutRule", "'ON' is not one of"),
        ({"Name": "r" * 65}, "events", "PutRule", "length 65 is above the maximum 64"),
        ({"logGroupName": "/ecs/a b"}, "logs", "CreateLogGroup", "does not match the pattern"),
    ],
)  # fmt: skip
def test_what_botocore_lets_through_is_caught(
    params: dict[str, object], service: str, operation: str, expected: str
) -> None:
    shape = input_shape(service, operation)
    assert not ParamValidator().validate(params, shape).has_errors()  # botocore: fine
    assert expected in errors(params, service, operation)


def test_unknown_members_and_arn_patterns() -> None:
    assert "unknown member Bogus" in errors({**ROLE, "Bogus": 1}, "iam", "CreateRole")
    target = {"Arn": "arn:aws:sqs:eu-west-1:123456789012:q", "RoleArn": "arn:aws:iam::1:role/r"}
    request = {"Name": "s", "ScheduleExpression": "rate(1 day)",
               "FlexibleTimeWindow": {"Mode": "OFF"}, "Target": target}  # fmt: skip
    assert "Target.RoleArn: 'arn:aws:iam::1:role/r' does not match" in errors(
        request, "scheduler", "CreateSchedule"
    )
    target["RoleArn"] = "arn:aws:iam::123456789012:role/r"
    assert errors(request, "scheduler", "CreateSchedule") == ""


def test_java_classes_are_ascii_only() -> None:
    # Java's \w is [a-zA-Z0-9_]; Python's would accept any letter.
    assert java_pattern(r"[\w+=,.@-]+").fullmatch("etl-role_1")
    assert not java_pattern(r"[\w+=,.@-]+").fullmatch("rôle")
    assert java_pattern(r"\p{L}+").fullmatch("rôle")  # Unicode categories stay Unicode
    assert not java_pattern(r"\d+").fullmatch("٣")


def test_untranslatable_patterns_are_refused() -> None:
    with pytest.raises(UncheckedPatternError):
        java_pattern(r"[a-z[0-9]]")  # Java's nested class (a union)
    with pytest.raises(UncheckedPatternError):
        java_pattern(r"[\W_]")
