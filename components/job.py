"""One scheduled job: its task definition, roles, secret, log group and schedule."""

from __future__ import annotations

import json
from typing import Any, cast

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components import names, policies
from components.containers import TaskInputs, container_definitions, task_volumes
from components.job_alerts import JobAlerts
from components.platform import Platform
from components.schedule import (
    flexible_time_window,
    run_task_command,
    run_task_request,
    schedule_target,
    task_arn_pattern,
)
from components.settings import JobSettings

ECS_TASKS = "ecs-tasks.amazonaws.com"


class ScheduledFargateJob(pulumi.ComponentResource):
    """A Fargate task (ETL app + MySQL sidecar) that EventBridge Scheduler starts on a schedule.

    `full_name` (project-stack-job) names what people look for: the task definition family,
    the schedule and the log group.
    """

    outputs: dict[str, pulumi.Output[Any]]

    def __init__(
        self,
        name: str,
        job: JobSettings,
        platform: Platform,
        *,
        full_name: str,
        app_image: pulumi.Input[str],
        log_retention_days: int,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("scheduled-etl:etl:ScheduledFargateJob", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        account = platform.account_id

        log_group = aws.cloudwatch.LogGroup(
            name,
            name=names.log_group_name(full_name),
            retention_in_days=log_retention_days,
            opts=child,
        )

        # The sidecar's passwords: generated, stored in Secrets Manager, injected by ECS.
        password = random.RandomPassword(f"{name}-db", length=32, special=False, opts=child)
        root_password = random.RandomPassword(
            f"{name}-db-root", length=32, special=False, opts=child
        )
        secret = aws.secretsmanager.Secret(
            name,
            name_prefix=names.secret_prefix(full_name),
            description=f"MySQL sidecar credentials of the {name} job",
            opts=child,
        )
        aws.secretsmanager.SecretVersion(
            name,
            secret_id=secret.id,
            # Secret in state too: it is built from RandomPassword results, which are secrets.
            secret_string=pulumi.Output.json_dumps(
                {
                    "username": job.db_username,
                    "password": password.result,
                    "rootPassword": root_password.result,
                }
            ),
            opts=child,
        )

        ecs_trust = account.apply(lambda acct: json.dumps(policies.trust_policy(ECS_TASKS, acct)))
        execution_role = aws.iam.Role(
            f"{name}-execution",
            description=f"ECS agent for {full_name}: pull images, write logs, read the DB secret",
            assume_role_policy=ecs_trust,
            opts=child,
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-execution",
            role=execution_role.name,
            policy_arn=platform.partition.apply(
                lambda p: f"arn:{p}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
            ),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-execution-secret",
            role=execution_role.id,
            policy=secret.arn.apply(lambda arn: json.dumps(policies.read_secret_policy(arn))),
            opts=child,
        )

        task_role = aws.iam.Role(
            f"{name}-task",
            description=f"The {full_name} ETL app: read and write its keys in the data bucket",
            assume_role_policy=ecs_trust,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-task-bucket",
            role=task_role.id,
            policy=platform.bucket.arn.apply(
                lambda arn: json.dumps(policies.bucket_read_write_policy(arn, job.s3_prefix))
            ),
            opts=child,
        )

        containers = pulumi.Output.all(
            app_image, secret.arn, log_group.name, platform.region, platform.bucket.name
        ).apply(
            lambda a: json.dumps(
                container_definitions(
                    job,
                    TaskInputs(
                        app_image=a[0],
                        secret_arn=a[1],
                        log_group=a[2],
                        region=a[3],
                        bucket=a[4],
                        job_name=full_name,
                    ),
                )
            )
        )
        task_definition = aws.ecs.TaskDefinition(
            name,
            family=full_name,
            cpu=str(job.cpu),
            memory=str(job.memory),
            network_mode="awsvpc",
            requires_compatibilities=["FARGATE"],
            ephemeral_storage={"size_in_gib": job.ephemeral_storage_gib},
            runtime_platform={
                "cpu_architecture": job.architecture,
                "operating_system_family": "LINUX",
            },
            execution_role_arn=execution_role.arn,
            task_role_arn=task_role.arn,
            container_definitions=containers,
            volumes=[aws.ecs.TaskDefinitionVolumeArgs(name=v["name"]) for v in task_volumes(job)],
            opts=child,
        )

        alerts = JobAlerts(
            name,
            job,
            full_name=full_name,
            topic_arn=platform.alerts.arn,
            cluster_arn=platform.cluster.arn,
            family_arn=task_definition.arn_without_revision,
            region=platform.region,
            log_group=log_group.name,
            opts=child,
        )
        dead_letters = alerts.dead_letter_queue.arn

        scheduler_role = aws.iam.Role(
            f"{name}-scheduler",
            description=f"EventBridge Scheduler: start {full_name} tasks",
            assume_role_policy=account.apply(
                lambda acct: json.dumps(policies.trust_policy("scheduler.amazonaws.com", acct))
            ),
            opts=child,
        )
        scheduler_policy = aws.iam.RolePolicy(
            f"{name}-scheduler-run-task",
            role=scheduler_role.id,
            policy=pulumi.Output.all(
                task_definition.arn_without_revision,
                platform.cluster.arn,
                execution_role.arn,
                task_role.arn,
                dead_letters,
            ).apply(
                lambda a: json.dumps(
                    policies.scheduler_policy(a[0], a[1], task_arn_pattern(a[1]), a[2:4], a[4])
                )
            ),
            opts=child,
        )

        network = platform.network
        schedule = aws.scheduler.Schedule(
            name,
            name=full_name,
            description=f"Starts the {name} ETL task",
            schedule_expression=job.schedule,
            schedule_expression_timezone=job.timezone,
            flexible_time_window=cast(
                aws.scheduler.ScheduleFlexibleTimeWindowArgsDict, flexible_time_window(job)
            ),
            state="ENABLED" if job.enabled else "DISABLED",
            start_date=job.start_date,
            end_date=job.end_date,
            target=cast(
                aws.scheduler.ScheduleTargetArgsDict,
                schedule_target(
                    job,
                    cluster_arn=platform.cluster.arn,
                    role_arn=scheduler_role.arn,
                    task_definition_arn=task_definition.arn,
                    subnet_ids=network.subnet_ids,
                    security_group_ids=[network.security_group_id],
                    assign_public_ip=network.assign_public_ip,
                    dead_letter_arn=dead_letters,
                ),
            ),
            # The role must be allowed to run the task before the first invocation.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[scheduler_policy]),
        )

        run_task = pulumi.Output.all(
            platform.cluster.name,
            task_definition.arn,
            network.subnet_ids,
            network.security_group_id,
        ).apply(
            lambda a: run_task_request(
                job,
                cluster=a[0],
                task_definition_arn=a[1],
                subnet_ids=list(a[2]),
                security_group_ids=[a[3]],
                assign_public_ip=network.assign_public_ip,
            )
        )
        self.outputs = {
            "task_definition_arn": task_definition.arn,
            "schedule_name": schedule.name,
            "log_group_name": log_group.name,
            "secret_arn": secret.arn,
            "dead_letter_queue_arn": dead_letters,
            # What `python -m components.run_now` and a person at a shell need to start it now.
            "run_task": run_task,
            "run_task_command": pulumi.Output.all(run_task, platform.region).apply(
                lambda a: run_task_command(a[0], a[1])
            ),
        }
        self.register_outputs(self.outputs)
