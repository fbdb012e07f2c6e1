"""One run at a time per job: a lock object in S3, taken with a conditional write.

`PutObject` with `If-None-Match: *` succeeds for exactly one writer. The holder renews the
lock (a heartbeat, `If-Match` on its own ETag) every LOCK_STALE_SECONDS / 3, at most every
5 minutes; a lock not renewed for LOCK_STALE_SECONDS (its holder died without releasing it)
is taken over with `If-Match` on the stale lock's ETag, so two runs cannot both take it over.

The lock is a lease (docs/ownership.md): the holder may write or delete only until one beat
before another run could take it over, counted from its last renewal that S3 accepted.
`Leased` wraps the S3 client so that every write and delete checks the lease first; once it
has lapsed (taken over, or renewals failing for whatever reason) the run is over for good.
Release deletes the lock only if its ETag is still the one this run wrote.
"""

from __future__ import annotations

import json
import socket
import threading
import time
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
    lost: str = ""  # why the lock is no longer ours (taken over, or the lease lapsed)
    renewed: float = field(default_factory=time.monotonic)  # when the last accepted write was sent


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _lost(err: ClientError) -> bool:
    return str(err.response.get("Error", {}).get("Code")) in _LOST


def acquire(s3: Any, bucket: str, key: str, stale_after: float, run: dict[str, str]) -> Lock:
    owner, now, sent = uuid.uuid4().hex, _now(), time.monotonic()
    fields = {"owner": owner, "host": socket.gethostname(), "acquired_at": now,
              "renewed_at": now, **run}  # fmt: skip
    body = json.dumps(fields).encode()
    try:
        reply = s3.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")
        return Lock(key, owner, fields, reply["ETag"], renewed=sent)
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
    sent = time.monotonic()
    try:
        reply = s3.put_object(Bucket=bucket, Key=key, Body=body, IfMatch=current["ETag"])
    except ClientError as err:
        if _lost(err):
            raise LockHeld(f"s3://{bucket}/{key}: another run took over the stale lock") from None
        raise
    log.info("lock_taken_over", key=key, stale_owner=holder.get("owner"), age_s=round(age))
    return Lock(key, owner, fields, reply["ETag"], renewed=sent)


class Heartbeat:
    """Renews `lock` in a background thread while the run holds it; `check()` raises
    LockLost once the lock is not this run's to use any more."""

    def __init__(self, s3: Any, bucket: str, lock: Lock, stale_after: float) -> None:
        self.s3, self.bucket, self.lock = s3, bucket, lock
        self.every = min(stale_after / 3, 300.0)
        # Another run may take over `stale_after` after our last renewal; we stop one beat
        # earlier (a slow request, clocks that differ between hosts).
        self.lease = stale_after - self.every
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
        while not self._stop.wait(self.every) and not self._lapsed():
            lock.body["renewed_at"] = _now()
            sent = time.monotonic()
            try:
                reply = self.s3.put_object(Bucket=self.bucket, Key=lock.key,
                                           Body=json.dumps(lock.body).encode(),
                                           IfMatch=lock.etag)  # fmt: skip
            except ClientError as err:
                if _lost(err) or err.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                    self._lose(f"s3://{self.bucket}/{lock.key} was taken over by another run", err)
                    return
                log.info("lock_renewal_failed", key=lock.key, cause=str(err))  # next beat retries
                continue
            except Exception as exc:  # S3 unreachable for a moment: the next beat retries
                log.info("lock_renewal_failed", key=lock.key, cause=str(exc))
                continue
            if not lock.lost:  # a lapse is final, even if a late renewal got through
                lock.etag, lock.renewed = reply["ETag"], sent

    def _lapsed(self) -> bool:
        """True once the lease is over; the first to notice says why."""
        if self.lock.lost:
            return True
        idle = time.monotonic() - self.lock.renewed
        if idle < self.lease:
            return False
        self._lose(
            f"the lease on s3://{self.bucket}/{self.lock.key} lapsed: not renewed for "
            f"{idle:.0f} s (another run may take it over after LOCK_STALE_SECONDS)",
            None,
        )
        return True

    def _lose(self, why: str, cause: BaseException | None) -> None:
        if not self.lock.lost:
            self.lock.lost = why
            log.error("lock_lost", key=self.lock.key, cause=str(cause or why))

    @property
    def held(self) -> bool:
        return not self._lapsed()

    def check(self) -> None:
        """Raise LockLost unless the lease still holds: call it before every write or delete."""
        if self._lapsed():
            raise LockLost(self.lock.lost)


# Client calls that change the bucket: each checks the lease first (Leased).
_WRITES = frozenset({
    "put_object", "upload_file", "upload_fileobj", "copy_object", "delete_object",
    "delete_objects", "create_multipart_upload", "upload_part", "complete_multipart_upload",
    "abort_multipart_upload",
})  # fmt: skip


class Leased:
    """The S3 client as a run uses it while it holds the lock: reads pass through, every write
    or delete raises LockLost once the lease has lapsed. A managed upload is checked again as
    its bytes go (its progress callback), so a long multipart upload stops too."""

    def __init__(self, s3: Any, heartbeat: Heartbeat) -> None:
        self._s3, self._heartbeat = s3, heartbeat

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._s3, name)
        if name not in _WRITES:
            return call
        check = self._heartbeat.check

        def leased(*args: Any, **kwargs: Any) -> Any:
            check()
            if name == "upload_file" and hasattr(self._s3, "meta"):  # boto3, not local mode
                kwargs.setdefault("Callback", lambda _sent: check())
            return call(*args, **kwargs)

        return leased


def release(s3: Any, bucket: str, lock: Lock) -> None:
    """Delete the lock if it is still the version this run wrote (If-Match on its ETag): a
    lock another run took over stays. Tried after a lapsed lease too: the ETag still matching
    means nobody took it over."""
    try:
        s3.delete_object(Bucket=bucket, Key=lock.key, IfMatch=lock.etag)
    except ClientError as err:
        code = str(err.response.get("Error", {}).get("Code"))
        if not (_lost(err) or code in {"NoSuchKey", "404"}):
            raise
        log.info("lock_not_released", key=lock.key, cause=str(err))
