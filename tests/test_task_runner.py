"""The stack's own task definitions, run the way Fargate runs them (tools.task), end to end.

Each test renders the stack offline, takes the job's task definition from it and runs its
containers as processes in their own namespaces: the app from this checkout as the Dockerfile
builds it, the MySQL sidecar from the local MariaDB stand-in that keeps the official image's
contract and MySQL 8.4's 0640 export files. The task reaches moto's S3 over real HTTP.
Root is required (CI and the sessions that build this project run as root).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from etl_harness import S3_ENV, keys, manifest

from etl import sample
from tools.task import TaskResult, TaskSpec, task_spec
from tools.task.__main__ import app_overrides, local_secrets, platform_env
from tools.task.definition import DefinitionError, from_inputs, secret_value, start_order
from tools.task.runner import TaskRun

SCHEDULED = "2026-11-01T04:00:00Z"
RUN_ROOT = "output/run=20261101T040000Z/"
JOBS = [
    ("dev", "monthly-orders"),
    ("staging", "monthly-orders"),
    ("prod", "monthly-orders"),
    ("prod", "monthly-orders-eu"),
]


@pytest.fixture(scope="module", autouse=True)
def _root() -> None:
    if os.geteuid() != 0:
        pytest.fail(
            "the task runner needs root (unshare, mount, setpriv); CI runs as root", pytrace=False
        )


@functools.cache
def spec(stack: str, job: str) -> TaskSpec:
    return task_spec(stack, job)


def run(
    task: TaskSpec,
    endpoint: str,
    *,
    overrides: dict[str, Any] | None = None,
    stop_on: str | None = None,
) -> TaskResult:
    """Run `task` against the S3 emulator; with `stop_on`, StopTask once the app logs it."""
    port = urlsplit(endpoint).port
    assert port
    holder: list[TaskRun] = []

    def on_log(stream: str, line: str) -> None:
        if stop_on and stop_on in line:
            holder[0].stop("Task stopped by the test")

    holder.append(
        TaskRun(
            task,
            secrets=local_secrets(task),
            overrides={**app_overrides("app", SCHEDULED), **(overrides or {})},
            platform_env=platform_env(endpoint, S3_ENV["AWS_DEFAULT_REGION"]),
            forwards={port: ("127.0.0.1", port)},
            on_log=on_log,
        )
    )
    return holder[0].run()


def s3_for(task: TaskSpec, endpoint: str, rows: int, tmp_path: Path) -> tuple[Any, str, str]:
    """The task's bucket in the emulator, with sample inputs under its input prefix."""
    env = task.container("app").environment
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=S3_ENV["AWS_DEFAULT_REGION"],
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    bucket = env["DATA_BUCKET"]
    client.create_bucket(Bucket=bucket)
    for key in keys(client, bucket):
        client.delete_object(Bucket=bucket, Key=key)
    for path in sample.write(tmp_path, rows, seed=7, month="2026-10", gzipped=True):
        client.upload_file(
            str(path), bucket, f"{env['INPUT_PREFIX']}{path.parent.name}/{path.name}"
        )
    return client, bucket, env["OUTPUT_PREFIX"]


def logs_of(result: TaskResult, container: str) -> list[str]:
    return result.logs[result.container(container)["logStream"]]


# -- the runtime defect: MySQL 8.4's export files must be readable by the app ---------------

PROBE = """
import json, os, pymysql
conn = pymysql.connect(host="127.0.0.1", user=os.environ["DB_USERNAME"],
                       password=os.environ["DB_PASSWORD"], database=os.environ["DB_DATABASE"])
path = os.environ["DB_SHARED_DIR"] + "/probe.csv"
with conn.cursor() as cursor:
    cursor.execute(f"SELECT 'written by the server' INTO OUTFILE '{path}'")
st = os.stat(path)
print(json.dumps({"uid": st.st_uid, "gid": st.st_gid, "mode": oct(st.st_mode & 0o777),
                  "me": [os.getuid(), os.getgid()]}), flush=True)
print(open(path).read().strip(), flush=True)
os.remove(path)
print("deleted", flush=True)
"""


def test_app_reads_and_deletes_the_sidecars_0640_export_files(s3_endpoint: str) -> None:
    """MySQL 8.4 creates INTO OUTFILE files 0640 as mysql (999:999); the app must read them.
    (Every stack's job exports through the same volume in test_every_stacks_job_runs_green.)"""
    result = run(
        spec("dev", "monthly-orders"),
        s3_endpoint,
        overrides={"app": {"command": ["python", "-c", PROBE]}},
    )
    lines = logs_of(result, "app")
    stat = json.loads(lines[0])
    assert (stat["uid"], stat["gid"], stat["mode"]) == (999, 999, "0o640"), stat  # as MySQL 8.4
    assert stat["me"][0] == 10001, "the app runs as the Dockerfile's user"
    assert result.container("app")["exitCode"] == 0, "\n".join(lines)
    assert lines[1:] == ["written by the server", "deleted"]


# -- the jobs of every stack, end to end -----------------------------------------------------


@pytest.mark.parametrize(("stack", "job"), JOBS)
def test_every_stacks_job_runs_green(
    stack: str, job: str, s3_endpoint: str, tmp_path: Path
) -> None:
    task = spec(stack, job)
    s3, bucket, output = s3_for(task, s3_endpoint, 5000, tmp_path)
    result = run(task, s3_endpoint)
    assert result.exit_code() == 0, result.report() + "\n".join(logs_of(result, "app")[-5:])
    assert result.stop_code == "EssentialContainerExited"
    assert result.container("mysql")["exitCode"] == 0, "the sidecar shut down cleanly"
    assert result.container("mysql")["healthStatus"] == "HEALTHY"
    found = manifest(s3, bucket, f"{output}run=20261101T040000Z/")
    assert set(found["exports"]) == {"revenue_per_customer", "top_products"}
    for export in found["exports"].values():
        assert export["rows"] > 0
        for part in export["files"]:
            assert part["key"] in keys(s3, bucket, output)
    events = [text for _, text in result.timeline]
    assert events.index("mysql HEALTHY") < events.index("app started (user 10001:999)")


def test_sigterm_mid_run_stops_cleanly(s3_endpoint: str, tmp_path: Path) -> None:
    task = spec("dev", "monthly-orders")
    s3, bucket, output = s3_for(task, s3_endpoint, 50_000, tmp_path)
    result = run(task, s3_endpoint, stop_on='"stage": "transform"')
    assert result.stop_code == "UserInitiated"
    assert result.container("app")["exitCode"] == 143, result.report()
    assert result.container("mysql")["exitCode"] == 0
    events = [text for _, text in result.timeline]
    assert events.index("app exited (143)") < events.index("mysql SIGTERM (stopTimeout 120 s)")
    left = keys(s3, bucket, output)
    assert not [k for k in left if "_locks/" in k], f"lock left behind: {left}"
    assert not [k for k in left if "run=" in k], f"partial output: {left}"


def test_a_sidecar_that_never_gets_healthy_keeps_the_app_from_starting(s3_endpoint: str) -> None:
    task = spec("dev", "monthly-orders")
    mysql = task.container("mysql")
    failing = {
        "command": ["CMD-SHELL", "exit 1"],
        "interval": 1,
        "timeout": 2,
        "retries": 2,
        "startPeriod": 0,
    }
    broken = dataclasses.replace(
        task,
        containers=[
            c if c.name != "mysql" else dataclasses.replace(mysql, health_check=failing)
            for c in task.containers
        ],
    )
    result = run(broken, s3_endpoint)
    assert result.container("app")["exitCode"] is None, "the app never started"
    assert "dependency mysql is UNHEALTHY" in result.stopped_reason
    assert result.container("mysql")["healthStatus"] == "UNHEALTHY"
    assert result.container("mysql")["lastStatus"] == "STOPPED"
    assert not [text for _, text in result.timeline if text.startswith("app started")]


def test_an_app_that_fails_stops_the_task_and_its_sidecar(s3_endpoint: str) -> None:
    result = run(
        spec("dev", "monthly-orders"),
        s3_endpoint,
        overrides={"app": {"command": ["sh", "-c", "echo failing >&2; exit 7"]}},
    )
    assert result.container("app")["exitCode"] == 7
    assert result.exit_code() == 7
    assert result.stop_code == "EssentialContainerExited"
    assert "app: exit code 7" in result.stopped_reason
    assert result.container("mysql")["exitCode"] == 0, "SIGTERM, then a clean shutdown"
    assert logs_of(result, "app") == ["failing"]


def test_a_missing_secret_fails_the_task_before_any_container(s3_endpoint: str) -> None:
    task = spec("dev", "monthly-orders")
    result = TaskRun(task, secrets={}).run()
    assert result.stop_code == "TaskFailedToStart"
    assert "ResourceInitializationError" in result.stopped_reason
    assert result.containers == []


# -- pure parts ------------------------------------------------------------------------------

ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf"


def test_secret_references_resolve_as_ecs_addresses_them() -> None:
    store = {ARN: {"password": "p1", "rootPassword": "r1"}}
    assert secret_value(f"{ARN}:password::", store) == "p1"
    assert secret_value(ARN, {ARN: "whole"}) == "whole"
    assert json.loads(secret_value(ARN, store)) == store[ARN]
    with pytest.raises(DefinitionError, match="no JSON key 'nope'"):
        secret_value(f"{ARN}:nope::", store)
    with pytest.raises(DefinitionError, match="only AWSCURRENT"):
        secret_value(f"{ARN}:password:AWSPREVIOUS:", store)


def test_start_order_follows_depends_on_and_refuses_cycles() -> None:
    def container(name: str, depends: dict[str, str]) -> dict[str, Any]:
        return {
            "name": name,
            "image": "x",
            "dependsOn": [{"containerName": k, "condition": v} for k, v in depends.items()],
        }

    task = from_inputs(
        {
            "family": "f",
            "containerDefinitions": [
                container("app", {"db": "HEALTHY", "init": "SUCCESS"}),
                container("db", {}),
                container("init", {"db": "START"}),
            ],
        }
    )
    assert [c.name for c in start_order(task)] == ["db", "init", "app"]
    cyclic = from_inputs(
        {
            "family": "f",
            "containerDefinitions": [
                container("a", {"b": "START"}),
                container("b", {"a": "START"}),
            ],
        }
    )
    with pytest.raises(DefinitionError, match="cycle"):
        start_order(cyclic)
