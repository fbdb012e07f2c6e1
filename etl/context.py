"""What the stages of a run share: the database sessions, S3, the bucket and a scratch folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from etl.db import Session


@dataclass(frozen=True)
class RunContext:
    conn: Session  # schema, transforms and exports: LOAD DATA LOCAL is off
    s3: Any  # a boto3 S3 client
    bucket: str
    workdir: Path  # on the task's ephemeral storage
    job: str = "job"  # the job's name (JOB_NAME): names its files in shared places
    loader: Session | None = None  # the only session that may send files (LOAD DATA LOCAL)
    null: str = ""  # CSV_NULL: the text that is NULL in inputs and exports ("": empty fields)
