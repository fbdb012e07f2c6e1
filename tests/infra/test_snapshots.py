"""Each stack's declared resources, kept as reviewable JSON: a pull request that changes the
infrastructure changes tests/snapshots/<stack>.json, visible without cloud credentials.
After an intended change: `make snapshots`, then review and commit the diff."""

from __future__ import annotations

import json

import pytest

from tools.offline import (
    ACCOUNT,
    PROJECT,
    STACKS,
    run_program,
    stack_config,
    stack_region,
    stack_settings,
    with_image_digest,
)
from tools.render import NOTE, SNAPSHOTS, document, dumps, placeholders, text

TASK_DEF = "aws:ecs/taskDefinition:TaskDefinition"


@pytest.mark.parametrize("stack", STACKS)
def test_stack_matches_its_snapshot(stack: str) -> None:
    kept = (SNAPSHOTS / f"{stack}.json").read_text()
    assert dumps(document(stack)) == kept, (
        f"stack {stack} declares something else than tests/snapshots/{stack}.json: "
        "run `make snapshots`, review the diff and commit it"
    )


def sidecar_jobs(stack: str) -> list[str]:
    return [n for n, j in stack_settings(stack).jobs.items() if j.database_server == "sidecar"]


# The first stack, dev's first, with a sidecar job: the one whose password the render masks (an
# aurora job's is the cluster's RDS-managed secret, which no stack input holds).
MASKED = next(s for s in sorted(STACKS, key=lambda s: s != "dev") if sidecar_jobs(s))


def test_render_masks_secrets_and_says_what_it_shows() -> None:
    doc = document(MASKED)
    assert doc["note"] == NOTE and "not provider-computed" in NOTE
    versions = [r for r in doc["resources"] if r["type"].endswith("SecretVersion")]
    assert len(versions) == len(sidecar_jobs(MASKED))  # one secret per sidecar job
    assert all(version["inputs"]["secretString"] == "[secret]" for version in versions)
    rendered = text(doc)
    assert "pppp" not in rendered and "[secret]" in rendered
    platform = f"scheduled-etl-{MASKED}  (scheduled-etl:etl:Platform)"
    assert rendered.index(platform) < rendered.index(
        f"  scheduled-etl-{MASKED}-cluster  (aws:ecs/cluster:Cluster)"
    )


def test_render_says_which_values_are_placeholders() -> None:
    for stack in STACKS:
        config = stack_config(stack)
        shown = placeholders(stack)
        assert ACCOUNT in shown["account"]
        assert ("region" in shown) is (stack_region(config) is None), stack
        image = config["scheduled-etl:image"]
        assert ("image.digest" in shown) is ("repository" in image and "digest" not in image)
        assert f"# placeholder account = {shown['account']}" in text(document(stack))


def test_region_bearing_values_follow_the_stacks_aws_region() -> None:
    """They used to show eu-west-1 whatever aws:region said."""
    config = {**with_image_digest(stack_config("dev")), "aws:region": "ap-southeast-2"}
    program = run_program("dev", config)
    for job in program.outputs["jobs"].values():
        assert ":ap-southeast-2:" in job["state_machine_arn"]
        assert job["run_task_command"].startswith("aws ecs run-task --region ap-southeast-2 ")
    apps = [json.loads(r.inputs["containerDefinitions"])[0] for r in program.of_type(TASK_DEF)]
    assert apps and all(
        {"name": "AWS_REGION", "value": "ap-southeast-2"} in app["environment"] for app in apps
    )


@pytest.mark.parametrize("stack", STACKS)
def test_top_level_resources_hang_under_their_own_stack(stack: str) -> None:
    """Rendered after other stacks in one process, they used to hang under the first stack's
    root resource (set_mocks keeps an earlier root): prod's snapshot named dev's stack."""
    parents = {r["parent"] for r in document(stack)["resources"] if "pulumi:Stack::" in r["parent"]}
    assert parents == {f"urn:pulumi:{stack}::{PROJECT}::pulumi:pulumi:Stack::{PROJECT}-{stack}"}
