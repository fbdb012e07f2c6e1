"""How a resource records an FSBP control it knowingly fails: a tag naming the control and the
reason (docs/security.md has the whole reason). The CrossGuard pack (policy/) accepts a resource
that carries it for that control; Security Hub shows the tag beside the finding to suppress."""

from __future__ import annotations

# Tag values allow letters, digits, spaces and + - = . _ : / @ (256 characters):
# https://docs.aws.amazon.com/tag-editor/latest/userguide/best-practices-and-strats.html
SUPPRESSION_TAG = "fsbp-suppressed"


def suppressed_controls(tags: dict[str, str] | None) -> set[str]:
    """The controls a resource's tags say it knowingly fails: `S3.9 reason; ECS.12 reason`."""
    value = (tags or {}).get(SUPPRESSION_TAG, "")
    return {part.strip().split(" ", 1)[0] for part in value.split(";") if part.strip()}
