"""S3 server access logging of a created bucket (FSBP S3.9), pure: the log bucket's policy.

The log bucket has Object Ownership `BucketOwnerEnforced` (ACLs off), so S3's logging service
is granted by bucket policy, limited to this source bucket and account (confused deputy):
https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html#grant-log-delivery-permissions-general
"""

from __future__ import annotations

from typing import Any

from components.specs.policies import tls_only_bucket_policy

LOGGING_SERVICE = "logging.s3.amazonaws.com"
DOC = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html"


def target_prefix(source_bucket: str) -> str:
    """Where one source bucket's logs go in the log bucket."""
    return f"{source_bucket}/"


def access_log_bucket_policy(
    log_bucket_arn: str, source_bucket_arn: str, source_bucket: str, account_id: str
) -> dict[str, Any]:
    """TLS only, and S3's logging service may put objects under the source's prefix only."""
    policy = tls_only_bucket_policy(log_bucket_arn)
    policy["Statement"].append(
        {
            "Sid": "S3ServerAccessLogsPolicy",
            "Effect": "Allow",
            "Principal": {"Service": LOGGING_SERVICE},
            "Action": "s3:PutObject",
            "Resource": f"{log_bucket_arn}/{target_prefix(source_bucket)}*",
            "Condition": {
                "ArnLike": {"aws:SourceArn": source_bucket_arn},
                "StringEquals": {"aws:SourceAccount": account_id},
            },
        }
    )
    return policy
