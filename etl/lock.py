"""One run at a time per job: a lock object in S3, taken with a conditional write.

`PutObject` with `If-None-Match: *` succeeds for exactly one writer. A lock older than
LOCK_STALE_SECONDS (its holder died without releasing it) is taken over with `If-Match` on the
stale lock's ETag, so two runs cannot both take it over.
"""

from __future__ import annotations

import json
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from etl import log

# What S3 answers when a conditional write loses: 412, or 409 while another write is in flight.
_LOST = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}


class LockHeld(Exception):
    """Another run of this job holds the lock."""


@dataclass(frozen=True)
class Lock:
    key: str
    owner: str


def _lost(err: ClientError) -> bool:
    return str(err.response.get("Error", {}).get("Code")) in _LOST


def acquire(s3: Any, bucket: str, key: str, stale_after: float, run: dict[str, str]) -> Lock:
    owner = uuid.uuid4().hex
    body = json.dumps({
        "owner": owner, "host": socket.gethostname(),
        "acquired_at": datetime.now(UTC).isoformat(timespec="seconds"), **run,
    }).encode()  # fmt: skip
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")
        return Lock(key, owner)
    except ClientError as err:
        if not _lost(err):
            raise
    current = s3.get_object(Bucket=bucket, Key=key)
    holder = json.loads(current["Body"].read())
    age = (datetime.now(UTC) - datetime.fromisoformat(holder["acquired_at"])).total_seconds()
    if age < stale_after:
        raise LockHeld(
            f"s3://{bucket}/{key} is held by run {holder.get('owner')} on {holder.get('host')} "
            f"for {holder.get('scheduled_time')} since {holder['acquired_at']} ({age:.0f} s ago; "
            f"taken over after {stale_after:.0f} s, LOCK_STALE_SECONDS)"
        )
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body, IfMatch=current["ETag"])
    except ClientError as err:
        if _lost(err):
            raise LockHeld(f"s3://{bucket}/{key}: another run took over the stale lock") from None
        raise
    log.info("lock_taken_over", key=key, stale_owner=holder.get("owner"), age_s=round(age))
    return Lock(key, owner)


def release(s3: Any, bucket: str, lock: Lock) -> None:
    """Delete the lock if it is still ours (a stale-lock takeover may have replaced it)."""
    try:
        holder = json.loads(s3.get_object(Bucket=bucket, Key=lock.key)["Body"].read())
    except ClientError:
        return  # already gone
    if holder.get("owner") == lock.owner:
        s3.delete_object(Bucket=bucket, Key=lock.key)
