"""The data bucket: an existing one by name (as in the article), or a created, locked-down one."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from components.specs.policies import tls_only_bucket_policy


class DataBucket(pulumi.ComponentResource):
    name: pulumi.Output[str]
    arn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        existing_name: str | None,
        partition: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("scheduled-etl:etl:DataBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        if existing_name is not None:
            # Referenced, not managed: no lookup, like CDK's Bucket.fromBucketName.
            self.name = pulumi.Output.from_input(existing_name)
            self.arn = pulumi.Output.concat("arn:", partition, ":s3:::", existing_name)
        else:
            bucket = aws.s3.Bucket(name, opts=child)
            self.name = bucket.bucket
            self.arn = bucket.arn
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
            # The job uploads with multipart; a killed run must not leave parts billed forever.
            aws.s3.BucketLifecycleConfiguration(
                name,
                bucket=bucket.id,
                rules=[
                    {
                        "id": "abort-incomplete-multipart-uploads",
                        "status": "Enabled",
                        "filter": {},
                        "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
                    }
                ],
                opts=child,
            )
            aws.s3.BucketPolicy(
                name,
                bucket=bucket.id,
                policy=bucket.arn.apply(lambda arn: json.dumps(tls_only_bucket_policy(arn))),
                opts=child,
            )
        self.register_outputs({"name": self.name, "arn": self.arn})
