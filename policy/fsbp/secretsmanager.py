"""SecretsManager.1 and .4: secrets rotate (within 90 days), or say why not.
https://docs.aws.amazon.com/securityhub/latest/userguide/secretsmanager-controls.html"""

from __future__ import annotations

from pulumi_policy import ReportViolation, StackValidationArgs, StackValidationPolicy

from fsbp.common import of_type, suppressed

SECRET = "aws:secretsmanager/secret:Secret"
ROTATION = "aws:secretsmanager/secretRotation:SecretRotation"
MAX_DAYS = 90  # SecretsManager.4's default maxDaysSinceRotation


def _rotation(args: StackValidationArgs, report: ReportViolation) -> None:
    rotations = of_type(args.resources, ROTATION)
    for secret in of_type(args.resources, SECRET):
        if suppressed(secret.props, "SecretsManager.1"):
            continue
        mine = [
            r
            for r in rotations
            if any(d.urn == secret.urn for d in r.property_dependencies.get("secretId", []))
        ]
        if not mine:
            report(
                "SecretsManager.1: the secret has no rotation and no fsbp-suppressed reason",
                secret.urn,
            )
            continue
        for rotation in mine:
            rules = rotation.props.get("rotationRules") or {}
            days = rules.get("automaticallyAfterDays")
            if days is not None and int(days) > MAX_DAYS:
                report(
                    f"SecretsManager.4: rotation every {days} days; at most {MAX_DAYS}", secret.urn
                )


POLICIES = [
    StackValidationPolicy(
        name="secretsmanager-rotation-enabled-check",
        description="SecretsManager.1/.4: secrets rotate within 90 days, or say why not",
        validate=_rotation,
    ),
]
