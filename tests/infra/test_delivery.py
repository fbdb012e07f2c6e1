"""Delivery: what a pull request's preview shows is what the deploy does, and CI runs it safely.

The program side is executed: each stack file is rendered under the mock engine the way a
preview runs it (`pulumi preview`, the deployed image) and the way the deploy runs it (`pulumi
up`, the image built for the commit). The workflow side is read from .github/: every `pulumi`
command is prepared by the one composite action, which only sets `image.digest`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import parliament
import pytest
import yaml

from tools.offline import ROOT, STACKS, run_program, stack_config, with_image_digest
from tools.render import _readable

GITHUB = ROOT / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.yml"))
PREPARE = GITHUB / "actions" / "pulumi-stack" / "action.yml"
LOCAL_ACTION = "./.github/actions/pulumi-stack"
DEPLOYED = "sha256:" + "d" * 64  # what the stack runs now: previews and the drift check
BUILT = "sha256:" + "b" * 64  # built for the merged commit: the deploy


def declared(stack: str, digest: str, *, preview: bool) -> dict[str, Any]:
    """Type, URN and inputs of every resource; the digest replaced by a marker so that runs
    with different images can be compared."""
    program = run_program(stack, with_image_digest(stack_config(stack), digest), preview=preview)
    text = json.dumps(
        {
            "resources": {r.urn: {"type": r.type, "inputs": _readable(r.inputs)}
                          for r in program.resources},
            "outputs": _readable(program.outputs),
        },
        sort_keys=True,
    )  # fmt: skip
    assert digest in text, "the run does not use the digest it was given"
    result: dict[str, Any] = json.loads(text.replace(digest, "<digest>"))
    return result


@pytest.mark.parametrize("stack", STACKS)
def test_preview_and_deploy_declare_the_same_program(stack: str) -> None:
    pr_preview = declared(stack, DEPLOYED, preview=True)
    deploy = declared(stack, BUILT, preview=False)
    assert sorted(pr_preview["resources"]) == sorted(deploy["resources"])
    assert pr_preview == deploy  # the image's digest is the only difference
    # Nothing in the stack holds the images, so no switch of image source can delete them.
    assert not [u for u in deploy["resources"] if "awsx:ecr:" in u]


def workflow(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


PULUMI_RUN = re.compile(r"\bpulumi (preview|up)\b")


def is_command(step: dict[str, Any]) -> bool:
    """A step that runs the program: pulumi/actions with a command, or the CLI itself."""
    action = step.get("uses", "").startswith("pulumi/actions@") and "command" in step.get(
        "with", {}
    )
    return action or bool(PULUMI_RUN.search(step.get("run", "")))


def jobs_running_pulumi() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path in WORKFLOWS:
        for name, job in workflow(path)["jobs"].items():
            if any(is_command(s) for s in job.get("steps", [])):
                found.append((path.name, name, job))
    return found


def test_every_pulumi_command_runs_the_program_prepared_the_same_way() -> None:
    jobs = jobs_running_pulumi()
    # PR previews, each stack's preview and deploy, the drift check.
    assert {(f, j) for f, j, _ in jobs} == {
        ("pull-request.yml", "preview"),
        ("pulumi-up.yml", "preview"),
        ("pulumi-up.yml", "up"),
        ("drift.yml", "drift"),
    }
    for file, name, job in jobs:
        steps = job["steps"]
        prepared = [i for i, s in enumerate(steps) if s.get("uses") == LOCAL_ACTION]
        commands = [i for i, s in enumerate(steps) if is_command(s)]
        assert len(prepared) == 1 and prepared[0] < min(commands), (file, name)
        assert steps[prepared[0]]["with"]["stack"] == "${{ env.STACK }}", (file, name)
        for i in commands:
            if "run" in steps[i]:
                assert '--stack "$STACK"' in steps[i]["run"], (file, name)
                assert "--diff" in steps[i]["run"], (file, name)
            else:
                assert steps[i]["with"]["stack-name"] == "${{ env.STACK }}", (file, name)
                assert steps[i]["with"]["diff"] is True, (file, name)
        # No job changes the stack's configuration itself: only the composite action does.
        assert not [s for s in steps if "pulumi config" in s.get("run", "")], (file, name)


def test_the_only_configuration_ci_sets_is_the_image_digest() -> None:
    steps = yaml.safe_load(PREPARE.read_text())["runs"]["steps"]
    scripts = "\n".join(s.get("run", "") for s in steps)
    assert re.findall(r"pulumi config \S+.*", scripts) == [
        'pulumi config set --stack "$STACK" --path image.digest "$DIGEST"'
    ]


def test_deploys_preview_first_and_the_previews_take_the_image_they_deploy() -> None:
    up = workflow(GITHUB / "workflows" / "pulumi-up.yml")["jobs"]
    assert up["up"]["needs"] == "preview" and "environment" not in up["preview"]
    assert up["up"]["environment"] == "${{ inputs.stack }}"
    assert up["up"]["if"] == "github.ref == 'refs/heads/main'"
    for job in up.values():
        [prepare] = [s for s in job["steps"] if s.get("uses") == LOCAL_ACTION]
        assert prepare["with"]["digest"] == "${{ inputs.digest }}"
    [preview] = [s for s in up["preview"]["steps"] if s.get("with", {}).get("command")]
    assert preview["with"]["command"] == "preview" and preview["with"]["comment-on-summary"]


def test_each_stack_deploys_alone_and_no_deploy_is_cancelled() -> None:
    deploy = workflow(GITHUB / "workflows" / "deploy.yml")
    assert "concurrency" not in deploy  # a workflow-wide group would make dev wait for prod
    up = workflow(GITHUB / "workflows" / "pulumi-up.yml")["jobs"]["up"]
    assert up["concurrency"] == {
        "group": "pulumi-up-${{ inputs.stack }}",
        "cancel-in-progress": False,
        "queue": "max",  # the default, single, cancels a waiting job when another one queues
    }
    guard = next(s for s in up["steps"] if "deployed-commit" in s.get("run", ""))
    deploy_step = next(s for s in up["steps"] if s.get("with", {}).get("command") == "up")
    assert up["steps"].index(guard) < up["steps"].index(deploy_step)
    assert "compare/$deployed...$COMMIT" in guard["run"] and '"ahead"' in guard["run"]


def all_steps() -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = yaml.safe_load(PREPARE.read_text())["runs"]["steps"]
    for path in WORKFLOWS:
        for job in workflow(path)["jobs"].values():
            steps += job.get("steps", [])
    return steps


def test_the_pulumi_cli_is_the_sdks_version() -> None:
    [sdk] = re.findall(r"^pulumi==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M)
    pulumi = [s for s in all_steps() if s.get("uses", "").startswith("pulumi/actions@")]
    assert len(pulumi) == 5  # two installs (composite action, drift check), three commands
    for step in pulumi:
        assert step["with"]["pulumi-version"] == sdk, step


def test_third_party_actions_are_pinned_by_commit_with_their_version() -> None:
    files = [*WORKFLOWS, PREPARE]
    uses = [line.strip() for f in files for line in f.read_text().splitlines()
            if re.match(r"\s*(- )?uses: ", line)]  # fmt: skip
    remote = [u for u in uses if "uses: ./" not in u]
    assert remote
    for line in remote:
        assert re.search(r"uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), line


def test_checkouts_keep_no_credentials() -> None:
    checkouts = [s for s in all_steps() if s.get("uses", "").startswith("actions/checkout@")]
    assert len(checkouts) == 7
    for step in checkouts:
        assert step["with"]["persist-credentials"] is False, step


def test_every_stack_runs_the_image_from_the_repository_ci_pushes_to() -> None:
    repositories = {stack_config(s)["scheduled-etl:image"]["repository"] for s in STACKS}
    assert repositories == {"scheduled-etl"}
    image_job = workflow(GITHUB / "workflows" / "deploy.yml")["jobs"]["image"]
    assert any("Pulumi.prod.yaml" in s.get("run", "") for s in image_job["steps"])


def test_the_mysql_the_task_deploys_is_one_of_the_test_servers() -> None:
    matrix = workflow(GITHUB / "workflows" / "tests.yml")["jobs"]["test"]["strategy"]["matrix"]
    images = {db["image"] for db in matrix["db"]}
    assert images == {"mysql:8.4", "mariadb:10.11"}


# --- the preview role's permissions (.github/iam/preview-role-policy.json) ----------------

PREVIEW_POLICY = json.loads((GITHUB / "iam" / "preview-role-policy.json").read_text())
DATA_READS = re.compile(r"^(s3:GetObject.*|s3:\*|kms:Decrypt|dynamodb:(Get|Query|Scan).*)$")


def test_the_preview_policy_passes_parliament() -> None:
    findings = parliament.analyze_policy_string(json.dumps(PREVIEW_POLICY)).findings
    assert [(f.issue, f.detail) for f in findings] == []


def test_the_preview_role_reads_metadata_never_the_data() -> None:
    allowed = [s for s in PREVIEW_POLICY["Statement"] if s["Effect"] == "Allow"]
    for statement in allowed:
        for action in statement["Action"]:
            assert "*" not in action and not DATA_READS.match(action), action
            assert action.split(":")[1].startswith(("Describe", "Get", "List")), action
    s3 = [s for s in allowed if any(a.startswith("s3:") for a in s["Action"])]
    assert [s["Resource"] for s in s3] == ["arn:aws:s3:::scheduled-etl-*"]  # buckets, no objects
    [deny] = [s for s in PREVIEW_POLICY["Statement"] if s["Effect"] == "Deny"]
    assert deny["Action"] == ["s3:GetObject", "s3:GetObjectVersion"] and deny["Resource"] == "*"
