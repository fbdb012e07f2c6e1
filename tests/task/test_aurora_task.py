"""An aurora job's task, run the way Fargate runs it (tools.task), against a database outside
the task: a TLS-only MariaDB on this machine with a test CA (tests/tls_server.py), reached at the
cluster endpoint's name, which the task resolves to a forwarded port (what the VPC's resolver
and the cluster's security group make of it). Its exports are byte-identical to the same
job's run with the sidecar; the run's schema and user are gone afterwards.

Root is required (CI and the sessions that build this project run as root).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pymysql
import pytest
from etl_harness import S3_ENV, DbServer, keys, read_bytes
from test_task_runner import logs_of, run, s3_for, spec
from tls_server import TlsFiles, tls_only_server

from components.specs import aurora
from components.specs.containers import TaskInputs
from etl import shared_server
from tools.task import TaskSpec
from tools.task.__main__ import app_overrides, platform_env
from tools.task.definition import from_inputs
from tools.task.images import app_image
from tools.task.runner import TaskRun

STACK, JOB = "dev", "monthly-orders"  # a sidecar job that runs the bundled job
ENDPOINT = "etl-db.cluster-c0ffee0123ab.us-east-1.rds.amazonaws.com"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-0a1b2c3d-AbCdEf"


@pytest.fixture(scope="module", autouse=True)
def _root() -> None:
    if os.geteuid() != 0:
        pytest.fail("the task runner needs root (unshare, mount, setpriv)", pytrace=False)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DbServer, TlsFiles]]:
    """The cluster's stand-in: TLS only, its certificate for the endpoint's name."""
    with tls_only_server(tmp_path_factory.mktemp("cluster"), [ENDPOINT]) as (own, files):
        yield DbServer(own.host, own.port, own.user, own.password), files


def aurora_task(sidecar: TaskSpec) -> TaskSpec:
    """The job's task as an aurora job: the app alone (components/specs/aurora.py), from the
    stack's own definition of the job's app."""
    app = sidecar.container("app")
    raw = sidecar.raw
    inputs = TaskInputs(
        app_image=app.image, secret_arn="-", log_group=app.log_group,
        region=app.environment["AWS_REGION"], bucket=app.environment["DATA_BUCKET"],
        job_name=app.environment["JOB_NAME"],
    )  # fmt: skip
    container = aurora.app_container(
        app.environment, inputs, aurora.ClusterEndpoint(ENDPOINT, SECRET)
    )
    return from_inputs({**raw, "containerDefinitions": [container], "volumes": [{"name": "tmp"}]})


def run_on_cluster(task: TaskSpec, endpoint: str, server: DbServer, tls: TlsFiles) -> Any:
    """The task with the cluster's secret (the server's admin), its name resolving to a port
    in the task that reaches the server, and the image's RDS bundle standing for the test CA."""
    port = urlsplit(endpoint).port
    assert port
    store = {SECRET: {"username": server.user, "password": server.password, "engine": "mysql"}}
    return TaskRun(
        task,
        secrets=store,
        overrides=app_overrides("app", "2026-11-01T04:00:00Z"),
        platform_env=platform_env(endpoint, S3_ENV["AWS_DEFAULT_REGION"]),
        forwards={port: ("127.0.0.1", port), aurora.PORT: (server.host, server.port)},
        hosts={ENDPOINT: "127.0.0.1"},
        images={
            "app": app_image(
                task.container("app").image, downloads={aurora.RDS_CA_BUNDLE_URL: tls.ca}
            )
        },
    ).run()


def outputs(s3: Any, bucket: str, prefix: str) -> dict[str, bytes]:
    return {k: read_bytes(s3, bucket, k) for k in keys(s3, bucket, prefix)
            if not k.endswith("_manifest.json")}  # fmt: skip


def test_the_aurora_task_runs_against_the_cluster_with_the_sidecars_exports(
    s3_endpoint: str, cluster: tuple[DbServer, TlsFiles], tmp_path: Path
) -> None:
    server, tls = cluster
    sidecar = spec(STACK, JOB)
    s3, bucket, output = s3_for(sidecar, s3_endpoint, 3000, tmp_path)
    first = run(sidecar, s3_endpoint)
    assert first.exit_code() == 0, first.report()
    expected = outputs(s3, bucket, output)
    assert len(expected) >= 2
    for key in keys(s3, bucket, output):
        s3.delete_object(Bucket=bucket, Key=key)

    task = aurora_task(sidecar)
    assert [c.name for c in task.containers] == ["app"]
    result = run_on_cluster(task, s3_endpoint, server, tls)
    log = "\n".join(logs_of(result, "app")[-8:])
    assert result.exit_code() == 0, result.report() + log
    assert outputs(s3, bucket, output) == expected
    app_log = "\n".join(logs_of(result, "app"))
    assert '"run_database_created"' in app_log and '"run_database_dropped"' in app_log
    job = task.container("app").environment["JOB_NAME"]
    pattern = shared_server.job_prefix(job).replace("_", "\\_") + "%"
    with pymysql.connect(host=server.host, port=server.port, user=server.user,
                         ssl_ca=str(tls.ca)) as conn, conn.cursor() as cursor:  # fmt: skip
        cursor.execute("SHOW DATABASES LIKE %s", (pattern,))
        assert cursor.fetchall() == ()


def test_without_the_clusters_ca_the_task_fails_at_connect(
    s3_endpoint: str, cluster: tuple[DbServer, TlsFiles], tmp_path: Path
) -> None:
    """The image's bundle that does not hold the server's CA (here: an empty one) fails the
    run at the connect stage, never connects unverified."""
    server, _tls = cluster
    task = aurora_task(spec(STACK, JOB))
    s3_for(task, s3_endpoint, 10, tmp_path)
    port = urlsplit(s3_endpoint).port
    assert port
    result = TaskRun(
        task,
        secrets={SECRET: {"username": server.user, "password": server.password}},
        overrides=app_overrides("app", "2026-11-01T04:00:00Z"),
        platform_env=platform_env(s3_endpoint, S3_ENV["AWS_DEFAULT_REGION"]),
        forwards={port: ("127.0.0.1", port), aurora.PORT: (server.host, server.port)},
        hosts={ENDPOINT: "127.0.0.1"},
    ).run()
    assert result.exit_code() == 1
    failed = [line for line in logs_of(result, "app") if '"run_failed"' in line]
    assert failed and '"stage": "connect"' in failed[0], logs_of(result, "app")[-5:]
