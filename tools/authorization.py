"""The authorization table of a rendered stack, and docs/authorization.md written from it.

    python -m tools.authorization            # print the page
    python -m tools.authorization --write    # write docs/authorization.md

The facts each call names (ARNs, the app's bucket and prefixes, the log group) are read from
what the program declares under the offline mocks (tools/offline.py), so the table follows the
stacks; components/specs/authorization.py turns them into calls. A test checks the page.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Iterator
from typing import Any

from components.specs import authorization, names, policies
from components.specs.authorization import Call, JobFacts, Schedule
from tools.offline import ACCOUNT, ROOT, Program, Registered, rendered

DOC = ROOT / "docs" / "authorization.md"
DOC_STACK = "prod"  # the article's system: an existing bucket, two jobs on their own prefixes
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
OPERATOR_ROLE = "etl-operator"  # stands for whoever runs tools/; not created by the stack


def walk(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


def _run_task_cluster(definition: dict[str, Any]) -> str:
    """The cluster the run machine's RunTask state names."""
    for state in walk(definition):
        if str(state.get("Resource", "")).startswith("arn:aws:states:::ecs:runTask"):
            return str(state["Parameters"]["Cluster"])
    raise ValueError("the run machine has no RunTask state")


def _repository_arn(image: str, partition: str) -> str | None:
    """The ECR repository of `account.dkr.ecr.region.amazonaws.com/name[@digest|:tag]`."""
    host, _, path = image.partition("/")
    if ".dkr.ecr." not in host:
        return None  # e.g. ECR Public, pulled anonymously
    account, region = host.split(".")[0], host.split(".")[3]
    name = path.split("@")[0].split(":")[0]
    return f"arn:{partition}:ecr:{region}:{account}:repository/{name}"


def job_facts(program: Program, topic_arn: str | None = None) -> list[JobFacts]:
    """One JobFacts per task definition the program declares; its alerts go to the topic it
    declares, or to `topic_arn` (an existing topic the program was given)."""
    machines = {m.inputs["name"]: m for m in program.of_type("aws:sfn/stateMachine:StateMachine")}
    if topic_arn is None:
        [topic] = program.of_type("aws:sns/topic:Topic")
        topic_arn = str(topic.outputs["arn"])
    buckets = {
        b.outputs["bucket"]: b.outputs["arn"] for b in program.of_type("aws:s3/bucket:Bucket")
    }
    by_id = {f"{b.name}-id": b.outputs["bucket"] for b in program.of_type("aws:s3/bucket:Bucket")}
    logging = {by_id[r.inputs["bucket"]]: buckets[r.inputs["targetBucket"]]
               for r in program.of_type("aws:s3/bucketLogging:BucketLogging")}  # fmt: skip
    facts = []
    for task in program.of_type("aws:ecs/taskDefinition:TaskDefinition"):
        family = task.inputs["family"]
        run, watch = machines[family], machines[names.watchdog_name(family)]
        definition = json.loads(run.inputs["definition"])
        cluster = _run_task_cluster(definition)
        capacity = sorted({str(s["CapacityProvider"]) for s in walk(definition)
                           if "CapacityProvider" in s})  # fmt: skip
        partition = cluster.split(":")[1]
        containers = json.loads(task.inputs["containerDefinitions"])
        [app] = [c for c in containers
                 if any(e["name"] == "DATA_BUCKET" for e in c.get("environment", []))]  # fmt: skip
        env = {e["name"]: e["value"] for e in app["environment"]}
        [secret] = {":".join(s["valueFrom"].split(":")[:7]) for c in containers
                    for s in c.get("secrets", [])}  # fmt: skip
        [group] = {c["logConfiguration"]["options"]["awslogs-group"] for c in containers}
        streams = tuple((c["logConfiguration"]["options"]["awslogs-stream-prefix"], c["name"])
                        for c in containers)  # fmt: skip
        schedules = tuple(sorted(  # sorted: registration order is not fixed
            _schedules(program, {run.outputs["arn"], watch.outputs["arn"]}), key=lambda s: s.name
        ))  # fmt: skip
        # This job's rules: those whose pattern names its run machine.
        # Exactly, not as a substring: job `x`'s machine ARN is a prefix of job `x-eu`'s.
        mine = {
            r.outputs["arn"]
            for r in program.of_type("aws:cloudwatch/eventRule:EventRule")
            if run.outputs["arn"] in _pattern_machines(r.inputs.get("eventPattern"))
        }
        rules = tuple(r for r in rules_to(program, topic_arn) if r in mine)
        rule_queues = tuple(
            (rule, queue) for rule, queue in rule_dead_letters(program, topic_arn) if rule in mine
        )
        queues = {s.dead_letter_arn.split(":")[-1] for s in schedules}
        queues |= {queue.split(":")[-1] for _, queue in rule_queues}
        alarms = tuple(sorted(  # sorted: registration order is not fixed
            a.outputs["arn"] for a in program.of_type(ALARM)
            if topic_arn in a.inputs.get("alarmActions", [])
            and a.inputs.get("dimensions", {}).get("QueueName") in queues))  # fmt: skip
        bucket = env["DATA_BUCKET"]
        account = cluster.split(":")[4]
        facts.append(
            JobFacts(
                cluster_arn=cluster,
                task_definition_arn=task.outputs["arn"],
                execution_role_arn=task.inputs["executionRoleArn"],
                task_role_arn=task.inputs["taskRoleArn"],
                run_machine_arn=run.outputs["arn"],
                run_role_arn=run.inputs["roleArn"],
                watchdog_arn=watch.outputs["arn"],
                watchdog_role_arn=watch.inputs["roleArn"],
                topic_arn=topic_arn,
                schedules=schedules,
                bucket=bucket,
                input_prefix=env["INPUT_PREFIX"],
                output_prefix=env["OUTPUT_PREFIX"],
                job_name=env["JOB_NAME"],
                secret_arn=secret,
                log_group=group,
                log_streams=streams,
                image_repository_arn=_repository_arn(app["image"], partition),
                alarm_arns=alarms,
                rule_arns=rules,
                rule_dead_letters=rule_queues,
                capacity_providers=tuple(capacity),
                access_log=(logging[bucket], buckets[bucket]) if bucket in logging else None,
                operator_arn=f"arn:{partition}:iam::{account}:role/{OPERATOR_ROLE}",
            )
        )
    return sorted(facts, key=lambda f: f.job_name)  # registration order is not fixed


def _pattern_machines(pattern: str | None) -> list[str]:
    """The state machine ARNs an EventBridge event pattern names (detail.stateMachineArn)."""
    machines = json.loads(pattern or "{}").get("detail", {}).get("stateMachineArn", [])
    return [m for m in machines if isinstance(m, str)]


def rules_to(program: Program, target_arn: str) -> tuple[str, ...]:
    """The EventBridge rules of the stack with `target_arn` as a target."""
    rules = {r.inputs["name"]: r.outputs["arn"]
             for r in program.of_type("aws:cloudwatch/eventRule:EventRule")}  # fmt: skip
    targets = program.of_type("aws:cloudwatch/eventTarget:EventTarget")
    return tuple(
        sorted({rules[t.inputs["rule"]] for t in targets if t.inputs["arn"] == target_arn})
    )


def rule_dead_letters(program: Program, target_arn: str) -> tuple[tuple[str, str], ...]:
    """(rule ARN, queue ARN) of each rule targeting `target_arn` with a dead-letter queue."""
    rules = {r.inputs["name"]: r.outputs["arn"]
             for r in program.of_type("aws:cloudwatch/eventRule:EventRule")}  # fmt: skip
    return tuple(sorted(
        (rules[t.inputs["rule"]], t.inputs["deadLetterConfig"]["arn"])
        for t in program.of_type("aws:cloudwatch/eventTarget:EventTarget")
        if t.inputs["arn"] == target_arn and "deadLetterConfig" in t.inputs
    ))  # fmt: skip


def _schedules(program: Program, machine_arns: set[str]) -> Iterator[Schedule]:
    for schedule in program.of_type("aws:scheduler/schedule:Schedule"):
        target = schedule.inputs["target"]
        if target["arn"] in machine_arns:
            yield Schedule(schedule.inputs["name"], target["roleArn"], target["arn"],
                           target["deadLetterConfig"]["arn"])  # fmt: skip


def operator_policy(job: JobFacts) -> dict[str, Any]:
    """policies.operator_policy for one job's facts."""
    family = job.task_definition_arn.rsplit(":", 1)[0]
    return policies.operator_policy(
        [job.run_machine_arn], family, job.cluster_arn,
        [job.execution_role_arn, job.task_role_arn], job.bucket_arn,
        (job.input_prefix, job.output_prefix),
    )  # fmt: skip


def role_of(program: Program, arn: str) -> Registered | None:
    roles = [r for r in program.of_type("aws:iam/role:Role") if r.outputs["arn"] == arn]
    return roles[0] if roles else None


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace(ACCOUNT, "<account>")


def _rows(calls: list[Call]) -> list[str]:
    """One table row per request, calls that differ only in their action on one row."""
    merged: list[tuple[Call, list[str]]] = []
    for call in calls:
        if merged and dataclasses.replace(merged[-1][0], action=call.action) == call:
            merged[-1][1].append(call.action)
        else:
            merged.append((call, [call.action]))
    rows = []
    for call, actions in merged:
        context = "<br>".join(f"`{k}` = `{v}`" for k, v in sorted(call.context.items()))
        named = call.principal.rpartition("/")[2] if ":role/" in call.principal else call.principal
        cells = [f"{call.who}<br>`{named}`", call.what, "<br>".join(f"`{a}`" for a in actions),
                 f"`{call.resource}`", context or "—", f"[doc]({call.source})"]  # fmt: skip
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return rows


def render(program: Program) -> str:
    """docs/authorization.md for DOC_STACK's first job."""
    job = job_facts(program)[0]
    rows = _rows(authorization.calls(job))
    operator = json.dumps(operator_policy(job), indent=2).replace(ACCOUNT, "<account>")
    return TEMPLATE.format(
        stack=DOC_STACK, job=_cell(job.job_name), rows="\n".join(rows), operator=operator
    )


TEMPLATE = """# Authorization: every AWS call, and the statement that allows it

<!-- Generated by `python -m tools.authorization --write` from components/specs/authorization.py
and the {stack} stack as the program declares it; tests/infra/test_authorization.py fails when
this page and the table differ. Do not edit by hand. -->

Each row is one request as IAM evaluates it: the principal, the action, the resource ARN AWS
authorizes it against, and the condition keys the request carries (with their values). The
table below is one job of the `{stack}` stack, `{job}`, with the fake account of the offline
tests shown as `<account>`; every job of every stack has the same rows with its own names
(dev and staging also have the rows of their created bucket's access logs, and their bucket's
TLS-only policy takes part in the evaluation). Requests that differ only in their action share
a row.

`tests/infra/test_authorization.py` evaluates, for every job of every committed stack, each row
against the policy documents the program declares (the role's inline policies, its managed
policy, and the resource's own policy: the bucket's, the topic's) with a small IAM evaluator
(`tests/iam_evaluator.py`: Allow/Deny, `*`/`?` wildcards, `ArnEquals`/`ArnLike`/
`StringEquals`/`StringLike`/`Bool`/`Null`, `…IfExists`; none of moto, principalmapper,
parliament or policyuniverse evaluates conditions correctly, the file says why). Every row must
be allowed. The same rows with one thing changed must be denied: another cluster, another
task-definition family, another bucket, another prefix (jobs with an `s3Prefix`), another state
machine, `iam:PassedToService` naming another service, an alarm or rule of another stack (for the
topic and the rules' dead-letter queues).

## The calls

| Principal | Call | Action | Resource | Condition keys in the request | Source |
| --- | --- | --- | --- | --- | --- |
{rows}

Notes:
- `ecs:ListTasks` is authorized on `*`; the `ecs:cluster` condition key scopes it. The Service
  Authorization Reference lists a `container-instance` resource for it, which does not apply
  to listing a cluster's tasks: see the denial quoted in cdklabs/construct-hub PR #1207.
- `s3:ListBucketMultipartUploads` carries no `s3:prefix` key (Service Authorization
  Reference), so the task role may list the uploads of the whole bucket (not read them).
- The execution role's `AmazonECSTaskExecutionRolePolicy` allows ECR pulls and log writes on
  `*`: the rows are allowed, but another repository or log group would be too (AWS's managed
  policy; a scoped inline policy would need the repository ARN at deploy time).
- The `.sync` managed rule is shared by every state machine of the account and region that
  runs ECS tasks with `.sync`; the role may change it (PutRule/PutTargets), as AWS requires.

## The operator policy (tools/)

The stack does not create an operator role. This is the least a person needs for `tools/` on
this job (`components/specs/policies.py: operator_policy`), evaluated against the operator
rows above:

```json
{operator}
```

## What only AWS can show

The evaluator checks documents against requests as the documentation describes them. Only a
real account shows:
- that each service sends the request described here (resource and condition keys): e.g. that
  Step Functions' `runTask.sync` calls `events:PutRule` on that rule name, that ECS checks
  `iam:PassRole` with `iam:PassedToService` = `ecs-tasks.amazonaws.com`, that awslogs names
  its streams `prefix/container/task-id`, that ListTasks is checked on `*` with `ecs:cluster`;
- what sits above the roles: Organizations SCPs and RCPs, permission boundaries, a bucket
  policy of an existing bucket (prod), VPC endpoint policies, KMS key policies;
- whether the account's IAM policy simulator agrees:
  `aws iam simulate-principal-policy --policy-source-arn <role> --action-names ecs:ListTasks
  --resource-arns '*' --context-entries ContextKeyName=ecs:cluster,...`, row by row, and
  CloudTrail's `AccessDenied` events of a first run.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.authorization", description=__doc__)
    parser.add_argument("--write", action="store_true", help=f"write {DOC.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    page = render(rendered(DOC_STACK))
    if args.write:
        DOC.write_text(page)
        print(f"wrote {DOC}")
    else:
        sys.stdout.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
