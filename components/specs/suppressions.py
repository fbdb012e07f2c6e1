"""How a resource records the FSBP controls it knowingly fails: one tag, `fsbp-suppressed`,
whose value names the controls, then a colon and the reason in short ("S3.9: this is the access
log bucket"); docs/security.md has each reason in full. The CrossGuard pack (policy/) accepts a
resource that carries it for that control; in Security Hub the tag sits beside the finding, for
whoever suppresses it there.

Tag values allow letters, digits, spaces and + - = . _ : / @ only (256 characters):
https://docs.aws.amazon.com/tag-editor/latest/userguide/best-practices-and-strats.html
"""

from __future__ import annotations

import re

SUPPRESSION_TAG = "fsbp-suppressed"
_ALLOWED = re.compile(r"[\w .:/=+@-]{1,256}", re.ASCII)
_CONTROL = re.compile(r"[A-Za-z0-9]+\.[0-9]+")


def suppression(controls: list[str], reason: str) -> dict[str, str]:
    """The tag for `controls` with `reason`; refuses a value AWS would refuse."""
    value = f"{' '.join(controls)}: {reason}"
    if not all(_CONTROL.fullmatch(c) for c in controls) or not _ALLOWED.fullmatch(value):
        raise ValueError(f"not a valid suppression tag value: {value!r}")
    return {SUPPRESSION_TAG: value}


def suppressed_controls(tags: dict[str, str] | None) -> set[str]:
    """The controls a resource's tags say it knowingly fails."""
    head, colon, _ = (tags or {}).get(SUPPRESSION_TAG, "").partition(":")
    return {c for c in head.split() if _CONTROL.fullmatch(c)} if colon else set()
