"""Fixtures of the job's tests (the database, S3 and bucket fixtures are in tests/conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest
from etl_harness import DbServer


@pytest.fixture
def env(db_server: DbServer, database: str, bucket: str, s3_endpoint: str) -> tuple[Any, ...]:
    """What run_etl() and start_etl() take first: a server, a database, a bucket, S3."""
    return db_server, database, bucket, s3_endpoint
