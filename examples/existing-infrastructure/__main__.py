"""Your own program: one scheduled ETL job on the cluster, subnets, security group, bucket and
alerts topic this account already has (Pulumi.dev.yaml), from the scheduled-etl package."""

import json

import pulumi

from components.args import ScheduledFargateJobArgs
from components.job import ScheduledFargateJob
from components.specs.alerts import alerts_topic_policy

existing = pulumi.Config("existing")
prefix, topic = f"analytics-{pulumi.get_stack()}", existing.require("alertsTopicArn")
job = ScheduledFargateJob(
    "nightly-sessions",
    ScheduledFargateJobArgs(
        name_prefix=prefix,
        cluster_arn=existing.require("clusterArn"),
        subnet_ids=existing.require_object("subnetIds"),
        security_group_ids=existing.require_object("securityGroupIds"),
        bucket_name=existing.require("bucketName"),
        alerts_topic_arn=topic,
        image_uri=existing.require("imageUri"),
        s3_prefix="nightly-sessions/",
        schedule="cron(30 4 * * ? *)",
        timezone="Europe/Berlin",
    ),
)
pulumi.export("state_machine_arn", job.state_machine_arn)
pulumi.export("run_task_command", job.run_task_command)
# The statements the topic's owner adds to its policy: the job's alarms and rules may publish.
policy = alerts_topic_policy(topic, [f"{prefix}-nightly-sessions"], scope=prefix)
pulumi.export("alerts_topic_policy", json.dumps(policy))
