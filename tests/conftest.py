"""Shared fixtures for the ETL tests: a real database server and an S3 emulated over HTTP.

The server: TEST_DB_HOST/TEST_DB_PORT/TEST_DB_USER/TEST_DB_PASSWORD when any is set (CI's MySQL
8.4 and MariaDB 10.11 containers), otherwise a throw-away MariaDB the session starts itself (its
own data folder and port) and removes at the end. Tests fail, never skip, when neither works.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pymysql
import pytest
from etl_harness import S3_ENV, DbServer
from tls_server import TlsFiles, tls_only_server

from tools import s3_emulator, throwaway_db

DB_VARIABLES = ("TEST_DB_HOST", "TEST_DB_PORT", "TEST_DB_USER", "TEST_DB_PASSWORD")


@pytest.fixture(scope="session")
def db_server() -> Iterator[DbServer]:
    """The TEST_DB_* server when one is given; otherwise a throw-away MariaDB of the session's
    own (tools/throwaway_db.py), so that nothing has to be running beforehand."""
    if not any(name in os.environ for name in DB_VARIABLES):
        try:
            with throwaway_db.running() as own:
                print(f"throw-away MariaDB on port {own.port}, up in {own.started_seconds:.2f} s")
                yield DbServer(own.host, own.port, own.user, own.password, own.files_dir)
        except throwaway_db.ServerUnavailable as exc:
            pytest.fail(f"{exc}\nor set TEST_DB_HOST/TEST_DB_PORT/TEST_DB_USER/TEST_DB_PASSWORD "
                        "to use a running server.", pytrace=False)  # fmt: skip
        return
    server = DbServer(
        host=os.environ.get("TEST_DB_HOST", "127.0.0.1"),
        port=int(os.environ.get("TEST_DB_PORT", "3306")),
        user=os.environ.get("TEST_DB_USER", "root"),
        password=os.environ.get("TEST_DB_PASSWORD", ""),
    )
    try:
        server.connect().close()
    except pymysql.err.OperationalError as exc:
        pytest.fail(
            f"No MySQL/MariaDB server at {server.host}:{server.port} as {server.user!r} ({exc}), "
            "which TEST_DB_* name. Unset them and the tests start a throw-away MariaDB of their "
            "own, or start that server.",
            pytrace=False,
        )
    yield server


@pytest.fixture(scope="session")
def tls_db_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[DbServer, TlsFiles]]:
    """A server outside the task, as an Aurora cluster is one: TLS only, its certificate from
    a test CA (tests/tls_server.py). A throw-away MariaDB of the session's own, always."""
    try:
        with tls_only_server(tmp_path_factory.mktemp("tls")) as (own, files):
            yield DbServer(own.host, own.port, own.user, own.password), files
    except throwaway_db.ServerUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def database(db_server: DbServer) -> Iterator[str]:
    """A database of its own for each test, dropped afterwards."""
    name = f"etl_test_{uuid.uuid4().hex[:12]}"
    with db_server.connect() as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    yield name
    with db_server.connect() as conn, conn.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def shared_dir(db_server: DbServer) -> Iterator[Path]:
    """A directory the database server writes into and the job reads (the task volume)."""
    # TEST_SHARED_ROOT: a folder the server sees at the same path (e.g. a container volume);
    # the throw-away server's own secure_file_priv folder otherwise.
    root = os.environ.get("TEST_SHARED_ROOT") or str(db_server.shared_root or tempfile.gettempdir())
    path = Path(tempfile.mkdtemp(prefix="etl-exchange-", dir=root))
    path.chmod(0o777)  # the server runs as another user
    probe = path / "probe.txt"
    try:
        with db_server.connect() as conn, conn.cursor() as cursor:
            cursor.execute(f"SELECT 1 INTO OUTFILE '{probe}'")
    except pymysql.err.MySQLError as exc:
        pytest.fail(
            f"The database server cannot write into {path} ({exc}). The shared export path "
            "needs a server that sees this folder at the same path (on this machine, or a "
            "container with TEST_SHARED_ROOT mounted), secure_file_priv empty or that folder, "
            "and an account with the FILE privilege.",
            pytrace=False,
        )
    probe.unlink()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 over real HTTP on a free local port, for the job's subprocesses."""
    with s3_emulator.running() as endpoint:
        yield endpoint


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> object:
    for key, value in S3_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name=S3_ENV["AWS_DEFAULT_REGION"])


@pytest.fixture
def bucket(s3: object) -> str:
    """A bucket of its own for each test."""
    name = f"etl-test-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)  # type: ignore[attr-defined]
    return name
