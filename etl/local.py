"""Local mode (DATA_DIR): a folder stands in for the S3 bucket, so a job author can iterate
without AWS keys or an emulator.

`LocalStore` answers the S3 client calls the job makes, with the same keys: the object
`output/<job>/run=…/orders/part-00000.csv.gz` is the file `<DATA_DIR>/output/<job>/run=…/…`, so
a local run has the same layout and manifest as one in S3. Errors are botocore's own
`ClientError`s with S3's codes (NoSuchKey, PreconditionFailed), so callers cannot tell the
difference. Only the calls and arguments below exist: anything else fails loudly.

Writes land in a hidden temporary file first and are renamed into place, so a reader never sees
half an object. Conditional writes and deletes (`IfNoneMatch="*"`, `IfMatch=<ETag>`, the job's
lock) hold an exclusive `flock` on the folder while they compare and swap. The ETag is the
file's inode, modification time and size: it changes with every write.

Symbolic links are followed for reading only (a linked input folder counts). A write or delete
whose key passes through a link below the folder is refused: a link in a run folder must not
let a rerun delete files elsewhere. A folder that cannot be read fails the listing, so a run
never goes on with only the inputs it could see.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from botocore.exceptions import ClientError

_TEMP = ".~etl-"  # our own in-flight writes, never listed


def _error(code: str, status: int, message: str, operation: str) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)


def _etag(stat: os.stat_result) -> str:
    return f'"{stat.st_ino:x}-{stat.st_mtime_ns:x}-{stat.st_size:x}"'


def _modified(stat: os.stat_result) -> datetime:
    return datetime.fromtimestamp(stat.st_mtime, UTC)


class _Paginator:
    def __init__(self, pages: Any) -> None:
        self._pages = pages

    def paginate(self, *, Bucket: str, Prefix: str = "") -> Iterator[dict[str, Any]]:
        yield self._pages(Prefix)


class LocalStore:
    """The subset of boto3's S3 client the job uses, on a local folder (see the module)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path(self, key: str) -> Path:
        """The file of `key`; keys that would leave the folder or name no file are refused."""
        parts = key.split("/")
        if not key or any(p in {"", ".", ".."} or p.startswith(_TEMP) for p in parts):
            raise _error("InvalidArgument", 400, f"key {key!r} has no file in local mode", "Key")
        return self.root.joinpath(*parts)

    def _writable(self, key: str, operation: str) -> Path:
        """The file of `key` for a write or delete: no folder on its way may be a link."""
        path = self.path(key)
        folder = path.parent
        while folder != self.root:
            if folder.is_symlink():
                raise _error(
                    "AccessDenied", 403,
                    f"{folder} is a symbolic link: local mode never writes or deletes through "
                    f"links ({key})",
                    operation,
                )  # fmt: skip
            folder = folder.parent
        return path

    # -- reading ----------------------------------------------------------------------------

    def _objects(self, prefix: str) -> list[dict[str, Any]]:
        start = self.root.joinpath(*prefix.split("/")[:-1]) if "/" in prefix else self.root
        found: list[dict[str, Any]] = []
        seen: set[tuple[int, int]] = set()  # folders walked, so a symlink loop ends

        def unreadable(err: OSError) -> None:
            if not isinstance(err, FileNotFoundError):  # (no folder: no keys, as in S3)
                raise _error("AccessDenied", 403, f"cannot list {err.filename}: {err.strerror}",
                             "ListObjectsV2")  # fmt: skip

        for folder, dirs, files in os.walk(start, onerror=unreadable, followlinks=True):
            stat = os.stat(folder)
            if (stat.st_dev, stat.st_ino) in seen:
                dirs[:] = []
                continue
            seen.add((stat.st_dev, stat.st_ino))
            dirs[:] = [d for d in dirs if not d.startswith(_TEMP)]
            for name in files:
                path = Path(folder) / name
                key = path.relative_to(self.root).as_posix()
                if name.startswith(_TEMP) or not key.startswith(prefix):
                    continue
                stat = path.stat()
                found.append({
                    "Key": key, "Size": stat.st_size, "ETag": _etag(stat),
                    "LastModified": _modified(stat),
                })  # fmt: skip
        found.sort(key=lambda obj: obj["Key"].encode())  # S3 lists in UTF-8 byte order
        return found

    def _listing(self, prefix: str) -> dict[str, Any]:
        contents = self._objects(prefix)
        return {"Contents": contents, "KeyCount": len(contents), "IsTruncated": False}

    def get_paginator(self, operation: str) -> _Paginator:
        if operation == "list_objects_v2":
            return _Paginator(self._listing)
        if operation == "list_multipart_uploads":
            return _Paginator(lambda prefix: {"Uploads": []})  # writes are never partial here
        raise NotImplementedError(f"local mode (DATA_DIR) has no paginator {operation!r}")

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        path = self.path(Key)
        try:
            body: IO[bytes] = path.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise _error("NoSuchKey", 404, f"{path} does not exist", "GetObject") from None
        stat = os.fstat(body.fileno())
        return {
            "Body": body, "ContentLength": stat.st_size, "ETag": _etag(stat),
            "LastModified": _modified(stat),
        }  # fmt: skip

    def head_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        try:
            stat = self.path(Key).stat()
        except (FileNotFoundError, NotADirectoryError):
            raise _error("404", 404, "Not Found", "HeadObject") from None
        return {"ContentLength": stat.st_size, "ETag": _etag(stat), "LastModified": _modified(stat)}

    # -- writing ----------------------------------------------------------------------------

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Compare-and-swap section: one conditional operation at a time on this folder."""
        handle = os.open(self.root, os.O_RDONLY)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
        finally:
            os.close(handle)  # releases the flock

    def _check(self, path: Path, operation: str, if_match: str | None, if_none: str | None) -> None:
        try:
            current = _etag(path.stat())
        except FileNotFoundError:
            current = None
        if if_none is not None:
            if if_none != "*":
                raise NotImplementedError("local mode supports IfNoneMatch='*' only")
            if current is not None:
                raise _error("PreconditionFailed", 412, f"{path} exists", operation)
        if if_match is not None:
            if current is None:
                raise _error("NoSuchKey", 404, f"{path} does not exist", operation)
            if if_match not in {"*", current}:
                raise _error("PreconditionFailed", 412, f"{path} has changed", operation)

    def _write(self, key: str, fill: Any, operation: str, **conditions: str | None) -> None:
        path = self._writable(key, operation)
        temp = path.with_name(f"{_TEMP}{uuid.uuid4().hex}")
        try:
            for attempt in (1, 2):  # again if a delete pruned the folder in between
                path.parent.mkdir(parents=True, exist_ok=True)
                try:
                    fill(temp)
                    break
                except FileNotFoundError:
                    if attempt == 2:
                        raise
            if any(value is not None for value in conditions.values()):
                with self._exclusive():
                    self._check(path, operation, conditions["if_match"], conditions["if_none"])
                    os.replace(temp, path)
            else:
                os.replace(temp, path)
        finally:
            temp.unlink(missing_ok=True)

    def put_object(
        self,
        *,
        Bucket: str,
        Key: str,
        Body: bytes | IO[bytes],
        ContentType: str | None = None,
        IfNoneMatch: str | None = None,
        IfMatch: str | None = None,
    ) -> dict[str, Any]:
        def fill(temp: Path) -> None:
            with temp.open("wb") as out:
                if isinstance(Body, bytes | bytearray):
                    out.write(Body)
                else:
                    shutil.copyfileobj(Body, out)

        self._write(Key, fill, "PutObject", if_match=IfMatch, if_none=IfNoneMatch)
        return {"ETag": _etag(self.path(Key).stat())}

    def upload_file(
        self,
        Filename: str,
        Bucket: str,
        Key: str,
        ExtraArgs: dict[str, Any] | None = None,
        Config: Any = None,
    ) -> None:
        def fill(temp: Path) -> None:
            try:
                os.link(Filename, temp)  # the part file is finished: share it, no copy
            except OSError:  # another file system (or no hard links there)
                shutil.copyfile(Filename, temp)

        self._write(Key, fill, "PutObject", if_match=None, if_none=None)

    def upload_fileobj(
        self,
        Fileobj: IO[bytes],
        Bucket: str,
        Key: str,
        ExtraArgs: dict[str, Any] | None = None,
        Config: Any = None,
    ) -> None:
        """As boto3's: the object appears only once the stream has been read to its end."""

        def fill(temp: Path) -> None:
            with temp.open("wb") as out:
                shutil.copyfileobj(Fileobj, out)

        self._write(Key, fill, "PutObject", if_match=None, if_none=None)

    def delete_object(
        self,
        *,
        Bucket: str,
        Key: str,
        IfMatch: str | None = None,
    ) -> dict[str, Any]:
        path = self._writable(Key, "DeleteObject")
        if IfMatch is None:
            path.unlink(missing_ok=True)  # S3: deleting a missing key succeeds
        else:
            with self._exclusive():
                self._check(path, "DeleteObject", IfMatch, None)
                path.unlink()
        self._prune(path.parent)
        return {}

    def delete_objects(self, *, Bucket: str, Delete: dict[str, Any]) -> dict[str, Any]:
        for item in Delete["Objects"]:
            self.delete_object(Bucket=Bucket, Key=item["Key"])
        return {"Errors": []}

    def abort_multipart_upload(self, *, Bucket: str, Key: str, UploadId: str) -> dict[str, Any]:
        message = "local mode has no multipart uploads"
        raise _error("NoSuchUpload", 404, message, "AbortMultipartUpload")

    def _prune(self, folder: Path) -> None:
        """Remove folders a delete left empty (S3 has no folders: they go with their keys)."""
        while folder != self.root and folder.is_relative_to(self.root):
            try:
                folder.rmdir()
            except OSError:
                return  # not empty (or already gone)
            folder = folder.parent
