"""A part uploads while it is written (etl/part_upload.py): whole, in order, or not at all."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from etl.part_upload import PIECE, QUEUED, PartUpload, UploadAborted


def _uploads(s3: Any, bucket: str) -> list[str]:
    return [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


@pytest.mark.parametrize("size", [0, 1000, 2 * PIECE + 12345])
def test_the_object_holds_every_byte_written_in_order(s3: Any, bucket: str, size: int) -> None:
    """Below one piece a single PutObject, above it a multipart upload of several pieces."""
    data = os.urandom(size)
    with ThreadPoolExecutor(1) as executor:
        upload = PartUpload(executor, s3, bucket, "p.csv.gz")
        for start in range(0, size, 300_000):
            upload.write(data[start : start + 300_000])
            upload.write(b"")  # as gzip does while zlib holds its output back
        upload.finish().result(timeout=60)
    got = s3.get_object(Bucket=bucket, Key="p.csv.gz")
    assert got["Body"].read() == data
    assert got["ContentType"] == "application/gzip"
    assert _uploads(s3, bucket) == []


def test_an_aborted_part_leaves_no_object_and_no_open_upload(s3: Any, bucket: str) -> None:
    with ThreadPoolExecutor(1) as executor:
        upload = PartUpload(executor, s3, bucket, "p.csv.gz")
        upload.write(os.urandom(PIECE + 1))  # the multipart upload has begun
        upload.abort()
        with pytest.raises(UploadAborted):
            upload.future.result(timeout=60)
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    assert _uploads(s3, bucket) == []


def test_a_writer_never_waits_on_an_upload_that_failed(s3: Any) -> None:
    """The upload fails (no such bucket) while the writer is ahead of it: the writer gets the
    upload's error instead of blocking on the full queue forever."""
    with ThreadPoolExecutor(1) as executor:
        upload = PartUpload(executor, s3, "no-such-bucket-for-this-test", "p.csv.gz")
        with pytest.raises(Exception, match=r"NoSuchBucket|ended before"):
            for _ in range(QUEUED + PIECE // 1000 + 10):
                upload.write(b"x" * 1000)
            upload.finish().result(timeout=60)
