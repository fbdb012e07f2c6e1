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
    # Whether the converter spells each empty field NULL (convert.spell_nulls) rather than the
    # LOAD's SET making '' NULL: not where the database shares the task's CPUs (a shared
    # directory), where the SET costs less CPU in all; elsewhere the spelling shortens the
    # server's single LOAD thread, the critical path, and leaves a shared database more time.
    spell: bool = True
