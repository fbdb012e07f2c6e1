"""S3 controls for the buckets a stack creates: each needs companion resources (provider v7
splits a bucket's settings into their own resources), matched by what their `bucket` input
came from. https://docs.aws.amazon.com/securityhub/latest/userguide/s3-controls.html"""

from __future__ import annotations

from pulumi_policy import (
    PolicyResource,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from fsbp.common import json_value, of_type, suppressed

BUCKET = "aws:s3/bucket:Bucket"
BUCKET_TYPES = (BUCKET, "aws:s3/bucketV2:BucketV2")
LOGGING = ("aws:s3/bucketLogging:BucketLogging", "aws:s3/bucketLoggingV2:BucketLoggingV2")
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BLOCK_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


def _for_bucket(
    resources: list[PolicyResource], bucket: PolicyResource, *types: str
) -> list[PolicyResource]:
    return [
        r
        for r in of_type(resources, *types)
        if any(d.urn == bucket.urn for d in r.property_dependencies.get("bucket", []))
    ]


def _logging(args: StackValidationArgs, report: ReportViolation) -> None:
    for bucket in of_type(args.resources, *BUCKET_TYPES):
        if suppressed(bucket.props, "S3.9") or bucket.props.get("loggings"):
            continue
        if not _for_bucket(args.resources, bucket, *LOGGING):
            report(
                "S3.9: the bucket has no server access logging (a BucketLogging resource) "
                "and no fsbp-suppressed reason",
                bucket.urn,
            )


def _public_access_block(args: StackValidationArgs, report: ReportViolation) -> None:
    for bucket in of_type(args.resources, *BUCKET_TYPES):
        blocks = _for_bucket(args.resources, bucket, PUBLIC_ACCESS_BLOCK)
        if not any(all(b.props.get(flag) is True for flag in BLOCK_FLAGS) for b in blocks):
            report(
                "S3.8: the bucket needs a BucketPublicAccessBlock with all four settings true",
                bucket.urn,
            )


def _denies_plain_http(policy: object) -> bool:
    document = json_value(policy)
    if not isinstance(document, dict):
        return True  # unknown in a preview: the deploy's own check sees it
    return any(
        s.get("Effect") == "Deny"
        and (s.get("Condition") or {}).get("Bool", {}).get("aws:SecureTransport")
        in ("false", False)
        for s in document.get("Statement", [])
    )


def _tls_only(args: StackValidationArgs, report: ReportViolation) -> None:
    for bucket in of_type(args.resources, *BUCKET_TYPES):
        policies = _for_bucket(args.resources, bucket, POLICY)
        if not any(_denies_plain_http(p.props.get("policy")) for p in policies):
            report(
                "S3.5: the bucket's policy must deny requests without TLS "
                "(aws:SecureTransport false)",
                bucket.urn,
            )


POLICIES = [
    StackValidationPolicy(
        name="s3-bucket-logging-enabled",  # @pulumi/awsguard's name, for the v7 resources
        description="S3.9: created buckets log server access (a cost choice: advisory in dev)",
        validate=_logging,
    ),
    StackValidationPolicy(
        name="s3-bucket-level-public-access-prohibited",
        description="S3.8: created buckets block public access",
        validate=_public_access_block,
    ),
    StackValidationPolicy(
        name="s3-bucket-ssl-requests-only",
        description="S3.5: created buckets refuse requests without TLS",
        validate=_tls_only,
    ),
]
