"""S3 access: the client, and the few object operations the run needs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from etl.local import LocalStore

# botocore's standard retry mode: backoff with jitter on throttling, 5xx and connection errors.
# The endpoint comes from AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL when set (local emulators).
# Every call is bounded: 10 s to connect, 30 s without a byte from S3, then a retry.
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 10}, connect_timeout=10, read_timeout=30
)
# Multipart above 16 MiB; few threads, so memory stays small (chunk size x concurrency).
TRANSFER = TransferConfig(
    multipart_threshold=16 * 1024 * 1024, multipart_chunksize=16 * 1024 * 1024, max_concurrency=4
)


def client() -> Any:
    return boto3.client("s3", config=CLIENT_CONFIG)


def open_store(data_dir: Path | None) -> Any:
    """The S3 client, or in local mode (DATA_DIR) the folder that stands in for the bucket."""
    return LocalStore(data_dir) if data_dir else client()


def keys_under(s3: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [obj["Key"] for obj in page.get("Contents", [])]
    return keys


def delete_keys(s3: Any, bucket: str, keys: list[str]) -> None:
    for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
        batch = [{"Key": key} for key in keys[start : start + 1000]]
        reply = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
        if reply.get("Errors"):
            raise RuntimeError(f"could not delete {reply['Errors'][:3]}")


def put_json(s3: Any, bucket: str, key: str, document: dict[str, Any]) -> None:
    body = json.dumps(document, indent=2, ensure_ascii=False).encode()
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")


def clear_prefix(s3: Any, bucket: str, prefix: str) -> None:
    """Abort unfinished multipart uploads and delete every object under `prefix`."""
    pages = s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        for upload in page.get("Uploads", []):
            s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    delete_keys(s3, bucket, keys_under(s3, bucket, prefix))
