"""A throw-away MariaDB server: its own data folder under a temporary folder, its own port.

    with throwaway_db.running() as server:
        pymysql.connect(host=server.host, port=server.port, user=server.user)

For the tests and the plain-process demo when no server is given, so that nothing has to be
running beforehand. It runs as whoever calls it (root or not): `mariadb-install-db` lays out the
data folder (root@localhost, 127.0.0.1 and ::1 without a password), then `mariadbd` serves it
on 127.0.0.1 only. `--no-defaults` first on both: this machine's /etc/mysql/my.cnf (user=mysql,
its datadir and socket) must not leak in; this is why pytest-mysql does not fit (its fixed
command lines put other arguments first, so the machine's my.cnf wins). Settings are the ones
the job expects of a server (utf8mb4, `local_infile` on, names not resolved, so accounts
'x'@'127.0.0.1' match) and `secure_file_priv` set to a folder of its own, where `SELECT … INTO
OUTFILE` may write (the shared export path).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pymysql

START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 30
SBIN = ("/usr/sbin", "/usr/local/sbin", "/usr/local/mysql/bin")
PACKAGE = "mariadb-server"  # Debian/Ubuntu: mariadbd and mariadb-install-db


class ServerUnavailable(RuntimeError):
    """The binaries are missing or the server did not come up; the message says why."""


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    user: str
    password: str
    files_dir: Path
    """secure_file_priv: the only folder `INTO OUTFILE` may write to."""
    started_seconds: float
    """From the data folder's creation to the first accepted login."""


def find(*names: str) -> str:
    """The first of these programs on PATH or in the sbin folders."""
    path = os.pathsep.join([os.environ.get("PATH", ""), *SBIN])
    for name in names:
        if found := shutil.which(name, path=path):
            return found
    raise ServerUnavailable(
        f"{' / '.join(names)} not found: install MariaDB's server binaries "
        f"(Debian/Ubuntu: apt-get install {PACKAGE}), or point the *_DB_* variables at a server"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> list[str]:
    """A test run killed outright takes its server with it (util-linux setpriv --pdeathsig,
    prctl(2) PR_SET_PDEATHSIG; a preexec_fn would not be safe with threads)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


def _as_root() -> list[str]:
    """mariadbd refuses to run as root unless told to; as anyone else it runs as them."""
    return ["--user=root"] if os.geteuid() == 0 else []


def _login(port: int) -> bool:
    try:
        pymysql.connect(host="127.0.0.1", port=port, user="root", connect_timeout=2).close()
    except pymysql.err.OperationalError:
        return False
    return True


@contextlib.contextmanager
def running(parent: str | None = None, options: Sequence[str] = ()) -> Iterator[Server]:
    """Start a server in a new folder under `parent` (the system's temporary folder by
    default); stop it and remove the folder on exit. `options`: more mariadbd options (a
    TLS-only server's certificate files and require_secure_transport)."""
    install_db = find("mariadb-install-db", "mysql_install_db")
    mariadbd = find("mariadbd", "mysqld")
    base = Path(tempfile.mkdtemp(prefix="etl-db-", dir=parent))
    started = time.monotonic()
    data, files, scratch = base / "data", base / "files", base / "tmp"
    files.mkdir()
    # Its own temporary tables: on the shared /tmp another server's files (a task runner's
    # sidecar numbers its threads alike in its own PID namespace) can collide with them.
    scratch.mkdir()
    files.chmod(0o777)  # the tests' shared folders below it are written by other users too
    log = base / "error.log"
    process: subprocess.Popen[bytes] | None = None
    try:
        install = subprocess.run(
            [install_db, "--no-defaults", f"--datadir={data}", "--skip-test-db",
             "--auth-root-authentication-method=normal", *_as_root()],
            check=False, capture_output=True,
        )  # fmt: skip
        if install.returncode:
            output = (install.stdout + install.stderr).decode(errors="replace")[-2000:]
            raise ServerUnavailable(f"mariadb-install-db failed:\n{output}")
        port = free_port()
        process = subprocess.Popen(
            [*_die_with_parent(), mariadbd, "--no-defaults", f"--datadir={data}", f"--port={port}",
             "--bind-address=127.0.0.1", f"--socket={base / 'mysqld.sock'}",
             f"--pid-file={base / 'mysqld.pid'}", f"--log-error={log}",
             f"--secure-file-priv={files}", f"--tmpdir={scratch}", "--local-infile=1",
             "--skip-name-resolve",
             "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
             "--innodb-log-file-size=16M", "--skip-log-bin", *options, *_as_root()],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = started + START_TIMEOUT_SECONDS
        while not _login(port):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise ServerUnavailable(f"mariadbd did not start on port {port}:\n{tail}")
            time.sleep(0.05)
        yield Server("127.0.0.1", port, "root", "", files, time.monotonic() - started)
    finally:
        if process is not None:
            process.terminate()  # SIGTERM: mariadbd shuts down cleanly
            try:
                process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(base, ignore_errors=True)
