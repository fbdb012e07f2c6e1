"""The MySQL sidecar is reachable from inside its task only (issue 24), run as Fargate runs it.

A stack's own task definition runs in the local task runner; while the app waits (its command
overridden to sleep), the test connects from this machine to the task's ENI address and from
inside the task's network namespace. Positive controls make each refusal mean something: a
listener inside the task is reachable at the same address, and the job's user does get in.
Also: the sidecar's init file carries any password intact (run against the real MariaDB).
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pymysql
import pytest
from etl_harness import DbServer

from components.settings import JobSettings
from components.specs.containers import MYSQL_DIR, MYSQL_PORT, init_sql, mysql_startup
from tools.offline import stack_settings
from tools.task import task_spec
from tools.task.__main__ import local_secrets
from tools.task.definition import from_inputs, secret_value
from tools.task.images import app_image
from tools.task.network import TaskNetwork
from tools.task.runner import TaskRun

STACK = "dev"
# Any job with the sidecar: the sidecar is the same in each.
JOB = next(j for j, s in stack_settings(STACK).jobs.items() if s.database_server == "sidecar")


@pytest.fixture(scope="module", autouse=True)
def _root() -> None:
    if os.geteuid() != 0:
        pytest.fail("the task runner needs root; CI runs as root", pytrace=False)


def _refused(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=3).close()
    except ConnectionRefusedError:
        return True
    return False


def test_the_sidecar_is_unreachable_from_outside_its_task() -> None:
    task = task_spec(STACK, JOB)
    secrets = local_secrets(task)
    mysql = task.container("mysql")
    root_password = secret_value(mysql.secrets["MYSQL_ROOT_PASSWORD"], secrets)
    app = task.container("app")
    user, password = (
        app.environment["DB_USERNAME"],
        secret_value(app.secrets["DB_PASSWORD"], secrets),
    )
    run = TaskRun(
        task,
        secrets=secrets,
        overrides={"app": {"command": ["sleep", "60"]}},
        on_log=lambda *_: None,
    )
    worker = threading.Thread(target=run.run)
    worker.start()
    try:
        deadline = time.monotonic() + 90
        while not any(text.startswith("app started") for _, text in list(run.timeline)):
            assert time.monotonic() < deadline and worker.is_alive(), run.timeline
            time.sleep(0.2)
        network = run.network
        assert network is not None

        # Control: a listener on every interface inside the task is reachable at its address.
        listener = network.inside(lambda: socket.create_server(("0.0.0.0", 0)))
        try:
            port = listener.getsockname()[1]
            socket.create_connection((network.address, port), timeout=3).close()
        finally:
            listener.close()
        # The server is not: it listens on the task's 127.0.0.1 only.
        assert _refused(network.address, MYSQL_PORT)

        def connect(login: str, secret: str) -> str:
            conn = pymysql.connect(host="127.0.0.1", port=MYSQL_PORT, user=login, password=secret,
                                   connect_timeout=5)  # fmt: skip
            with conn, conn.cursor() as cursor:
                cursor.execute("SELECT CURRENT_USER()")
                return str(cursor.fetchone()[0])  # type: ignore[index]

        # Inside the task, the job's user gets in, as '<user>'@'127.0.0.1'; root does not, even
        # with its password: it exists for localhost (the socket) only.
        assert network.inside(lambda: connect(user, password)) == f"{user}@127.0.0.1"
        with pytest.raises(pymysql.err.OperationalError) as denied:
            network.inside(lambda: connect("root", root_password))
        assert denied.value.args[0] in (1045, 1130), denied.value
    finally:
        run.stop("Task stopped by the test")
        worker.join(timeout=180)
    assert not worker.is_alive()


def test_a_second_task_network_gets_its_own_address() -> None:
    first, second = TaskNetwork(), TaskNetwork()
    try:
        assert first.address != second.address
    finally:
        first.close()
        second.close()


HOSTILE = "it's a \\ back'slash\\' and `tick` $(true) %s"


def test_the_init_file_keeps_any_password_intact(tmp_path: Path, db_server: DbServer) -> None:
    """The sidecar's shell writes the init file: a password with quotes, backslashes, `$(...)`
    and `%s` must reach MySQL unchanged. The script runs with its paths moved under tmp_path
    and its final `exec` replaced; the file then runs on the real server, whose account must
    accept exactly that password."""
    job = JobSettings.model_validate({"database": "i24_init_db", "dbUsername": "i24_init"})
    [script] = mysql_startup(job)["command"]
    prepare, _, _ = script.partition(" && exec docker-entrypoint.sh")
    prepare = prepare.replace(MYSQL_DIR, str(tmp_path))
    subprocess.run(["sh", "-c", prepare], env={"PATH": os.environ["PATH"], "DB_PASSWORD": HOSTILE},
                   check=True)  # fmt: skip
    written = (tmp_path / "run" / "init.sql").read_text()
    assert written == init_sql(job, HOSTILE.replace("\\", "\\\\").replace("'", "\\'"))
    multi = pymysql.constants.CLIENT.MULTI_STATEMENTS
    admin = pymysql.connect(host=db_server.host, port=db_server.port, user=db_server.user,
                            password=db_server.password, client_flag=multi)  # fmt: skip
    try:
        with admin.cursor() as cursor:
            cursor.execute("DROP USER IF EXISTS 'i24_init'@'127.0.0.1'")
            cursor.execute(written)
            while cursor.nextset():
                pass
        conn = pymysql.connect(host=db_server.host, port=db_server.port, user="i24_init",
                               password=HOSTILE, database="i24_init_db")  # fmt: skip
        conn.close()
    finally:
        with admin.cursor() as cursor:
            cursor.execute("DROP USER IF EXISTS 'i24_init'@'127.0.0.1'")
            cursor.execute("DROP DATABASE IF EXISTS i24_init_db")
        admin.close()


PROBE_FS = (
    "touch /root-file 2>/dev/null && echo root-writable; "
    "touch /tmp/x && echo tmp-writable; stat -c 'tmp %a %U' /tmp; "
    "touch /data/x 2>/dev/null && echo data-writable; stat -c 'data %a %U' /data"
)


def test_a_read_only_root_leaves_only_volumes_writable_as_fargate_seeds_them() -> None:
    """readonlyRootFilesystem, as the runner reproduces it: the root refuses writes; a task
    volume at a path the image declares as VOLUME (the Dockerfile's /tmp) starts as the image's
    directory (1777), any other (/data) root-owned 0755, so the image's user cannot write it."""
    task = from_inputs({
        "family": "fs",
        "containerDefinitions": [{
            "name": "app", "image": "app-image", "readonlyRootFilesystem": True,
            "command": ["sh", "-c", PROBE_FS],
            "mountPoints": [{"sourceVolume": "tmp", "containerPath": "/tmp"},
                            {"sourceVolume": "data", "containerPath": "/data"}],
        }],
        "volumes": [{"name": "tmp"}, {"name": "data"}],
    })  # fmt: skip
    lines: list[str] = []
    result = TaskRun(task, secrets={}, images={"app": app_image("app-image")},
                     on_log=lambda _stream, line: lines.append(line)).run()  # fmt: skip
    assert result.container("app")["exitCode"] == 0, lines
    assert lines == ["tmp-writable", "tmp 1777 root", "data 755 root"], lines
