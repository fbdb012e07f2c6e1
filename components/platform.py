"""What every job shares: network, data bucket, ECS cluster, alerts topic, app image. Each is
referenced when its args give an existing one, created otherwise (JobPlatformArgs)."""

import json
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from components.args import JobPlatformArgs
from components.awsx import awsx
from components.database import AuroraDatabase
from components.network import Network
from components.settings import check_platform_args
from components.specs.alerts import alerts_topic_policy
from components.specs.suppressions import suppression
from components.storage import DataBucket

# No `from __future__ import annotations`: Pulumi's analyzer reads this class's annotations
# (its outputs) and its __init__'s `args` as objects. Resources are attributes without a
# class-level annotation, so that the schema's outputs stay plain values.

PLATFORMS = {"X86_64": "linux/amd64", "ARM64": "linux/arm64"}


class JobPlatform(pulumi.ComponentResource):
    """The parts scheduled jobs share: where tasks run (subnets, security groups), the data
    bucket, the ECS cluster, the alerts topic and the app image. Each is referenced when given
    and created otherwise."""

    cluster_arn: pulumi.Output[str]
    """the ECS cluster"""
    cluster_name: pulumi.Output[str]
    """the ECS cluster's name"""
    subnet_ids: pulumi.Output[Sequence[str]]
    """the subnets tasks run in"""
    security_group_ids: pulumi.Output[Sequence[str]]
    """the tasks' security groups"""
    assign_public_ip: pulumi.Output[bool]
    """whether tasks need a public IP (the default VPC's subnets)"""
    bucket_name: pulumi.Output[str]
    """the data bucket"""
    bucket_arn: pulumi.Output[str]
    """the data bucket's ARN"""
    alerts_topic_arn: pulumi.Output[str]
    """the alerts topic"""
    alerts_topic_policy: pulumi.Output[str]
    """the topic policy that lets the jobs' alarms and rules publish (set on a created topic;
    merge its statements into an existing topic's policy)"""
    image_uri: pulumi.Output[str] | None
    """the app image from `imageRepository` or `imageBuild`; none otherwise"""
    database_endpoint: pulumi.Output[str] | None
    """the Aurora cluster's writer endpoint (with `aurora`)"""
    database_secret_arn: pulumi.Output[str] | None
    """its master user secret, managed by RDS (with `aurora`)"""

    # The registered type, kept from 0.1.0 so that the stacks' URNs stay (not an output: no
    # annotation). A component provider process may set its own `<package>:index:JobPlatform`.
    TYPE = "scheduled-etl:etl:Platform"

    def __init__(
        self, name: str, args: JobPlatformArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        check_platform_args(name, args)  # before anything exists
        super().__init__(self.TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        prefix = args["name_prefix"]
        retention = args.get("log_retention_days", 30)

        invoke = pulumi.InvokeOutputOptions(parent=self)
        self.account_id = aws.get_caller_identity_output(opts=invoke).account_id
        partition = aws.get_partition_output(opts=invoke)
        self.partition = partition.partition
        self.region = aws.get_region_output(opts=invoke).region

        self.network = Network(
            f"{name}-network",
            args,
            opts=child,
            account_id=self.account_id,
            flow_log_retention_days=retention,
        )
        self.subnet_ids = self.network.subnet_ids
        self.security_group_ids = self.network.security_group_ids
        self.assign_public_ip = pulumi.Output.from_input(self.network.assign_public_ip)

        self.bucket = DataBucket(
            f"{name}-data",
            args.get("bucket_name"),
            self.partition,
            opts=child,
            account_id=self.account_id,
            log_retention_days=retention,
        )
        self.bucket_name, self.bucket_arn = self.bucket.name, self.bucket.arn

        self.cluster: aws.ecs.Cluster | None = None
        if (cluster_arn := args.get("cluster_arn")) is not None:
            self.cluster_arn = pulumi.Output.from_input(cluster_arn)
            self.cluster_name = self.cluster_arn.apply(lambda arn: arn.rsplit("/", 1)[-1])
        else:
            self.cluster = self._cluster(name, args.get("container_insights", "disabled"))
            self.cluster_arn, self.cluster_name = self.cluster.arn, self.cluster.name

        # Each job's full name (`<prefix>-<job>`) starts the names of its alarms and rules.
        jobs = [f"{prefix}-{job}" for job in sorted(args.get("job_names", []))] or [prefix]
        self.alerts: aws.sns.Topic | None = None
        if (topic_arn := args.get("alerts_topic_arn")) is not None:
            self.alerts_topic_arn = pulumi.Output.from_input(topic_arn)
        else:
            # Not KMS-encrypted: the AWS-managed SNS key cannot grant EventBridge and
            # CloudWatch, and the messages hold no data, only job names and exit codes.
            self.alerts = aws.sns.Topic(f"{name}-alerts", opts=child)
            self.alerts_topic_arn = self.alerts.arn
        # An existing topic may take several prefixes' statements: theirs are named by prefix.
        scope = prefix if self.alerts is None else ""
        self.alerts_topic_policy = self.alerts_topic_arn.apply(
            lambda arn: json.dumps(alerts_topic_policy(arn, jobs, scope))
        )
        if self.alerts is not None:  # an existing topic's policy is its owner's
            aws.sns.TopicPolicy(
                f"{name}-alerts",
                arn=self.alerts.arn,
                policy=self.alerts_topic_policy,
                opts=child,
            )
        if email := args.get("alert_email"):
            # Email subscriptions stay pending until the recipient confirms them.
            aws.sns.TopicSubscription(
                f"{name}-alerts-email",
                topic=self.alerts_topic_arn,
                protocol="email",
                endpoint=email,
                opts=child,
            )

        # The aurora jobs' database: 3306 from the tasks' security groups only.
        self.database: AuroraDatabase | None = None
        self.database_endpoint = self.database_secret_arn = None
        if (aurora := args.get("aurora")) is not None:
            if self.network.vpc_id is None:
                raise ValueError(f"{name}: give vpcId with subnetIds for the Aurora cluster")
            self.database = AuroraDatabase(
                f"{name}-db",
                aurora,
                vpc_id=self.network.vpc_id,
                subnet_ids=self.subnet_ids,
                task_security_group_ids=self.security_group_ids,
                opts=child,
            )
            self.database_endpoint = self.database.endpoint
            self.database_secret_arn = self.database.secret_arn

        self.image_uri = self._image(name, args, partition.dns_suffix, child)
        self.register_outputs(
            {
                "cluster_arn": self.cluster_arn,
                "bucket": self.bucket_name,
                "image_uri": self.image_uri,
                "alerts_topic_arn": self.alerts_topic_arn,
            }
        )

    def _cluster(self, name: str, container_insights: str) -> aws.ecs.Cluster:
        child = pulumi.ResourceOptions(parent=self)
        # FSBP ECS.12: Container Insights per stack (containerInsights); where a stack turns it
        # off (dev: its metrics cost more than the on-demand task they would watch), the cluster
        # says so in its suppression tag (docs/security.md).
        cluster = aws.ecs.Cluster(
            f"{name}-cluster",
            settings=[{"name": "containerInsights", "value": container_insights}],
            tags=suppression(["ECS.12"], "containerInsights disabled by this stack for cost")
            if container_insights == "disabled"
            else None,
            opts=child,
        )
        # Both providers, so any job may choose FARGATE_SPOT without touching the cluster.
        aws.ecs.ClusterCapacityProviders(
            f"{name}-capacity",
            cluster_name=cluster.name,
            capacity_providers=["FARGATE", "FARGATE_SPOT"],
            opts=child,
        )
        return cluster

    def _image(
        self,
        name: str,
        args: JobPlatformArgs,
        dns_suffix: pulumi.Output[str],
        child: pulumi.ResourceOptions,
    ) -> pulumi.Output[str] | None:
        if (repository := args.get("image_repository")) is not None:
            # Built and pushed by CI, outside the stack: the same resources whichever digest runs.
            return pulumi.Output.concat(
                self.account_id, ".dkr.ecr.", self.region, ".", dns_suffix,
                "/", repository, "@", args.get("image_digest") or "",
            )  # fmt: skip
        if (build := args.get("image_build")) is not None:
            ecr = awsx("image").ecr
            repo = ecr.Repository(
                f"{name}-app",
                force_delete=True,  # the images are build outputs: always rebuildable from git
                opts=child,
            )
            built = ecr.Image(
                f"{name}-app",
                repository_url=repo.url,
                context=build.get("context", "."),
                dockerfile=build.get("dockerfile", "Dockerfile"),
                platform=PLATFORMS[build.get("architecture", "X86_64")],
                args=build.get("args"),
                opts=child,
            )
            image_uri: pulumi.Output[str] = built.image_uri
            return image_uri
        return None
