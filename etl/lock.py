"""One run at a time per job: a lock object in S3, taken with a conditional write.

`PutObject` with `If-None-Match: *` succeeds for exactly one writer. The holder renews the
lock (a heartbeat, `If-Match` on its own ETag) every LOCK_STALE_SECONDS / 3, at most every
5 minutes; a lock not renewed for LOCK_STALE_SECONDS (its holder died without releasing it)
is taken over with `If-Match` on the stale lock's ETag, so two runs cannot both take it over.
"""

from __future__ import annotations

import json
import socket
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from etl import log

# What S3 answers when a conditional write loses: 412, or 409 while another write is in flight.
_LOST = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}


class LockHeld(Exception):
    """Another run of this job holds the lock."""


class LockLost(Exception):
    """Another run took this run's lock over (it was not renewed in time)."""


@dataclass
class Lock:
    key: str
    owner: str
    body: dict[str, str] = field(default_factory=dict)
    etag: str = ""
    lost: str = ""  # why the heartbeat found the lock no longer ours


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _lost(err: ClientError) -> bool:
    return str(err.response.get("Error", {}).get("Code")) in _LOST


def acquire(s3: Any, bucket: str, key: str, stale_after: float, run: dict[str, str]) -> Lock:
    owner, now = uuid.uuid4().hex, _now()
    fields = {"owner": owner, "host": socket.gethostname(), "acquired_at": now,
              "renewed_at": now, **run}  # fmt: skip
    body = json.dumps(fields).encode()
    try:
        reply = s3.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")
        return Lock(key, owner, fields, reply["ETag"])
    except ClientError as err:
        if not _lost(err):
            raise
    current = s3.get_object(Bucket=bucket, Key=key)
    holder = json.loads(current["Body"].read())
    alive = holder.get("renewed_at") or holder["acquired_at"]
    age = (datetime.now(UTC) - datetime.fromisoformat(alive)).total_seconds()
    if age < stale_after:
        raise LockHeld(
            f"s3://{bucket}/{key} is held by run {holder.get('owner')} on {holder.get('host')} "
            f"for {holder.get('scheduled_time')} since {holder['acquired_at']}, last renewed "
            f"{age:.0f} s ago (taken over after {stale_after:.0f} s without renewal, "
            "LOCK_STALE_SECONDS)"
        )
    try:
        reply = s3.put_object(Bucket=bucket, Key=key, Body=body, IfMatch=current["ETag"])
    except ClientError as err:
        if _lost(err):
            raise LockHeld(f"s3://{bucket}/{key}: another run took over the stale lock") from None
        raise
    log.info("lock_taken_over", key=key, stale_owner=holder.get("owner"), age_s=round(age))
    return Lock(key, owner, fields, reply["ETag"])


class Heartbeat:
    """Renews `lock` in a background thread while the run holds it; `check()` raises
    LockLost once another run has taken it over."""

    def __init__(self, s3: Any, bucket: str, lock: Lock, stale_after: float) -> None:
        self.s3, self.bucket, self.lock = s3, bucket, lock
        self.every = min(stale_after / 3, 300.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="lock-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        lock = self.lock
        while not self._stop.wait(self.every):
            lock.body["renewed_at"] = _now()
            try:
                reply = self.s3.put_object(Bucket=self.bucket, Key=lock.key,
                                           Body=json.dumps(lock.body).encode(),
                                           IfMatch=lock.etag)  # fmt: skip
                lock.etag = reply["ETag"]
            except ClientError as err:
                if _lost(err) or err.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                    lock.lost = f"s3://{self.bucket}/{lock.key} was taken over by another run"
                    log.error("lock_lost", key=lock.key, cause=str(err))
                    return
                log.info("lock_renewal_failed", key=lock.key, cause=str(err))  # next beat retries
            except Exception as exc:  # S3 unreachable for a moment: the next beat retries
                log.info("lock_renewal_failed", key=lock.key, cause=str(exc))

    def check(self) -> None:
        if self.lock.lost:
            raise LockLost(self.lock.lost)


def release(s3: Any, bucket: str, lock: Lock) -> None:
    """Delete the lock if it is still ours (a stale-lock takeover may have replaced it)."""
    try:
        holder = json.loads(s3.get_object(Bucket=bucket, Key=lock.key)["Body"].read())
    except ClientError:
        return  # already gone
    if holder.get("owner") == lock.owner:
        s3.delete_object(Bucket=bucket, Key=lock.key)
