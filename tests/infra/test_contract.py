"""The job and the infrastructure agree (etl/contract.py): what each stack's task definition and
state machine set is what the job reads, under the names and from the containers it expects."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from typing import Any

from components.settings import RESERVED_ENV, Settings, parse_settings
from components.specs.containers import sidecars
from etl.contract import (
    APP_CONTAINER,
    AWS_REGION,
    DB_CONTAINER,
    ENVIRONMENT,
    SHARED_SERVER_ONLY,
    TASK_SERVER_ONLY,
    ExitCode,
    ExportPath,
    variable,
)
from tools.offline import ROOT, Program, stack_config, with_image_digest

TASK_DEF = "aws:ecs/taskDefinition:TaskDefinition"
MACHINE = "aws:sfn/stateMachine:StateMachine"


def _containers(program: Program, job: str) -> dict[str, dict[str, Any]]:
    definitions = json.loads(program.one(TASK_DEF, job).inputs["containerDefinitions"])
    return {c["name"]: c for c in definitions}


def _overrides(machine: dict[str, Any]) -> list[dict[str, Any]]:
    """Every container override of an ECS RunTask state, wherever it is nested."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "ContainerOverrides" in node:
                found.extend(node["ContainerOverrides"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(machine)
    return found


def _settings(stack: str) -> Settings:
    raw = with_image_digest(stack_config(stack))
    ours = {
        k.removeprefix("scheduled-etl:"): v
        for k, v in raw.items()
        if k.startswith("scheduled-etl:")
    }
    return parse_settings(ours)


def test_each_task_runs_the_contracts_containers(stack: tuple[str, Program]) -> None:
    """The app and the database by the contract's names, and the other sidecars declared; an
    aurora job's task is the app alone (its database is outside the task)."""
    name, program = stack
    for job, settings in _settings(name).jobs.items():
        declared = set(_containers(program, job))
        if settings.database_server == "aurora":
            assert declared == {APP_CONTAINER}
            continue
        assert declared == {APP_CONTAINER, *(s.name for s in sidecars(settings))}
        assert DB_CONTAINER in declared


def test_the_app_gets_what_the_job_reads_and_nothing_it_does_not(
    stack: tuple[str, Program],
) -> None:
    name, program = stack
    jobs = stack_config(name)["scheduled-etl:jobs"]
    for job, config in jobs.items():
        app = _containers(program, job)[APP_CONTAINER]
        plain = {e["name"] for e in app["environment"]}
        secret = {s["name"] for s in app.get("secrets", [])}
        yours = set(config.get("environment", {}))
        for env_name in plain - yours:
            if env_name != AWS_REGION:
                assert variable(env_name).set_by == "task", f"{job}: {env_name} set by the task"
        for env_name in secret:
            assert variable(env_name).set_by == "secret", f"{job}: {env_name} from a secret"
        # A job's `environment` could not have replaced any of them.
        assert (plain - yours) | secret <= RESERVED_ENV
        # Everything the task definition is to set is there (ETL_JOB only for a job that
        # names its folder; DB_SHARED_DIR only on the shared path, below), and only the
        # variables of the job's kind of database server.
        aurora = config.get("databaseServer", "sidecar") == "aurora"
        other_kind = TASK_SERVER_ONLY if aurora else SHARED_SERVER_ONLY
        assert not (plain | secret) & other_kind, job
        for item in ENVIRONMENT:
            if item.set_by not in {"task", "secret"} or item.name in other_kind:
                continue
            if item.name not in {"ETL_JOB", "DB_SHARED_DIR"}:
                assert item.name in plain | secret, f"{job}: {item.name} missing"
        assert ("ETL_JOB" in plain) is ("etlJob" in config), job
        # The export path the config chose is the one the job will take.
        # (An aurora job has only the stream path: the server cannot write into the task.)
        shared = config.get("exportPath", ExportPath.SHARED) == ExportPath.SHARED
        assert ("DB_SHARED_DIR" in plain) is (shared and not aurora), job


def test_the_state_machine_sets_the_run_variables_on_the_app(stack: tuple[str, Program]) -> None:
    _, program = stack
    run_machines = [m for m in program.of_type(MACHINE) if not m.name.endswith("-watch")]
    assert run_machines
    for machine in run_machines:
        overrides = _overrides(json.loads(machine.inputs["definition"]))
        assert overrides, machine.name
        for override in overrides:
            assert override["Name"] == APP_CONTAINER
            names = {e["Name"] for e in override["Environment"]}
            assert names == {v.name for v in ENVIRONMENT if v.set_by == "state machine"}


def test_stack_config_may_not_set_what_the_platform_sets() -> None:
    platform = {v.name for v in ENVIRONMENT if v.set_by in {"task", "secret", "state machine"}}
    assert platform | {"DATA_DIR", AWS_REGION} <= RESERVED_ENV
    tunable = {v.name for v in ENVIRONMENT if v.set_by == "you"}
    assert tunable and not tunable & RESERVED_ENV


def test_the_job_exits_with_the_contracts_codes(tmp_path: Any) -> None:
    """A setting the job refuses ends the process with ExitCode.SETTINGS, before any connection."""
    env = {"PATH": "/usr/bin:/bin", "ETL_JOB": str(tmp_path)}  # no schema.sql: not a job folder
    done = subprocess.run(
        [sys.executable, "-m", "etl", "run"], cwd=ROOT, env=env, capture_output=True, check=False
    )
    assert done.returncode == ExitCode.SETTINGS, done.stderr
    assert ExitCode.TERMINATED == 128 + signal.SIGTERM  # what ECS reports for a stopped job
