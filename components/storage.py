"""The data bucket: an existing one by name (as in the article), or a created, locked-down one
with its server access logs in a second bucket."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from components.specs.bucket_logging import access_log_bucket_policy, target_prefix
from components.specs.policies import tls_only_bucket_policy
from components.specs.suppressions import suppression


class DataBucket(pulumi.ComponentResource):
    name: pulumi.Output[str]
    arn: pulumi.Output[str]
    access_logs_bucket: pulumi.Output[str] | None = None  # a created bucket's server access logs

    def __init__(
        self,
        name: str,
        existing_name: pulumi.Input[str] | None,
        partition: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
        *,
        account_id: pulumi.Input[str] = "",
        log_retention_days: int = 365,
    ) -> None:
        super().__init__("scheduled-etl:etl:DataBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        if existing_name is not None:
            # Referenced, not managed: no lookup, like CDK's Bucket.fromBucketName.
            self.name = pulumi.Output.from_input(existing_name)
            self.arn = pulumi.Output.concat("arn:", partition, ":s3:::", existing_name)
        else:
            bucket = self._locked_down(name, child, abort_uploads=True)
            self.name = bucket.bucket
            self.arn = bucket.arn
            aws.s3.BucketPolicy(
                name,
                bucket=bucket.id,
                policy=bucket.arn.apply(lambda arn: json.dumps(tls_only_bucket_policy(arn))),
                opts=child,
            )
            # FSBP S3.9: server access logs in a bucket of their own, kept as long as the logs.
            # That bucket is not logged itself (S3.9 suppressed there, tagged so): logging it
            # into itself would log each delivery of its own logs without end, and into a third
            # bucket only moves the question. Who reads it shows in CloudTrail.
            logs = self._locked_down(
                f"{name}-logs",
                child,
                expire_days=log_retention_days,
                suppressed=suppression(["S3.9"], "this is the access log bucket"),
            )
            aws.s3.BucketPolicy(
                f"{name}-logs",
                bucket=logs.id,
                policy=pulumi.Output.all(logs.arn, bucket.arn, bucket.bucket, account_id).apply(
                    lambda a: json.dumps(access_log_bucket_policy(*a))
                ),
                opts=child,
            )
            aws.s3.BucketLogging(
                name,
                bucket=bucket.id,
                target_bucket=logs.bucket,
                target_prefix=bucket.bucket.apply(target_prefix),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[logs]),
            )
            self.access_logs_bucket = logs.bucket
        self.register_outputs({"name": self.name, "arn": self.arn})

    def _locked_down(
        self,
        name: str,
        child: pulumi.ResourceOptions,
        *,
        abort_uploads: bool = False,
        expire_days: int | None = None,
        suppressed: dict[str, str] | None = None,
    ) -> aws.s3.Bucket:
        """A bucket with public access blocked, ACLs off, SSE-S3 (server access logs may not
        go to an SSE-KMS bucket) and a lifecycle; its policy is the caller's."""
        bucket = aws.s3.Bucket(name, tags=suppressed, opts=child)
        aws.s3.BucketPublicAccessBlock(
            name,
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            name,
            bucket=bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            name,
            bucket=bucket.id,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}],
            opts=child,
        )
        rules: list[aws.s3.BucketLifecycleConfigurationRuleArgsDict] = []
        if abort_uploads:
            # The job uploads with multipart; a killed run must not leave parts billed forever.
            rules.append({
                "id": "abort-incomplete-multipart-uploads",
                "status": "Enabled",
                "filter": {},
                "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
            })  # fmt: skip
        if expire_days is not None:
            rules.append({
                "id": "expire-access-logs",
                "status": "Enabled",
                "filter": {},
                "expiration": {"days": expire_days},
            })  # fmt: skip
        aws.s3.BucketLifecycleConfiguration(name, bucket=bucket.id, rules=rules, opts=child)
        return bucket
