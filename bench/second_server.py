"""A throwaway MariaDB on its own TCP port: the "database outside the task" of the stream path.

The benchmark's `stream-tcp` path runs the job and the references against it; the server is
created in a temporary directory (mariadb-install-db), started with `--skip-grant-tables` (any
user, no password: a benchmark fixture, never a deployment) and stopped and deleted at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pymysql

from tools.s3_emulator import free_port


def available() -> bool:
    return bool(shutil.which("mariadbd") and shutil.which("mariadb-install-db"))


def _server_user() -> list[str]:
    # mariadbd refuses to run as root unless told which user to become.
    return ["--user=mysql"] if os.geteuid() == 0 else []


@contextmanager
def second_server(buffer_pool: str = "128M") -> Iterator[int]:
    """Yield the port of a fresh MariaDB listening on 127.0.0.1 (TCP only)."""
    folder = Path(tempfile.mkdtemp(prefix="etl-bench-db-"))
    data = folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, "mysql", "mysql")
    subprocess.run(
        ["mariadb-install-db", "--no-defaults", *_server_user(), f"--datadir={data}",
         "--skip-test-db", "--auth-root-authentication-method=normal"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    port = free_port()
    server = subprocess.Popen(
        ["mariadbd", "--no-defaults", *_server_user(), f"--datadir={data}", f"--port={port}",
         "--bind-address=127.0.0.1", f"--socket={folder / 'sock'}", "--skip-grant-tables",
         f"--innodb-buffer-pool-size={buffer_pool}", "--local-infile=1",
         f"--log-error={folder / 'error.log'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait(port, server)
        yield port
    finally:
        server.terminate()
        server.wait(60)
        shutil.rmtree(folder, ignore_errors=True)


def _wait(port: int, server: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if server.poll() is not None:
            raise RuntimeError(f"mariadbd exited with {server.returncode}")
        try:
            pymysql.connect(host="127.0.0.1", port=port, user="root", connect_timeout=1).close()
            return
        except pymysql.err.OperationalError:
            time.sleep(0.1)
    raise RuntimeError(f"mariadbd did not accept connections on port {port}")
