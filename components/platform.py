"""What every job of a stack shares: account facts, network, data bucket, ECS cluster, app image."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pulumi_awsx as awsx

from components.network import Network
from components.settings import Settings
from components.specs.alerts import alerts_topic_policy
from components.specs.suppressions import suppression
from components.storage import DataBucket

PLATFORMS = {"X86_64": "linux/amd64", "ARM64": "linux/arm64"}


class Platform(pulumi.ComponentResource):
    account_id: pulumi.Output[str]
    partition: pulumi.Output[str]
    region: pulumi.Output[str]
    network: Network
    bucket: DataBucket
    cluster: aws.ecs.Cluster
    alerts: aws.sns.Topic
    image_uri: pulumi.Output[str] | None

    def __init__(
        self, name: str, settings: Settings, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("scheduled-etl:etl:Platform", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.account_id = aws.get_caller_identity_output(
            opts=pulumi.InvokeOutputOptions(parent=self)
        ).account_id
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self))
        self.partition = partition.partition
        self.region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self)).region

        self.network = Network(
            f"{name}-network",
            settings.network,
            opts=child,
            account_id=self.account_id,
            flow_log_retention_days=settings.log_retention_days,
        )
        self.bucket = DataBucket(
            f"{name}-data",
            settings.bucket_name,
            self.partition,
            opts=child,
            account_id=self.account_id,
            log_retention_days=settings.log_retention_days,
        )

        # FSBP ECS.12: Container Insights per stack (containerInsights); where a stack turns it
        # off (dev: its metrics cost more than the on-demand task they would watch), the cluster
        # says so in its suppression tag (docs/security.md).
        self.cluster = aws.ecs.Cluster(
            f"{name}-cluster",
            settings=[{"name": "containerInsights", "value": settings.container_insights}],
            tags=suppression(["ECS.12"], "containerInsights disabled by this stack for cost")
            if settings.container_insights == "disabled"
            else None,
            opts=child,
        )
        # Both providers, so any job may choose FARGATE_SPOT without touching the cluster.
        aws.ecs.ClusterCapacityProviders(
            f"{name}-capacity",
            cluster_name=self.cluster.name,
            capacity_providers=["FARGATE", "FARGATE_SPOT"],
            opts=child,
        )

        # The stack's alerts. Not KMS-encrypted: the AWS-managed SNS key cannot grant EventBridge
        # and CloudWatch, and the messages hold no data, only job names and exit codes.
        self.alerts = aws.sns.Topic(f"{name}-alerts", opts=child)
        # Each job's full name (names.full_name: this stack prefix, `-`, the job), which starts
        # the names of its alarms and rules.
        jobs = [f"{name}-{job}" for job in sorted(settings.jobs)]
        aws.sns.TopicPolicy(
            f"{name}-alerts",
            arn=self.alerts.arn,
            policy=self.alerts.arn.apply(lambda arn: json.dumps(alerts_topic_policy(arn, jobs))),
            opts=child,
        )
        if settings.alert_email:
            # Email subscriptions stay pending until the recipient confirms them.
            aws.sns.TopicSubscription(
                f"{name}-alerts-email",
                topic=self.alerts.arn,
                protocol="email",
                endpoint=settings.alert_email,
                opts=child,
            )

        self.image_uri = None
        image = settings.image
        if image.repository is not None:
            # Built and pushed by CI, outside the stack: the same resources whichever digest runs.
            self.image_uri = pulumi.Output.concat(
                self.account_id, ".dkr.ecr.", self.region, ".", partition.dns_suffix,
                "/", image.repository, "@", image.digest or "",
            )  # fmt: skip
        elif image.build is not None:
            built_archs = {j.architecture for j in settings.jobs.values() if j.image_uri is None}
            repository = awsx.ecr.Repository(
                f"{name}-app",
                force_delete=True,  # the images are build outputs: always rebuildable from git
                opts=child,
            )
            built = awsx.ecr.Image(
                f"{name}-app",
                repository_url=repository.url,
                context=image.build.context,
                dockerfile=image.build.dockerfile,
                platform=PLATFORMS[min(built_archs, default="X86_64")],
                opts=child,
            )
            self.image_uri = built.image_uri
        self.register_outputs(
            {
                "cluster_arn": self.cluster.arn,
                "bucket": self.bucket.name,
                "image_uri": self.image_uri,
                "alerts_topic_arn": self.alerts.arn,
            }
        )
