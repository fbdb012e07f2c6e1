"""The policies, by service: each one a FSBP control (its AWS Config rule's name) or a close
neighbour; docs/security.md maps them to each stack."""

from __future__ import annotations

from pulumi_policy import Policy

from fsbp import ec2, ecs, s3, secretsmanager, stepfunctions

POLICIES: list[Policy] = [
    *ecs.POLICIES,
    *stepfunctions.POLICIES,
    *s3.POLICIES,
    *ec2.POLICIES,
    *secretsmanager.POLICIES,
]
# Controls whose fix costs money every month: advisory where a stack's config says so (dev).
COST_CHOICES = (
    "ecs-container-insights-enabled",
    "vpc-flow-logs-enabled",
    "s3-bucket-logging-enabled",
)
