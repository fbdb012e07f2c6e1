"""Each stack's aurora jobs, their task definitions as the program declares them, run the way
Fargate runs them (tools.task) against a database outside the task: a TLS-only MariaDB on this
machine with a test CA (tests/tls_server.py), reached at the cluster endpoint's name, which
the task resolves to a forwarded port (what the VPC's resolver and the cluster's security group
make of it), with the cluster secret's keys standing for the server's admin. Its exports are
byte-identical to the same job folder's run in the stack's sidecar task; the run's schema and
user are gone afterwards.

Root is required (CI and the sessions that build this project run as root).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pymysql
import pytest
from etl_harness import S3_ENV, DbServer, keys, read_bytes
from test_task_runner import job_folder, logs_of, run, s3_for, spec
from tls_server import TlsFiles, tls_only_server

from components.specs import aurora
from etl import shared_server
from tools.offline import (
    PROJECT,
    STACKS,
    run_program,
    stack_config,
    stack_settings,
    with_image_digest,
)
from tools.task import TaskResult, TaskSpec
from tools.task.__main__ import app_overrides, platform_env
from tools.task.definition import TASK_DEFINITION, from_inputs
from tools.task.images import app_image
from tools.task.runner import TaskRun

AURORA_JOBS = [(stack, job) for stack in STACKS
               for job, s in stack_settings(stack).jobs.items()
               if s.database_server == "aurora"]  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def _root() -> None:
    if os.geteuid() != 0:
        pytest.fail("the task runner needs root (unshare, mount, setpriv)", pytrace=False)


def endpoint_of(task: TaskSpec) -> str:
    return task.container("app").environment["DB_HOST"]


def secret_of(task: TaskSpec) -> str:
    [secret] = {":".join(v.split(":")[:7]) for v in task.container("app").secrets.values()}
    return secret


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DbServer, TlsFiles]]:
    """The clusters' stand-in: TLS only, its certificate for every aurora job's endpoint."""
    names = sorted({endpoint_of(spec(stack, job)) for stack, job in AURORA_JOBS})
    with tls_only_server(tmp_path_factory.mktemp("cluster"), names) as (own, files):
        yield DbServer(own.host, own.port, own.user, own.password), files


def run_on_cluster(
    task: TaskSpec, s3_endpoint: str, server: DbServer, downloads: dict[str, Path]
) -> TaskResult:
    """The task with its cluster's secret (the server's admin), the endpoint's name resolving
    to a port in the task that reaches the server, and the image's ADDed files standing in."""
    port = urlsplit(s3_endpoint).port
    assert port
    store = {secret_of(task): {"username": server.user, "password": server.password,
                               "engine": "mysql", "host": endpoint_of(task)}}  # fmt: skip
    return TaskRun(
        task,
        secrets=store,
        overrides=app_overrides("app", "2026-11-01T04:00:00Z"),
        platform_env=platform_env(s3_endpoint, S3_ENV["AWS_DEFAULT_REGION"]),
        forwards={port: ("127.0.0.1", port), aurora.PORT: (server.host, server.port)},
        hosts={endpoint_of(task): "127.0.0.1"},
        images={"app": app_image(task.container("app").image, downloads=downloads)},
    ).run()


def exports(s3: Any, bucket: str, task: TaskSpec) -> dict[str, bytes]:
    """The run folder's parts, by their path below it (the manifest records times)."""
    env = task.container("app").environment
    root = f"{env['OUTPUT_PREFIX']}{env['JOB_NAME']}/run=20261101T040000Z/"
    return {k.removeprefix(root): read_bytes(s3, bucket, k) for k in keys(s3, bucket, root)
            if not k.endswith("_manifest.json")}  # fmt: skip


def sidecar_twin(stack: str, job: str) -> TaskSpec:
    """The same job folder's task on the sidecar: a sidecar job of the stack that runs it, else
    this job itself moved back to the sidecar (a stack whose jobs all switched to Aurora)."""
    for other, settings in stack_settings(stack).jobs.items():
        same = job_folder(stack, other).resolve() == job_folder(stack, job).resolve()
        if settings.database_server == "sidecar" and same:
            return spec(stack, other)
    config = copy.deepcopy(with_image_digest(stack_config(stack)))
    config[f"{PROJECT}:jobs"][job].pop("databaseServer")
    [inputs] = [r.inputs for r in run_program(stack, config).of_type(TASK_DEFINITION)
                if r.name == job]  # fmt: skip
    return from_inputs(inputs)


def test_the_stacks_have_an_aurora_job() -> None:
    assert AURORA_JOBS, "no stack file has a `databaseServer: aurora` job to run here"


@pytest.mark.parametrize(("stack", "job"), AURORA_JOBS, ids=[f"{s}-{j}" for s, j in AURORA_JOBS])
def test_an_aurora_task_runs_on_the_cluster_with_the_sidecars_exports(
    stack: str, job: str, s3_endpoint: str, cluster: tuple[DbServer, TlsFiles], tmp_path: Path
) -> None:
    server, tls = cluster
    task = spec(stack, job)
    assert [c.name for c in task.containers] == ["app"]  # no sidecar
    twin = sidecar_twin(stack, job)
    s3, bucket, _ = s3_for(twin, s3_endpoint, 3000, tmp_path / "twin")
    first = run(twin, s3_endpoint)
    assert first.exit_code() == 0, first.report()
    expected = exports(s3, bucket, twin)
    assert len(expected) >= 2

    s3_for(task, s3_endpoint, 3000, tmp_path / "aurora")  # the same sample (seed) again
    result = run_on_cluster(task, s3_endpoint, server, {aurora.RDS_CA_BUNDLE_URL: tls.ca})
    assert result.exit_code() == 0, result.report() + "\n".join(logs_of(result, "app")[-8:])
    assert exports(s3, bucket, task) == expected
    app_log = "\n".join(logs_of(result, "app"))
    assert '"run_database_created"' in app_log and '"run_database_dropped"' in app_log
    pattern = shared_server.job_prefix(task.container("app").environment["JOB_NAME"])
    with pymysql.connect(host=server.host, port=server.port, user=server.user,
                         ssl_ca=str(tls.ca)) as conn, conn.cursor() as cursor:  # fmt: skip
        cursor.execute("SHOW DATABASES LIKE %s", (pattern.replace("_", "\\_") + "%",))
        assert cursor.fetchall() == ()


@pytest.mark.parametrize(
    ("stack", "job"), AURORA_JOBS[:1], ids=[f"{s}-{j}" for s, j in AURORA_JOBS[:1]]
)
def test_without_the_clusters_ca_the_task_fails_at_connect(
    stack: str, job: str, s3_endpoint: str, cluster: tuple[DbServer, TlsFiles], tmp_path: Path
) -> None:
    """The image's bundle without the server's CA (here: the stand-in's empty file) fails
    the run at the connect stage; it never connects unverified."""
    server, _ = cluster
    task = spec(stack, job)
    s3_for(task, s3_endpoint, 10, tmp_path)
    result = run_on_cluster(task, s3_endpoint, server, {})
    assert result.exit_code() == 1
    failed = [line for line in logs_of(result, "app") if '"run_failed"' in line]
    assert failed and '"stage": "connect"' in failed[0], logs_of(result, "app")[-5:]
