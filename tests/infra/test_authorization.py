"""The authorization table evaluated: every call each principal makes at run time
(components/specs/authorization.py) against the policy documents each stack declares, with
tests/iam_evaluator.py. Every call allowed; a near miss (another cluster, family, bucket, prefix,
state machine, service for PassRole, alarm of another stack) denied."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import parliament
import pytest
from iam_evaluator import arn_match, decide
from moto.iam.aws_managed_policies import aws_managed_policies_data

from components.settings import parse_settings
from components.specs import authorization, names
from components.specs.authorization import Call, JobFacts
from components.specs.schedule import run_task_request
from etl.manifest import MANIFEST
from etl.settings import storage_from_env
from tools import authorization as tool
from tools.offline import PROJECT, ROOT, STACKS, Program, Registered, rendered, stack_config

# AWS managed policy documents, as moto ships them (a JSON string).
MANAGED = json.loads(aws_managed_policies_data)


@pytest.fixture
def program(stack: tuple[str, Program]) -> Program:
    return stack[1]


def identity_policies(program: Program, job: JobFacts, principal: str) -> list[dict[str, Any]]:
    """The policy documents of the role `principal`: its inline policies and managed policies
    as the program declares them (the operator's: policies.operator_policy)."""
    if principal == job.operator_arn:
        return [tool.operator_policy(job)]
    role = tool.role_of(program, principal)
    if role is None:
        return []  # a service principal: only the resource's policy speaks for it
    keys = {role.name, f"{role.name}-id"}  # role.name or role.id, as the program passes it
    inline = [json.loads(p.inputs["policy"])
              for p in program.of_type("aws:iam/rolePolicy:RolePolicy")
              if p.inputs["role"] in keys]  # fmt: skip
    managed = [MANAGED[a.inputs["policyArn"].rsplit("/", 1)[1]]["Document"]
               for a in program.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
               if a.inputs["role"] in keys]  # fmt: skip
    return inline + managed


def resource_policy(program: Program, resource: str) -> dict[str, Any] | None:
    """The declared policy of the resource a call names: a bucket's, a topic's or a queue's."""
    for policy in program.of_type("aws:sns/topicPolicy:TopicPolicy"):
        if policy.inputs["arn"] == resource:
            return dict(json.loads(policy.inputs["policy"]))
    for queue in program.of_type("aws:sqs/queue:Queue"):
        if queue.outputs["arn"] == resource and "policy" in queue.inputs:
            return dict(json.loads(queue.inputs["policy"]))
    buckets = {f"{b.name}-id": b.outputs["arn"] for b in program.of_type("aws:s3/bucket:Bucket")}
    for policy in program.of_type("aws:s3/bucketPolicy:BucketPolicy"):
        arn = buckets[policy.inputs["bucket"]]
        if resource == arn or resource.startswith(f"{arn}/"):
            return dict(json.loads(policy.inputs["policy"]))
    return None


def decision(program: Program, job: JobFacts, call: Call) -> str:
    return decide(
        call.principal,
        call.action,
        call.resource,
        call.context,
        identity_policies(program, job, call.principal),
        resource_policy(program, call.resource),
    )


def test_every_call_is_allowed(program: Program) -> None:
    jobs = tool.job_facts(program)
    assert jobs
    for job in jobs:
        calls = authorization.calls(job)
        assert len({c.who for c in calls}) >= 7, calls  # every kind of principal has rows
        refused = [(c.who, c.action, c.resource, c.context, decision(program, job, c))
                   for c in calls if decision(program, job, c) != "Allow"]  # fmt: skip
        assert refused == []


def test_the_run_role_finds_a_timed_out_task_in_its_cluster_only(program: Program) -> None:
    """Issue 18.1: ListTasks is authorized on `*`, scoped by ecs:cluster."""
    for job in tool.job_facts(program):
        [listing] = [c for c in authorization.run_machine_calls(job)
                     if c.action == "ecs:ListTasks"]  # fmt: skip
        assert decision(program, job, listing) == "Allow"
        other = {"ecs:cluster": _other_arn(job.cluster_arn)}
        assert decision(program, job, dataclasses.replace(listing, context=other)) != "Allow"
        assert decision(program, job, dataclasses.replace(listing, context={})) != "Allow"


def _other_arn(arn: str) -> str:
    """The same kind of ARN, for another resource of the same account."""
    head, sep, name = arn.rpartition("/") if "/" in arn else arn.rpartition(":")
    return f"{head}{sep}other-{name}"


def _swap(old: str, new: str) -> Callable[[JobFacts], JobFacts]:
    """Facts with every occurrence of `old` (an ARN or a name) replaced by `new`."""

    def swap(job: JobFacts) -> JobFacts:
        return _replace_strings(job, old, new)

    return swap


def _replace_strings(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, tuple):
        return tuple(_replace_strings(v, old, new) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _replace_strings(getattr(value, f.name), old, new)
                   for f in dataclasses.fields(value)}  # fmt: skip
        return dataclasses.replace(value, **changes)
    return value


def near_misses(job: JobFacts, whole_bucket: bool) -> dict[str, JobFacts]:
    """The job's facts with one thing changed each."""
    family = job.task_definition_arn.rsplit(":", 1)[0]
    misses = {
        "another cluster": _swap(job.cluster_arn, _other_arn(job.cluster_arn))(job),
        "another family": _swap(family, _other_arn(family))(job),
        "another bucket": dataclasses.replace(job, bucket=f"other-{job.bucket}"),
        "another run machine": _swap(job.run_machine_arn, _other_arn(job.run_machine_arn))(job),
        "another target for each schedule": dataclasses.replace(
            job,
            schedules=tuple(
                dataclasses.replace(s, machine_arn=_other_arn(s.machine_arn)) for s in job.schedules
            ),
        ),
        "another pair of task roles": dataclasses.replace(
            job,
            task_role_arn=_other_arn(job.task_role_arn),
            execution_role_arn=_other_arn(job.execution_role_arn),
        ),
    }
    if job.secret_key_arn:  # an aurora job: another secret, another key
        misses["another secret and key"] = dataclasses.replace(
            job,
            secret_arn=_other_arn(job.secret_arn),
            secret_key_arn=_other_arn(job.secret_key_arn),
        )
    if not whole_bucket:  # a job with an s3Prefix owns only that prefix
        misses["another prefix"] = dataclasses.replace(
            job,
            input_prefix=f"other/{job.input_prefix}",
            output_prefix=f"other/{job.output_prefix}",
        )
    return misses


def test_near_misses_are_denied(stack: tuple[str, Program]) -> None:
    name, program = stack
    settings = stack_config(name)[f"{PROJECT}:jobs"]
    prefixed = {names.full_name(name, j): bool(s.get("s3Prefix")) for j, s in settings.items()}
    checked: set[str] = set()
    for job in tool.job_facts(program):
        # A near miss is a call of the same principal whose request changed.
        real = authorization.calls(job)
        for miss, facts in near_misses(job, not prefixed[job.job_name]).items():
            changed = [c for c, r in zip(authorization.calls(facts), real, strict=True)
                       if c != r and c.principal == r.principal]  # fmt: skip
            allowed = [(c.who, c.action, c.resource, c.context) for c in changed
                       if decision(program, job, c) == "Allow"]  # fmt: skip
            assert changed, miss
            assert allowed == [], miss
            checked.add(miss)
    assert {"another cluster", "another family", "another run machine"} <= checked
    if any(j.secret_key_arn for j in tool.job_facts(program)):
        assert "another secret and key" in checked


def test_an_aurora_jobs_key_is_used_through_secrets_manager_only() -> None:
    """The execution role may decrypt with the cluster secret's key for Secrets Manager only."""
    checked = 0
    for stack in STACKS:  # the stacks have an aurora job (staging)
        program = rendered(stack)
        for job in [j for j in tool.job_facts(program) if j.secret_key_arn]:
            [call] = [c for c in authorization.calls(job) if c.action == "kms:Decrypt"]
            assert decision(program, job, call) == "Allow"
            s3 = {"kms:ViaService": f"s3.{job.head[1]}.amazonaws.com"}
            assert decision(program, job, dataclasses.replace(call, context=s3)) == "ImplicitDeny"
            checked += 1
    assert checked


def test_a_prefix_near_miss_is_checked_in_some_stack() -> None:
    """The stacks have a job with an s3Prefix (prod), so `another prefix` is evaluated."""
    assert any(j.get("s3Prefix") for s in STACKS
               for j in stack_config(s)[f"{PROJECT}:jobs"].values())  # fmt: skip


def test_pass_role_to_another_service_is_denied(program: Program) -> None:
    for job in tool.job_facts(program):
        passes = [c for c in authorization.calls(job) if c.action == "iam:PassRole"]
        assert len(passes) == 4  # two roles, by the run machine and by the operator
        for call in passes:
            lambda_ = dataclasses.replace(
                call, context={"iam:PassedToService": "lambda.amazonaws.com"}
            )
            assert decision(program, job, lambda_) != "Allow", call


def test_an_alarm_or_rule_of_another_stack_or_account_may_not_publish(program: Program) -> None:
    for job in tool.job_facts(program):
        sources = [c for c in authorization.service_calls(job) if c.action == "sns:Publish"]
        assert sources
        for call in sources:
            source = call.context["aws:SourceArn"]
            other_stack = {**call.context, "aws:SourceArn": _other_arn(source)}
            other_account = {**call.context, "aws:SourceAccount": "210987654321"}
            for context in (other_stack, other_account):
                assert decision(program, job, dataclasses.replace(call, context=context)) != (
                    "Allow"
                )


def test_only_the_jobs_own_rule_may_dead_letter_into_its_queue(program: Program) -> None:
    for job in tool.job_facts(program):
        sends = [c for c in authorization.service_calls(job) if c.action == "sqs:SendMessage"]
        assert len(sends) == len(job.rule_arns) > 0  # every rule to the topic has its queue
        for call in sends:
            assert decision(program, job, call) == "Allow"
            other_rule = {
                **call.context,
                "aws:SourceArn": _other_arn(call.context["aws:SourceArn"]),
            }
            near = [dataclasses.replace(call, context=other_rule),
                    dataclasses.replace(call, resource=_other_arn(call.resource)),
                    dataclasses.replace(call, principal="sns.amazonaws.com")]  # fmt: skip
            assert [
                decision(program, job, c) for c in near if decision(program, job, c) == "Allow"
            ] == []  # another rule, another queue, another service


def test_access_logs_come_only_from_the_data_bucket(program: Program) -> None:
    deliveries = [c for job in tool.job_facts(program) for c in authorization.service_calls(job)
                  if c.principal == "logging.s3.amazonaws.com"]  # fmt: skip
    has_logging = bool(program.of_type("aws:s3/bucketLogging:BucketLogging"))
    assert bool(deliveries) == has_logging
    for call in deliveries:
        other = {**call.context, "aws:SourceArn": "arn:aws:s3:::another-bucket"}
        job = tool.job_facts(program)[0]
        assert decision(program, job, dataclasses.replace(call, context=other)) != "Allow"


# What each service integration of the state machines calls, as IAM actions (the Step Functions
# guide's IAM page of each integration; SFN_ECS lists runTask.sync's).
INTEGRATIONS = {
    "arn:aws:states:::ecs:runTask.sync": {
        "ecs:RunTask", "ecs:StopTask", "ecs:DescribeTasks", "iam:PassRole",
        "events:PutTargets", "events:PutRule", "events:DescribeRule",
    },
    "arn:aws:states:::sns:publish": {"sns:Publish"},
}  # fmt: skip


def _called_actions(definition: dict[str, Any]) -> set[str]:
    actions: set[str] = set()
    for state in tool.walk(definition):
        resource = str(state.get("Resource", ""))
        if resource.startswith("arn:aws:states:::aws-sdk:"):
            service, api = resource.removeprefix("arn:aws:states:::aws-sdk:").split(":")
            prefix = {"sfn": "states"}.get(service, service)
            actions.add(f"{prefix}:{api[0].upper()}{api[1:]}")
        elif resource.startswith("arn:aws:states:::"):
            actions |= INTEGRATIONS[resource]
    return actions


def test_the_table_covers_every_call_of_the_state_machines(program: Program) -> None:
    """Each API a definition calls has rows for that machine's role, so a new state cannot
    call something the table (and so the evaluation) does not know."""
    for job in tool.job_facts(program):
        machines = {
            m.outputs["arn"]: m for m in program.of_type("aws:sfn/stateMachine:StateMachine")
        }
        for arn, rows in ((job.run_machine_arn, authorization.run_machine_calls(job)),
                          (job.watchdog_arn, authorization.watchdog_calls(job))):  # fmt: skip
            called = _called_actions(json.loads(machines[arn].inputs["definition"]))
            assert called, arn
            assert called <= {c.action for c in rows}, (arn, called - {c.action for c in rows})


def _reference(action: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the service's entry, the action's) in the Service Authorization Reference."""
    service, name = action.split(":")
    for entry in parliament.iam_definition:
        if entry["prefix"] == service:
            for privilege in entry["privileges"]:
                if privilege["privilege"] == name:
                    return dict(entry), dict(privilege)
    raise AssertionError(f"{action} is not in the Service Authorization Reference")


def test_every_action_and_condition_key_is_one_aws_lists(program: Program) -> None:
    """Against the Service Authorization Reference as parliament ships it: the action exists,
    and each condition key is a global `aws:` key or one AWS lists for that action."""
    for job in tool.job_facts(program):
        for call in authorization.calls(job):
            _, privilege = _reference(call.action)
            keys = {k for r in privilege["resource_types"] for k in r["condition_keys"]}
            service_keys = {k for k in call.context if not k.startswith("aws:")}
            assert service_keys <= keys, (call.action, service_keys - keys)


def test_docs_are_the_table() -> None:
    """docs/authorization.md is what `python -m tools.authorization --write` writes."""
    assert tool.DOC.read_text() == tool.render(rendered(tool.DOC_STACK)), (
        "run: python -m tools.authorization --write"
    )


# AWS checks ListTasks on `*` (policies.py: cdklabs/construct-hub#1207), while the reference
# lists a container-instance resource for it: the one named exception.
RESOURCE_TYPE_EXCEPTIONS = {"ecs:ListTasks"}


def _arn_formats(action: str) -> list[str]:
    """The ARN formats of the resource types the reference lists for `action`, as globs."""
    entry, privilege = _reference(action)
    formats = {r["resource"]: r["arn"] for r in entry["resources"]}
    types = [t["resource_type"].rstrip("*") for t in privilege["resource_types"]]
    return [re.sub(r"\$\{[^}]*\}", "*", formats[t]) for t in types if t]


def test_every_resource_is_of_a_type_aws_lists_for_its_action(program: Program) -> None:
    for job in tool.job_facts(program):
        for call in authorization.calls(job):
            formats = _arn_formats(call.action)
            if call.resource == "*":
                assert not formats or call.action in RESOURCE_TYPE_EXCEPTIONS, call
            else:
                assert any(arn_match(f, call.resource) for f in formats), (call, formats)


# SDK operations the code calls -> the IAM actions AWS checks (the Service Authorization
# Reference's "API operations" table of each service: authorization.S3_SAR, SFN_SAR).
# upload_file is boto3's managed transfer: PutObject or Create/UploadPart/CompleteMultipart-
# Upload (s3:PutObject), AbortMultipartUpload when a part fails.
SDK_ACTIONS = {
    "get_object": {"s3:GetObject"},
    "put_object": {"s3:PutObject"},
    "delete_object": {"s3:DeleteObject"},
    "delete_objects": {"s3:DeleteObject"},
    "abort_multipart_upload": {"s3:AbortMultipartUpload"},
    "upload_file": {"s3:PutObject", "s3:AbortMultipartUpload"},
    "list_objects_v2": {"s3:ListBucket"},
    "list_multipart_uploads": {"s3:ListBucketMultipartUploads"},
    "start_execution": {"states:StartExecution"},
    "describe_execution": {"states:DescribeExecution"},
}
# Who runs which code: the task role runs the job (etl/ but its tools), the operator the rest.
OPERATOR_CODE = ("etl/runs.py", "etl/sample.py", "tools/")
_SDK_CALL = re.compile(r"\b(?:s3|store|sfn)\.([a-z0-9_]+)\(|get_paginator\(\"([a-z0-9_]+)\"\)")


def _sdk_calls(path: Path) -> set[str]:
    found = {a or b for a, b in _SDK_CALL.findall(path.read_text())}
    return found - {"get_paginator"}


def test_the_table_covers_every_sdk_call_of_the_code(program: Program) -> None:
    """Each AWS SDK operation etl/ and tools/ call is in SDK_ACTIONS (a new one fails here
    until it is mapped), and its actions have rows for the principal that runs that code."""
    job = tool.job_facts(program)[0]
    rows: dict[str, set[str]] = {"task": set(), "operator": set()}
    for call in authorization.task_role_calls(job):
        rows["task"].add(call.action)
    for call in authorization.operator_calls(job):
        rows["operator"].add(call.action)
    seen = set()
    for path in sorted([*ROOT.glob("etl/*.py"), *ROOT.glob("tools/*.py")]):
        name = str(path.relative_to(ROOT))
        if name == "etl/local.py":
            continue  # the local stand-in for the bucket: it defines these methods
        for operation in _sdk_calls(path):
            assert operation in SDK_ACTIONS, (name, operation)
            who = "operator" if name.startswith(OPERATOR_CODE) else "task"
            assert SDK_ACTIONS[operation] <= rows[who], (name, operation, who)
            seen.add(operation)
    assert {"get_object", "put_object", "upload_file", "start_execution"} <= seen


def test_rules_that_target_the_topic_become_rows() -> None:
    """EventBridge rules publishing to the alerts topic get rows, other rules none."""
    topic = "arn:aws:sns:eu-west-1:123456789012:alerts"
    rule = "arn:aws:events:eu-west-1:123456789012:rule/run-failed"
    program = Program(
        [
            Registered("aws:cloudwatch/eventRule:EventRule", "r", {"name": "run-failed"},
                       {"arn": rule}),
            Registered("aws:cloudwatch/eventRule:EventRule", "o", {"name": "other"},
                       {"arn": rule.replace("run-failed", "other")}),
            Registered("aws:cloudwatch/eventTarget:EventTarget", "t",
                       {"rule": "run-failed", "arn": topic}, {}),
            Registered("aws:cloudwatch/eventTarget:EventTarget", "u",
                       {"rule": "other", "arn": "arn:aws:sqs:eu-west-1:123456789012:q"}, {}),
        ],
        {},
    )  # fmt: skip
    assert tool.rules_to(program, topic) == (rule,)


def test_the_operator_policy_passes_parliament(program: Program) -> None:
    """Not declared by the stack, so test_security.py does not lint it: linted here."""
    for job in tool.job_facts(program):
        document = json.dumps(tool.operator_policy(job))
        assert parliament.analyze_policy_string(document).findings == []


def test_the_tables_keys_are_the_jobs_keys(program: Program) -> None:
    """The lock and manifest keys in the rows are those etl/ derives from the environment the
    program gives the app container."""
    for task in program.of_type("aws:ecs/taskDefinition:TaskDefinition"):
        containers = json.loads(task.inputs["containerDefinitions"])
        [env] = [{e["name"]: e["value"] for e in c["environment"]} for c in containers
                 if any(e["name"] == "DATA_BUCKET" for e in c.get("environment", []))]  # fmt: skip
        storage = storage_from_env(env)
        [job] = [j for j in tool.job_facts(program) if j.job_name == storage.job_name]
        assert (job.bucket, job.lock_key) == (storage.data_bucket, storage.lock_key)
        keys = {c.resource for c in authorization.task_role_calls(job)}
        assert job.object_arn(storage.lock_key) in keys
        assert job.object_arn(f"{job.run_root}{MANIFEST}") in keys


def test_every_delivery_to_the_topic_or_a_dead_letter_queue_has_a_row(program: Program) -> None:
    """Each alarm with the topic as its action (the schedules' queues and the unplanned-end
    rules' queues alike) publishes through the topic's policy, and each EventBridge target's
    dead-letter queue receives through the queue's policy: both have rows, allowed, and a rule
    of another stack may not send to the queue."""
    [topic] = program.of_type("aws:sns/topic:Topic")
    alarms = {a.outputs["arn"] for a in program.of_type(tool.ALARM)
              if topic.outputs["arn"] in a.inputs.get("alarmActions", [])}  # fmt: skip
    queues = {t.inputs["deadLetterConfig"]["arn"]
              for t in program.of_type("aws:cloudwatch/eventTarget:EventTarget")
              if t.inputs.get("deadLetterConfig")}  # fmt: skip
    rows = [c for job in tool.job_facts(program) for c in authorization.service_calls(job)]
    published = {c.context["aws:SourceArn"] for c in rows
                 if c.principal == "cloudwatch.amazonaws.com"}  # fmt: skip
    sent = [c for c in rows if c.action == "sqs:SendMessage"]
    assert alarms and alarms <= published, alarms - published
    assert queues and queues <= {c.resource for c in sent}, queues
    job = tool.job_facts(program)[0]
    for call in sent:
        assert call.principal == "events.amazonaws.com"
        assert decision(program, job, call) == "Allow", call
        other = {**call.context, "aws:SourceArn": _other_arn(call.context["aws:SourceArn"])}
        assert decision(program, job, dataclasses.replace(call, context=other)) != "Allow"


def test_the_operators_run_task_command_may_tag_the_task_it_starts(program: Program) -> None:
    """The `run_task_command` output propagates the task definition's tags (the stacks'
    aws:defaultTags) and adds ECS managed tags, so ECS authorizes ecs:TagResource on the new
    task (ecs:CreateAction = RunTask), as for the run machine: the operator needs it too, in
    that cluster only (authorization.ECS_TAGGING)."""
    raw = {"image": {"build": {}}, "jobs": {"nightly": {"schedule": "cron(0 4 * * ? *)"}}}
    request = run_task_request(
        parse_settings(raw).jobs["nightly"], cluster="c", task_definition_arn="t", subnet_ids=["s"],
        security_group_ids=["g"], assign_public_ip=False,
    )  # fmt: skip
    assert request["propagateTags"] and request["enableECSManagedTags"]
    for job in tool.job_facts(program):
        [tagging] = [c for c in authorization.operator_calls(job)
                     if c.action == "ecs:TagResource"]  # fmt: skip
        assert tagging.context == {"ecs:CreateAction": "RunTask"}
        assert decision(program, job, tagging) == "Allow"
        other = _swap(job.cluster_arn, _other_arn(job.cluster_arn))(job)
        [elsewhere] = [c for c in authorization.operator_calls(other)
                       if c.action == "ecs:TagResource"]  # fmt: skip
        assert decision(program, job, elsewhere) != "Allow"
        direct = dataclasses.replace(tagging, context={})  # tagging an existing task
        assert decision(program, job, direct) != "Allow"


def test_a_stack_whose_name_extends_this_ones_may_not_publish(
    stack: tuple[str, Program],
) -> None:
    """Stacks `dev` and `dev-eu` in one account: `scheduled-etl-dev-*` also matches the other
    stack's `scheduled-etl-dev-eu-<job>-…` alarms and rules, which would then alert here."""
    name, program = stack
    mine, theirs = f"{PROJECT}-{name}-", f"{PROJECT}-{name}-eu-"
    for job in tool.job_facts(program):
        sources = [c for c in authorization.service_calls(job) if c.action == "sns:Publish"]
        assert sources
        for call in sources:
            assert decision(program, job, call) == "Allow"
            source = call.context["aws:SourceArn"].replace(mine, theirs)
            other = dataclasses.replace(call, context={**call.context, "aws:SourceArn": source})
            assert decision(program, job, other) != "Allow", source


def test_a_jobs_rows_name_only_its_own_rules_and_alarms(program: Program) -> None:
    """prod's `monthly-orders` once got the rows of `monthly-orders-eu`'s rule and alarm: its
    machine's ARN is a prefix of the other's, and rules were matched by substring."""
    for job in tool.job_facts(program):
        full = job.job_name
        assert job.rule_arns and all(r.endswith(f":rule/{full}-ended") for r in job.rule_arns)
        suffixes = ("-dlq-not-empty", "-watch-dlq-not-empty", "-ended-dlq-not-empty")
        assert all(a.split(":alarm:")[1] in {full + s for s in suffixes} for a in job.alarm_arns)
