"""A job image built FROM the project's runtime (examples/own-job-image/Dockerfile), run by the
local task runner in a stack's task definition: the job the image names runs, on the
sidecar, and writes its exports; a job folder that does not validate fails the image's build.
Root is required (CI and the sessions that build this project run as root)."""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest
from etl_harness import S3_ENV, keys, manifest, read_export

from etl.contract import APP_CONTAINER
from tools.offline import PROJECT, run_program, stack_config, with_image_digest
from tools.task import TaskResult, TaskSpec
from tools.task.__main__ import app_overrides, local_secrets, platform_env
from tools.task.definition import TASK_DEFINITION, from_inputs
from tools.task.images import job_image
from tools.task.runner import TaskRun

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "own-job-image"
SLOT = "2026-11-02T03:30:00Z"  # the nightly job reports the day before: 2026-11-01
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/my-etl-jobs:nightly-sessions-1"


@pytest.fixture(scope="module", autouse=True)
def _root() -> None:
    if os.geteuid() != 0:
        pytest.fail(
            "the task runner needs root (unshare, mount, setpriv); CI runs as root", pytrace=False
        )


@pytest.fixture(scope="module")
def task() -> TaskSpec:
    """The dev stack's first job as a stack declares a job with its own image: `imageUri` set,
    no `etlJob`, so the image's ETL_JOB picks the folder."""
    config = copy.deepcopy(with_image_digest(stack_config("dev")))
    jobs = config[f"{PROJECT}:jobs"]
    name = next(iter(jobs))
    jobs[name].pop("etlJob", None)
    jobs[name].pop("databaseServer", None)  # on the sidecar: this task runs on its own here
    jobs[name]["imageUri"] = IMAGE
    program = run_program("dev", config)
    [inputs] = [r.inputs for r in program.of_type(TASK_DEFINITION) if r.name == name]
    spec = from_inputs(inputs)
    assert spec.container(APP_CONTAINER).image == IMAGE
    assert "ETL_JOB" not in spec.container(APP_CONTAINER).environment
    return spec


def run(task: TaskSpec, context: Path, endpoint: str) -> TaskResult:
    app = task.container(APP_CONTAINER)
    image = job_image(app.image, context / "Dockerfile")
    port = int(endpoint.rsplit(":", 1)[1])
    return TaskRun(
        task,
        secrets=local_secrets(task),
        overrides=app_overrides(APP_CONTAINER, SLOT),
        platform_env=platform_env(endpoint, S3_ENV["AWS_DEFAULT_REGION"]),
        forwards={port: ("127.0.0.1", port)},
        images={APP_CONTAINER: image},
        on_log=lambda *_: None,
    ).run()


def emulated_bucket(task: TaskSpec, endpoint: str) -> tuple[Any, str, dict[str, str]]:
    env = task.container(APP_CONTAINER).environment
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=S3_ENV["AWS_DEFAULT_REGION"],
                      aws_access_key_id="x", aws_secret_access_key="x")  # fmt: skip
    s3.create_bucket(Bucket=env["DATA_BUCKET"])
    for key in keys(s3, env["DATA_BUCKET"]):
        s3.delete_object(Bucket=env["DATA_BUCKET"], Key=key)
    return s3, env["DATA_BUCKET"], env


def build_context(tmp_path: Path) -> Path:
    """The example as a user has it: the Dockerfile beside the job folder."""
    context = tmp_path / "context"
    shutil.copytree(EXAMPLE, context)
    return context


def test_the_task_runs_the_job_the_image_carries(
    task: TaskSpec, s3_endpoint: str, tmp_path: Path
) -> None:
    s3, bucket, env = emulated_bucket(task, s3_endpoint)
    inputs = env["INPUT_PREFIX"]
    s3.put_object(Bucket=bucket, Key=f"{inputs}users/u.csv",
                  Body=b"user_id,country\n1,DE\n2,DE\n3,FR\n")  # fmt: skip
    s3.put_object(Bucket=bucket, Key=f"{inputs}events/e.csv", Body=(
        b"event_id,user_id,url,at\n"
        b"1,1,/a,2026-11-01 08:00:00\n2,1,/b,2026-11-01 09:00:00\n3,2,/a,2026-11-01 23:59:59\n"
        b"4,3,/c,2026-11-01 00:00:00\n5,3,/c,2026-10-31 23:59:59\n6,2,/d,2026-11-02 00:00:00\n"
    ))  # fmt: skip
    result = run(task, build_context(tmp_path), s3_endpoint)
    app_log = result.logs[result.container(APP_CONTAINER)["logStream"]]
    assert result.exit_code() == 0, result.report() + "\n".join(app_log[-5:])
    assert result.container("mysql")["healthStatus"] == "HEALTHY"
    run_folder = f"{env['OUTPUT_PREFIX']}{env['JOB_NAME']}/run=20261102T033000Z/"
    found = manifest(s3, bucket, run_folder)
    assert set(found["exports"]) == {"users_per_country"}
    assert {table: found["inputs"][table]["rows"] for table in found["inputs"]} == {
        "users": 3, "events": 6}  # fmt: skip
    parts = [part["key"] for part in found["exports"]["users_per_country"]["files"]]
    assert read_export(s3, bucket, parts) == (
        ["day", "country", "users", "events"],
        [["2026-11-01", "DE", "2", "3"], ["2026-11-01", "FR", "1", "1"]],
    )


def test_a_job_folder_that_does_not_validate_fails_the_build(
    task: TaskSpec, s3_endpoint: str, tmp_path: Path
) -> None:
    """`RUN python -m etl validate`: `docker build` fails, so no image, no run."""
    context = build_context(tmp_path)
    (context / "nightly_sessions" / "export" / "broken.sql").write_text("DELETE FROM users;\n")
    s3, bucket, env = emulated_bucket(task, s3_endpoint)
    result = run(task, context, s3_endpoint)
    app = result.container(APP_CONTAINER)
    assert app["exitCode"] == 128, result.report()
    log = "\n".join(result.logs[app["logStream"]])
    assert "image step failed" in log and "broken.sql" in log, log
    assert not keys(s3, bucket, env["OUTPUT_PREFIX"])
