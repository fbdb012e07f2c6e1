"""What the policies share: the suppression tag, reading props, matching resources."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import PolicyResource

# The tag a resource carries for a control it knowingly fails: "<controls>: <reason>"
# (components/specs/suppressions.py writes it; a test checks the two agree).
SUPPRESSION_TAG = "fsbp-suppressed"
_CONTROL = re.compile(r"[A-Za-z0-9]+\.[0-9]+")
ANYWHERE = ("0.0.0.0/0", "::/0")
GUIDE = "https://docs.aws.amazon.com/securityhub/latest/userguide"


def suppressed(props: Mapping[str, Any], control: str) -> bool:
    tags = props.get("tags") or {}
    head, colon, reason = str(tags.get(SUPPRESSION_TAG, "")).partition(":")
    return bool(colon and reason.strip()) and control in head.split()


def json_value(value: Any) -> Any:
    """A property the provider takes as a JSON string (containerDefinitions, policies)."""
    return json.loads(value) if isinstance(value, str) else value


def depends_on(resource: PolicyResource, targets: Iterable[PolicyResource]) -> bool:
    """Whether any of `resource`'s inputs came from one of `targets`."""
    urns = {t.urn for t in targets}
    return any(d.urn in urns for deps in resource.property_dependencies.values() for d in deps)


def of_type(resources: Iterable[PolicyResource], *types: str) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type in types]
