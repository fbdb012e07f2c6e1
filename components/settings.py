"""Stack configuration: read once, validated completely, before any resource exists.

Every key lives under the project namespace (``scheduled-etl:<key>``) in ``Pulumi.<stack>.yaml``.
Defaults reproduce the CDK article: 1 vCPU, 2 GiB, 50 GiB ephemeral storage, 04:00 UTC on the
1st of every month. An invalid value raises :class:`ConfigError`, naming the key, the value and
what is allowed, so ``pulumi up`` stops before it creates anything.
"""

from __future__ import annotations

import collections.abc
import copy
import dataclasses
import difflib
import functools
import inspect
import json
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import available_timezones

import pulumi
from aws_cron_expression_validator.validator import AWSCronExpressionValidator
from pulumi.runtime.config import CONFIG, get_config_env
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel, to_snake

from components.args import (
    JOB_RESOURCE_KEYS,
    AuroraArgs,
    ImageBuildArgs,
    JobPlatformArgs,
    NewVpcArgs,
    ScheduledFargateJobArgs,
    field_docs,
)
from components.specs import names
from components.specs.aws_rules import (
    LOG_RETENTION_DAYS,
    parse_utc,
    start_date_problem,
    utc_timestamp_problem,
)
from components.specs.daylight_saving import GAP, OVERLAP, clock_change_slots
from components.specs.names import PROJECT
from etl.contract import ExportPath, reserved_names

MYSQL_IMAGE = "public.ecr.aws/docker/library/mysql:8.4"

# Fargate's valid task sizes, CPU units -> allowed memory in MiB (Linux, platform 1.4.0):
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html#fargate-tasks-size
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}

# What a job's `environment` may not override: what the platform sets (etl/contract.py).
RESERVED_ENV = reserved_names()
SECRET_LOOKING = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|PRIVATE|API_?KEY|ACCESS_?KEY")

_RATE = re.compile(r"rate\((?P<n>[1-9][0-9]*) (?P<unit>minutes?|hours?|days?)\)")
_CRON = re.compile(r"cron\((?P<fields>[^()]*)\)")
_AT = re.compile(r"at\((?P<when>[^()]*)\)")


HEADER = "invalid stack configuration (nothing was created):"


class ConfigError(pulumi.RunError):
    """Invalid stack configuration. Pulumi prints the message without a stack trace."""


M = TypeVar("M", bound=BaseModel)


def documented_by(args: type) -> Callable[[type[M]], type[M]]:
    """The model's fields without a docstring take the docstring of the public args' field of
    the same name (components/args.py): one text for the stack file's key, the schema and
    docs/configuration.md. A field with a docstring of its own means something else there."""
    docs = field_docs(args)

    def document(model: type[M]) -> type[M]:
        for name, field in model.model_fields.items():
            if name in docs and field.description is None:
                field.description = docs[name]
        model.model_rebuild(force=True)
        return model

    return document


_UNSET: Any = object()  # a Problem without a value to show (a missing key, a whole model)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a stack's configuration, as a person reads it.

    `key` is the dotted path under the project namespace (``jobs.nightly.memory``), `value` what
    the stack file says there, `message` what is wrong and what is allowed. `reads` are the
    paths a cross-field check looked at (default: `key`): when one of them was already reported
    as invalid, the check's own problem is left out rather than reported on a stand-in value.
    """

    key: str
    message: str
    value: Any = _UNSET
    reads: tuple[str, ...] | None = None
    namespace: str = f"{PROJECT}:"  # what the key is under (a component's args: `args.`)
    fix: tuple[str, Any] | None = None
    """a key path and the value that fixes the problem, ending the message as its source
    spells it: a stack file's `scheduled-etl:<key>: <yaml>`, args' `<key>=<Python>`"""
    from_args: bool = False  # a component's args (snake_case keys), not a stack file

    def __str__(self) -> str:
        message = self.message
        if self.fix is not None:
            key, value = self.fix
            message += (f" {key}={value!r}" if self.from_args
                        else f" {PROJECT}:{key}: {json.dumps(value)}")  # fmt: skip
        if not self.key:  # not a key of the stack file (the stack's name)
            return f"  - {message}"
        shown = "" if self.value is _UNSET else f" = {json.dumps(self.value, default=str)}"
        return f"  - {self.namespace}{self.key}{shown}: {message}"


def _check_schedule(expression: str) -> str:
    """EventBridge Scheduler's three forms: cron() with 6 fields, rate(), at()."""
    if match := _CRON.fullmatch(expression):
        # Raises with the offending field (count of fields, the `?` rule, ranges).
        AWSCronExpressionValidator.validate(match["fields"])
        return expression
    if match := _RATE.fullmatch(expression):
        singular = not match["unit"].endswith("s")
        if singular != (match["n"] == "1"):
            raise ValueError("rate() takes '1 minute|hour|day' or 'N minutes|hours|days'")
        return expression
    if match := _AT.fullmatch(expression):
        try:
            datetime.strptime(match["when"], "%Y-%m-%dT%H:%M:%S")
        except ValueError as err:
            raise ValueError("at() takes yyyy-mm-ddThh:mm:ss") from err
        return expression
    raise ValueError("expected cron(m h dom mon dow year), rate(N unit) or at(yyyy-mm-ddThh:mm:ss)")


def _check_timezone(name: str) -> str:
    if name not in _timezones():
        hint = difflib.get_close_matches(name, sorted(_timezones()), n=1)
        raise ValueError(
            "expected an IANA time zone name such as UTC or Europe/Berlin"
            + (f"; did you mean '{hint[0]}'?" if hint else "")
        )
    return name


@functools.cache
def _timezones() -> set[str]:
    return available_timezones()


def _check_date(value: str) -> str:
    if problem := utc_timestamp_problem(value):
        raise ValueError(problem)
    return value


def _check_image_uri(uri: str) -> str:
    name = uri.rsplit("/", 1)[-1]
    if "@sha256:" not in uri and (":" not in name or name.endswith(":latest")):
        raise ValueError("pin the image: give a tag other than 'latest' or an @sha256: digest")
    return uri


ScheduleExpression = Annotated[str, AfterValidator(_check_schedule)]
TimeZone = Annotated[str, AfterValidator(_check_timezone)]
UtcTimestamp = Annotated[str, AfterValidator(_check_date)]
ImageUri = Annotated[str, StringConstraints(min_length=3), AfterValidator(_check_image_uri)]


def _check_job_name(name: str) -> str:
    # Job names end up in ECS, Scheduler, IAM and log group names.
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,22}[a-z0-9]", name):
        raise ValueError("job names are 2-24 of a-z, 0-9 and '-', starting with a letter")
    return name


JobName = Annotated[str, AfterValidator(_check_job_name)]
Prefix = Annotated[str, StringConstraints(pattern=r"^$|^[A-Za-z0-9!_.*'()/-]*/$")]
SqlIdentifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")]


class _Model(BaseModel):
    # Each field's docstring is its description: docs/configuration.md's tables are
    # generated from them (python -m tools.config_docs); a key the public API's args share
    # (components/args.py) is documented there only (@documented_by). A default the table
    # should show in words rather than as the Python value goes in
    # json_schema_extra={"doc_default": ...}.
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        use_attribute_docstrings=True,
    )


class DefaultVpcNetwork(_Model):
    """The account's default VPC: public subnets, so tasks get a public IP to reach AWS APIs."""

    mode: Literal["default"]
    """`default`"""


@documented_by(NewVpcArgs)
class NewVpcNetwork(_Model):
    """A new VPC (awsx) with private subnets and NAT gateways; tasks get no public IP."""

    mode: Literal["new"]
    """`new`"""
    cidr_block: str = "10.0.0.0/16"
    availability_zones: int = Field(2, ge=2, le=4)
    nat_gateways: Literal["Single", "OnePerAz"] = "Single"


# EC2 ids are the type's prefix and 8 (before 2016) or 17 hex digits:
# https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/resource-ids.html
def _resource_id(prefix: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not re.fullmatch(rf"{prefix}-(?:[0-9a-f]{{8}}|[0-9a-f]{{17}})", value):
            raise ValueError(f"expected {prefix}- and 8 or 17 hex digits, such as "
                             f"{prefix}-0123456789abcdef0")  # fmt: skip
        return value

    return check


def _no_duplicates(values: list[str]) -> list[str]:
    if repeated := sorted({v for v in values if values.count(v) > 1}):
        raise ValueError(f"{', '.join(repeated)} listed more than once; list each id once")
    return values


class ExistingNetwork(_Model):
    """Subnets you already run workloads in."""

    mode: Literal["existing"]
    """`existing`"""
    vpc_id: Annotated[str, AfterValidator(_resource_id("vpc"))]
    """the VPC the subnets belong to"""
    subnet_ids: Annotated[
        list[Annotated[str, AfterValidator(_resource_id("subnet"))]],
        Field(min_length=1, max_length=16),
        AfterValidator(_no_duplicates),
    ]
    """the subnets tasks run in"""
    assign_public_ip: bool = False
    """give tasks a public IP (subnets without a NAT route need one to reach AWS APIs)"""


Network = Annotated[
    DefaultVpcNetwork | NewVpcNetwork | ExistingNetwork, Field(discriminator="mode")
]


def assigns_public_ip(network: DefaultVpcNetwork | NewVpcNetwork | ExistingNetwork) -> bool:
    """Default subnets are public (no NAT): tasks need a public IP to reach AWS APIs."""
    if isinstance(network, DefaultVpcNetwork):
        return True
    return isinstance(network, ExistingNetwork) and network.assign_public_ip


@documented_by(ImageBuildArgs)
class BuildSettings(_Model):
    context: str = "."
    dockerfile: str = "Dockerfile"


# An ECR repository name: https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_CreateRepository.html
EcrRepositoryName = Annotated[
    str,
    StringConstraints(
        min_length=2,
        max_length=256,
        pattern=r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$",
    ),
]
ImageDigest = Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")]


class ImageSettings(_Model):
    """Exactly one source for the app image.

    - ``repository`` (what CI-deployed stacks use): an ECR repository of the stack's account and
      region that CI pushes to, created once outside the stack. Every run names the image by
      ``digest``: the deploy the digest built for its commit, a preview or a laptop deploy the
      deployed one (stack output ``app_image_digest``). Previews and deploys of a commit therefore
      declare the same resources; only the digest differs.
    - ``uri``: a pinned image anywhere.
    - ``build``: built from the Dockerfile by ``pulumi up`` into an ECR repository the stack owns
      (a stack deployed from a laptop only). Moving a stack off ``build`` deletes that repository.
    """

    build: BuildSettings | None = None
    """build the image from a Dockerfile with `pulumi up`"""
    uri: ImageUri | None = None
    """a pinned image: a tag other than `latest`, or an `@sha256:` digest"""
    repository: EcrRepositoryName | None = None
    """an ECR repository of the stack's account and region that CI pushes to"""
    digest: ImageDigest | None = None
    """the `repository` image of this run, `sha256:…`"""

    @model_validator(mode="after")
    def _exactly_one(self) -> ImageSettings:
        if [self.build, self.uri, self.repository].count(None) != 2:
            raise ValueError("set exactly one of 'repository', 'uri' or 'build'")
        if self.repository is None and self.digest is not None:
            raise ValueError("'digest' goes with 'repository' only")
        if self.repository is not None and self.digest is None:
            raise ValueError(
                "'repository' needs the image's 'digest' for this run (CI sets it; by hand: "
                "pulumi config set --path image.digest "
                '"$(pulumi stack output app_image_digest)" to redeploy the deployed image)'
            )
        return self


@documented_by(AuroraArgs)
class AuroraSettings(_Model):
    """The stack's Aurora MySQL Serverless v2 cluster, for its `databaseServer: aurora` jobs."""

    existing_cluster: str | None = Field(
        None,
        pattern=r"^[a-zA-Z](?:-?[a-zA-Z0-9]){0,62}$",
        json_schema_extra={"doc_default": "none: create one"},
    )
    engine_version: str = "8.0.mysql_aurora.3.08.2"
    min_capacity: float = 0.0
    max_capacity: float = 8.0
    seconds_until_auto_pause: int = 600
    deletion_protection: bool = True
    # Each run reloads its data from S3 and drops it: backups protect nothing the bucket does
    # not hold, so the minimum by default.
    backup_retention_days: int = Field(1, ge=1, le=35)
    # I/O-Optimized: a bulk-loading job pays mostly for I/O on Aurora Standard, and storage
    # between runs is nearly empty (docs/outgrowing-the-sidecar.md, the cost table).
    storage_type: Literal["aurora-iopt1", "aurora"] = "aurora-iopt1"

    def spec(self) -> Any:
        """What the builders take (components/specs/aurora.py: AuroraSpec)."""
        from components.specs.aurora import AuroraSpec  # noqa: PLC0415 (aurora imports this module)

        return AuroraSpec(
            engine_version=self.engine_version,
            min_capacity=self.min_capacity,
            max_capacity=self.max_capacity,
            seconds_until_auto_pause=self.seconds_until_auto_pause,
            deletion_protection=self.deletion_protection,
            backup_retention_days=self.backup_retention_days,
            storage_type=self.storage_type,
        )


@documented_by(ScheduledFargateJobArgs)
class JobSettings(_Model):
    """One scheduled job. Every field has the article's value or a safe default."""

    schedule: ScheduleExpression = "cron(0 4 1 * ? *)"
    timezone: TimeZone = "UTC"
    enabled: bool = True
    flexible_window_minutes: int = Field(
        0, ge=0, le=1440, json_schema_extra={"doc_default": "`0` (off)"}
    )
    start_date: UtcTimestamp | None = None
    end_date: UtcTimestamp | None = None
    cpu: int = 1024
    memory: int = 2048
    ephemeral_storage_gib: int = Field(50, ge=21, le=200, alias="ephemeralStorageGiB")
    architecture: Literal["X86_64", "ARM64"] = "X86_64"
    capacity: Literal["FARGATE", "FARGATE_SPOT"] = "FARGATE"
    platform_version: Literal["LATEST", "1.4.0"] = "LATEST"
    image_uri: ImageUri | None = Field(
        None, json_schema_extra={"doc_default": "the stack's `image`"}
    )
    """a pinned image for this job only"""
    mysql_image: ImageUri = MYSQL_IMAGE
    database: SqlIdentifier = "etl"
    db_username: SqlIdentifier = "etl"
    s3_prefix: Prefix = Field("", json_schema_extra={"doc_default": '`""` (whole bucket)'})
    etl_job: str | None = Field(None, json_schema_extra={"doc_default": "the bundled job"})
    environment: dict[str, str] = {}
    database_server: Literal["sidecar", "aurora"] = "sidecar"
    export_path: ExportPath = ExportPath.SHARED
    missed_run_grace_minutes: int = Field(120, ge=5, le=1440)
    retry_attempts: int = Field(2, ge=0, le=185)
    max_event_age_seconds: int = Field(3600, ge=60, le=86400)
    timeout_minutes: int = Field(360, ge=5, le=10080)
    run_retries: int = Field(2, ge=0, le=10)
    retry_interval_seconds: int = Field(60, ge=1, le=3600)
    accept_daylight_saving_changes: bool = False
    spot_fallback: bool = True

    @field_validator("cpu")
    @classmethod
    def _fargate_cpu(cls, cpu: int) -> int:
        if cpu not in FARGATE_SIZES:
            raise ValueError(f"not a Fargate size; allowed: {', '.join(map(str, FARGATE_SIZES))}")
        return cpu

    @field_validator("environment")
    @classmethod
    def _plain_environment(cls, env: dict[str, str]) -> dict[str, str]:
        for name in env:
            if not re.fullmatch(r"[A-Z_][A-Z0-9_]*", name):
                raise ValueError(f"{name!r} is not an environment variable name ([A-Z_][A-Z0-9_]*)")
            if name in RESERVED_ENV:
                raise ValueError(f"{name} is set by the program; remove it")
            if SECRET_LOOKING.search(name):
                raise ValueError(
                    f"{name} looks like a secret; plaintext environment is not for secrets"
                )
        return env

    @property
    def input_prefix(self) -> str:
        return f"{self.s3_prefix}input/"

    @property
    def output_prefix(self) -> str:
        return f"{self.s3_prefix}output/"


@documented_by(JobPlatformArgs)
class Settings(_Model):
    """The whole stack: a shared platform (network, bucket, cluster, image) and its jobs."""

    network: Network = Field(
        DefaultVpcNetwork(mode="default"), json_schema_extra={"doc_default": "`{mode: default}`"}
    )
    """`default`: the default VPC, public subnets, public IP. `new`: an awsx VPC (`cidrBlock`
    10.0.0.0/16, `availabilityZones` 2–4, `natGateways` `Single`/`OnePerAz`), private subnets.
    `existing`: `vpcId`, `subnetIds` (1–16), `assignPublicIp` (false)"""
    bucket_name: str | None = Field(
        None,
        pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        json_schema_extra={"doc_default": "none: create one"},
    )
    container_insights: Literal["disabled", "enabled", "enhanced"] = "disabled"
    log_retention_days: int = 30
    alert_email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    image: ImageSettings
    """exactly one of `repository: <ECR repository name>` with `digest: sha256:…` set per run
    (the committed stacks: the image CI builds, in the stack's account and region),
    `uri: <image>` pinned by tag (not `latest`) or `@sha256:` digest, or
    `build: {context: ., dockerfile: Dockerfile}` (built by `pulumi up` into an ECR repository
    the stack owns; for a stack deployed from a laptop only: moving a stack off `build` deletes
    that repository and its images)"""
    aurora: AuroraSettings | None = None
    jobs: dict[JobName, JobSettings] = Field(min_length=1)
    """a map of job name (2–24 of `a-z0-9-`) to the job keys below; at least one"""

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, days: int) -> int:
        if days not in LOG_RETENTION_DAYS:
            raise ValueError(f"allowed: {', '.join(map(str, LOG_RETENTION_DAYS))}")
        return days


_KNOWN_KEYS = sorted(
    {
        field.alias or name
        for model in (
            Settings,
            JobSettings,
            ImageSettings,
            BuildSettings,
            NewVpcNetwork,
            ExistingNetwork,
            AuroraSettings,
        )
        for name, field in model.model_fields.items()
    }
)


# Copilot scheduled-job manifest keys and ours (docs/copilot-migration.md).
COPILOT_KEYS = {"timeout": "timeoutMinutes", "retries": "runRetries", "cron": "schedule"}


def name_problems(settings: Settings, stack: str) -> list[Problem]:
    """Every physical name derived from the stack and job names must fit AWS's limits
    (components/specs/names.py cites each one); a problem names the config key to change."""
    stack_wide = ("bucketName", "image", "network")  # what decides which stack names exist
    problems = [
        Problem(
            "",
            f"stack name {stack!r}: {problem}; use a shorter lowercase stack name",
            reads=stack_wide,
        )
        for problem in names.problems(
            names.stack_names(
                stack,
                creates_bucket=settings.bucket_name is None,
                builds_image=settings.image.build is not None,
                creates_vpc=isinstance(settings.network, NewVpcNetwork),
                creates_database=settings.aurora is not None
                and settings.aurora.existing_cluster is None,
            )
        )
    ]
    for job in settings.jobs:
        problems += [
            Problem(f"jobs.{job}", f"{problem}; shorten the job or stack name", reads=())
            for problem in names.problems(names.job_names(stack, job))
        ]
    return problems


# How far ahead a cron() schedule is checked against its time zone's clock changes.
DST_HORIZON_YEARS = 5


def schedule_problems(settings: Settings, now: datetime) -> list[Problem]:
    """What the watchdog cannot match: rate() slots without a shared first slot, a grace period
    shorter than Scheduler's own delivery retries, and slots a clock change skips or repeats
    (components/specs/daylight_saving.py has the sources). docs/schedules.md explains each."""
    problems = []
    for name, job in settings.jobs.items():
        key = f"jobs.{name}"
        if job.schedule.startswith("rate(") and job.start_date is None:
            # "If you do not provide a StartDate for a rate-based schedule, your schedule
            # starts invoking its target immediately": the run's and the watchdog's schedules,
            # created seconds apart, would get slot times seconds apart and never match.
            # https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#rate-based
            problems.append(Problem(
                f"{key}.startDate",
                f"required with schedule {json.dumps(job.schedule)}; a rate() schedule counts "
                "from its start date, which the run's and the watchdog's schedules must share: "
                "give a UTC timestamp at least 5 minutes after the deploy, such as "
                f"{_example_start(now)} (it becomes the first slot)",
                reads=(f"{key}.startDate", f"{key}.schedule"),
            ))  # fmt: skip
        if job.missed_run_grace_minutes * 60 < job.max_event_age_seconds:
            # Scheduler retries a failed StartExecution for up to maxEventAgeSeconds after
            # its invocation (slot + flexible window); the watchdog looks at slot + window +
            # grace, so a shorter grace alerts "missed" for a run that then starts.
            # https://docs.aws.amazon.com/scheduler/latest/APIReference/API_RetryPolicy.html
            problems.append(Problem(
                f"{key}.missedRunGraceMinutes",
                f"shorter than maxEventAgeSeconds ({job.max_event_age_seconds} s), how long "
                "Scheduler may still deliver a slot; allowed: at least "
                f"{-(-job.max_event_age_seconds // 60)} (or lower maxEventAgeSeconds)",
                job.missed_run_grace_minutes,
                reads=(f"{key}.missedRunGraceMinutes", f"{key}.maxEventAgeSeconds"),
            ))  # fmt: skip
        if not job.accept_daylight_saving_changes:
            problems += _daylight_saving_problems(key, job, now)
    return problems


def _example_start(now: datetime) -> str:
    """A whole hour at least an hour ahead."""
    return (now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def _daylight_saving_problems(key: str, job: JobSettings, now: datetime) -> list[Problem]:
    if at := re.fullmatch(r"at\((.*)\)", job.schedule):
        # One instant, checked however far ahead (a day's margin for its zone's offset), and
        # whatever the dates: "EventBridge Scheduler ignores StartDate [EndDate] for one-time
        # schedules" (https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html).
        start = now
        end = datetime.fromisoformat(at[1]).replace(tzinfo=UTC) + timedelta(days=1)
    else:
        start = max(now, parse_utc(job.start_date)) if job.start_date else now
        end = start + timedelta(days=366 * DST_HORIZON_YEARS)
        if job.end_date:
            end = min(end, parse_utc(job.end_date))
    slots = clock_change_slots(job.schedule, job.timezone, start, end) if start < end else []
    if not slots:
        return []
    effects = []
    for kind, effect in (
        (GAP, "the clocks go forward, Scheduler skips the run"),
        (OVERLAP, "the clocks go back, Scheduler runs it once"),
    ):
        days: dict[str, list[str]] = {}
        for slot in slots:
            if slot.kind == kind:
                days.setdefault(f"{slot.local:%Y-%m-%d}", []).append(f"{slot.local:%H:%M}")
        if days:
            dates = ", ".join(f"{day} {'/'.join(times)}" for day, times in days.items())
            effects.append(f"{kind} on {dates} ({effect})")
    hours = sorted({f"{s.change.start:%H:%M}-{s.change.end:%H:%M}" for s in slots})
    return [
        Problem(
            f"{key}.schedule",
            f"(timezone {json.dumps(job.timezone)}) local time {'; '.join(effects)}. Fix: a "
            f"time of day outside the clock changes ({', '.join(hours)} local), or timezone "
            "UTC, or accept it with",
            job.schedule,
            fix=(f"{key}.acceptDaylightSavingChanges", True),
            reads=(
                f"{key}.schedule",
                f"{key}.timezone",
                f"{key}.startDate",
                f"{key}.endDate",
                f"{key}.acceptDaylightSavingChanges",
            ),
        )
    ]


def start_date_problems(settings: Settings, now: datetime) -> list[Problem]:
    """Start dates Scheduler would reject at `now` (components/specs/aws_rules.py has the source).
    Checked when a stack loads, not by parse_settings, so that snapshots stay deterministic."""
    return [
        Problem(
            f"jobs.{name}.startDate",
            f"{problem}; a start date that has passed has no effect on an existing schedule, "
            "so it can be removed",
            job.start_date,
        )
        for name, job in settings.jobs.items()
        # A rate() schedule's start date stays: it anchors the slots (docs/schedules.md#rate).
        if job.start_date
        and not job.schedule.startswith("rate(")
        and (problem := start_date_problem(job.start_date, now))
    ]


def prefix_problems(settings: Settings) -> list[Problem]:
    """Each job owns its `s3Prefix`: its task role may delete anything under it (reruns replace
    run folders), so no job's prefix may hold another's ("" holds every key)."""
    jobs = sorted(settings.jobs.items())
    return [
        Problem(
            f"jobs.{b}.s3Prefix",
            f'overlaps {PROJECT}:jobs.{a}.s3Prefix = "{ja.s3_prefix}" (one starts with the '
            "other, and each job's role may replace what is under its prefix); give every job "
            'its own prefix, e.g. "<job>/"',
            jb.s3_prefix,
            reads=(f"jobs.{a}.s3Prefix", f"jobs.{b}.s3Prefix"),
        )
        for i, (a, ja) in enumerate(jobs)
        for b, jb in jobs[i + 1 :]
        if ja.s3_prefix.startswith(jb.s3_prefix) or jb.s3_prefix.startswith(ja.s3_prefix)
    ]


def fargate_memory_problems(settings: Settings) -> list[Problem]:
    problems = []
    for name, job in settings.jobs.items():
        allowed = FARGATE_SIZES[job.cpu]
        if job.memory not in allowed:
            problems.append(Problem(
                f"jobs.{name}.memory",
                f"memory {job.memory} does not fit cpu {job.cpu}; allowed: "
                f"{allowed[0]}-{allowed[-1]} in steps of {allowed[1] - allowed[0]}",
                job.memory,
                reads=(f"jobs.{name}.memory", f"jobs.{name}.cpu"),
            ))  # fmt: skip
    return problems


def date_order_problems(settings: Settings) -> list[Problem]:
    return [
        Problem(
            f"jobs.{name}.startDate",
            f"startDate {job.start_date} is not before endDate {job.end_date}",
            job.start_date,
            reads=(f"jobs.{name}.startDate", f"jobs.{name}.endDate"),
        )
        for name, job in settings.jobs.items()
        if job.start_date and job.end_date
        and parse_utc(job.start_date) >= parse_utc(job.end_date)
    ]  # fmt: skip


def architecture_problems(settings: Settings) -> list[Problem]:
    """The image CI builds into the repository is linux/amd64 only (deploy.yml): an ARM64 task
    would pull it and fail with "exec format error". The image `pulumi up` builds is
    single-platform: every job that runs it must match."""
    own = {n: j for n, j in settings.jobs.items() if j.image_uri is None}
    reads = ("image", *(f"jobs.{n}.{k}" for n in own for k in ("architecture", "imageUri")))
    if settings.image.repository is not None:
        return [
            Problem(
                f"jobs.{name}.architecture",
                "the repository's image is built for X86_64 only (deploy.yml); use X86_64 or "
                "give the job an imageUri built for ARM64",
                job.architecture,
                reads=reads,
            )
            for name, job in own.items()
            if job.architecture != "X86_64"
        ]
    archs = {j.architecture for j in own.values()}
    if settings.image.build is not None and len(archs) > 1:
        return [Problem(
            "jobs",
            "jobs running the built image must share one architecture; "
            f"found {sorted(archs)} (set imageUri on the odd one out)",
            reads=reads,
        )]  # fmt: skip
    return []


# Where the project's image has its files: the Dockerfile's WORKDIR /app and `COPY etl/ ./etl/`.
IMAGE_WORKDIR = PurePosixPath("/app")
IMAGE_COPIES = "etl"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def project_job_folder(etl_job: str) -> PurePosixPath | None:
    """The project path (such as etl/jobs/x) of the job folder `etlJob` names inside the
    project's image, or None when the image does not copy it in."""
    path = PurePosixPath(etl_job)
    inside = path.relative_to(IMAGE_WORKDIR) if path.is_relative_to(IMAGE_WORKDIR) else path
    if inside.is_absolute() or inside.parts[:1] != (IMAGE_COPIES,):
        return None
    return inside


def job_folder_problems(settings: Settings) -> list[Problem]:
    """An `etlJob` of a job running the project's image must be a job folder (with schema.sql)
    that the image copies in; a typo would otherwise surface only when the task first runs.
    A job with its own `imageUri`, or a stack whose `image.uri` is built elsewhere, is not
    checked: its files are not here."""
    if settings.image.uri is not None:
        return []
    build = settings.image.build
    context = PROJECT_ROOT / (build.context if build else ".")
    problems = []
    for name, job in settings.jobs.items():
        if job.etl_job is None or job.image_uri is not None:
            continue
        inside = project_job_folder(job.etl_job)
        if inside is None:
            why = f"is not in the image (it copies {IMAGE_COPIES}/ into {IMAGE_WORKDIR})"
        elif not (context / inside / "schema.sql").is_file():
            why = f"{inside} is not a job folder of this project (no {inside}/schema.sql)"
        else:
            continue
        problems.append(Problem(
            f"jobs.{name}.etlJob",
            f"{why}; give the job folder relative to the project, such as "
            f"{IMAGE_COPIES}/jobs/<your_job>",
            job.etl_job,
            reads=(f"jobs.{name}.etlJob", f"jobs.{name}.imageUri", "image"),
        ))  # fmt: skip
    return problems


# Checks that read more than one key, run on every stack after its keys are validated one by
# one. A new rule that compares keys goes here (a function of Settings returning Problems whose
# `reads` name the keys it compares), not into a pydantic model validator: a model validator
# runs only once every key of its model is valid, so its problem would show up one fix later.
# A job's keys that mean something only with the sidecar (its image, the database and user it
# creates, the export path through a volume both containers mount), by their stack-file names.
SIDECAR_ONLY_KEYS = {"mysql_image": "mysqlImage", "database": "database",
                     "db_username": "dbUsername", "export_path": "exportPath"}  # fmt: skip


def aurora_job_problems(settings: Settings) -> list[Problem]:
    """An aurora job that sets a sidecar-only key: refused, not silently ignored."""
    problems = []
    for name, job in settings.jobs.items():
        if job.database_server != "aurora":
            continue
        for field, key in SIDECAR_ONLY_KEYS.items():
            if field in job.model_fields_set:
                problems.append(Problem(
                    f"jobs.{name}.{key}", "means something only with the sidecar; remove it "
                    "from this `databaseServer: aurora` job", getattr(job, field),
                    reads=(f"jobs.{name}.{key}", f"jobs.{name}.databaseServer"),
                ))  # fmt: skip
    return problems


def aurora_stack_problems(settings: Settings) -> list[Problem]:
    """The stack's Aurora block: there when a job needs it, its capacity possible, and a
    created cluster's subnets in two Availability Zones at least (a new VPC has two or more;
    two existing subnets in one zone only AWS can tell: CreateDBSubnetGroup refuses them)."""
    from components.specs import aurora  # noqa: PLC0415 (aurora imports this module)

    wanting = [f"jobs.{n}.databaseServer" for n, j in settings.jobs.items()
               if j.database_server == "aurora"]  # fmt: skip
    if settings.aurora is None:
        return [Problem(key, "needs the stack's `aurora` block (an existing cluster or the "
                        "one to create)", "aurora", reads=(key,)) for key in wanting]  # fmt: skip
    if not wanting and settings.aurora.existing_cluster is None:
        return [Problem("aurora", "no job has `databaseServer: aurora`: this block would create "
                        "(and bill) a cluster no job uses; remove it or switch a job to it",
                        reads=("aurora",))]  # fmt: skip
    if settings.aurora.existing_cluster is not None:
        # Refused, not ignored: they shape a cluster this stack creates, not an existing one.
        given = sorted(settings.aurora.model_fields_set - {"existing_cluster"})
        return [
            Problem(f"aurora.{to_camel(key)}", "applies only to a cluster this stack creates; "
                    "with `existingCluster` it is ignored: remove it",
                    getattr(settings.aurora, key), reads=(f"aurora.{to_camel(key)}",))
            for key in given
        ]  # fmt: skip
    problems = aurora.capacity_problems(settings.aurora.spec())
    network = settings.network
    if isinstance(network, ExistingNetwork) and len(network.subnet_ids) < 2:
        problems.append(Problem(
            "network.subnetIds", "an Aurora cluster's subnet group needs subnets in two "
            "Availability Zones at least; list one more subnet, in another zone",
            network.subnet_ids,
        ))  # fmt: skip
    return problems


CROSS_FIELD_CHECKS: list[Callable[[Settings], list[Problem]]] = [
    fargate_memory_problems,
    date_order_problems,
    architecture_problems,
    job_folder_problems,
    prefix_problems,
    aurora_job_problems,
]


def parse_settings(
    raw: Mapping[str, Any], stack: str = "dev", now: datetime | None = None
) -> Settings:
    """Validate the project's config (key -> decoded value) into typed settings, or raise
    ConfigError listing every problem at once. `now` also checks start dates against the clock
    (left out by default so that rendering stays deterministic)."""
    settings, problems = config_problems(raw, stack, now)
    if problems or settings is None:
        raise ConfigError("\n".join([HEADER, *map(str, problems)]))
    return settings


def config_problems(
    raw: Mapping[str, Any],
    stack: str = "dev",
    now: datetime | None = None,
    *,
    name_check: Callable[[Settings], list[Problem]] | None = None,
) -> tuple[Settings | None, list[Problem]]:
    """Every problem of a stack's config in one pass: each key on its own (pydantic), then the
    checks across keys on a stand-in where each invalid key is dropped (its default) so that
    they run too; a cross-field problem reading a key already reported is left out."""
    data = copy.deepcopy(dict(raw))  # pruned below; the caller's config stays as it was
    problems: list[Problem] = []
    dropped: list[tuple[str | int, ...]] = []
    for _ in range(_MAX_REPAIRS):
        try:
            settings = Settings.model_validate(data)
        except ValidationError as err:
            fresh = [(path, problem) for path, problem in _problems_of(err)
                     if not _overlaps(path, dropped)]  # fmt: skip
            problems += [problem for _, problem in fresh]
            paths = [path for path, _ in _problems_of(err)]
            if not _prune(data, paths, dropped):
                return None, problems
            continue
        checks: list[Callable[[Settings], list[Problem]]] = [
            *CROSS_FIELD_CHECKS,
            name_check or (lambda s: name_problems(s, stack)),
            # The stack's own Aurora block (a component gets its database as args instead).
            *([] if name_check else [aurora_stack_problems]),
            # Clock changes are checked from today on whatever `now` is: the horizon is years.
            lambda s: schedule_problems(s, now or datetime.now(UTC)),
            *([] if now is None else [lambda s: start_date_problems(s, now)]),
        ]
        for check in checks:
            problems += [p for p in check(settings) if not any(
                _overlaps(_path(read), dropped) for read in _reads(p))]  # fmt: skip
        return (None if problems else settings), problems
    return None, problems


_MAX_REPAIRS = 8
# Stand-ins for required keys while the cross-field checks run (the real value was reported).
_STAND_INS: dict[str, Any] = {"image": {"uri": "stand-in.invalid/app:0"}}


def _reads(problem: Problem) -> tuple[str, ...]:
    return (problem.key,) if problem.reads is None else problem.reads


def _path(dotted: str) -> tuple[str | int, ...]:
    return tuple(dotted.split(".")) if dotted else ()


def _overlaps(path: tuple[str | int, ...], dropped: list[tuple[str | int, ...]]) -> bool:
    """Whether `path` is, holds or lies inside a key that was dropped as invalid."""
    return any(path[: len(d)] == d or d[: len(path)] == path for d in dropped)


def _key_path(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """Pydantic's location as a path into the stack file's values."""
    path = [part for part in loc if part != "[key]"]
    if path[:1] == ["network"] and len(path) > 2:
        del path[1]  # pydantic puts the union's tag ('existing', ...) in the path
    return tuple(path)


def _problems_of(err: ValidationError) -> list[tuple[tuple[str | int, ...], Problem]]:
    found = []
    for error in err.errors():
        path = _key_path(error["loc"])
        key = ".".join(map(str, path))
        message = error["msg"].removeprefix("Value error, ")
        value = error.get("input", _UNSET)
        if error["type"] == "extra_forbidden":
            unknown = str(error["loc"][-1])
            hint = [COPILOT_KEYS[unknown]] if unknown in COPILOT_KEYS else (
                difflib.get_close_matches(unknown, _KNOWN_KEYS, n=1))  # fmt: skip
            message = "unknown key" + (f"; did you mean '{hint[0]}'?" if hint else "")
        elif error["type"] == "missing":
            message, value = "required key is missing", _UNSET
        elif isinstance(value, dict) and (len(path) == 0 or (len(path) == 2 and path[0] == "jobs")):
            value = _UNSET  # a whole job's (or stack's) config: the message names what to fix
        found.append((path, Problem(key, message, value)))
    return found


def _prune(data: dict[str, Any], paths: list[tuple[str | int, ...]],
           dropped: list[tuple[str | int, ...]]) -> bool:  # fmt: skip
    """Drop each invalid key from `data` (a missing one: the object holding it) so that the
    rest validates; False when nothing more can be dropped."""
    changed = False
    for path in paths:
        cut = path[: next((i for i, part in enumerate(path) if isinstance(part, int)), len(path))]
        if not _holds(data, cut):
            cut = cut[:-1]  # a missing key: drop the object that lacks it
        if not cut:
            return False  # the stack as a whole (a rule across its keys): nothing to drop
        if not _holds(data, cut):
            continue  # inside what an earlier problem already dropped
        dropped.append(cut)
        parent: Any = data
        for part in cut[:-1]:
            parent = parent[part]
        if len(cut) == 1 and cut[0] in _STAND_INS:
            parent[cut[0]] = _STAND_INS[cut[0]]
        else:
            del parent[cut[-1]]
        changed = True
    return changed


def _holds(data: Any, path: tuple[str | int, ...]) -> bool:
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


def job_settings(resource_name: str, args: Mapping[str, Any]) -> JobSettings:
    """One job's settings from a component's args (ScheduledFargateJobArgs; a key left out
    takes its default): its resource keys checked where they are plain values, its job keys
    validated like a stack file's job, its physical names checked under its full name and its
    roles' under the component's `resource_name` (Pulumi auto-names them); or ConfigError
    listing every problem."""
    problems, bad = args_problems(args, ScheduledFargateJobArgs)
    name = resource_name if "job_name" in bad else args.get("job_name", resource_name)
    full_name = None if "name_prefix" in bad else f"{args['name_prefix']}-{name}"
    fields = {k: v for k, v in args.items() if k not in JOB_RESOURCE_KEYS and k not in bad}
    raw = {"image": _STAND_INS["image"], "jobs": {name: fields}}

    def job_name_problems(settings: Settings) -> list[Problem]:
        if full_name is None:  # the prefix's own problem says it, not each name it would break
            return []
        return [
            Problem(f"jobs.{name}", f"{problem}; shorten the name prefix or the job name", reads=())
            for problem in names.problems(names.named_job_names(full_name, resource_name))
        ]

    settings, job_problems = config_problems(raw, name_check=job_name_problems)
    prefix = args.get("name_prefix")  # shown even when invalid, if it is a string
    namespace = f"{prefix}-{name}: args." if isinstance(prefix, str) else f"{name}: args."
    problems = [dataclasses.replace(p, namespace=namespace) for p in problems]
    problems += [_as_job_arg(p, name, namespace) for p in job_problems]
    if problems or settings is None:
        header = f"invalid args of job {name} (nothing was created):"
        raise ConfigError("\n".join([header, *map(str, problems)]))
    return settings.jobs[name]


def _arn(service: str, resource: str, example: str) -> Callable[[str], str]:
    """An ARN of `service` whose resource part matches `resource`."""

    def check(value: str) -> str:
        parts = value.split(":", 5)
        if len(parts) < 6 or parts[0] != "arn":
            raise ValueError(f"not an ARN (give the ARN, not a name); expected {example}")
        if parts[2] != service:
            raise ValueError(f"an ARN of {parts[2] or 'no service'}, not of {service}; "
                             f"expected {example}")  # fmt: skip
        if not (
            re.fullmatch(r"aws(-[a-z]+)*", parts[1])
            and re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", parts[3])
            and re.fullmatch(r"\d{12}", parts[4])
            and re.fullmatch(resource, parts[5])
        ):
            raise ValueError(f"not a well-formed {service} ARN; expected {example}")  # fmt: skip
        return value

    return check


def _ids(kind: str, most: int) -> Any:
    return Annotated[
        list[Annotated[str, AfterValidator(_resource_id(kind))]],
        Field(min_length=1, max_length=most),
        AfterValidator(_no_duplicates),
    ]


def _retention_days(days: int) -> int:
    if days not in LOG_RETENTION_DAYS:
        raise ValueError(f"allowed: {', '.join(map(str, LOG_RETENTION_DAYS))}")
    return days


class ResourceArgs(BaseModel):
    """The keys of the components' args that name existing resources (and the names), where
    they are plain values, checked as a stack file's are. The job's IAM policies and requests
    are built from these strings: a cluster's name where its ARN belongs (the run role's
    ecs:cluster condition), a bucket's ARN where its name belongs (the task role's keys) or a
    topic's name would deploy a job that cannot run; an output is its resource's to be right.
    Counts: awsvpc's limits
    (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_AwsVpcConfiguration.html)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name_prefix: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
    job_name: JobName | None = None
    job_names: list[JobName] | None = None
    cluster_arn: Annotated[str, AfterValidator(_arn(
        "ecs", r"cluster/[A-Za-z0-9_-]{1,255}",
        "an ECS cluster's ARN, arn:aws:ecs:<region>:<account>:cluster/<name>"
    ))] | None = None  # fmt: skip
    # Standard topics (no .fifo): CloudWatch alarms cannot publish to a FIFO topic.
    alerts_topic_arn: Annotated[str, AfterValidator(_arn(
        "sns", r"[A-Za-z0-9_-]{1,256}",
        "a standard SNS topic's ARN, arn:aws:sns:<region>:<account>:<name>"
    ))] | None = None  # fmt: skip
    vpc_id: Annotated[str, AfterValidator(_resource_id("vpc"))] | None = None
    subnet_ids: _ids("subnet", 16) | None = None  # type: ignore[valid-type]
    security_group_ids: _ids("sg", 5) | None = None  # type: ignore[valid-type]
    assign_public_ip: bool | None = None
    bucket_name: Annotated[str, StringConstraints(
        pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")] | None = None  # fmt: skip
    image_uri: ImageUri | None = None
    log_retention_days: Annotated[int, AfterValidator(_retention_days)] | None = None


def _is_plain(value: Any) -> bool:
    """Known before deployment: no Output or awaitable anywhere in it."""
    if isinstance(value, pulumi.Output) or inspect.isawaitable(value):
        return False
    if isinstance(value, dict):
        return all(map(_is_plain, value.values()))
    if isinstance(value, list | tuple):
        return all(map(_is_plain, value))
    return True


def _takes_output(annotation: Any) -> bool:
    """Whether an args annotation is (or holds) a pulumi.Input, which admits an Output."""
    return any(
        typing.get_origin(a) is collections.abc.Awaitable or _takes_output(a)
        for a in typing.get_args(annotation)
    )


# Why a required key has no default, for the keys where that is not obvious.
_MISSING_HINTS = {
    "s3_prefix": "; the task may delete what is under it, so there is no default: give the "
    "job its own, such as '<job>/' ('' is the whole bucket)",
}


def args_problems(args: Mapping[str, Any], typed: type) -> tuple[list[Problem], set[str]]:
    """What is wrong with the keys of a component's `args` (a TypedDict `typed`) before its
    values are validated: required keys left out, unknown keys (a camelCase one: its Python
    name), outputs in keys that take plain values only, and plain resource keys (ResourceArgs).
    Returns the problems (keys as the args spell them) and the keys they make unusable."""
    known = typed.__annotations__
    problems = [Problem(key, "required key is missing" + _MISSING_HINTS.get(key, ""),
                        from_args=True)
                for key in sorted(typed.__required_keys__ - args.keys())]  # type: ignore[attr-defined]  # fmt: skip
    bad = set(typed.__required_keys__ - args.keys())  # type: ignore[attr-defined]
    for key in sorted(args.keys() - known.keys()):
        hint = [to_snake(key)] if to_snake(key) in known else difflib.get_close_matches(
            key, list(known), n=1)  # fmt: skip
        suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
        problems.append(Problem(key, f"unknown key{suggestion}", from_args=True))
        bad.add(key)
    for key in sorted(args.keys() & known.keys()):
        if not _takes_output(known[key]) and not _is_plain(args[key]):
            problems.append(Problem(key, "must be a plain value known before deployment, not an "
                                    "Output (or awaitable)", from_args=True))  # fmt: skip
            bad.add(key)
    plain = {k: v for k, v in args.items()
             if k in ResourceArgs.model_fields and k not in bad and _is_plain(v)}  # fmt: skip
    try:
        resources = ResourceArgs.model_validate(plain)
    except ValidationError as err:
        for error in err.errors():
            key = ".".join(map(str, error["loc"]))
            message = error["msg"].removeprefix("Value error, ")
            problems.append(Problem(key, message, error.get("input", _UNSET), from_args=True))
            bad.add(str(error["loc"][0]))
    else:
        problems += _region_problems(resources)
    return problems, bad


def _region_problems(resources: ResourceArgs) -> list[Problem]:
    """The cluster and the topic must be in the stack's partition and region (the run's state
    machine calls ECS in its own region; alarms publish to a topic of theirs): when both are
    given, a difference means one of them is elsewhere."""
    if resources.cluster_arn is None or resources.alerts_topic_arn is None:
        return []
    cluster, topic = resources.cluster_arn.split(":"), resources.alerts_topic_arn.split(":")
    if (cluster[1], cluster[3]) == (topic[1], topic[3]):
        return []
    return [Problem("alerts_topic_arn", f"in {topic[1]}/{topic[3]}, the cluster in "
                    f"{cluster[1]}/{cluster[3]}; both must be in the stack's partition and region",
                    resources.alerts_topic_arn, from_args=True)]  # fmt: skip


# A job key as the args spell it: the field's name (pydantic names the key it was given).
_JOB_ARG_KEYS = {
    given: field for field, info in JobSettings.model_fields.items()
    for given in (field, info.alias) if given
}  # fmt: skip


def _as_job_arg(problem: Problem, job: str, namespace: str) -> Problem:
    """A problem of a stack file's `jobs.<job>` as a problem of the job's args."""

    def arg_key(key: str) -> str:
        first, *rest = key.removeprefix(f"jobs.{job}").lstrip(".").split(".", 1)
        return ".".join([_JOB_ARG_KEYS.get(first, first), *rest])

    fix = None if problem.fix is None else (arg_key(problem.fix[0]), problem.fix[1])
    return dataclasses.replace(problem, key=arg_key(problem.key), namespace=namespace,
                               fix=fix, from_args=True)  # fmt: skip


def check_platform_args(name: str, args: JobPlatformArgs) -> None:
    """The plain keys of a JobPlatform's args, validated as the stack keys of the same names
    are (an existing resource's ID or name given as an output is AWS's to check), with the
    physical names the platform derives from `name`; ConfigError lists every problem."""
    build = args.get("image_build")
    image: dict[str, Any] = _STAND_INS["image"]
    if (repository := args.get("image_repository")) is not None:
        image = {"repository": repository, "digest": args.get("image_digest")}
    elif build is not None:
        image = {"build": {k: v for k, v in build.items() if k not in ("architecture", "args")}}
    raw: dict[str, Any] = {"image": image, "jobs": {"stand-in": {}}}
    # (bucket_name and log_retention_days: with the resource keys, args_problems)
    for key in ("container_insights", "alert_email"):
        if isinstance(value := args.get(key), str | int):
            raw[to_camel(key)] = value
    if (vpc := args.get("new_vpc")) is not None:
        raw["network"] = {"mode": "new", **{to_camel(k): v for k, v in vpc.items()}}

    def platform_name_problems(settings: Settings) -> list[Problem]:
        created = names.platform_names(
            name,
            creates_bucket=args.get("bucket_name") is None,
            builds_image=build is not None,
            creates_vpc=vpc is not None,
            creates=(
                args.get("cluster_arn") is None,
                args.get("alerts_topic_arn") is None,
                args.get("security_group_ids") is None,
            ),
            creates_database=(aurora := args.get("aurora")) is not None
            and aurora.get("existing_cluster") is None,
        )
        return [Problem("", f"{problem}; use a shorter name", reads=())
                for problem in names.problems(created)]  # fmt: skip

    early, _ = args_problems(args, JobPlatformArgs)
    _, problems = config_problems(raw, name_check=platform_name_problems)
    problems += _network_problems(args)
    if build is not None and build.get("architecture", "X86_64") not in ("X86_64", "ARM64"):
        problems.append(Problem("imageBuild.architecture", "allowed: X86_64, ARM64",
                                build.get("architecture")))  # fmt: skip
    if build is not None and not _str_map(build.get("args", {})):
        problems.append(Problem("imageBuild.args", "Docker build args: a map of names to "
                                "plain strings", build.get("args")))  # fmt: skip
    if problems or early:
        lines = [dataclasses.replace(p, key=_platform_arg_key(p.key), namespace=f"{name}: args.",
                                     from_args=True) for p in problems]  # fmt: skip
        lines = [dataclasses.replace(p, namespace=f"{name}: args.") for p in early] + lines
        header = f"invalid args of platform {name} (nothing was created):"
        raise ConfigError("\n".join([header, *map(str, lines)]))


def _str_map(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def _network_problems(args: JobPlatformArgs) -> list[Problem]:
    """Which network the args choose: existing subnets (in `vpcId`, or with their security
    groups), `newVpc` or the default VPC; a `vpcId` the others would silently replace."""
    given = {key for key in ("vpc_id", "subnet_ids", "security_group_ids", "new_vpc")
             if args.get(key) is not None}  # fmt: skip
    problems = []
    if "new_vpc" in given and given & {"vpc_id", "subnet_ids"}:
        problems.append(Problem("new_vpc", "give new_vpc or vpc_id and subnet_ids, not both"))
    elif "vpc_id" in given and "subnet_ids" not in given:
        vpc = args["vpc_id"] if _is_plain(args["vpc_id"]) else _UNSET
        problems.append(Problem("vpc_id", "give subnet_ids in it too (the tasks run in subnets; "
                                "without either: the default VPC)", vpc))  # fmt: skip
    elif "subnet_ids" in given and not given & {"vpc_id", "security_group_ids"}:
        problems.append(Problem("subnet_ids", "give vpc_id (the tasks' security group is created "
                                "in it) or security_group_ids"))  # fmt: skip
    return problems


# Stack keys -> the JobPlatformArgs keys they were made from, longest first.
_PLATFORM_ARG_KEYS = {
    "image.repository": "image_repository",
    "image.digest": "image_digest",
    "image.build": "image_build",
    "network": "new_vpc",
}


def _platform_arg_key(key: str) -> str:
    """A stack key as the args spell it (snake_case)."""
    for stack_key, arg in _PLATFORM_ARG_KEYS.items():
        if key == stack_key or key.startswith(f"{stack_key}."):
            key = arg + key.removeprefix(stack_key)
            break
    return ".".join(map(to_snake, key.split("."))) if key else key


def aurora_settings(fields: Mapping[str, Any]) -> AuroraSettings:
    """AuroraDatabase's args (AuroraArgs; a key left out takes its default), validated like
    a stack file's `aurora` block, or ConfigError listing every problem."""
    from components.specs import aurora  # noqa: PLC0415 (aurora imports this module)

    data, problems = dict(fields), list[Problem]()
    try:
        settings = AuroraSettings.model_validate(data)
    except ValidationError as err:  # in one pass: the rest checked with these at their default
        found = _problems_of(err)
        # As the stack file spells the key, whichever spelling the args used.
        problems += [dataclasses.replace(p, key=".".join(map(to_camel, p.key.split("."))))
                     for _, p in found]  # fmt: skip
        dropped = {to_camel(str(path[0])) for path, _ in found if path}
        settings = AuroraSettings.model_validate(
            {k: v for k, v in data.items() if to_camel(k) not in dropped}
        )
    else:
        dropped = set()
    if settings.existing_cluster is None:
        problems += [p for p in aurora.capacity_problems(settings.spec(), key="")
                     if p.key not in dropped]  # fmt: skip
    if problems:
        lines = [dataclasses.replace(p, namespace="aurora args: ") for p in problems]
        header = "invalid aurora args (nothing was created):"
        raise ConfigError("\n".join([header, *map(str, lines)]))
    return settings


def decode_config_value(value: str) -> Any:
    """Pulumi hands every config value to the program as a string; objects arrive as JSON."""
    return json.loads(value) if value[:1] in "{[" else value


def load_settings() -> Settings:
    """Read every ``scheduled-etl:*`` key of the running stack (unknown keys included, so
    that a typo is reported rather than ignored)."""
    raw = {**get_config_env(), **CONFIG.get()}
    prefix = f"{PROJECT}:"
    return parse_settings(
        {
            key.removeprefix(prefix): decode_config_value(value)
            for key, value in raw.items()
            if key.startswith(prefix)
        },
        stack=pulumi.get_stack(),
        now=datetime.now(UTC),
    )
