"""The README's two commands need nothing running or installed beforehand: the tests' own
throw-away MariaDB (tools/throwaway_db.py) and the Debian packages check (scripts/
system-packages.sh), which installs as root and otherwise names what is missing."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pymysql
import pytest

from tools import throwaway_db

ROOT = Path(__file__).resolve().parents[2]


def test_a_throw_away_server_serves_the_job_and_leaves_nothing(tmp_path: Path) -> None:
    with throwaway_db.running(str(tmp_path)) as server:
        [base] = tmp_path.iterdir()
        assert server.port != 3306 and server.files_dir.parent == base
        conn = pymysql.connect(host=server.host, port=server.port, user=server.user,
                               password=server.password, autocommit=True)  # fmt: skip
        with conn, conn.cursor() as cursor:
            cursor.execute("SELECT @@local_infile, @@character_set_server, @@skip_name_resolve")
            assert cursor.fetchone() == (1, "utf8mb4", 1)
            shared = server.files_dir / "exchange"
            shared.mkdir()
            cursor.execute(f"SELECT 'a,b' INTO OUTFILE '{shared / 'out.csv'}'")
            assert (shared / "out.csv").read_text() == "a,b\n"
            with pytest.raises(pymysql.err.MySQLError, match="secure-file-priv"):
                cursor.execute(f"SELECT 1 INTO OUTFILE '{tmp_path / 'outside.csv'}'")
    assert list(tmp_path.iterdir()) == [], "data folder removed"
    with pytest.raises(pymysql.err.OperationalError):
        pymysql.connect(host=server.host, port=server.port, user="root", connect_timeout=2)


def test_missing_binaries_name_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(throwaway_db, "SBIN", ())
    with pytest.raises(throwaway_db.ServerUnavailable, match="apt-get install mariadb-server"):
        throwaway_db.find("mariadb-install-db")


def test_the_packages_check_names_what_is_missing_without_root() -> None:
    """As anyone but root nothing is installed: the message names the packages and the command.
    A PATH without npm and MariaDB stands for a fresh machine."""
    with tempfile.TemporaryDirectory() as folder:  # not under pytest's 0700 root: nobody reads it
        Path(folder).chmod(0o755)
        check_packages(Path(folder))


def check_packages(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "id", "cc", "ip", "setpriv"):
        found = shutil.which(tool)
        assert found, f"{tool} is on this machine (the test's premise)"
        (bin_dir / tool).symlink_to(found)
    script = tmp_path / "system-packages.sh"
    shutil.copy(ROOT / "scripts" / "system-packages.sh", script)
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    done = subprocess.run(
        [*(as_nobody if os.geteuid() == 0 else []), "bash", str(script), "test"],
        env={"PATH": str(bin_dir), "PYTHON": "/usr/bin/python3"},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "make test needs these Debian packages: mariadb-server nodejs npm" in done.stderr
    assert "apt-get install -y mariadb-server nodejs npm" in done.stderr
    demo = subprocess.run(
        [*(as_nobody if os.geteuid() == 0 else []), "bash", str(script), "demo"],
        env={"PATH": str(bin_dir), "PYTHON": "/usr/bin/python3"},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert "make demo needs these Debian packages: mariadb-server\n" in demo.stderr


def test_the_plain_demo_brings_its_own_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make demo` without root and with no server running: a throw-away MariaDB serves the
    job, the shared export path included, and is gone afterwards."""
    spec = importlib.util.spec_from_file_location("demo", ROOT / "scripts" / "demo.py")
    assert spec and spec.loader
    demo = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "demo", demo)  # its dataclasses look themselves up there
    spec.loader.exec_module(demo)
    for name in (*demo.DEMO_DB, "DEMO_SHARED_ROOT"):
        monkeypatch.setenv(name, "unset below")  # restored (removed) after the test
        monkeypatch.delenv(name)
    monkeypatch.setattr(demo, "_answers", lambda db: False)  # whatever runs on this machine
    with demo.local_server():
        port = demo.demo_db()["port"]
        assert port != 3306
        run = demo.Demo(job=None, inputs=None, rows=300, scheduled_time="2026-11-01T04:00:00Z",
                        out=tmp_path)  # fmt: skip
        assert demo.run_process(run) == 0
    out = capsys.readouterr().out
    assert f"a throw-away MariaDB on port {port}" in out
    assert "export path: shared" in out
    assert "DEMO_DB_PORT" not in os.environ
    assert list(tmp_path.rglob("_manifest.json"))
