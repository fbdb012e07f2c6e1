"""The policy pack: every policy mandatory unless a stack's config (config/<stack>.json) makes
a control that is a cost choice advisory (dev)."""

from fsbp import POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name="scheduled-etl-fsbp",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)
