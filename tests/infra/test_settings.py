"""Every settings rule: the default that reproduces the article, valid values, and errors
that name the key, the value and what is allowed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components.settings import (
    IMAGE_COPIES,
    IMAGE_WORKDIR,
    ConfigError,
    decode_config_value,
    parse_settings,
)

BASE: dict[str, Any] = {"image": {"build": {}}, "jobs": {"monthly-orders": {}}}


def job(**fields: Any) -> dict[str, Any]:
    return {**BASE, "jobs": {"monthly-orders": fields}}


def error_of(raw: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_settings(raw)
    return str(caught.value)


def test_defaults_reproduce_the_article() -> None:
    settings = parse_settings(BASE)
    article = settings.jobs["monthly-orders"]
    assert (article.cpu, article.memory, article.ephemeral_storage_gib) == (1024, 2048, 50)
    assert article.schedule == "cron(0 4 1 * ? *)"
    assert article.timezone == "UTC"
    assert article.enabled and article.capacity == "FARGATE"
    assert article.mysql_image == "public.ecr.aws/docker/library/mysql:8.4"
    assert settings.network.mode == "default"
    assert settings.bucket_name is None


@pytest.mark.parametrize(
    ("cpu", "memory"),
    [(256, 512), (512, 4096), (1024, 8192), (4096, 30720), (8192, 61440), (16384, 122880)],
)
def test_valid_fargate_sizes(cpu: int, memory: int) -> None:
    assert parse_settings(job(cpu=cpu, memory=memory)).jobs["monthly-orders"].memory == memory


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"cpu": 1000}, "jobs.monthly-orders.cpu = 1000: not a Fargate size; allowed: 256, 512"),
        ({"cpu": 256, "memory": 4096}, "memory 4096 does not fit cpu 256; allowed: 512-2048"),
        ({"cpu": 8192, "memory": 17408}, "allowed: 16384-61440 in steps of 4096"),
        ({"cpu": "lots"}, 'jobs.monthly-orders.cpu = "lots": Input should be a valid integer'),
    ],
)
def test_invalid_fargate_sizes(fields: dict[str, Any], expected: str) -> None:
    assert expected in error_of(job(**fields))


@pytest.mark.parametrize("gib", [21, 50, 200])
def test_ephemeral_storage_range(gib: int) -> None:
    assert (
        parse_settings(job(ephemeralStorageGiB=gib)).jobs["monthly-orders"].ephemeral_storage_gib
        == gib
    )


@pytest.mark.parametrize("gib", [20, 201])
def test_ephemeral_storage_out_of_range(gib: int) -> None:
    message = error_of(job(ephemeralStorageGiB=gib))
    assert f"scheduled-etl:jobs.monthly-orders.ephemeralStorageGiB = {gib}" in message
    assert ("greater than or equal to 21" if gib < 21 else "less than or equal to 200") in message


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 4 1 * ? *)",
        "cron(15 10 ? * MON-FRI *)",
        "cron(0 0 L * ? 2027)",
        "rate(1 hour)",
        "rate(15 minutes)",
        "at(2027-01-01T04:00:00)",
    ],
)
def test_valid_schedules(expression: str) -> None:
    # rate() counts from its start date (tests/infra/test_schedules.py).
    start = {"startDate": "2030-01-01T00:00:00Z"} if expression.startswith("rate(") else {}
    settings = parse_settings(job(schedule=expression, **start))
    assert settings.jobs["monthly-orders"].schedule == expression


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("cron(0 4 1 * *)", "6 required, 5 provided"),
        ("cron(0 4 1 * * *)", "One must be a question mark (?)"),
        ("cron(61 4 1 * ? *)", "Invalid minute value '61'"),
        ("rate(1 hours)", "rate() takes '1 minute|hour|day' or 'N minutes|hours|days'"),
        ("rate(0 minutes)", "expected cron(m h dom mon dow year), rate(N unit) or at("),
        ("at(2027-13-01T04:00:00)", "at() takes yyyy-mm-ddThh:mm:ss"),
        ("0 4 1 * *", "expected cron(m h dom mon dow year)"),
    ],
)
def test_invalid_schedules(expression: str, expected: str) -> None:
    message = error_of(job(schedule=expression))
    assert f'scheduled-etl:jobs.monthly-orders.schedule = "{expression}"' in message
    assert expected in message


def test_time_zones() -> None:
    assert (
        parse_settings(job(timezone="Europe/Berlin")).jobs["monthly-orders"].timezone
        == "Europe/Berlin"
    )
    assert 'timezone = "Europe/Atlantis": expected an IANA time zone name' in error_of(
        job(timezone="Europe/Atlantis")
    )


def test_log_retention_must_be_a_cloudwatch_value() -> None:
    assert parse_settings({**BASE, "logRetentionDays": "14"}).log_retention_days == 14
    message = error_of({**BASE, "logRetentionDays": 10})
    assert "scheduled-etl:logRetentionDays = 10: allowed: 1, 3, 5, 7, 14, 30" in message


@pytest.mark.parametrize("name", ["a1", "monthly-orders", "x" * 24])
def test_valid_job_names(name: str) -> None:
    assert name in parse_settings({**BASE, "jobs": {name: {}}}).jobs


@pytest.mark.parametrize("name", ["Monthly", "1job", "a", "job_1", "job-", "x" * 25])
def test_invalid_job_names(name: str) -> None:
    message = error_of({**BASE, "jobs": {name: {}}})
    assert f'scheduled-etl:jobs.{name} = "{name}": job names are 2-24 of a-z, 0-9 and' in message


def test_at_least_one_job() -> None:
    assert "scheduled-etl:jobs = {}: " in error_of({**BASE, "jobs": {}})
    assert "scheduled-etl:jobs: required key is missing" in error_of({"image": {"build": {}}})


def test_networks() -> None:
    assert parse_settings({**BASE, "network": {"mode": "new"}}).network.mode == "new"
    existing = {"mode": "existing", "vpcId": "vpc-0a1b2c3d", "subnetIds": ["subnet-0a1b2c3d"]}
    assert parse_settings({**BASE, "network": existing}).network.mode == "existing"


@pytest.mark.parametrize(
    ("network", "expected"),
    [
        (
            {"mode": "existing", "subnetIds": ["subnet-0a1b2c3d"]},
            "scheduled-etl:network.vpcId: required key is missing",
        ),
        (
            {"mode": "existing", "vpcId": "vpc-0a1b2c3d", "subnetIds": []},
            "scheduled-etl:network.subnetIds = []: List should have at least 1 item",
        ),
        (
            {"mode": "existing", "vpcId": "vpc-0a1b2c3d", "subnetIds": ["sn-1"]},
            'scheduled-etl:network.subnetIds.0 = "sn-1": expected subnet- and 8 or 17 hex digits',
        ),
        # 16 hex digits: neither the short (8) nor the long (17) EC2 id form.
        (
            {"mode": "existing", "vpcId": "vpc-0a1b2c3d", "subnetIds": ["subnet-" + "a" * 16]},
            f'network.subnetIds.0 = "subnet-{"a" * 16}": expected subnet- and 8 or 17 hex',
        ),
        (
            {"mode": "existing", "vpcId": "vpc-" + "b" * 16, "subnetIds": ["subnet-0a1b2c3d"]},
            f'network.vpcId = "vpc-{"b" * 16}": expected vpc- and 8 or 17 hex digits',
        ),
        (
            {"mode": "existing", "vpcId": "vpc-0a1b2c3d", "subnetIds": ["subnet-0a1b2c3d"] * 2},
            'network.subnetIds = ["subnet-0a1b2c3d", "subnet-0a1b2c3d"]: subnet-0a1b2c3d '
            "listed more than once",
        ),
        (
            {"mode": "peered"},
            "does not match any of the expected tags: 'default', 'new', 'existing'",
        ),
        ({"mode": "new", "natGateways": "None"}, "Input should be 'Single' or 'OnePerAz'"),
    ],
)
def test_invalid_networks(network: dict[str, Any], expected: str) -> None:
    assert expected in error_of({**BASE, "network": network})


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ({}, "scheduled-etl:image = {}: set exactly one of 'repository', 'uri' or 'build'"),
        ({"build": {}, "uri": "repo/app:1.2.3"}, "set exactly one of 'repository', 'uri' or"),
        ({"repository": "app", "uri": "repo/app:1.2.3"}, "set exactly one of 'repository', 'uri'"),
        ({"repository": "app"}, "'repository' needs the image's 'digest' for this run"),
        ({"repository": "App", "digest": "sha256:" + "a" * 64}, 'image.repository = "App"'),
        ({"repository": "app", "digest": "sha256:abc"}, 'image.digest = "sha256:abc"'),
        ({"uri": "app:1.0.0", "digest": "sha256:" + "a" * 64}, "'digest' goes with 'repository'"),
        (
            {"uri": "repo/app"},
            "pin the image: give a tag other than 'latest' or an @sha256: digest",
        ),
        ({"uri": "repo/app:latest"}, "pin the image"),
    ],
)
def test_image_source_is_exactly_one_pinned_choice(image: dict[str, Any], expected: str) -> None:
    assert expected in error_of({**BASE, "image": image})


def test_a_ci_built_image_is_a_repository_and_a_digest() -> None:
    digest = "sha256:" + "a" * 64
    raw = {**BASE, "image": {"repository": "team/etl-app", "digest": digest}}
    image = parse_settings(raw).image
    assert (image.repository, image.digest, image.uri, image.build) == (
        "team/etl-app",
        digest,
        None,
        None,
    )


def test_pinned_image_uris() -> None:
    digest = "registry.example.com:5000/team/app@sha256:" + "a" * 64
    assert parse_settings({**BASE, "image": {"uri": digest}}).image.uri == digest
    assert parse_settings({**BASE, "image": {"uri": "app:1.2.3"}}).image.uri == "app:1.2.3"
    assert "registry.example.com:5000/team/app" in error_of(
        {**BASE, "image": {"uri": "registry.example.com:5000/team/app"}}
    )


def test_built_image_serves_one_architecture() -> None:
    a1 = {"architecture": "ARM64", "s3Prefix": "a1/"}
    raw = {**BASE, "jobs": {"a1": a1, "b1": {"s3Prefix": "b1/"}}}
    assert "must share one architecture; found ['ARM64', 'X86_64']" in error_of(raw)
    raw["jobs"]["b1"] = {"imageUri": "app:1.0.0", "s3Prefix": "b1/"}
    assert parse_settings(raw).jobs["a1"].architecture == "ARM64"


def test_the_ci_built_repository_image_serves_x86_only() -> None:
    """CI builds the repository's image for linux/amd64 (deploy.yml): ARM64 jobs would fail."""
    repository = {"repository": "scheduled-etl", "digest": "sha256:" + "1" * 64}
    raw = {**BASE, "image": repository, "jobs": {"a1": {"architecture": "ARM64"}}}
    assert 'jobs.a1.architecture = "ARM64": the repository\'s image is built for X86_64' in (
        error_of(raw)
    )
    raw["jobs"]["a1"] = {"architecture": "ARM64", "imageUri": "app:1.0.0-arm64"}
    assert parse_settings(raw).jobs["a1"].architecture == "ARM64"
    deploy = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "deploy.yml"
    assert "platforms: linux/amd64\n" in deploy.read_text(), "update this rule with deploy.yml"


def test_unknown_keys_get_a_did_you_mean_hint() -> None:
    message = error_of(job(ephemeralStorageGib=50))
    assert "scheduled-etl:jobs.monthly-orders.ephemeralStorageGib = 50: unknown key; " in message
    assert "did you mean 'ephemeralStorageGiB'?" in message
    assert "scheduled-etl:logRetention = 7: unknown key; did you mean 'logRetentionDays'?" in (
        error_of({**BASE, "logRetention": 7})
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"DB_PASSWORD": "x"}, "DB_PASSWORD is set by the program"),
        ({"STRIPE_API_KEY": "x"}, "STRIPE_API_KEY looks like a secret"),
        ({"lower": "x"}, "'lower' is not an environment variable name"),
    ],
)
def test_environment_is_plain_and_not_reserved(env: dict[str, str], expected: str) -> None:
    message = error_of(job(environment=env))
    assert "scheduled-etl:jobs.monthly-orders.environment = " in message
    assert expected in message


def test_every_problem_is_reported_at_once() -> None:
    message = error_of({"image": {}, "jobs": {"monthly-orders": {"cpu": 3, "timezone": "Nowhere"}}})
    assert message.count("\n  - ") == 3


def test_single_key_and_cross_field_problems_come_in_one_pass() -> None:
    """A bad time zone used to hide the job's cpu/memory mismatch and the grace-period rule
    until it was fixed; now all three come at once."""
    fields = {"timezone": "Nowhere", "cpu": 512, "memory": 8192, "missedRunGraceMinutes": 5}
    lines = error_of(job(**fields)).splitlines()[1:]
    keys = [line.split(" = ")[0] for line in lines]
    assert keys == [
        f"  - scheduled-etl:jobs.monthly-orders.{key}"
        for key in ("timezone", "memory", "missedRunGraceMinutes")
    ], lines


def test_a_misspelt_time_zone_gets_the_closest_name() -> None:
    message = error_of(job(timezone="Europe/Berln"))
    assert 'timezone = "Europe/Berln": expected an IANA time zone name' in message
    assert "did you mean 'Europe/Berlin'?" in message


def test_a_cross_field_problem_names_its_key_without_a_dump_of_the_job() -> None:
    message = error_of(job(cpu=256, memory=4096, environment={"LOG_LEVEL": "DEBUG"}))
    assert (
        "  - scheduled-etl:jobs.monthly-orders.memory = 4096: memory 4096 does not fit" in message
    )
    assert "LOG_LEVEL" not in message and "{" not in message, message


def test_a_cross_field_rule_is_not_run_on_a_value_already_reported() -> None:
    """cpu 3000 is reported; checking memory against a stand-in cpu would mislead."""
    message = error_of(job(cpu=3000, memory=16384))
    assert "jobs.monthly-orders.cpu = 3000: not a Fargate size" in message
    assert "memory" not in message, message


@pytest.mark.parametrize("folder", ["etl/jobs/monthly_orders", "/app/etl/jobs/monthly_orders"])
def test_etl_job_names_a_job_folder_the_image_copies(folder: str) -> None:
    assert parse_settings(job(etlJob=folder)).jobs["monthly-orders"].etl_job == folder


@pytest.mark.parametrize(
    ("folder", "expected"),
    [
        ("etl/jobs/monthly_order", "etl/jobs/monthly_order is not a job folder of this project"),
        ("etl/jobs", "etl/jobs is not a job folder of this project (no etl/jobs/schema.sql)"),
        ("/jobs/x", "is not in the image (it copies etl/ into /app)"),
        ("tests/etl", "is not in the image"),
    ],
)
def test_an_etl_job_typo_is_caught_offline(folder: str, expected: str) -> None:
    message = error_of(job(etlJob=folder))
    assert f'scheduled-etl:jobs.monthly-orders.etlJob = "{folder}": {expected}' in message
    # A job with an image of its own carries its own folders: not checked here.
    assert parse_settings(job(etlJob=folder, imageUri="elsewhere/app:1.0"))


def test_the_image_layout_the_etl_job_check_assumes_is_the_dockerfiles() -> None:
    dockerfile = (Path(__file__).resolve().parents[2] / "Dockerfile").read_text()
    assert f"WORKDIR {IMAGE_WORKDIR}\n" in dockerfile
    assert f"COPY {IMAGE_COPIES}/ ./{IMAGE_COPIES}/\n" in dockerfile


def test_s3_prefix_drives_input_and_output_prefixes() -> None:
    scoped = parse_settings(job(s3Prefix="team-a/")).jobs["monthly-orders"]
    assert (scoped.input_prefix, scoped.output_prefix) == ("team-a/input/", "team-a/output/")
    assert "String should match pattern" in error_of(job(s3Prefix="no-trailing-slash"))


def test_config_values_decode_like_pulumi_hands_them_over() -> None:
    assert decode_config_value('{"mode": "new"}') == {"mode": "new"}
    assert decode_config_value("[1, 2]") == [1, 2]
    assert decode_config_value("mysql:8.4") == "mysql:8.4"


def test_names_must_fit_aws_limits_with_the_stack_name() -> None:
    # The tightest limit: the watchdog's schedule scheduled-etl-<stack>-monthly-orders-watch (64).
    assert parse_settings(job(), stack="s" * 29)
    with pytest.raises(
        ConfigError,
        match=r"scheduled-etl:jobs.monthly-orders: the EventBridge Scheduler "
        r"schedule name .*-watch' has 65 characters; at most 64 \(https://docs.aws",
    ):
        parse_settings(job(), stack="s" * 30)


@pytest.mark.parametrize(
    ("stack", "jobs", "expected"),
    [
        # The longest job name (24) on a 23-character stack overflows the watchdog's schedule.
        ("s" * 23, {"j" * 24: {}}, "schedule name"),
        # Uppercase stacks: the created bucket and the ECR repository must be lowercase.
        ("Prod", {"etl": {}}, "stack name 'Prod': the S3 bucket name"),
        # A dot is fine for Pulumi stacks but not for SQS queue names.
        ("a.b", {"etl": {}}, "jobs.etl: the SQS queue name 'scheduled-etl-a.b-etl-dlq' has"),
    ],
)
def test_derived_names_get_a_config_error(stack: str, jobs: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError, match="nothing was created") as caught:
        parse_settings({"image": {"build": {}}, "jobs": jobs}, stack=stack)
    assert expected in str(caught.value), str(caught.value)


def test_every_derived_name_is_checked() -> None:
    # Each limit that the program's names can reach, with its documentation address.
    from components.specs import names  # noqa: PLC0415

    limits = {limit for _, limit in names.job_names("dev", "etl")}
    shared = names.stack_names("dev", creates_bucket=True, builds_image=True)
    limits |= {limit for _, limit in shared}
    assert len(limits) == 15
    assert all(limit.source.startswith("https://docs.aws.amazon.com/") for limit in limits)
    for limit in limits:
        assert names.problems([("x" * (limit.max_length + 1), limit)]), limit.what


def test_run_keys_have_safe_defaults() -> None:
    settings = parse_settings(job()).jobs["monthly-orders"]
    assert (settings.timeout_minutes, settings.run_retries) == (360, 2)
    assert (settings.retry_interval_seconds, settings.spot_fallback) == (60, True)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("timeoutMinutes", 4, "greater than or equal to 5"),
        ("timeoutMinutes", 10081, "less than or equal to 10080"),
        ("timeoutMinutes", "6h", "valid integer"),
        ("runRetries", -1, "greater than or equal to 0"),
        ("runRetries", 11, "less than or equal to 10"),
        ("retryIntervalSeconds", 0, "greater than or equal to 1"),
        ("retryIntervalSeconds", 3601, "less than or equal to 3600"),
        ("spotFallback", "maybe", "valid boolean"),
        ("timeout", 60, "unknown key; did you mean 'timeoutMinutes'?"),  # Copilot's names
        ("retries", 3, "unknown key; did you mean 'runRetries'?"),
    ],
)
def test_invalid_run_keys_name_the_key_value_and_rule(key: str, value: Any, expected: str) -> None:
    message = error_of(job(**{key: value}))
    assert f"scheduled-etl:jobs.monthly-orders.{key} = {json.dumps(value)}: " in message
    assert expected in message


# --- a job on Aurora (databaseServer: aurora) ---------------------------------------------


def aurora_stack(aurora: dict[str, Any] | None = None, **job_fields: Any) -> dict[str, Any]:
    raw = job(databaseServer="aurora", **job_fields)
    return raw if aurora is None else {**raw, "aurora": aurora}


def test_an_aurora_job_with_the_stacks_cluster() -> None:
    settings = parse_settings(aurora_stack({"maxCapacity": 4}))
    assert settings.jobs["monthly-orders"].database_server == "aurora"
    assert settings.aurora is not None and settings.aurora.min_capacity == 0  # pauses
    assert settings.aurora.spec().storage_type == "aurora-iopt1"
    existing = parse_settings(aurora_stack({"existingCluster": "shared-etl"}))
    assert existing.aurora is not None and existing.aurora.existing_cluster == "shared-etl"


def test_impossible_aurora_combinations_are_reported_in_one_pass() -> None:
    """Every impossible combination at once, each naming its key, value and what is allowed."""
    raw = aurora_stack(
        {"engineVersion": "8.0.mysql_aurora.3.07.1", "minCapacity": 0,
         "secondsUntilAutoPause": 100, "backupRetentionDays": 0},
        mysqlImage="mysql:8.4", exportPath="shared",
    )  # fmt: skip
    raw["network"] = {
        "mode": "existing",
        "vpcId": "vpc-0123456789abcdef0",
        "subnetIds": ["subnet-0123456789abcdef0"],
    }
    message = error_of(raw)
    for expected in (
        "aurora.minCapacity = 0.0: 0 ACU (auto-pause) needs Aurora MySQL 3.08.0 or later",
        "aurora.secondsUntilAutoPause = 100: must be 300-86,400 s",
        "aurora.backupRetentionDays = 0: Input should be greater than or equal to 1",
        'jobs.monthly-orders.mysqlImage = "mysql:8.4": means something only with the sidecar',
        'jobs.monthly-orders.exportPath = "shared": means something only with the sidecar',
        'network.subnetIds = ["subnet-0123456789abcdef0"]: an Aurora cluster\'s subnet group '
        "needs subnets in two Availability Zones",
    ):
        assert expected in message, message


def test_an_aurora_job_needs_the_stacks_block() -> None:
    assert "jobs.monthly-orders.databaseServer" in error_of(aurora_stack())
    assert "needs the stack's `aurora` block" in error_of(aurora_stack())


def test_an_existing_cluster_needs_no_subnet_rule_and_refuses_creation_keys() -> None:
    one_subnet = {
        "mode": "existing",
        "vpcId": "vpc-0123456789abcdef0",
        "subnetIds": ["subnet-0123456789abcdef0"],
    }
    raw = {**aurora_stack({"existingCluster": "shared-etl"}), "network": one_subnet}
    assert parse_settings(raw).aurora is not None
    # Keys that shape a created cluster are refused, not silently ignored.
    creation = {"minCapacity": 0, "engineVersion": "8.0.mysql_aurora.3.04.0"}
    raw = {**aurora_stack({"existingCluster": "shared-etl", **creation}), "network": one_subnet}
    with pytest.raises(ConfigError) as raised:
        parse_settings(raw)
    message = str(raised.value)
    for key, value in (("engineVersion", '"8.0.mysql_aurora.3.04.0"'), ("minCapacity", "0")):
        assert f"aurora.{key} = {value}" in message and "with `existingCluster`" in message


def test_an_aurora_block_no_job_uses_is_refused() -> None:
    raw = aurora_stack({})
    raw["jobs"] = {name: {**job, "databaseServer": "sidecar"} for name, job in raw["jobs"].items()}
    with pytest.raises(ConfigError, match="no job has `databaseServer: aurora`"):
        parse_settings(raw)
