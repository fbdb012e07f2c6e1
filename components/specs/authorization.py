"""The authorization table (pure data): every AWS call a job's principals make at run time, as
AWS authorizes it — the action, the resource ARN it is checked against, the condition keys with
their values in the request — and the address that says so.

It lives beside policies.py on purpose: whoever changes a policy sees the calls it must allow,
strict mypy checks it, and tools/authorization.py renders docs/authorization.md from it. The
facts (ARNs, bucket, prefixes) are read from what the program declares (tools/authorization.py),
never typed in here, so the table follows every stack. tests/infra/test_authorization.py
evaluates the declared policy documents against each call, and against near misses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from components.specs.sfn_logging import LOG_DELIVERY_ACTIONS

# Where AWS says so (one address per rule; the row's `source` names it).
SFN_ECS = "https://docs.aws.amazon.com/step-functions/latest/dg/ecs-iam.html"
SFN_SNS = "https://docs.aws.amazon.com/step-functions/latest/dg/sns-iam.html"
SFN_LOGS = "https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html"
SFN_SAR = (
    "https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsstepfunctions.html"
)
ECS_SAR = "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerservice.html"
LIST_TASKS = "https://github.com/cdklabs/construct-hub/pull/1207"
ECS_TAGGING = (
    "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/supported-iam-actions-tagging.html"
)
PASS_ROLE = "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html"
EXECUTION_ROLE = (
    "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_execution_IAM_role.html"
)
AWSLOGS = "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using_awslogs.html"
ECS_SECRETS = "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/secrets-envvar-secrets-manager.html"
S3_SAR = "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html"
S3_PREFIX = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/amazon-s3-policy-keys.html"
S3_LOGGING = (
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html"
)
SCHEDULER_ROLE = "https://docs.aws.amazon.com/scheduler/latest/UserGuide/setting-up.html"
SCHEDULER_DLQ = (
    "https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html"
)
SNS_EVENTS = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html"
SNS_SERVICES = "https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-use-cases.html"
EVENTS_DLQ = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html"

ECS_TASKS = "ecs-tasks.amazonaws.com"
SYNC_RULE = "StepFunctionsGetEventsForECSTaskRule"  # the managed rule of runTask.sync
# CloudWatch Logs' log-delivery APIs, for the state machines' logging (sfn_logging.py).
LOG_DELIVERY = tuple(LOG_DELIVERY_ACTIONS)
# Example names for keys and executions the principals create at run time.
SLOT = "20261101T040000Z"
EXECUTION = f"scheduled-{SLOT}"
TASK_ID = "0123456789abcdef0123456789abcdef"


@dataclass(frozen=True)
class Call:
    """One request as IAM sees it. `principal` is a role ARN, or a service principal
    (`….amazonaws.com`) that acts through a resource policy."""

    who: str  # which principal, readable
    principal: str
    what: str  # the API call and why
    action: str
    resource: str
    context: dict[str, str] = field(default_factory=dict)  # condition keys in the request
    source: str = ""


@dataclass(frozen=True)
class Schedule:
    """A schedule: its role starts `machine_arn`, undeliverable starts go to its queue."""

    name: str
    role_arn: str
    machine_arn: str
    dead_letter_arn: str


@dataclass(frozen=True)
class JobFacts:
    """What one job's calls name, as the program declares it."""

    cluster_arn: str
    task_definition_arn: str  # with its revision
    execution_role_arn: str
    task_role_arn: str
    run_machine_arn: str
    run_role_arn: str
    watchdog_arn: str
    watchdog_role_arn: str
    topic_arn: str
    schedules: tuple[Schedule, ...]
    bucket: str  # DATA_BUCKET of the app container
    input_prefix: str  # INPUT_PREFIX
    output_prefix: str  # OUTPUT_PREFIX
    job_name: str  # JOB_NAME: names the lock
    secret_arn: str
    log_group: str  # the containers' awslogs group
    log_streams: tuple[tuple[str, str], ...]  # (awslogs-stream-prefix, container name)
    image_repository_arn: str | None  # the app image's ECR repository (None: not in ECR)
    alarm_arns: tuple[str, ...]  # CloudWatch alarms with the topic as their action
    rule_arns: tuple[str, ...] = ()  # EventBridge rules with the topic as their target
    # (rule ARN, queue ARN): where such a rule puts the events it could not deliver
    rule_dead_letters: tuple[tuple[str, str], ...] = ()
    capacity_providers: tuple[str, ...] = ("FARGATE",)  # those RunTask may name (Spot fallback)
    access_log: tuple[str, str] | None = None  # (log bucket ARN, source bucket ARN)
    operator_arn: str = ""  # who runs tools/ (a role of the account, outside the stack)
    # The KMS key of an Aurora cluster's RDS-managed secret, which an aurora job reads ("": the
    # job's own secret, under Secrets Manager's default key).
    secret_key_arn: str = ""

    @property
    def head(self) -> tuple[str, str, str]:
        """(partition, region, account) of the cluster."""
        parts = self.cluster_arn.split(":")
        return parts[1], parts[3], parts[4]

    @property
    def task_arn(self) -> str:
        cluster = self.cluster_arn.partition(":cluster/")
        return f"{cluster[0]}:task/{cluster[2]}/{TASK_ID}"

    def execution_arn(self, machine_arn: str, name: str = EXECUTION) -> str:
        head, _, machine = machine_arn.partition(":stateMachine:")
        return f"{head}:execution:{machine}:{name}"

    def object_arn(self, key: str) -> str:
        partition = self.head[0]
        return f"arn:{partition}:s3:::{self.bucket}/{key}"

    @property
    def bucket_arn(self) -> str:
        return f"arn:{self.head[0]}:s3:::{self.bucket}"

    @property
    def lock_key(self) -> str:  # etl/settings.py: Settings.lock_key
        return f"{self.output_prefix}_locks/{self.job_name}.lock"

    @property
    def output_folder(self) -> str:  # etl/settings.py: Settings.output_folder (the job's own)
        return f"{self.output_prefix}{self.job_name}/"

    @property
    def run_root(self) -> str:  # etl/settings.py: Settings.output_root
        return f"{self.output_folder}run={SLOT}/"


def _in_cluster(job: JobFacts) -> dict[str, str]:
    return {"ecs:cluster": job.cluster_arn}


def scheduler_calls(job: JobFacts) -> list[Call]:
    calls = []
    for schedule in job.schedules:
        who = f"scheduler role (schedule {schedule.name})"
        calls += [
            Call(who, schedule.role_arn, "StartExecution of its target",
                 "states:StartExecution", schedule.machine_arn, {}, SCHEDULER_ROLE),
            Call(who, schedule.role_arn, "SendMessage of an undeliverable start",
                 "sqs:SendMessage", schedule.dead_letter_arn, {}, SCHEDULER_DLQ),
        ]  # fmt: skip
    return calls


def run_machine_calls(job: JobFacts) -> list[Call]:
    """The run machine's role: runTask.sync (RunTask, PassRole, tags, DescribeTasks, StopTask
    on abort, the managed rule), the timed-out task's lookup, the alert, log delivery."""
    who, role = "run machine role", job.run_role_arn
    partition, region, account = job.head
    rule = f"arn:{partition}:events:{region}:{account}:rule/{SYNC_RULE}"
    calls = [
        Call(who, role, f"RunTask on {capacity} (runTask.sync)", "ecs:RunTask",
             job.task_definition_arn, {**_in_cluster(job), "ecs:capacity-provider": capacity},
             SFN_ECS)
        for capacity in job.capacity_providers
    ]  # fmt: skip
    calls += [
        Call(who, role, "RunTask passes the execution role", "iam:PassRole",
             job.execution_role_arn, {"iam:PassedToService": ECS_TASKS}, PASS_ROLE),
        Call(who, role, "RunTask passes the task role", "iam:PassRole",
             job.task_role_arn, {"iam:PassedToService": ECS_TASKS}, PASS_ROLE),
        Call(who, role, "RunTask propagates the task definition's tags", "ecs:TagResource",
             job.task_arn, {"ecs:CreateAction": "RunTask"}, ECS_TAGGING),
        Call(who, role, "DescribeTasks (runTask.sync polls; FindTimedOutTask)",
             "ecs:DescribeTasks", job.task_arn, _in_cluster(job), SFN_ECS),
        Call(who, role, "StopTask (an aborted or timed-out run)", "ecs:StopTask",
             job.task_arn, _in_cluster(job), SFN_ECS),
        # Authorized on `*`, scoped by ecs:cluster (policies.py says why).
        Call(who, role, "ListTasks (FindTimedOutTask)", "ecs:ListTasks", "*",
             _in_cluster(job), LIST_TASKS),
    ]  # fmt: skip
    calls += [
        Call(who, role, f"{action.split(':')[1]} of the .sync managed rule", action, rule, {},
             SFN_ECS)
        for action in ("events:PutTargets", "events:PutRule", "events:DescribeRule")
    ]  # fmt: skip
    calls.append(Call(who, role, "Publish the run's outcome", "sns:Publish", job.topic_arn,
                      {}, SFN_SNS))  # fmt: skip
    return calls + _log_delivery(who, role)


def watchdog_calls(job: JobFacts) -> list[Call]:
    who, role = "watchdog machine role", job.watchdog_role_arn
    calls = [
        Call(who, role, "ListExecutions of the run machine", "states:ListExecutions",
             job.run_machine_arn, {}, SFN_SAR),
        Call(who, role, "DescribeExecution of a run", "states:DescribeExecution",
             job.execution_arn(job.run_machine_arn), {}, SFN_SAR),
        Call(who, role, "Publish a missed slot", "sns:Publish", job.topic_arn, {}, SFN_SNS),
    ]  # fmt: skip
    return calls + _log_delivery(who, role)


def _log_delivery(who: str, role: str) -> list[Call]:
    return [Call(who, role, "execution logging (log delivery)", action, "*", {}, SFN_LOGS)
            for action in LOG_DELIVERY]  # fmt: skip


def execution_role_calls(job: JobFacts) -> list[Call]:
    """The ECS agent: pull the app image, write both containers' logs, read the secret."""
    who, role = "task execution role", job.execution_role_arn
    _, region, account = job.head
    partition = job.head[0]
    group = f"arn:{partition}:logs:{region}:{account}:log-group:{job.log_group}"
    calls = []
    if job.image_repository_arn is not None:
        calls += [
            Call(who, role, "ECR login", "ecr:GetAuthorizationToken", "*", {}, EXECUTION_ROLE),
            *[Call(who, role, "pull the app image", action, job.image_repository_arn, {},
                   EXECUTION_ROLE)
              for action in ("ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer",
                             "ecr:BatchGetImage")],
        ]  # fmt: skip
    for prefix, container in job.log_streams:
        # awslogs names a task's stream prefix/container/task-id (AWSLOGS).
        resource = f"{group}:log-stream:{prefix}/{container}/{TASK_ID}"
        calls += [Call(who, role, f"awslogs: the {container} container's log", action, resource,
                       {}, AWSLOGS)
                  for action in ("logs:CreateLogStream", "logs:PutLogEvents")]  # fmt: skip
    calls.append(Call(who, role, "inject the database secret", "secretsmanager:GetSecretValue",
                      job.secret_arn, {}, ECS_SECRETS))  # fmt: skip
    if job.secret_key_arn:  # Secrets Manager decrypts the cluster's secret on the role's behalf
        via = {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}
        what = "decrypt the Aurora cluster's secret (through Secrets Manager)"
        calls.append(Call(who, role, what, "kms:Decrypt", job.secret_key_arn, via, ECS_SECRETS))
    return calls


def _listing(who: str, role: str, job: JobFacts, prefix: str, what: str) -> Call:
    return Call(who, role, what, "s3:ListBucket", job.bucket_arn,
                {"s3:prefix": prefix, "aws:SecureTransport": "true"}, S3_PREFIX)  # fmt: skip


def _object(job: JobFacts, action: str, key: str, what: str, *, who: str, role: str) -> Call:
    return Call(who, role, what, action, job.object_arn(key), {"aws:SecureTransport": "true"},
                S3_SAR)  # fmt: skip


def task_role_calls(job: JobFacts) -> list[Call]:
    """The ETL app (etl/): its inputs, its lock, its run folder, multipart uploads."""
    who, role = "task role (the ETL)", job.task_role_arn
    part = f"{job.run_root}orders/part-00000.csv.gz"
    manifest = f"{job.run_root}_manifest.json"
    objects = [
        ("s3:GetObject", f"{job.input_prefix}orders.csv", "GetObject of an input"),
        ("s3:PutObject", job.lock_key, "PutObject of the lock (If-None-Match, If-Match)"),
        ("s3:GetObject", job.lock_key, "GetObject of the lock"),
        ("s3:DeleteObject", job.lock_key, "DeleteObject of the lock"),
        ("s3:AbortMultipartUpload", part, "AbortMultipartUpload of a killed run's part"),
        ("s3:DeleteObject", part, "DeleteObjects of a rerun's folder"),
        ("s3:PutObject", part, "Create/UploadPart/CompleteMultipartUpload of an export"),
        ("s3:PutObject", manifest, "PutObject of the manifest"),
        ("s3:DeleteObject", manifest, "DeleteObject of a rerun's manifest"),
    ]
    return [
        _listing(who, role, job, job.input_prefix, "ListObjectsV2 of the inputs"),
        _listing(who, role, job, job.run_root, "ListObjectsV2 of a rerun's folder"),
        Call(who, role, "ListMultipartUploads of a rerun's folder",
             "s3:ListBucketMultipartUploads", job.bucket_arn, {"aws:SecureTransport": "true"},
             S3_SAR),
        *[_object(job, action, key, what, who=who, role=role) for action, key, what in objects],
    ]  # fmt: skip


def service_calls(job: JobFacts) -> list[Call]:
    """Services acting through resource policies: alarms and EventBridge rules publish to the
    topic, a rule dead-letters what it could not deliver, S3 delivers the data bucket's access
    logs."""
    _, _, account = job.head
    calls = [
        Call("CloudWatch alarm", "cloudwatch.amazonaws.com", "alarm action: Publish",
             "sns:Publish", job.topic_arn,
             {"aws:SourceArn": alarm, "aws:SourceAccount": account}, SNS_SERVICES)
        for alarm in job.alarm_arns
    ]  # fmt: skip
    calls += [
        Call("EventBridge rule", "events.amazonaws.com", "rule target: Publish", "sns:Publish",
             job.topic_arn, {"aws:SourceArn": rule, "aws:SourceAccount": account}, SNS_EVENTS)
        for rule in job.rule_arns
    ]  # fmt: skip
    calls += [
        Call("EventBridge rule", "events.amazonaws.com",
             "rule target's dead-letter queue: SendMessage of an undelivered event",
             "sqs:SendMessage", queue, {"aws:SourceArn": rule, "aws:SourceAccount": account},
             EVENTS_DLQ)
        for rule, queue in job.rule_dead_letters
    ]  # fmt: skip
    if job.access_log is not None:
        log_bucket, source = job.access_log
        key = f"{log_bucket}/{job.bucket}/2026-11-01-04-00-00-0123456789ABCDEF"
        calls.append(Call("S3 server access logging", "logging.s3.amazonaws.com",
                          "deliver the data bucket's access log", "s3:PutObject", key,
                          {"aws:SourceArn": source, "aws:SourceAccount": account,
                           "aws:SecureTransport": "true"}, S3_LOGGING))  # fmt: skip
    return calls


def operator_calls(job: JobFacts) -> list[Call]:
    """A person with tools/: run_now (start and follow executions), the `run_task_command`
    output (aws ecs run-task), `python -m etl runs|show|unlock` on the job's output prefix and
    `python -m etl.sample --bucket` on its input prefix."""
    who, role = "operator (tools/)", job.operator_arn
    run_now = "tools/run_now.py"
    return [
        Call(who, role, f"StartExecution ({run_now})", "states:StartExecution",
             job.run_machine_arn, {}, SFN_SAR),
        Call(who, role, f"DescribeExecution ({run_now})", "states:DescribeExecution",
             job.execution_arn(job.run_machine_arn, f"backfill-{SLOT}-0123abcd"), {}, SFN_SAR),
        Call(who, role, "aws ecs run-task (run_task_command)", "ecs:RunTask",
             job.task_definition_arn, _in_cluster(job), ECS_SAR),
        Call(who, role, "run-task propagates tags, adds ECS managed tags", "ecs:TagResource",
             job.task_arn, {"ecs:CreateAction": "RunTask"}, ECS_TAGGING),
        Call(who, role, "run-task passes the execution role", "iam:PassRole",
             job.execution_role_arn, {"iam:PassedToService": ECS_TASKS}, PASS_ROLE),
        Call(who, role, "run-task passes the task role", "iam:PassRole",
             job.task_role_arn, {"iam:PassedToService": ECS_TASKS}, PASS_ROLE),
        _listing(who, role, job, job.output_folder, "python -m etl runs: ListObjectsV2"),
        _object(job, "s3:GetObject", f"{job.run_root}_manifest.json",
                "python -m etl show: GetObject of a manifest", who=who, role=role),
        _object(job, "s3:GetObject", job.lock_key, "python -m etl runs: the lock",
                who=who, role=role),
        _object(job, "s3:DeleteObject", job.lock_key, "python -m etl unlock", who=who,
                role=role),
        *[_object(job, action, f"{job.input_prefix}orders/orders.csv.gz",
                  "python -m etl.sample --bucket: upload a sample input", who=who, role=role)
          for action in ("s3:PutObject", "s3:AbortMultipartUpload")],
    ]  # fmt: skip


def calls(job: JobFacts) -> list[Call]:
    """Every call of the table for one job, principal by principal."""
    return [
        *scheduler_calls(job),
        *run_machine_calls(job),
        *watchdog_calls(job),
        *execution_role_calls(job),
        *task_role_calls(job),
        *service_calls(job),
        *operator_calls(job),
    ]
