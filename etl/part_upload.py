"""An export part's bytes go to S3 while they are being written, not after.

A part was written to the scratch disk and uploaded once complete: with 1M-row parts the
upload ran after all the formatting and compression, in series (a fifth of the held-out
shape's export). Here boto3's `upload_fileobj` reads the part from a bounded queue the writer
fills, and sends it in PIECE-sized multipart pieces (one PutObject when the part is smaller)
while the writer compresses the next rows. Memory: QUEUED writes plus s3transfer's pieces in
flight; nothing on disk. A failed export makes the reader raise, and s3transfer aborts the
multipart upload: no object appears under the part's key.
"""

from __future__ import annotations

import io
import queue
import threading
from concurrent.futures import Executor, Future
from contextlib import suppress
from typing import Any

from boto3.s3.transfer import TransferConfig

PIECE = 8 * 1024 * 1024  # S3's smallest multipart piece is 5 MiB
# Two pieces in flight: the upload keeps pace with one compressing writer.
STREAM_TRANSFER = TransferConfig(
    multipart_threshold=PIECE, multipart_chunksize=PIECE, max_concurrency=2
)
QUEUED = 8  # writes (about 0.4 MB each once compressed) the upload may lag behind
_EOF = b""


class UploadAborted(Exception):
    """The export stopped: the part's upload must not complete."""


class _Reader(io.RawIOBase):
    """The readable end: what s3transfer reads, in the order the writer put it."""

    def __init__(self) -> None:
        self.queue: queue.Queue[bytes | None] = queue.Queue(QUEUED)
        self.pending = bytearray()
        self.ended = False
        self.aborted = threading.Event()

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        wanted = -1 if size is None else size
        while not self.ended and (wanted < 0 or len(self.pending) < wanted):
            if self.aborted.is_set():
                raise UploadAborted("the export stopped")
            item = self.queue.get()
            if item is None or self.aborted.is_set():
                raise UploadAborted("the export stopped")
            if item == _EOF:
                self.ended = True
            self.pending += item
        taken = len(self.pending) if wanted < 0 else min(wanted, len(self.pending))
        out = bytes(self.pending[:taken])
        del self.pending[:taken]
        return out


class PartUpload:
    """One part's upload, fed by `write` while it runs."""

    def __init__(self, executor: Executor, s3: Any, bucket: str, key: str) -> None:
        self.reader = _Reader()
        # A .csv.gz object, not a gzip-encoded text/csv: clients must not unzip it on download.
        extra = {"ContentType": "application/gzip"}
        self.future: Future[None] = executor.submit(
            s3.upload_fileobj, self.reader, bucket, key, ExtraArgs=extra, Config=STREAM_TRANSFER
        )

    def write(self, data: bytes) -> None:
        if data:  # gzip writes b"" when zlib holds its output back; b"" is the end marker
            self._put(bytes(data))

    def finish(self) -> Future[None]:
        """No more bytes: the upload completes (the future says when)."""
        self._put(_EOF)
        return self.future

    def abort(self) -> None:
        self.reader.aborted.set()
        # Wakes a reader waiting on an empty queue; a full one means it is not waiting, and
        # it sees `aborted` before its next get.
        with suppress(queue.Full):
            self.reader.queue.put_nowait(None)

    def _put(self, item: bytes) -> None:
        # Backpressure: wait while the upload is behind, but never on an upload that failed.
        while True:
            try:
                self.reader.queue.put(item, timeout=0.2)
                return
            except queue.Full:
                if self.future.done():
                    self.future.result()  # raises the upload's error
                    raise UploadAborted("the upload ended before its part did") from None
