"""What the stages of a run share: the database session, S3, the bucket and a scratch folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymysql.connections import Connection


@dataclass(frozen=True)
class RunContext:
    conn: Connection
    s3: Any  # a boto3 S3 client
    bucket: str
    workdir: Path  # on the task's ephemeral storage
