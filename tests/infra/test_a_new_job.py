"""A newcomer's path, in a copy of the project: render a stack file of their own, read a
config error, then add a job (their own job folder) to every stack file, refresh the
snapshots and run the per-stack checks, without editing any test (issue 22).

Tests follow the stacks: only the snapshot tests pin a committed stack's values, every other
check derives its jobs, counts and names from the Pulumi.<stack>.yaml files, so this copy's
extra job must pass them all, end to end through the local task runner included.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from etl_harness import one_table_job

from tools.offline import ROOT, stack_names

NEW_JOB = "nightly-sessions"
NEW_FOLDER = "etl/jobs/nightly_sessions"
# What a newcomer would write: another schedule, time zone and size, and their own folder.
NEW_SETTINGS = {
    "schedule": "cron(30 2 * * ? *)",
    "timezone": "Europe/Berlin",
    "cpu": 512,
    "memory": 1024,
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


def add_the_new_job(config: dict[str, Any]) -> None:
    config["scheduled-etl:jobs"][NEW_JOB] = NEW_SETTINGS


def test_a_job_added_to_every_stack_passes_the_per_stack_checks(copy: Path) -> None:
    one_table_job(copy / NEW_FOLDER, export="SELECT id, v FROM t ORDER BY id")
    stacks = stack_names(copy)
    assert stacks == stack_names(), "the copy has the project's stack files"
    for stack in stacks:
        edit_stack(copy / f"Pulumi.{stack}.yaml", add_the_new_job)
    done = run(copy, "-m", "tools.render", "--write-snapshots")
    assert done.returncode == 0, done.stderr
    for stack in stacks:
        assert (
            f'"name": "{NEW_JOB}"' in (copy / "tests" / "snapshots" / f"{stack}.json").read_text()
        )
    checks = run(copy, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", *PER_STACK_CHECKS,
                 "tests/task/test_task_runner.py", "-k",
                 f"not test_task_runner or {NEW_JOB}", timeout=1800)  # fmt: skip
    assert checks.returncode == 0, checks.stdout[-6000:] + checks.stderr[-2000:]
    for stack in stacks:  # the new job ran through its task definition in each stack
        assert f"test_every_stacks_job_runs_green[{stack}-{NEW_JOB}]" in checks.stdout
