"""Every resource each stack declares, as the AWS requests that create it, validated against
botocore's service models as strictly as AWS validates them (tests/aws_models.py), plus the
AWS rules the models cannot express (components/aws_rules.py)."""

from __future__ import annotations

import pytest
from aws_models import errors
from aws_requests import OPAQUE, REQUESTS, requests_for

from components.aws_rules import STACK_RULES, rule_problems
from components.offline import STACKS, Program, Registered, run_program


@pytest.fixture(scope="module", params=STACKS)
def program(request: pytest.FixtureRequest) -> Program:
    return run_program(request.param)


def test_every_declared_type_has_a_mapping(program: Program) -> None:
    unmapped = sorted({r.type for r in program.resources if requests_for(r) is None})
    assert unmapped == [], f"add these types to tests/aws_requests.py: {unmapped}"


def test_every_request_is_valid_for_aws(program: Program) -> None:
    problems = []
    for resource in program.resources:
        for service, operation, params in requests_for(resource) or []:
            if found := errors(params, service, operation):
                problems.append(f"{resource.type} {resource.name} -> {operation}:\n{found}")
    assert problems == [], "\n\n".join(problems)


def test_every_request_keeps_the_aws_rules(program: Program) -> None:
    problems = [
        f"{resource.type} {resource.name} -> {operation}: {problem}"
        for resource in program.resources
        for _service, operation, params in requests_for(resource) or []
        for problem in rule_problems(operation, params)
    ]
    assert problems == [], "\n".join(problems)


def test_the_stack_keeps_the_aws_rules_across_requests(program: Program) -> None:
    requests = [(op, params) for r in program.resources for _s, op, params in requests_for(r) or []]
    assert [problem for rule in STACK_RULES for problem in rule(requests)] == []


def test_an_unmapped_type_is_caught() -> None:
    planted = Registered("aws:lambda/function:Function", "planted", {}, {})
    assert requests_for(planted) is None


def test_the_mappings_cover_what_the_issue_lists() -> None:
    assert len(REQUESTS) >= 24 and set(OPAQUE) == {
        "awsx:ec2:DefaultVpc", "awsx:ec2:Vpc", "awsx:ecr:Repository", "awsx:ecr:Image"}  # fmt: skip
