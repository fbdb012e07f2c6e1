"""Each stack's declared resources, kept as reviewable JSON: a pull request that changes the
infrastructure changes tests/snapshots/<stack>.json, visible without cloud credentials.
After an intended change: `make snapshots`, then review and commit the diff."""

from __future__ import annotations

import pytest

from tools.offline import STACKS
from tools.render import NOTE, SNAPSHOTS, document, dumps, text


@pytest.mark.parametrize("stack", STACKS)
def test_stack_matches_its_snapshot(stack: str) -> None:
    kept = (SNAPSHOTS / f"{stack}.json").read_text()
    assert dumps(document(stack)) == kept, (
        f"stack {stack} declares something else than tests/snapshots/{stack}.json: "
        "run `make snapshots`, review the diff and commit it"
    )


def test_render_masks_secrets_and_says_what_it_shows() -> None:
    doc = document("dev")
    assert doc["note"] == NOTE and "not provider-computed" in NOTE
    [version] = [r for r in doc["resources"] if r["type"].endswith("SecretVersion")]
    assert version["inputs"]["secretString"] == "[secret]"
    rendered = text(doc)
    assert "pppp" not in rendered and "[secret]" in rendered
    assert rendered.index("scheduled-etl-dev  (scheduled-etl:etl:Platform)") < rendered.index(
        "  scheduled-etl-dev-cluster  (aws:ecs/cluster:Cluster)"
    )
