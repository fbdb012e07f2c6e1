"""The pure builders, without the Pulumi engine: container definitions, IAM documents and the
schedule target, each checked for content and against the AWS API models."""

from __future__ import annotations

import json
import shlex
from typing import Any

import pytest
from aws_models import errors

from components.settings import JobSettings, parse_settings
from components.specs import containers, policies
from components.specs.containers import (
    MYSQL_HEALTH_CHECK,
    Sidecar,
    TaskInputs,
    container_definitions,
    init_sql,
    sidecars,
    task_volumes,
)
from components.specs.schedule import (
    flexible_time_window,
    run_task_command,
    run_task_request,
    schedule_target,
)

SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf"
INPUTS = TaskInputs(
    app_image="123456789012.dkr.ecr.eu-west-1.amazonaws.com/app@sha256:" + "0" * 64,
    secret_arn=SECRET,
    log_group="/ecs/scheduled-etl-dev-monthly-orders",
    region="eu-west-1",
    bucket="data-bucket",
    job_name="scheduled-etl-dev-j1",
)
CLUSTER = "arn:aws:ecs:eu-west-1:123456789012:cluster/etl"


def make_job(**fields: Any) -> JobSettings:
    # A VPC of its own (private subnets), as most stacks run.
    raw = {"network": {"mode": "new"}, "image": {"build": {}}, "jobs": {"j1": fields}}
    return parse_settings(raw).jobs["j1"]


def by_name(definitions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in definitions}


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["environment"]}


class TestContainerDefinitions:
    def test_the_app_and_its_sidecars_essential_and_valid_for_ecs(self) -> None:
        job = make_job()
        definitions = container_definitions(job, INPUTS)
        assert [d["name"] for d in definitions] == ["app", *(s.name for s in sidecars(job))]
        assert "mysql" in by_name(definitions), "the article's sidecar"
        assert all(d["essential"] is True for d in definitions)
        assert errors(definitions, "ecs", "RegisterTaskDefinition", "containerDefinitions") == ""

    def test_a_second_sidecar_is_one_entry(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Sidecars are data: one more `Sidecar` gives a valid task whose app waits for it."""
        cache = Sidecar(
            name="extra-cache",
            image="public.ecr.aws/docker/library/redis:7.4",
            secrets={"REDIS_PASSWORD": "password"},
            user="999:999",
        )
        standard = containers.sidecars
        monkeypatch.setattr(containers, "sidecars", lambda job: [*standard(job), cache])
        job = make_job()
        definitions = by_name(container_definitions(job, INPUTS))
        assert list(definitions) == ["app", *(s.name for s in standard(job)), "extra-cache"]
        waits = definitions["app"]["dependsOn"]
        assert {"containerName": "mysql", "condition": "HEALTHY"} in waits
        assert waits[-1] == {"containerName": "extra-cache", "condition": "START"}  # no check
        assert definitions["extra-cache"]["essential"] is True
        assert definitions["extra-cache"]["secrets"] == [
            {"name": "REDIS_PASSWORD", "valueFrom": f"{SECRET}:password::"}
        ]
        logs = definitions["extra-cache"]["logConfiguration"]["options"]
        assert logs["awslogs-stream-prefix"] == "extra-cache"
        assert "healthCheck" not in definitions["extra-cache"]
        listed = list(definitions.values())
        assert errors(listed, "ecs", "RegisterTaskDefinition", "containerDefinitions") == ""

    def test_app_environment_follows_the_etl_contract(self) -> None:
        job = make_job(
            database="shop",
            dbUsername="loader",
            s3Prefix="team/",
            etlJob="etl/jobs/monthly_orders",
            environment={"LOG_LEVEL": "DEBUG"},
        )
        app = by_name(container_definitions(job, INPUTS))["app"]
        assert env_of(app) == {
            "AWS_REGION": "eu-west-1",
            "DB_HOST": "127.0.0.1",
            "DB_PORT": "3306",
            "DB_DATABASE": "shop",
            "DB_USERNAME": "loader",
            "DATA_BUCKET": "data-bucket",
            "INPUT_PREFIX": "team/input/",
            "OUTPUT_PREFIX": "team/output/",
            "ETL_JOB": "etl/jobs/monthly_orders",
            "LOG_LEVEL": "DEBUG",
            "DB_SHARED_DIR": "/var/lib/mysql/exchange",
            "JOB_NAME": "scheduled-etl-dev-j1",
        }
        assert app["image"] == INPUTS.app_image

    def test_passwords_only_through_secrets_manager(self) -> None:
        containers = by_name(container_definitions(make_job(), INPUTS))
        assert containers["app"]["secrets"] == [
            {"name": "DB_PASSWORD", "valueFrom": f"{SECRET}:password::"}
        ]
        assert containers["mysql"]["secrets"] == [
            {"name": "DB_PASSWORD", "valueFrom": f"{SECRET}:password::"},
            {"name": "MYSQL_ROOT_PASSWORD", "valueFrom": f"{SECRET}:rootPassword::"},
        ]
        for container in containers.values():
            for name in env_of(container):
                assert not any(word in name for word in ("PASSWORD", "SECRET", "TOKEN")), name

    def test_app_waits_for_a_healthy_mysql(self) -> None:
        containers = by_name(container_definitions(make_job(), INPUTS))
        assert {"containerName": "mysql", "condition": "HEALTHY"} in containers["app"]["dependsOn"]
        check = containers["mysql"]["healthCheck"]
        assert check["command"][0] == "CMD-SHELL" and "--protocol=tcp" in check["command"][1]
        # ECS limits: interval 5-300, timeout 2-120, retries 1-10, startPeriod 0-300.
        assert 5 <= check["interval"] <= 300 and 2 <= check["timeout"] <= 120
        assert 1 <= check["retries"] <= 10 and 0 <= check["startPeriod"] <= 300
        assert check["timeout"] < check["interval"]
        assert check is MYSQL_HEALTH_CHECK

    def test_mysql_sidecar(self) -> None:
        mysql = by_name(container_definitions(make_job(mysqlImage="mysql:8.4.7"), INPUTS))["mysql"]
        assert mysql["image"] == "mysql:8.4.7"
        assert env_of(mysql) == {
            "MYSQL_ROOT_HOST": "localhost",  # root from inside the container only
            "MYSQL_INITDB_SKIP_TZINFO": "1",  # the job keeps its sessions in UTC offsets
            "TMPDIR": "/var/lib/mysql/tmp",  # the root file system is read-only
        }
        assert mysql["stopTimeout"] == 120, "a slow shutdown must not become SIGKILL (137)"
        assert mysql["startTimeout"] == 120, "a sidecar never healthy must stop the task"

    def test_shared_export_path_mounts_the_database_volume_in_both_containers(self) -> None:
        job = make_job(dbUsername="loader")
        assert task_volumes(job) == [{"name": "mysql"}, {"name": "tmp"}]
        containers = by_name(container_definitions(job, INPUTS))
        database = {"sourceVolume": "mysql", "containerPath": "/var/lib/mysql"}
        assert containers["mysql"]["mountPoints"] == [database]
        assert containers["app"]["mountPoints"] == [
            {"sourceVolume": "tmp", "containerPath": "/tmp"},
            database,
        ]
        assert env_of(containers["app"])["DB_SHARED_DIR"] == "/var/lib/mysql/exchange"
        mysql = containers["mysql"]
        assert mysql["entryPoint"] == ["sh", "-c"]
        [script] = mysql["command"]
        # MySQL 8.4 writes 0640 files as mysql:mysql (999:999): the directory is that group's
        # and the app runs with it (tests/task/test_task_runner.py runs this for real). The
        # sidecar makes it as its own user: no chown, no root.
        assert "chown" not in script
        assert "mkdir -p /var/lib/mysql/exchange && chmod 2770 /var/lib/mysql/exchange" in script
        assert containers["app"]["user"] == "10001:999"
        assert "GRANT FILE ON *.* TO '\"'\"'loader'\"'\"'@'\"'\"'127.0.0.1'\"'\"';" in script
        assert script.endswith("--local-infile=ON --secure-file-priv=/var/lib/mysql/exchange")

    def test_stream_export_path_shares_no_volume(self) -> None:
        job = make_job(exportPath="stream")
        containers = by_name(container_definitions(job, INPUTS))
        assert containers["app"]["mountPoints"] == [
            {"sourceVolume": "tmp", "containerPath": "/tmp"}
        ]
        assert "DB_SHARED_DIR" not in env_of(containers["app"])
        [script] = containers["mysql"]["command"]
        assert "secure-file-priv" not in script and "GRANT FILE" not in script
        assert "exchange" not in script

    def test_containers_run_as_non_root_on_a_read_only_root(self) -> None:
        """FSBP ECS.5 and ECS.20, whichever export path."""
        for path in ("shared", "stream"):
            for name, container in by_name(
                container_definitions(make_job(exportPath=path), INPUTS)
            ).items():
                assert container["readonlyRootFilesystem"] is True, name
                uid = container["user"].split(":")[0]
                assert uid not in ("", "0", "root"), name

    def test_the_sidecar_listens_inside_the_task_only(self) -> None:
        """Bound to 127.0.0.1, no port mapping, the job's user from 127.0.0.1 only, root from
        localhost only (tests/task runs it: a connection from outside is refused)."""
        job = make_job(dbUsername="loader")
        mysql = by_name(container_definitions(job, INPUTS))["mysql"]
        assert "portMappings" not in mysql
        [script] = mysql["command"]
        assert " --bind-address=127.0.0.1 " in script
        assert env_of(mysql)["MYSQL_ROOT_HOST"] == "localhost"
        sql = init_sql(job, "pw")
        assert "'loader'@'127.0.0.1'" in sql and "'%'" not in sql

    def test_each_container_logs_to_the_job_log_group(self) -> None:
        for name, container in by_name(container_definitions(make_job(), INPUTS)).items():
            assert container["logConfiguration"] == {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": INPUTS.log_group,
                    "awslogs-region": "eu-west-1",
                    "awslogs-stream-prefix": name,
                },
            }


def allowed(policy: dict[str, Any], element: str) -> list[str]:
    """Every value of `element` (Action or Resource) in the policy's Allow statements."""
    values: list[str] = []
    for statement in policy["Statement"]:
        if statement["Effect"] == "Allow":
            value = statement[element]
            values += [value] if isinstance(value, str) else value
    return values


def allowed_actions(policy: dict[str, Any]) -> list[str]:
    return allowed(policy, "Action")


def allowed_resources(policy: dict[str, Any]) -> list[str]:
    """Allowed resources, but for the one named exception: ecs:ListTasks, which AWS authorizes on
    `*` and its ecs:cluster condition scopes (policies.py); that statement is checked here."""
    scoped = []
    for statement in policy["Statement"]:
        if statement["Effect"] == "Allow" and statement["Action"] == "ecs:ListTasks":
            assert statement["Resource"] == "*"
            assert list(statement["Condition"]) == ["ArnEquals"]
            assert list(statement["Condition"]["ArnEquals"]) == ["ecs:cluster"]
        else:
            scoped.append(statement)
    return allowed({**policy, "Statement": scoped}, "Resource")


BUCKET_ARN = "arn:aws:s3:::data-bucket"
TASK_FAMILY = "arn:aws:ecs:eu-west-1:123456789012:task-definition/etl-dev-j1"
ROLES = ["arn:aws:iam::123456789012:role/exec", "arn:aws:iam::123456789012:role/task"]
DLQ = "arn:aws:sqs:eu-west-1:123456789012:etl-dev-j1-dlq"
RUN_MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:etl-dev-j1"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:etl-dev-alerts"
ALL_POLICIES = {
    "secret": policies.read_secret_policy(SECRET),
    "bucket": policies.bucket_read_write_policy(BUCKET_ARN),
    "bucket-prefix": policies.bucket_read_write_policy(BUCKET_ARN, "team/"),
    "scheduler": policies.scheduler_policy([RUN_MACHINE, f"{RUN_MACHINE}-watch"], DLQ),
    "run-machine": policies.run_machine_policy(TASK_FAMILY, CLUSTER, ROLES, TOPIC),
    "watchdog": policies.watchdog_policy(RUN_MACHINE, TOPIC),
}


class TestPolicies:
    @pytest.mark.parametrize("name", sorted(ALL_POLICIES))
    def test_no_wildcard_actions_and_scoped_resources(self, name: str) -> None:
        policy = ALL_POLICIES[name]
        assert all("*" not in action for action in allowed_actions(policy))
        assert all(r != "*" and r.startswith("arn:aws:") for r in allowed_resources(policy))
        # A valid document for IAM's API (size and type rules) once serialised.
        assert (
            errors(
                {"RoleName": "r", "PolicyName": "p", "PolicyDocument": json.dumps(policy)},
                "iam",
                "PutRolePolicy",
            )
            == ""
        )

    def test_trust_policies(self) -> None:
        plain = policies.trust_policy("ecs-tasks.amazonaws.com")
        assert plain["Statement"] == [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
            }
        ]
        guarded = policies.trust_policy("scheduler.amazonaws.com", "123456789012")
        assert guarded["Statement"][0]["Condition"] == {
            "StringEquals": {"aws:SourceAccount": "123456789012"}
        }

    def test_execution_role_reads_only_its_secret(self) -> None:
        [statement] = ALL_POLICIES["secret"]["Statement"]
        assert (statement["Action"], statement["Resource"]) == (
            "secretsmanager:GetSecretValue",
            SECRET,
        )

    def test_bucket_access_is_grant_read_write_without_wildcards(self) -> None:
        policy = ALL_POLICIES["bucket"]
        assert set(allowed_actions(policy)) == {
            "s3:ListBucket",
            "s3:GetBucketLocation",
            "s3:ListBucketMultipartUploads",
            "s3:GetObject",
            "s3:GetObjectTagging",
            "s3:PutObject",
            "s3:PutObjectTagging",
            "s3:DeleteObject",
            "s3:AbortMultipartUpload",
            "s3:ListMultipartUploadParts",
        }
        assert set(allowed_resources(policy)) == {BUCKET_ARN, f"{BUCKET_ARN}/*"}

    def test_bucket_access_limited_to_a_prefix(self) -> None:
        policy = ALL_POLICIES["bucket-prefix"]
        assert f"{BUCKET_ARN}/team/*" in allowed_resources(policy)
        assert f"{BUCKET_ARN}/*" not in allowed_resources(policy)
        listing = next(s for s in policy["Statement"] if s["Action"] == "s3:ListBucket")
        assert listing["Condition"] == {"StringLike": {"s3:prefix": ["team/*"]}}

    def test_scheduler_starts_only_this_jobs_workflows(self) -> None:
        start, dead_letters = ALL_POLICIES["scheduler"]["Statement"]
        assert start["Action"] == "states:StartExecution"
        assert start["Resource"] == [RUN_MACHINE, f"{RUN_MACHINE}-watch"]
        assert (dead_letters["Action"], dead_letters["Resource"]) == ("sqs:SendMessage", DLQ)

    def test_run_machine_runs_only_this_family_on_this_cluster(self) -> None:
        statements = {s["Sid"]: s for s in ALL_POLICIES["run-machine"]["Statement"]}
        run, cluster = statements["RunJobTask"], {"ArnEquals": {"ecs:cluster": CLUSTER}}
        assert run["Action"] == "ecs:RunTask"
        assert run["Resource"] == [TASK_FAMILY, f"{TASK_FAMILY}:*"] and run["Condition"] == cluster
        tasks = "arn:aws:ecs:eu-west-1:123456789012:task/etl/*"
        assert statements["TagJobTaskOnLaunch"]["Resource"] == tasks
        watch = statements["WatchAndStopTasks"]
        assert (watch["Action"], watch["Resource"], watch["Condition"]) == (
            ["ecs:DescribeTasks", "ecs:StopTask"], tasks, cluster)  # fmt: skip
        listing = statements["FindTimedOutTask"]
        # AWS authorizes ListTasks on `*`; the cluster condition scopes it (policies.py).
        assert listing["Resource"] == "*"
        assert listing["Condition"] == cluster
        assert statements["PassTaskRoles"]["Resource"] == ROLES
        rule = "arn:aws:events:eu-west-1:123456789012:rule/StepFunctionsGetEventsForECSTaskRule"
        assert statements["SyncRule"]["Resource"] == rule
        assert statements["Alert"]["Resource"] == TOPIC

    def test_watchdog_reads_only_this_jobs_runs(self) -> None:
        listing, reading, alert = ALL_POLICIES["watchdog"]["Statement"]
        head = "arn:aws:states:eu-west-1:123456789012"
        assert (listing["Action"], listing["Resource"]) == (
            "states:ListExecutions", [RUN_MACHINE, f"{head}:mapRun:etl-dev-j1/*"])  # fmt: skip
        assert (reading["Action"], reading["Resource"]) == (
            "states:DescribeExecution",
            [f"{head}:execution:etl-dev-j1:*", f"{head}:express:etl-dev-j1:*"])  # fmt: skip
        assert (alert["Action"], alert["Resource"]) == ("sns:Publish", TOPIC)

    def test_tls_only_bucket_policy_denies_plain_http(self) -> None:
        [deny] = policies.tls_only_bucket_policy(BUCKET_ARN)["Statement"]
        assert deny["Effect"] == "Deny"
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert deny["Resource"] == [BUCKET_ARN, f"{BUCKET_ARN}/*"]


class TestSchedule:
    def target(self, job: JobSettings, **extra: Any) -> dict[str, Any]:
        return schedule_target(job, state_machine_arn=RUN_MACHINE, role_arn=ROLES[0], **extra)

    def test_the_target_starts_an_execution_for_the_scheduled_time(self) -> None:
        target = self.target(make_job(retryAttempts=5, maxEventAgeSeconds=600), dead_letter_arn="q")
        assert (target["arn"], target["role_arn"]) == (RUN_MACHINE, ROLES[0])
        assert json.loads(target["input"]) == {"scheduledTime": "<aws.scheduler.scheduled-time>"}
        assert target["retry_policy"] == {
            "maximum_retry_attempts": 5,
            "maximum_event_age_in_seconds": 600,
        }
        assert target["dead_letter_config"] == {"arn": "q"}
        assert "ecs_parameters" not in target  # the state machine runs the task

    def test_flexible_time_window(self) -> None:
        assert flexible_time_window(make_job()) == {"mode": "OFF"}
        assert flexible_time_window(make_job(flexibleWindowMinutes=15)) == {
            "mode": "FLEXIBLE",
            "maximum_window_in_minutes": 15,
        }

    def test_run_task_request_is_valid_for_ecs_and_matches_the_schedule(self) -> None:
        for capacity in ("FARGATE", "FARGATE_SPOT"):
            job = make_job(capacity=capacity)
            request = run_task_request(
                job, cluster="etl", task_definition_arn=f"{TASK_FAMILY}:3",
                subnet_ids=["subnet-1"], security_group_ids=["sg-1"], assign_public_ip=False,
            )  # fmt: skip
            assert errors(request, "ecs", "RunTask") == ""
            assert ("launchType" in request) == (capacity == "FARGATE")
            assert request["networkConfiguration"]["awsvpcConfiguration"] == {
                "subnets": ["subnet-1"],
                "securityGroups": ["sg-1"],
                "assignPublicIp": "DISABLED",
            }

    def test_run_task_command_matches_the_request(self) -> None:
        request = run_task_request(
            make_job(capacity="FARGATE_SPOT"), cluster="etl",
            task_definition_arn=f"{TASK_FAMILY}:3", subnet_ids=["subnet-1", "subnet-2"],
            security_group_ids=["sg-1"], assign_public_ip=False,
        )  # fmt: skip
        args = shlex.split(run_task_command(request, "eu-west-1"))
        assert args[:3] == ["aws", "ecs", "run-task"]

        def flag(name: str) -> str:
            return args[args.index(name) + 1]

        assert flag("--cluster") == "etl" and flag("--region") == "eu-west-1"
        assert flag("--task-definition") == f"{TASK_FAMILY}:3"
        assert flag("--network-configuration") == (
            "awsvpcConfiguration={subnets=[subnet-1,subnet-2],securityGroups=[sg-1],"
            "assignPublicIp=DISABLED}"
        )
        assert "capacityProvider=FARGATE_SPOT,weight=1" in args and "--launch-type" not in args
