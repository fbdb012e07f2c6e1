"""The small IAM evaluator (tests/iam_evaluator.py) on requests whose outcome the IAM User
Guide states: Allow/Deny, wildcards, the condition operators, resource policies."""

from __future__ import annotations

from typing import Any

import pytest
from iam_evaluator import arn_match, decide, glob_match

CLUSTER = "arn:aws:ecs:eu-west-1:111122223333:cluster/etl"
ROLE = "arn:aws:iam::111122223333:role/run"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: str | list[str], resource: str | list[str], **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def test_wildcards() -> None:
    assert glob_match("s3:Get*", "s3:GETObject", ignore_case=True)  # actions: any case
    assert not glob_match("s3:Get*", "s3:GETObject")
    assert glob_match("run=????", "run=2026") and not glob_match("run=????", "run=20261")
    assert glob_match("a.b", "a.b") and not glob_match("a.b", "axb")  # literal dot
    assert arn_match("*", "anything")
    assert arn_match("arn:aws:s3:::bucket/eu/*", "arn:aws:s3:::bucket/eu/input/a.csv")
    assert not arn_match("arn:aws:s3:::bucket/eu/*", "arn:aws:s3:::bucket/EU/input/a.csv")
    assert not arn_match("arn:aws:s3:::bucket/eu/*", "arn:aws:s3:::bucket/us/input/a.csv")
    # Part by part: a `*` in the region does not swallow the account.
    assert arn_match("arn:aws:ecs:*:111122223333:cluster/etl", CLUSTER)
    assert not arn_match("arn:aws:ecs:*:cluster/etl", CLUSTER)
    with pytest.raises(NotImplementedError):
        glob_match("arn:aws:s3:::b/${aws:username}/*", "arn:aws:s3:::b/me/x")


def test_allow_deny_and_implicit_deny() -> None:
    docs = [policy(allow("ecs:StopTask", "arn:aws:ecs:eu-west-1:111122223333:task/etl/*"))]
    task = "arn:aws:ecs:eu-west-1:111122223333:task/etl/abc"
    assert decide(ROLE, "ecs:StopTask", task, {}, docs) == "Allow"
    assert decide(ROLE, "ecs:RunTask", task, {}, docs) == "ImplicitDeny"
    assert decide(ROLE, "ecs:StopTask", task.replace("/etl/", "/other/"), {}, docs) == (
        "ImplicitDeny"
    )
    deny = policy({"Effect": "Deny", "Action": "ecs:*", "Resource": "*"})
    assert decide(ROLE, "ecs:StopTask", task, {}, [*docs, deny]) == "ExplicitDeny"


def test_a_non_matching_condition_does_not_deny_what_another_statement_allows() -> None:
    """moto's evaluator gets this wrong (it turns the first statement into a Deny)."""
    docs = [policy(
        allow("ecs:TagResource", "*", Condition={"StringEquals": {"ecs:CreateAction": "RunTask"}}),
        allow("ecs:TagResource", "*"),
    )]  # fmt: skip
    assert decide(ROLE, "ecs:TagResource", "arn:aws:ecs:x:1:task/c/1", {}, docs) == "Allow"


def test_arn_and_string_conditions() -> None:
    in_cluster = {"ArnEquals": {"ecs:cluster": CLUSTER}}
    docs = [policy(allow("ecs:ListTasks", "*", Condition=in_cluster))]
    assert decide(ROLE, "ecs:ListTasks", "*", {"ecs:cluster": CLUSTER}, docs) == "Allow"
    other = {"ecs:cluster": CLUSTER.replace("/etl", "/other")}
    assert decide(ROLE, "ecs:ListTasks", "*", other, docs) == "ImplicitDeny"
    assert decide(ROLE, "ecs:ListTasks", "*", {}, docs) == "ImplicitDeny"  # key absent
    like = [policy(allow("s3:ListBucket", "arn:aws:s3:::b",
                         Condition={"StringLike": {"s3:prefix": ["eu/*"]}}))]  # fmt: skip
    assert decide(ROLE, "s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "eu/input/"}, like) == (
        "Allow"
    )
    assert decide(ROLE, "s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "us/"}, like) == (
        "ImplicitDeny"
    )
    alarms = {"ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:*:1:alarm:p-*"}}
    arn_like = [policy(allow("sns:Publish", "*", Condition=alarms))]
    assert decide(ROLE, "sns:Publish", "t", {"aws:SourceArn": "arn:aws:cloudwatch:r:1:alarm:p-x"},
                  arn_like) == "Allow"  # fmt: skip
    assert decide(ROLE, "sns:Publish", "t", {"aws:SourceArn": "arn:aws:cloudwatch:r:1:alarm:q-x"},
                  arn_like) == "ImplicitDeny"  # fmt: skip


def test_pass_role_to_a_service() -> None:
    passed = {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
    docs = [policy(allow("iam:PassRole", "arn:aws:iam::1:role/task", Condition=passed))]
    ecs = {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    assert decide(ROLE, "iam:PassRole", "arn:aws:iam::1:role/task", ecs, docs) == "Allow"
    lam = {"iam:PassedToService": "lambda.amazonaws.com"}
    assert decide(ROLE, "iam:PassRole", "arn:aws:iam::1:role/task", lam, docs) == "ImplicitDeny"
    assert decide(ROLE, "iam:PassRole", "arn:aws:iam::1:role/admin", ecs, docs) == "ImplicitDeny"


def test_negated_null_bool_and_if_exists() -> None:
    tls = policy({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*",
                  "Condition": {"Bool": {"aws:SecureTransport": "false"}}})  # fmt: skip
    grant = [policy(allow("s3:GetObject", "*"))]
    obj = "arn:aws:s3:::b/k"
    assert decide(ROLE, "s3:GetObject", obj, {"aws:SecureTransport": "true"}, grant, tls) == (
        "Allow"
    )
    assert decide(ROLE, "s3:GetObject", obj, {"aws:SecureTransport": "false"}, grant, tls) == (
        "ExplicitDeny"
    )
    outside_eu = {"StringNotEquals": {"aws:RequestedRegion": "eu-west-1"}}
    not_eu = [policy(allow("s3:GetObject", "*", Condition=outside_eu))]
    assert decide(ROLE, "s3:GetObject", obj, {}, not_eu) == "Allow"  # absent: negation holds
    assert decide(ROLE, "s3:GetObject", obj, {"aws:RequestedRegion": "eu-west-1"}, not_eu) == (
        "ImplicitDeny"
    )
    if_exists = [policy(allow("s3:GetObject", "*",
                              Condition={"StringEqualsIfExists": {"s3:x": "1"}}))]  # fmt: skip
    assert decide(ROLE, "s3:GetObject", obj, {}, if_exists) == "Allow"
    assert decide(ROLE, "s3:GetObject", obj, {"s3:x": "2"}, if_exists) == "ImplicitDeny"
    null = [policy(allow("s3:GetObject", "*", Condition={"Null": {"s3:x": "true"}}))]
    assert decide(ROLE, "s3:GetObject", obj, {}, null) == "Allow"
    assert decide(ROLE, "s3:GetObject", obj, {"s3:x": "1"}, null) == "ImplicitDeny"
    with pytest.raises(NotImplementedError):
        decide(ROLE, "s3:GetObject", obj, {}, [policy(allow("s3:GetObject", "*",
               Condition={"DateGreaterThan": {"aws:CurrentTime": "2020-01-01"}}))])  # fmt: skip


def test_resource_policy_names_its_principal() -> None:
    topic = "arn:aws:sns:eu-west-1:1:alerts"
    grant = policy({"Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": "sns:Publish", "Resource": topic})  # fmt: skip
    assert decide("cloudwatch.amazonaws.com", "sns:Publish", topic, {}, [], grant) == "Allow"
    assert decide("events.amazonaws.com", "sns:Publish", topic, {}, [], grant) == "ImplicitDeny"
    assert decide(ROLE, "sns:Publish", topic, {}, [], grant) == "ImplicitDeny"


def test_condition_key_names_match_in_any_case() -> None:
    """Condition key names are not case-sensitive (the condition element), values are (for
    StringEquals): a policy spelling `iam:passedToService` grants what `iam:PassedToService`
    does, and the negated operator does not take a differently spelled key as absent.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html"""
    task = "arn:aws:iam::1:role/task"
    ecs = {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    lower = {"StringEquals": {"iam:passedtoservice": "ecs-tasks.amazonaws.com"}}
    granted = [policy(allow("iam:PassRole", task, Condition=lower))]
    assert decide(ROLE, "iam:PassRole", task, ecs, granted) == "Allow"
    not_ecs = {"StringNotEquals": {"IAM:PassedToService": "ecs-tasks.amazonaws.com"}}
    deny = policy({"Effect": "Deny", "Action": "iam:PassRole", "Resource": "*",
                   "Condition": not_ecs})  # fmt: skip
    docs = [policy(allow("iam:PassRole", task)), deny]
    assert decide(ROLE, "iam:PassRole", task, ecs, docs) == "Allow"
    lam = {"iam:PassedToService": "lambda.amazonaws.com"}
    assert decide(ROLE, "iam:PassRole", task, lam, docs) == "ExplicitDeny"
    upper_value = {"iam:PassedToService": "ECS-tasks.amazonaws.com"}
    assert decide(ROLE, "iam:PassRole", task, upper_value, docs) == "ExplicitDeny"


def test_not_action_not_resource_and_single_character_wildcards() -> None:
    obj = "arn:aws:s3:::b/run=2026/part"
    runs = "arn:aws:s3:::b/run=????/*"
    docs = [policy({"Effect": "Allow", "NotAction": "s3:Delete*", "Resource": "*"},
                   {"Effect": "Deny", "Action": "s3:*", "NotResource": runs})]  # fmt: skip
    assert decide(ROLE, "s3:GetObject", obj, {}, docs) == "Allow"
    assert decide(ROLE, "s3:deleteobject", obj, {}, docs) == "ImplicitDeny"  # action: any case
    assert decide(ROLE, "s3:GetObject", "arn:aws:s3:::b/run=20261/part", {}, docs) == (
        "ExplicitDeny"  # `?` is one character, NotResource denies everything else
    )
    assert decide(ROLE, "s3:GetObject", "arn:aws:s3:::B/run=2026/part", {}, docs) == (
        "ExplicitDeny"  # ARNs match case-sensitively
    )


def test_multi_valued_operators_are_not_guessed() -> None:
    """ForAnyValue:/ForAllValues: compare sets of values (one request key may hold several);
    the evaluator's requests hold one value per key, so it refuses them rather than evaluate
    them as the single-valued operator (which AWS does not: ForAllValues holds for a key that
    is absent)."""
    for operator in ("ForAnyValue:StringEquals", "ForAllValues:StringLike"):
        docs = [policy(allow("ecs:TagResource", "*",
                             Condition={operator: {"aws:TagKeys": ["team"]}}))]  # fmt: skip
        with pytest.raises(NotImplementedError):
            decide(ROLE, "ecs:TagResource", "arn:aws:ecs:x:1:task/c/1", {}, docs)


def test_a_policy_variable_in_any_condition_is_refused() -> None:
    """StringEquals compares literally, so `${aws:PrincipalTag/team}` would silently never
    match (or match the literal text): refused like a variable in a Resource."""
    tagged = {"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}
    docs = [policy(allow("s3:GetObject", "*", Condition=tagged))]
    context = {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}
    with pytest.raises(NotImplementedError):
        decide(ROLE, "s3:GetObject", "arn:aws:s3:::b/k", context, docs)
