"""The public API's typed arguments: what `JobPlatform` and `ScheduledFargateJob` take.

TypedDicts, because Pulumi's component provider hands a component its args as a dict and its
analyzer (pulumi.provider.experimental) infers the cross-language schema from these
annotations and the docstring under each field. Hence: no `from __future__ import annotations`
(the analyzer reads the annotations as objects), no Union other than Optional/NotRequired,
`str` dict keys, and every type name unique in this one module. Existing resources are plain
ARNs, IDs and names, so the schema depends on no other provider's types.

A key left out takes the default listed in docs/configuration.md (where the stack file has the
same key) or named in its docstring. These docstrings are the only copy: the settings models
(components/settings.py) take the descriptions of the keys they share from here, and
docs/configuration.md is generated from those (python -m tools.config_docs).
"""

import inspect
from collections.abc import Sequence
from typing import NotRequired, TypedDict

import pulumi
from pulumi.provider.experimental.analyzer import Analyzer


class NewVpcArgs(TypedDict):
    """A new VPC (awsx) with private subnets and NAT gateways; tasks get no public IP."""

    cidr_block: NotRequired[str]
    """the VPC's IPv4 range"""
    availability_zones: NotRequired[int]
    """how many availability zones get a public and a private subnet"""
    nat_gateways: NotRequired[str]
    """`Single`: one NAT gateway for every zone; `OnePerAz`: one in each zone"""


class ImageBuildArgs(TypedDict):
    """Build the app image from a Dockerfile with `pulumi up`, into an ECR repository the
    platform owns (needs the `image` extra: pulumi-awsx and Docker)."""

    context: NotRequired[str]
    """the Docker build context, a directory"""
    dockerfile: NotRequired[str]
    """the Dockerfile to build"""
    architecture: NotRequired[str]
    """`X86_64` (default) or `ARM64`: the platform the image is built for"""
    args: NotRequired[dict[str, str]]
    """Docker build args (`ARG` values), such as `{"RUNTIME_IMAGE": "<image>"}` for the own-job
    image template (examples/own-job-image)"""


class AuroraArgs(TypedDict):
    """The aurora jobs' database: Aurora MySQL Serverless v2, created (security group with 3306
    from the tasks only, subnet group on the tasks' subnets, TLS-only parameter group, cluster
    with its master password in a secret RDS manages, one writer) or an existing cluster
    ([outgrowing the sidecar](outgrowing-the-sidecar.md))."""

    existing_cluster: NotRequired[str]
    """an existing cluster's identifier (its password managed by RDS in Secrets Manager; open
    3306 on it to the tasks' security group yourself; the keys below are then refused); none:
    one is created with the keys below, if a job uses it"""
    engine_version: NotRequired[str]
    """Aurora MySQL 3, `8.0.mysql_aurora.3.XX.Y`; 3.08.0 or later for `minCapacity` 0"""
    min_capacity: NotRequired[float]
    """ACUs in half steps; 0 pauses the cluster after `secondsUntilAutoPause` without
    connections (it resumes on the next run's connection, in about 15–30 s)"""
    max_capacity: NotRequired[float]
    """ACUs in half steps, at least 1 and `minCapacity`, at most 256"""
    seconds_until_auto_pause: NotRequired[int]
    """idle time before a pause (with `minCapacity` 0), 300–86,400 s"""
    deletion_protection: NotRequired[bool]
    """refuse to delete the cluster (turn off before removing it from a stack)"""
    backup_retention_days: NotRequired[int]
    """days; each run reloads its data and drops it, so backups protect little"""
    storage_type: NotRequired[str]
    """`aurora-iopt1` (I/O-Optimized: cheaper for bulk loads) or `aurora` (Standard, billed per
    I/O)"""


class JobPlatformArgs(TypedDict):
    """What the jobs share: network, data bucket, ECS cluster, alerts topic and app image.
    Each is referenced when given (nothing is created for it, nothing of it is changed) and
    created otherwise."""

    name_prefix: str
    """starts its jobs' names (`<namePrefix>-<job>`): the alerts topic it creates admits alarms
    and rules named after these jobs only. What the platform creates is named after the
    platform's own resource name (Pulumi's auto-naming: `<name>-cluster-<random>`, …)"""
    job_names: NotRequired[list[str]]
    """the jobs whose alarms and rules may publish to the created alerts topic (each
    `<namePrefix>-<job>-*`); none: any named `<namePrefix>-*`"""
    vpc_id: NotRequired[pulumi.Input[str]]
    """an existing VPC, with `subnetIds` (the tasks' security group is created in it unless
    `securityGroupIds` is given); none: the account's default VPC, or `newVpc`"""
    subnet_ids: NotRequired[pulumi.Input[Sequence[pulumi.Input[str]]]]
    """existing subnets the tasks run in (1–16)"""
    assign_public_ip: NotRequired[bool]
    """give tasks a public IP (subnets without a NAT route need one to reach AWS APIs);
    default: true on the default VPC, false otherwise"""
    security_group_ids: NotRequired[pulumi.Input[Sequence[pulumi.Input[str]]]]
    """existing security groups for the tasks (they need outbound HTTPS); none: one is created
    with no ingress and egress on 443 only"""
    new_vpc: NotRequired[NewVpcArgs]
    """create a VPC (instead of `subnetIds` or the default VPC)"""
    cluster_arn: NotRequired[pulumi.Input[str]]
    """an existing ECS cluster (give it the `FARGATE_SPOT` capacity provider for Spot jobs);
    none: one is created with both `FARGATE` and `FARGATE_SPOT`"""
    container_insights: NotRequired[str]
    """`disabled`, `enabled`, `enhanced`"""
    bucket_name: NotRequired[pulumi.Input[str]]
    """an existing bucket, referenced by name as in the article"""
    alerts_topic_arn: NotRequired[pulumi.Input[str]]
    """an existing SNS topic for the alerts (nothing about it is changed: attach the
    statements of the `alertsTopicPolicy` output to its policy so that alarms and rules may
    publish); none: one is created with that policy"""
    alert_email: NotRequired[str]
    """an address subscribed to the stack's alerts topic (confirm the mail SNS sends)"""
    image_repository: NotRequired[str]
    """an ECR repository of the account and region that CI pushes the app image to, with
    `imageDigest`"""
    image_digest: NotRequired[str]
    """the `imageRepository` image to run, `sha256:…`"""
    image_build: NotRequired[ImageBuildArgs]
    """build the app image with `pulumi up` (instead of `imageRepository`)"""
    log_retention_days: NotRequired[int]
    """a CloudWatch Logs value: 1, 3, 5, 7, 14, 30, 60, 90, … 3653"""
    aurora: NotRequired[AuroraArgs]
    """the database of the jobs with `databaseServer: aurora`; none: no such job"""


class ScheduledFargateJobArgs(TypedDict):
    """One scheduled job on existing (or `JobPlatform`'s) cluster, subnets, security groups,
    bucket, alerts topic and image. Every job key has the article's value or a safe default."""

    name_prefix: str
    """the job's full name is `<namePrefix>-<jobName>`: its task definition family, schedule,
    state machines, log groups, queues, alarms and rule start with it"""
    job_name: NotRequired[str]
    """the job's name under `namePrefix` (2–24 of `a-z0-9-`); none: the resource's name. Give
    it when two prefixes in one program have a job of the same name: the resource names (which
    Pulumi needs unique) differ, such as `a-nightly` and `b-nightly` for `nightly`"""
    cluster_arn: pulumi.Input[str]
    """the ECS cluster the tasks run in"""
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """the subnets the tasks run in"""
    security_group_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """the tasks' security groups"""
    assign_public_ip: NotRequired[pulumi.Input[bool]]
    """give the task a public IP (default false; subnets without a NAT route need one)"""
    bucket_name: pulumi.Input[str]
    """the data bucket: the task may read, write and delete only under `s3Prefix`"""
    alerts_topic_arn: pulumi.Input[str]
    """the SNS topic the job's alerts go to (its policy must admit the job's alarms and
    rules: `JobPlatform`'s `alertsTopicPolicy`)"""
    image_uri: pulumi.Input[str]
    """the app image the task runs"""
    log_retention_days: NotRequired[int]
    """a CloudWatch Logs value: 1, 3, 5, 7, 14, 30, 60, 90, … 3653"""
    database_endpoint: NotRequired[pulumi.Input[str]]
    """with `databaseServer: aurora`: the cluster's writer endpoint (`JobPlatform`'s
    `databaseEndpoint`)"""
    database_secret_arn: NotRequired[pulumi.Input[str]]
    """with `databaseServer: aurora`: the cluster's master user secret, managed by RDS (its
    `username` and `password` keys)"""
    database_secret_kms_key_id: NotRequired[pulumi.Input[str]]
    """the KMS key of that secret, when you know it (the execution role may decrypt with it
    through Secrets Manager only)"""

    schedule: NotRequired[str]
    """EventBridge Scheduler `cron()` (6 fields, `?` in day-of-month or day-of-week),
    `rate(N unit)`, `at(yyyy-mm-ddThh:mm:ss)`"""
    timezone: NotRequired[str]
    """an IANA time zone"""
    enabled: NotRequired[bool]
    """schedule state"""
    flexible_window_minutes: NotRequired[int]
    """how long after its time Scheduler may start a run; `0` starts it at the exact time"""
    start_date: NotRequired[str]
    """no run before this UTC timestamp, such as `2030-01-01T00:00:00Z` (before `endDate`,
    compared as times); no earlier than 5 minutes before the deploy (CreateSchedule rejects
    it; checked when the stack loads, so remove a `cron()` or `at()` start date once it has
    passed). Required by `rate()`: its first slot, which the run's and the watchdog's schedules
    share, kept once passed ([schedules](schedules.md#rate))"""
    end_date: NotRequired[str]
    """no run after this UTC timestamp, such as `2030-01-01T00:00:00Z`"""
    cpu: NotRequired[int]
    """CPU units (1024 = 1 vCPU): 256, 512, 1024, 2048, 4096, 8192 or 16384"""
    memory: NotRequired[int]
    """MiB, a valid Fargate combination with `cpu` (256/512–2048 … 16384/32768–122880)"""
    ephemeral_storage_gib: NotRequired[int]
    """the task's ephemeral storage, GiB"""
    architecture: NotRequired[str]
    """`X86_64`, `ARM64` (jobs sharing a built image share one)"""
    capacity: NotRequired[str]
    """`FARGATE` (launch type) or `FARGATE_SPOT` (capacity provider; X86_64 on platform
    1.3.0 or later, ARM64 on 1.4.0 or later, which `LATEST` and `1.4.0` both are:
    [CapacityProviderStrategyItem](https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CapacityProviderStrategyItem.html))"""
    platform_version: NotRequired[str]
    """`LATEST`, `1.4.0`"""
    mysql_image: NotRequired[str]
    """the sidecar image (8.4 LTS; 8.0 is end-of-life), from ECR Public's copy of the Docker
    official image (Docker Hub limits anonymous pulls per NAT address). Pin a digest for fully
    repeatable runs ([how](#pin-the-sidecar-image))"""
    database: NotRequired[str]
    """the database the sidecar creates and the job uses (`DB_DATABASE`); an SQL identifier"""
    db_username: NotRequired[str]
    """the user the sidecar creates and the job connects as (`DB_USERNAME`); an SQL
    identifier"""
    s3_prefix: str
    """ends with `/`; the task role may read, write and delete only keys under it, so two jobs'
    prefixes may not overlap (`""` overlaps every prefix); the job reads `<prefix>input/`, writes
    `<prefix>output/<job's full name>/run=<time>/` ([ownership](ownership.md))"""
    etl_job: NotRequired[str]
    """`ETL_JOB`: a job folder inside the image"""
    environment: NotRequired[dict[str, str]]
    """extra plain variables; reserved names and secret-looking names (`*PASSWORD*`,
    `*TOKEN*`, `*SECRET*`, `*API_KEY*` …) are refused"""
    database_server: NotRequired[str]
    """`sidecar`: MySQL in the task, loaded on every run; `aurora`: the stack's Aurora
    cluster, each run in a schema and user of its own
    ([outgrowing the sidecar](outgrowing-the-sidecar.md))"""
    export_path: NotRequired[str]
    """`shared`: a task volume shared with the sidecar, `SELECT … INTO OUTFILE` (fast);
    `stream`: rows over the connection (see [Performance](performance.md))"""
    missed_run_grace_minutes: NotRequired[int]
    """how long after its slot (plus `flexibleWindowMinutes`) a run must have started before
    the watchdog alerts *missed*; at least `maxEventAgeSeconds` (Scheduler may still deliver
    the slot that late)"""
    retry_attempts: NotRequired[int]
    """Scheduler's retries of its own `StartExecution` call, not of the run"""
    max_event_age_seconds: NotRequired[int]
    """how long Scheduler keeps retrying its `StartExecution` call, not the run"""
    timeout_minutes: NotRequired[int]
    """a run still going after this is stopped by the job's state machine (ECS has no limit of
    its own) and ends *timed-out*"""
    run_retries: NotRequired[int]
    """retries of a failed run (non-zero exit, task that did not start), same
    `SCHEDULED_TIME`"""
    retry_interval_seconds: NotRequired[int]
    """wait before the first retry, doubling after each"""
    accept_daylight_saving_changes: NotRequired[bool]
    """run a `cron()`/`at()` time that a clock change of `timezone` skips or repeats anyway
    (Scheduler skips it or runs it once; refused otherwise,
    [schedules](schedules.md#daylight-saving))"""
    spot_fallback: NotRequired[bool]
    """a `FARGATE_SPOT` run that RunTask does not place (no Spot capacity) or that Spot
    interrupts reruns on `FARGATE` once, without using a retry"""


# The keys of ScheduledFargateJobArgs that reference resources rather than shape the job
# (everything else is a key of a stack file's job, validated by JobSettings).
JOB_RESOURCE_KEYS = frozenset(
    {
        "name_prefix",
        "job_name",
        "cluster_arn",
        "subnet_ids",
        "security_group_ids",
        "assign_public_ip",
        "bucket_name",
        "alerts_topic_arn",
        "image_uri",
        "log_retention_days",
        "database_endpoint",
        "database_secret_arn",
        "database_secret_kms_key_id",
    }
)


def field_docs(args: type) -> dict[str, str]:
    """Each field's docstring, read as the schema reads it (Pulumi's analyzer), cleaned like
    pydantic cleans attribute docstrings."""
    analyzer = Analyzer("docs")
    return {
        name: inspect.cleandoc(doc)
        for name in inspect.get_annotations(args)
        if (doc := analyzer.get_docstring(args, name)) is not None
    }
