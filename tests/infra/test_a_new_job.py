"""A newcomer's path, in a copy of the project: render a stack file of their own, read a
config error, then add a job (their own job folder) to every stack file, refresh the
snapshots and run the per-stack checks, without editing any test (issue 22).

Tests follow the stacks: only the snapshot tests pin a committed stack's values, every other
check derives its jobs, counts and names from the Pulumi.<stack>.yaml files, so this copy's
extra job must pass them all, end to end through the local task runner included.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from etl_harness import DbServer, one_table_job

from tools.offline import ROOT, stack_names, stack_settings
from tools.run_now import latest_slot


def unused_job() -> tuple[str, str]:
    """A job name no stack file has and a folder not on disk: a newcomer following the README
    adds `nightly-sessions` in etl/jobs/nightly_sessions, and this copy must not overwrite it."""
    taken = {job for stack in stack_names() for job in stack_settings(stack).jobs}
    for n in itertools.count():
        name, folder = f"added-{n}", f"etl/jobs/added_{n}"
        if name not in taken and not (ROOT / folder).exists():
            return name, folder
    raise AssertionError("unreachable")


NEW_JOB, NEW_FOLDER = unused_job()
# What a newcomer would write: another schedule (04:30 in Berlin, clear of the clock changes),
# time zone, size, prefix, and their own folder.
NEW_SETTINGS = {
    "schedule": "cron(30 4 * * ? *)",
    "timezone": "Europe/Berlin",
    "cpu": 512,
    "memory": 1024,
    "s3Prefix": f"{NEW_JOB}/",
    "etlJob": NEW_FOLDER,
}
# The per-stack checks (each is parametrized over the stack files or reads every job).
PER_STACK_CHECKS = [
    "tests/infra/test_program.py",
    "tests/infra/test_snapshots.py",
    "tests/infra/test_aws_validation.py",
    "tests/infra/test_contract.py",
    "tests/infra/test_alerts.py",
    "tests/state_machines/test_run_definitions.py",
]
LEFT_OUT = {".git", "venv", "node_modules", ".demo", "__pycache__", ".pytest_cache", ".mypy_cache",
            ".ruff_cache"}  # fmt: skip


def run(copy: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # the exit status is what is checked
        [sys.executable, *args], cwd=copy, capture_output=True, text=True, timeout=timeout,
        check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project without its virtualenv and caches (node_modules linked: asl-validator)."""
    root = tmp_path_factory.mktemp("newcomer") / "project"
    shutil.copytree(ROOT, root, symlinks=True,
                    ignore=lambda _, names: [n for n in names if n in LEFT_OUT])  # fmt: skip
    if (ROOT / "node_modules").exists():
        (root / "node_modules").symlink_to((ROOT / "node_modules").resolve())
    return root


def edit_stack(path: Path, change: Any) -> None:
    document = yaml.safe_load(path.read_text())
    change(document["config"])
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def test_render_takes_any_stack_file_and_names_its_placeholders(copy: Path) -> None:
    """A fourth stack file renders (it used to be refused: dev, staging, prod only); with no
    aws:region the region-bearing values are a placeholder, and render says so."""
    qa = copy / "Pulumi.qa.yaml"
    shutil.copy(copy / "Pulumi.dev.yaml", qa)
    edit_stack(qa, lambda config: config.pop("aws:region"))
    try:
        done = run(copy, "-m", "tools.render", "qa")
    finally:
        qa.unlink()
    assert done.returncode == 0, done.stderr
    assert "# placeholder region = eu-west-1: Pulumi.qa.yaml sets no aws:region" in done.stdout
    assert "scheduled-etl-qa-cluster" in done.stdout


def test_render_lists_every_config_problem_without_a_traceback(copy: Path) -> None:
    broken = copy / "Pulumi.broken.yaml"
    shutil.copy(copy / "Pulumi.dev.yaml", broken)

    def spoil(config: dict[str, Any]) -> None:
        oops = {"timezone": "Mars/Olympus", "cpu": 256, "memory": 8192, "etlJob": "etl/jobs/x"}
        config["scheduled-etl:jobs"]["oops"] = oops
        own_prefixes(config["scheduled-etl:jobs"])

    edit_stack(broken, spoil)
    try:
        done = run(copy, "-m", "tools.render", "broken")
    finally:
        broken.unlink()
    assert done.returncode == 2
    assert "Traceback" not in done.stderr, done.stderr
    problems = [line for line in done.stderr.splitlines() if line.startswith("  - ")]
    assert [line.split(" = ")[0] for line in problems] == [
        "  - scheduled-etl:jobs.oops.timezone",
        "  - scheduled-etl:jobs.oops.memory",
        "  - scheduled-etl:jobs.oops.etlJob",
    ], done.stderr
    assert done.stderr.startswith("Pulumi.broken.yaml: invalid stack configuration")


def own_prefixes(jobs: dict[str, Any]) -> None:
    """Jobs sharing a bucket each own a prefix (settings refuse overlapping ones, and "" holds
    every key): a job on the whole bucket moves under its name, as the error says to."""
    for name, job in jobs.items():
        if not job.get("s3Prefix"):
            job["s3Prefix"] = f"{name}/"


def add_the_new_job(config: dict[str, Any]) -> None:
    config["scheduled-etl:jobs"][NEW_JOB] = NEW_SETTINGS
    own_prefixes(config["scheduled-etl:jobs"])


@pytest.fixture(scope="module")
def with_new_job(copy: Path) -> Path:
    """The copy with the newcomer's job in every stack file and `make snapshots` run."""
    one_table_job(copy / NEW_FOLDER, export="SELECT id, v FROM t ORDER BY id")
    for stack in stack_names(copy):
        edit_stack(copy / f"Pulumi.{stack}.yaml", add_the_new_job)
    done = run(copy, "-m", "tools.render", "--write-snapshots")
    assert done.returncode == 0, done.stderr
    return copy


def test_a_job_added_to_every_stack_passes_the_per_stack_checks(with_new_job: Path) -> None:
    copy = with_new_job
    stacks = stack_names(copy)
    assert stacks == stack_names(), "the copy has the project's stack files"
    for stack in stacks:
        snapshot = (copy / "tests" / "snapshots" / f"{stack}.json").read_text()
        assert f'"name": "{NEW_JOB}"' in snapshot
    checks = run(copy, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", *PER_STACK_CHECKS,
                 "tests/task/test_task_runner.py", "-k",
                 f"not test_task_runner or {NEW_JOB}", timeout=1800)  # fmt: skip
    assert checks.returncode == 0, checks.stdout[-6000:] + checks.stderr[-2000:]
    for stack in stacks:  # the new job ran through its task definition in each stack
        assert f"test_every_stacks_job_runs_green[{stack}-{NEW_JOB}]" in checks.stdout


def test_the_demo_runs_a_stack_job_with_its_own_folder_and_slot(
    with_new_job: Path, db_server: DbServer, tmp_path: Path
) -> None:
    """`make demo STACK_JOB=nightly-sessions INPUTS=…` checked the inputs against the bundled
    job's tables and ran at the bundled job's monthly slot."""
    inputs = tmp_path / "inputs" / "t"
    inputs.mkdir(parents=True)
    (inputs / "part-1.csv").write_text("id,v\n1,a\n2,b\n")
    env = {**os.environ, "DEMO_DB_HOST": db_server.host, "DEMO_DB_PORT": str(db_server.port),
           "DEMO_DB_USER": db_server.user, "DEMO_DB_PASSWORD": db_server.password}  # fmt: skip
    before = datetime.now(UTC)
    done = subprocess.run(  # the exit status is what is checked
        [sys.executable, "scripts/demo.py", "--plain", "--stack-job", NEW_JOB,
         "--inputs", str(inputs.parent), "--out", str(tmp_path / "out")],
        cwd=with_new_job, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr
    slots = {latest_slot(NEW_SETTINGS["schedule"], NEW_SETTINGS["timezone"], moment)
             for moment in (before, datetime.now(UTC))}  # fmt: skip
    [shown] = [line for line in done.stdout.splitlines() if line.startswith("scheduled time: ")]
    assert shown.split()[2] in slots, shown
    schedule, timezone = NEW_SETTINGS["schedule"], NEW_SETTINGS["timezone"]
    assert f"(the latest slot of {NEW_JOB}: {schedule} {timezone})" in shown
    [manifest] = (tmp_path / "out").glob("*/run=*/_manifest.json")  # <job>/run=<slot>/
    assert json.loads(manifest.read_text())["job"] == Path(NEW_FOLDER).name
    assert "== rows: 2 rows" in done.stdout
