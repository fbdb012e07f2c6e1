"""Run `python -m etl run` exactly as the container does: a subprocess with environment settings."""

from __future__ import annotations

import contextlib
import csv
import gzip
import http.client
import http.server
import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pymysql

ROOT = Path(__file__).resolve().parent.parent
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass(frozen=True)
class DbServer:
    host: str
    port: int
    user: str
    password: str
    shared_root: Path | None = None
    """Where `SELECT … INTO OUTFILE` may write (secure_file_priv), when the tests know it."""

    def connect(self, database: str | None = None) -> pymysql.Connection:  # type: ignore[type-arg]
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=database,
            autocommit=True,
        )


@dataclass
class Run:
    returncode: int
    logs: list[dict[str, Any]]
    stderr: str

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.logs if line["event"] == name]

    @property
    def failure(self) -> dict[str, Any]:
        [failed] = self.events("run_failed")
        return failed


def etl_env(
    db: DbServer, database: str, bucket: str, endpoint: str, app_dir: Path = ROOT, **settings: str
) -> dict[str, str]:
    """The container's environment, pointed at this test's database, bucket and S3."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(app_dir),
        **S3_ENV,
        "AWS_ENDPOINT_URL_S3": endpoint,
        "DB_HOST": db.host,
        "DB_PORT": str(db.port),
        "DB_DATABASE": database,
        "DB_USERNAME": db.user,
        "DB_PASSWORD": db.password,
        "DATA_BUCKET": bucket,
        "SCHEDULED_TIME": "2026-11-01T04:00:00Z",
        **settings,
    }


def start_etl(db: DbServer, database: str, bucket: str, endpoint: str, **settings: str) -> Any:
    """`python -m etl run` in the background (stdout piped, line by line)."""
    return subprocess.Popen(
        [sys.executable, "-m", "etl", "run"],
        env=etl_env(db, database, bucket, endpoint, **settings),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def finish(process: Any, timeout: float = 120) -> Run:
    stdout, _ = process.communicate(timeout=timeout)
    return Run(process.returncode, [json.loads(line) for line in stdout.splitlines()], "")


def run_etl(
    db: DbServer,
    database: str,
    bucket: str,
    endpoint: str,
    python: str = sys.executable,
    app_dir: Path = ROOT,
    timeout: float = 120,
    **settings: str,
) -> Run:
    """`python -m etl run` from `app_dir` (the image's /app) with the given settings."""
    done = subprocess.run(  # the exit status is part of what tests check
        [python, "-m", "etl", "run"],
        env=etl_env(db, database, bucket, endpoint, app_dir, **settings),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=app_dir,
        check=False,
    )
    logs = [json.loads(line) for line in done.stdout.splitlines()]  # every line is JSON
    return Run(done.returncode, logs, done.stderr)


def one_table_job(
    folder: Path, transform: str = "", export: str = "SELECT * FROM t ORDER BY id"
) -> Path:
    """A job folder with one input table `t` (id, v), an optional transform and one export."""
    (folder / "transform").mkdir(parents=True, exist_ok=True)
    (folder / "export").mkdir(exist_ok=True)
    (folder / "schema.sql").write_text(
        "DROP TABLE IF EXISTS t; CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(200));"
    )
    if transform:
        (folder / "transform" / "10_step.sql").write_text(transform)
    (folder / "export" / "rows.sql").write_text(export)
    return folder


def job_folder(folder: Path, schema: str, export: str = "SELECT 1 AS one") -> Path:
    """A job folder with `schema` and one export, `x`: for tests of the load."""
    (folder / "export").mkdir(parents=True, exist_ok=True)
    (folder / "schema.sql").write_text(schema)
    (folder / "export" / "x.sql").write_text(export)
    return folder


def users_job(tmp_path: Path) -> tuple[Path, Path]:
    """A job folder of a user's for `make demo JOB=… INPUTS=…`: table `t` with its input CSV,
    a transform into `u`, and the export `rows` of `u` (expected: DEMO_ROWS)."""
    job = one_table_job(
        tmp_path / "my_job",
        transform="DROP TABLE IF EXISTS u; CREATE TABLE u AS SELECT id, UPPER(v) AS v FROM t "
        "WHERE id > 1",
        export="SELECT id, v FROM u ORDER BY id",
    )
    inputs = tmp_path / "inputs"
    (inputs / "t").mkdir(parents=True)
    (inputs / "t" / "part-1.csv").write_text('id,v\n1,a\n2,b\n3,"c, d"\n')
    return job, inputs


DEMO_ROWS = [["id", "v"], ["2", "B"], ["3", "C, D"]]


def run_demo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """scripts/demo.py (what `make demo` runs), its exit status and output."""
    return subprocess.run(  # the exit status is part of what the tests check
        [sys.executable, str(ROOT / "scripts" / "demo.py"), *args], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def demo_export(out: Path, export: str, job: str = "my_job") -> list[list[str]]:
    """The rows (header first) of an export's first part, as the demo copied it to `out`."""
    part = out / job / "run=20261101T040000Z" / export / "part-00000.csv.gz"
    return list(csv.reader(io.StringIO(gzip.decompress(part.read_bytes()).decode(), newline="")))


def put_csv(s3: Any, bucket: str, key: str, text: str, gzipped: bool = False) -> None:
    body = text.encode("utf-8")
    s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(body) if gzipped else body)


def keys(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    found: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found += [obj["Key"] for obj in page.get("Contents", [])]
    return sorted(found)


def read_bytes(s3: Any, bucket: str, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def read_export(s3: Any, bucket: str, keys_: list[str]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of an export's parts (every part repeats the header)."""
    header: list[str] = []
    rows: list[list[str]] = []
    for key in keys_:
        text = gzip.decompress(read_bytes(s3, bucket, key)).decode("utf-8")
        part = list(csv.reader(io.StringIO(text, newline="")))
        header = part[0]
        rows += part[1:]
    return header, rows


def run_root(job: str, run: str = "run=20261101T040000Z", output: str = "output/") -> str:
    """A run's folder: OUTPUT_PREFIX<JOB_NAME>/run=<time>/ (the job's name is in the path)."""
    return f"{output}{job}/{run}/"


def manifest(
    s3: Any, bucket: str, root: str | None = None, output: str = "output/"
) -> dict[str, Any]:
    """A run's manifest; without `root`, the one under `output` (OUTPUT_PREFIX) for
    2026-11-01T04:00:00Z, whichever job wrote it."""
    if root is None:
        wanted = re.escape(output) + r"[^/]+/run=20261101T040000Z/_manifest\.json"
        [key] = [k for k in keys(s3, bucket, output) if re.fullmatch(wanted, k)]
        root = key.removesuffix("_manifest.json")
    return json.loads(read_bytes(s3, bucket, f"{root}_manifest.json"))  # type: ignore[no-any-return]


class DelayedProxy:
    """A TCP port that opens only after `delay` seconds, then forwards to the real server:
    a database sidecar that is still starting."""

    def __init__(self, port: int, target: tuple[str, int], delay: float) -> None:
        self.port, self.target, self.delay = port, target, delay
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> DelayedProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        if self._stop.wait(self.delay):
            return
        with socket.create_server(("127.0.0.1", self.port)) as server:
            server.settimeout(0.2)
            while not self._stop.is_set():
                try:
                    client, _ = server.accept()
                except TimeoutError:
                    continue
                upstream = socket.create_connection(self.target)
                threading.Thread(target=_bridge, args=(client, upstream), daemon=True).start()


def _bridge(one: Any, two: Any) -> None:
    pipes = [threading.Thread(target=_pipe, args=pair) for pair in ((one, two), (two, one))]
    for pipe in pipes:
        pipe.start()
    for pipe in pipes:
        pipe.join()
    one.close()
    two.close()


def _pipe(src: Any, dst: Any) -> None:
    with contextlib.suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)  # no more writes: lets the other direction finish too


class FlakyS3:
    """An HTTP proxy in front of the S3 emulator that answers the first `failures` requests
    with 503 SlowDown, as S3 does under load, then forwards everything. `deny(method, path,
    headers)` picks requests answered 403 AccessDenied instead (a policy changed mid-run),
    `gone` those answered 404 NoSuchKey (an object deleted meanwhile); `self.denied` counts
    both."""

    def __init__(
        self,
        upstream: str,
        failures: int = 0,
        deny: Callable[[str, str, Any], bool] | None = None,
        gone: Callable[[str, str, Any], bool] | None = None,
    ) -> None:
        target = urlsplit(upstream)
        self.failures_left = failures
        self.failed = self.denied = 0
        self.deny, self.gone = deny, gone
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if proxy.deny and proxy.deny(self.command, self.path, self.headers):
                    proxy.denied += 1
                    self._error(403, b"<Error><Code>AccessDenied</Code><Message>Access Denied"
                                b"</Message></Error>")  # fmt: skip
                    return
                if proxy.gone and proxy.gone(self.command, self.path, self.headers):
                    proxy.denied += 1
                    self._error(404, b"<Error><Code>NoSuchKey</Code><Message>The specified key "
                                b"does not exist.</Message></Error>")  # fmt: skip
                    return
                if proxy.failures_left > 0:
                    proxy.failures_left -= 1
                    proxy.failed += 1
                    error = (
                        b"<Error><Code>SlowDown</Code><Message>Reduce your rate</Message></Error>"
                    )
                    self.send_response(503)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(error)))
                    self.end_headers()
                    self.wfile.write(error)
                    return
                upstream_conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                headers["Host"] = target.netloc
                upstream_conn.request(self.command, self.path, body=body, headers=headers)
                reply = upstream_conn.getresponse()
                data = reply.read()
                self.send_response(reply.status)
                for key, value in reply.getheaders():
                    if key.lower() not in {"transfer-encoding", "content-length", "connection"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                upstream_conn.close()

            def _error(self, status: int, error: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(error)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(error)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FlakyS3:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class CuttingProxy:
    """A TCP proxy to the database that cuts every connection once the server has sent
    `after_bytes` to the client in total: a database lost in the middle of a result."""

    def __init__(self, target: tuple[str, int], after_bytes: int) -> None:
        self.target, self.after_bytes, self.sent = target, after_bytes, 0
        self.cut = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> CuttingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.close()
        self._cut_all()

    def _cut_all(self) -> None:
        self.cut.set()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.server.accept()
                upstream = socket.create_connection(self.target)
                self._sockets += [client, upstream]
                threading.Thread(
                    target=self._pipe, args=(client, upstream, False), daemon=True
                ).start()
                threading.Thread(
                    target=self._pipe, args=(upstream, client, True), daemon=True
                ).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, counted: bool) -> None:
        with contextlib.suppress(OSError):
            while not self.cut.is_set() and (data := src.recv(65536)):
                dst.sendall(data)
                if counted:
                    self.sent += len(data)
                    if self.sent >= self.after_bytes:
                        self._cut_all()
