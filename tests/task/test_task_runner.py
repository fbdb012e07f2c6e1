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
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from etl_harness import (
    DEMO_ROWS,
    S3_ENV,
    DbServer,
    demo_export,
    keys,
    manifest,
    run_demo,
    users_job,
)

from components.settings import project_job_folder
from etl import sample
from etl.jobdef import load_job
from etl.settings import BUNDLED_JOB
from etl.validate import split
from tools.offline import ROOT, STACKS, stack_settings
from tools.task import TaskResult, TaskSpec, task_spec
from tools.task.__main__ import app_overrides, local_secrets, platform_env
from tools.task.definition import DefinitionError, from_inputs, secret_value, start_order
from tools.task.images import Image, ImageError, app_image, stand_in
from tools.task.runner import TaskRun

SCHEDULED = "2026-11-01T04:00:00Z"
# Every job of every stack file, as `make test` finds them (a job added to a stack runs too).
JOBS = [(stack, job) for stack in STACKS for job in stack_settings(stack).jobs]
# Those with the sidecar run on their own here; an aurora job needs a server outside the task
# (tests/task/test_aurora_task.py).
SIDECAR_JOBS = [(stack, job) for stack, job in JOBS
                if stack_settings(stack).jobs[job].database_server == "sidecar"]  # fmt: skip


def bundled_job() -> tuple[str, str]:
    """The first sidecar job that runs the bundled job (what the sample orders fit), dev's
    first: a stack whose jobs all moved to Aurora leaves it to the next stack."""
    for stack, job in sorted(SIDECAR_JOBS, key=lambda stack_job: stack_job[0] != "dev"):
        settings = stack_settings(stack).jobs[job]
        if settings.etl_job is None or job_folder(stack, job).resolve() == BUNDLED_JOB.resolve():
            return stack, job
    raise AssertionError("no stack has a sidecar job that runs the bundled job")


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


def s3_for(
    task: TaskSpec, endpoint: str, rows: int, tmp_path: Path, inputs: list[Path] | None = None
) -> tuple[Any, str, str]:
    """The task's bucket in the emulator, with `inputs` (<table>/<file>; default: `rows`
    sample orders) under its input prefix."""
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
    if inputs is None:
        inputs = sample.write(tmp_path, rows, seed=7, month="2026-10", gzipped=True)
    for path in inputs:
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
        spec(*DEV_JOB),
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


def job_folder(stack: str, job: str) -> Path:
    """The folder the job's task runs: its `etlJob` in this checkout, else the bundled job."""
    etl_job = stack_settings(stack).jobs[job].etl_job
    if etl_job is None:
        return BUNDLED_JOB
    inside = project_job_folder(etl_job)
    assert inside is not None, f"{stack}/{job}: etlJob {etl_job} is not in the image"
    return ROOT / inside


def header_only_inputs(folder: Path, db_server: DbServer, tmp_path: Path) -> list[Path]:
    """For a job of the user's own, whose data this test cannot know: each table of its
    schema.sql as a CSV with the header only, read from a throwaway database."""
    name = f"etl_inputs_{uuid.uuid4().hex[:12]}"
    with db_server.connect() as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}`")
        try:
            conn.select_db(name)
            for statement in split(folder / "schema.sql"):
                cursor.execute(statement.sql)
            cursor.execute(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = %s AND extra NOT LIKE '%%GENERATED%%' "
                "ORDER BY table_name, ordinal_position",
                (name,),
            )
            columns: dict[str, list[str]] = {}
            for table, column in cursor.fetchall():
                columns.setdefault(table, []).append(column)
        finally:
            cursor.execute(f"DROP DATABASE `{name}`")
    paths = []
    for table, names in columns.items():
        path = tmp_path / "inputs" / table / "header.csv"
        path.parent.mkdir(parents=True)
        path.write_text(",".join(names) + "\n")
        paths.append(path)
    return paths


DEV_JOB = bundled_job()  # dev first: the stack `make demo` runs


@pytest.mark.parametrize(("stack", "job"), SIDECAR_JOBS, ids=[f"{s}-{j}" for s, j in SIDECAR_JOBS])
def test_every_stacks_job_runs_green(
    stack: str, job: str, s3_endpoint: str, db_server: DbServer, tmp_path: Path
) -> None:
    """The bundled job runs on sample orders and must export rows; a job folder of your own
    runs on empty tables (its data is yours) and must export every export/*.sql."""
    task = spec(stack, job)
    folder = job_folder(stack, job)
    bundled = folder.resolve() == BUNDLED_JOB.resolve()
    inputs = None if bundled else header_only_inputs(folder, db_server, tmp_path)
    s3, bucket, output = s3_for(task, s3_endpoint, 5000, tmp_path, inputs)
    result = run(task, s3_endpoint)
    assert result.exit_code() == 0, result.report() + "\n".join(logs_of(result, "app")[-5:])
    assert result.stop_code == "EssentialContainerExited"
    assert result.container("mysql")["exitCode"] == 0, "the sidecar shut down cleanly"
    assert result.container("mysql")["healthStatus"] == "HEALTHY"
    job_name = task.container("app").environment["JOB_NAME"]  # the run folder is the job's
    found = manifest(s3, bucket, f"{output}{job_name}/run=20261101T040000Z/")
    assert set(found["exports"]) == set(load_job(folder).exports)
    for export in found["exports"].values():
        assert export["rows"] > 0 or not bundled
        for part in export["files"]:
            assert part["key"] in keys(s3, bucket, output)
    events = [text for _, text in result.timeline]
    assert events.index("mysql HEALTHY") < events.index("app started (user 10001:999)")


def test_demo_runs_a_users_job_folder_through_the_task_definition(tmp_path: Path) -> None:
    """`make demo JOB=… INPUTS=…`: the user's folder is what the app container runs, even
    when its modes let only its owner read it (the app runs as 10001)."""
    job, inputs = users_job(tmp_path)
    for path in [job, *job.rglob("*")]:
        path.chmod(0o700 if path.is_dir() else 0o600)
    out = tmp_path / "out"
    done = run_demo("--job", str(job), "--inputs", str(inputs), "--out", str(out), "--rows", "1")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr
    assert "read-only at /app/jobs/my_job in the app container" in done.stdout
    assert "container app: exit code 0" in done.stdout
    assert demo_export(out, "rows") == DEMO_ROWS
    run_folder = out / "my_job" / "run=20261101T040000Z"  # was out/output/my_job/run=…
    found = json.loads((run_folder / "_manifest.json").read_text())
    assert found["job"] == "my_job"
    assert (found["inputs"]["t"]["rows"], found["exports"]["rows"]["rows"]) == (3, 2)
    assert f"(manifest: {run_folder}/_manifest.json)" in done.stdout


def test_sigterm_mid_run_stops_cleanly(s3_endpoint: str, tmp_path: Path) -> None:
    """StopTask once the first export part is in S3: nothing of the run may stay. The stop
    races the job's last export and manifest (milliseconds): a run that published its
    manifest before the stop reached it is complete and proves nothing, so it is run again,
    three times at most."""
    task = spec(*DEV_JOB)
    s3, bucket, output = s3_for(task, s3_endpoint, 50_000, tmp_path)
    for _ in range(3):
        result = run(task, s3_endpoint, stop_on='"event": "export_written"')
        if not [k for k in keys(s3, bucket, output) if k.endswith("_manifest.json")]:
            break  # the stop landed before the run was complete: what this test is about
    assert result.stop_code == "UserInitiated"
    assert result.container("app")["exitCode"] == 143, result.report()
    assert result.container("mysql")["exitCode"] == 0
    events = [text for _, text in result.timeline]
    assert events.index("app exited (143)") < events.index("mysql SIGTERM (stopTimeout 120 s)")
    left = keys(s3, bucket, output)
    assert not [k for k in left if "_locks/" in k], f"lock left behind: {left}"
    assert not [k for k in left if "run=" in k], f"partial output: {left}"


FAILING_CHECK = {"command": ["CMD-SHELL", "exit 1"], "interval": 1, "timeout": 2, "retries": 2,
                 "startPeriod": 0}  # fmt: skip


def with_container(task: TaskSpec, name: str, **changes: Any) -> TaskSpec:
    containers = [dataclasses.replace(c, **changes) if c.name == name else c
                  for c in task.containers]  # fmt: skip
    return dataclasses.replace(task, containers=containers)


def test_a_sidecar_that_never_gets_healthy_stops_the_task_at_its_start_timeout(
    s3_endpoint: str,
) -> None:
    """The declared startTimeout on the sidecar is what ends the wait (ECS: the dependency's
    own startTimeout, from its start); the app never starts and the task stops."""
    task = spec(*DEV_JOB)
    assert task.container("mysql").start_timeout == 120
    broken = with_container(task, "mysql", health_check=FAILING_CHECK, start_timeout=4,
                            stop_timeout=3)  # fmt: skip
    result = run(broken, s3_endpoint)
    assert result.container("app")["exitCode"] is None, "the app never started"
    assert "dependency mysql did not reach HEALTHY within its startTimeout (4 s)" in (
        result.stopped_reason
    )
    assert result.container("mysql")["healthStatus"] == "UNHEALTHY"
    # SIGTERM: mysqld shuts down (0); while the image's entrypoint still initialises, bash as
    # PID 1 ignores it, as in the official image, and stopTimeout ends it (137).
    assert result.container("mysql")["exitCode"] in (0, 137)
    assert not [text for _, text in result.timeline if text.startswith("app started")]


def test_without_a_start_timeout_an_unhealthy_sidecar_is_waited_for(s3_endpoint: str) -> None:
    """ECS: a task run outside a service carries on whatever its health; without a
    startTimeout the app waits for HEALTHY for ever (why the program declares one)."""
    task = spec(*DEV_JOB)
    broken = with_container(task, "mysql", health_check=FAILING_CHECK, start_timeout=None)
    holder: list[TaskRun] = []

    def stop_once_unhealthy() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(text == "mysql UNHEALTHY after 2 failed checks"
                   for _, text in holder[0].timeline):  # fmt: skip
                time.sleep(3)  # still waiting, well after UNHEALTHY
                break
            time.sleep(0.1)
        holder[0].stop("Task stopped by the test")

    holder.append(TaskRun(broken, secrets=local_secrets(broken), on_log=lambda *_: None))
    threading.Thread(target=stop_once_unhealthy, daemon=True).start()
    result = holder[0].run()
    assert result.stop_code == "UserInitiated"
    assert result.container("mysql")["healthStatus"] == "UNHEALTHY"
    assert result.container("app")["exitCode"] is None
    assert result.container("app")["reason"] == "task stopped before it started"


def test_an_app_that_fails_stops_the_task_and_its_sidecar(s3_endpoint: str) -> None:
    result = run(
        spec(*DEV_JOB),
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
    task = spec(*DEV_JOB)
    run_ = TaskRun(task, secrets={})
    result = run_.run()
    assert result.stop_code == "TaskFailedToStart"
    assert "ResourceInitializationError" in result.stopped_reason
    assert result.containers == []
    assert not run_.dir.exists(), "the task's folder is removed on every path"


# -- dependsOn, stopTimeout and stops, on small definitions of shell containers --------------


def shell_task(containers: list[dict[str, Any]]) -> tuple[TaskSpec, dict[str, Image]]:
    """A task of shell containers, each run from the app image's stand-in."""
    task = from_inputs({"family": "shells", "containerDefinitions": [
        {"image": "app-image", **c} for c in containers]})  # fmt: skip
    image = app_image("app-image")
    return task, {c["name"]: image for c in containers}


def test_depends_on_conditions_at_run_time() -> None:
    task, images = shell_task([
        {"name": "init", "essential": False, "command": ["sh", "-c", "exit 0"]},
        {"name": "broken", "essential": False, "command": ["sh", "-c", "exit 4"]},
        {"name": "after-init", "essential": False, "command": ["sh", "-c", "echo ran"],
         "dependsOn": [{"containerName": "init", "condition": "SUCCESS"}]},
        {"name": "after-broken", "essential": False, "command": ["sh", "-c", "echo ran"],
         "dependsOn": [{"containerName": "broken", "condition": "SUCCESS"}]},
        {"name": "after-broken-completes", "essential": False, "command": ["sh", "-c", "exit 0"],
         "dependsOn": [{"containerName": "broken", "condition": "COMPLETE"}]},
        {"name": "main", "command": ["sh", "-c", "sleep 1"],
         "dependsOn": [{"containerName": "after-init", "condition": "START"}]},
    ])  # fmt: skip
    result = TaskRun(task, secrets={}, images=images, on_log=lambda *_: None).run()
    by_name = {c["name"]: c for c in result.containers}
    assert by_name["after-init"]["exitCode"] == 0
    assert by_name["after-broken"]["exitCode"] is None
    assert by_name["after-broken"]["reason"] == "dependency broken exited 4, not SUCCESS"
    assert by_name["after-broken-completes"]["exitCode"] == 0
    assert by_name["main"]["exitCode"] == 0
    assert result.stop_code == "EssentialContainerExited"
    assert result.at("init exited (0)") < result.at("after-init started")  # type: ignore[operator]


def test_a_container_that_ignores_sigterm_is_killed_after_its_stop_timeout() -> None:
    task, images = shell_task([
        {"name": "stubborn", "command": ["sh", "-c", "trap '' TERM; sleep 60 & wait; sleep 60"],
         "stopTimeout": 2},
    ])  # fmt: skip
    run_ = TaskRun(task, secrets={}, images=images, on_log=lambda *_: None)
    threading.Timer(3, run_.stop).start()
    result = run_.run()
    assert result.container("stubborn")["exitCode"] == 137, result.report()
    stopped, killed = result.at("stubborn SIGTERM"), result.at("stubborn SIGKILL")
    assert stopped is not None and killed is not None and 1.8 < killed - stopped < 4


def test_a_stop_during_start_up_ends_the_container_at_once() -> None:
    """PID 1 ignores SIGTERM it has no handler for; the start-up (image steps) must not."""
    task, images = shell_task([{"name": "slow", "command": ["sh", "-c", "sleep 60"],
                                "stopTimeout": 30}])  # fmt: skip
    images["slow"].build.append("sleep 5")  # a long image step, before the entry point
    run_ = TaskRun(task, secrets={}, images=images, on_log=lambda *_: None)
    threading.Timer(1, run_.stop).start()
    result = run_.run()
    assert result.container("slow")["exitCode"] == 143, result.report()
    assert (result.at("task STOPPED") or 99) < 10


def test_a_killed_runner_leaves_no_container_behind(s3_endpoint: str) -> None:
    """kill -9 of the runner: the shims and the containers die with it (PR_SET_PDEATHSIG)."""
    command = [sys.executable, "-m", "tools.task", *DEV_JOB]
    runner = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert runner.stdout is not None
    for line in runner.stdout:
        if "[Entrypoint]" in line:  # the sidecar is starting
            task_id = line.split()[0].rsplit("/", 1)[-1]
            break
    folder = Path(tempfile.gettempdir()) / f"fargate-task-{task_id}"
    assert not list(folder.rglob("spec.json")), "resolved secrets stay on disk while it runs"
    family = descendants(runner.pid)
    assert family, "the runner has started processes"
    runner.kill()
    runner.wait()
    runner.stdout.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and [p for p in family if Path(f"/proc/{p}").exists()]:
        time.sleep(0.1)
    alive = [p for p in family if Path(f"/proc/{p}").exists()]
    assert not alive, f"left running: {[Path(f'/proc/{p}/cmdline').read_bytes() for p in alive]}"
    assert folder.exists(), "a killed runner cannot remove its folder…"
    TaskRun(spec(*DEV_JOB), secrets={}).run()
    assert not folder.exists(), "…the next run does"


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:  # a process may exit while the tree is walked: it has no children then
            children = [c for task in Path(f"/proc/{parent}/task").glob("*")
                        for c in (task / "children").read_text().split()]  # fmt: skip
        except FileNotFoundError:
            continue
        found += [int(c) for c in children]
        todo += [int(c) for c in children]
    return found


def test_definitions_and_images_the_runner_cannot_reproduce_are_refused() -> None:
    with pytest.raises(DefinitionError, match="does not reproduce ulimits"):
        from_inputs({"family": "f", "containerDefinitions": [
            {"name": "app", "image": "x", "ulimits": [{"name": "nofile"}]}]})  # fmt: skip
    with pytest.raises(ImageError, match="no local stand-in for image otel/collector"):
        stand_in("otel/collector:0.1", "otel")
    assert stand_in("public.ecr.aws/docker/library/mysql:8.4@sha256:" + "a" * 64, "db").cmd == [
        "mysqld"
    ]


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


def test_the_app_images_debian_packages_come_from_this_machine(tmp_path: Path) -> None:
    """The Dockerfile's apt-get steps are not replayed at each container start (slow, needs
    the network, delays the command): the packages must be installed here, else it says which."""
    image = app_image("app:local")
    assert "apt-get" in (ROOT / "Dockerfile").read_text()
    assert not [step for step in image.build if "apt-get" in step]
    (tmp_path / "Dockerfile").write_text(
        "FROM python:3.11-slim\nRUN apt-get update && apt-get install -y no-such-package-h20\n"
    )
    with pytest.raises(ImageError, match="no-such-package-h20"):
        app_image("app:local", tmp_path)
