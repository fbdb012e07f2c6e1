"""The issue's "done means", as a user does it: in an empty folder outside the repository, a
fresh virtualenv, `pip install <the repository>`, and the example's ~20-line program
(examples/existing-infrastructure) run under Pulumi's mocks with its stack file, importing the
installed package only. About a minute: pip fetches the dependencies (its cache serves them)
and builds the package.

The component provider is started the same way from a copy of the repository, with only the
virtualenv `pulumi package add` would build for it (provider/requirements.txt): about two more
minutes.

The repository is installed from a copy of its files (tracked and new, as `git ls-files` lists
them), because pip builds a local folder in place and would write build/ and *.egg-info into
the checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc
from test_public_api import SHARED_TYPES

from tools.offline import ROOT

EXAMPLE = ROOT / "examples" / "existing-infrastructure"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"

# The program's runner in the fresh venv: Pulumi's mocks (as in Pulumi's unit-testing guide),
# the stack file's config, and what the program declared and exported, as JSON on stdout.
RUNNER = """
import json, runpy, sys
import pulumi
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

ACCOUNT, REGION = "123456789012", sys.argv[2]
declared = []

class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args):
        declared.append({"type": args.typ, "name": args.name, "inputs": args.inputs})
        arn = f"arn:aws:{args.typ.split(':')[1].split('/')[0]}:{REGION}:{ACCOUNT}:{args.name}"
        return f"{args.name}-id", {"arn": arn, "name": args.name, "url": arn, **args.inputs}

    def call(self, args):
        return {"accountId": ACCOUNT, "partition": "aws", "region": REGION, "name": REGION,
                "dnsSuffix": "amazonaws.com"}

pulumi.runtime.set_mocks(Mocks(), project="analytics-etl", stack="dev", preview=False)
pulumi.runtime.set_all_config(json.loads(sys.argv[1]))
_sync_await(run_pulumi_func(lambda: runpy.run_path("__main__.py", run_name="__main__")))
outputs = pulumi.runtime.settings.get_root_resource().outputs
exported = {k: _sync_await(pulumi.Output.from_input(v).future()) for k, v in outputs.items()}
import components
print(json.dumps({"declared": declared, "exported": exported, "package": components.__file__},
                 default=str))
"""


def repository_copy(dest: Path) -> Path:
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True).stdout  # fmt: skip
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():  # venv, node_modules: links, left out
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    outside = tmp_path_factory.mktemp("outside")
    assert not outside.resolve().is_relative_to(ROOT.resolve())
    repository = repository_copy(outside / "scheduled-etl")
    venv = outside / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    done = subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                           str(repository)], capture_output=True, text=True, timeout=900,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    program = outside / "my-program"
    program.mkdir()
    shutil.copy(EXAMPLE / "__main__.py", program / "__main__.py")
    config = yaml.safe_load((EXAMPLE / "Pulumi.dev.yaml").read_text())["config"]
    strings = {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    ran = subprocess.run([python, "-c", RUNNER, json.dumps(strings), config["aws:region"]],
                         cwd=program, env=env, capture_output=True, text=True, timeout=300,
                         check=False)  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-4000:]
    return {"venv": venv, "config": config, **json.loads(ran.stdout.splitlines()[-1])}


def test_the_program_imports_the_installed_package(installed: dict[str, Any]) -> None:
    assert Path(installed["package"]).is_relative_to(installed["venv"])


def test_it_declares_one_job_and_none_of_what_exists(installed: dict[str, Any]) -> None:
    types = [r["type"] for r in installed["declared"]]
    assert not set(types) & SHARED_TYPES
    tasks = [
        r for r in installed["declared"] if r["type"] == "aws:ecs/taskDefinition:TaskDefinition"
    ]
    assert [t["inputs"]["family"] for t in tasks] == ["analytics-dev-nightly-sessions"]
    assert {"aws:sfn/stateMachine:StateMachine", "aws:scheduler/schedule:Schedule",
            "aws:iam/role:Role", "aws:secretsmanager/secret:Secret"} <= set(types)  # fmt: skip
    containers = json.loads(tasks[0]["inputs"]["containerDefinitions"])
    assert installed["config"]["existing:imageUri"] in [c["image"] for c in containers]


def test_it_exports_what_the_example_promises(installed: dict[str, Any]) -> None:
    exported = installed["exported"]
    assert set(exported) == {"state_machine_arn", "run_task_command", "alerts_topic_policy"}
    assert (
        installed["config"]["existing:clusterArn"].rsplit("/", 1)[1]
        in (exported["run_task_command"])
    )
    policy = json.loads(exported["alerts_topic_policy"])
    assert all(s["Resource"] == installed["config"]["existing:alertsTopicArn"]
               for s in policy["Statement"])  # fmt: skip


def test_the_provider_runs_from_a_clone_with_its_own_venv(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """What `pulumi package add <repo>/provider@<tag>` does before it asks for the schema: the
    whole repository in a folder of its own, provider/venv from provider/requirements.txt
    (pip run in provider/), then provider/__main__.py with that venv's python. It serves the
    committed schema."""
    clone = repository_copy(tmp_path_factory.mktemp("plugin") / "scheduled-etl")
    plugin = clone / "provider"
    venv = plugin / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    done = subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                           "-r", "requirements.txt"], cwd=plugin, capture_output=True, text=True,
                          timeout=900, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    process = subprocess.Popen(
        [python, str(plugin), "127.0.0.1:1"],
        cwd=plugin,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = process.stdout.readline().strip()
        assert port.isdigit(), f"the plugin printed {port!r}, not its port"
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = provider_pb2_grpc.ResourceProviderStub(channel)
            served = stub.GetSchema(provider_pb2.GetSchemaRequest(version=0), timeout=60)
            info = stub.GetPluginInfo(empty_pb2.Empty(), timeout=60)
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=10)
    committed = json.loads((ROOT / "provider" / "schema.json").read_text())
    assert json.loads(served.schema) == committed, errors[-2000:]
    assert info.version == committed["version"]
