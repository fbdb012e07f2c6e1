"""One scheduled job: its task definition, roles, secret, log group and schedule."""

from __future__ import annotations

import json
from typing import Any, cast

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.job_alerts import JobAlerts
from components.platform import Platform
from components.settings import JobSettings
from components.specs import names, policies
from components.specs.containers import TaskInputs, container_definitions, task_volumes
from components.specs.schedule import (
    flexible_time_window,
    run_task_command,
    run_task_request,
    schedule_target,
)
from components.specs.state_machine import RunTarget, run_definition
from components.specs.watchdog import watchdog_definition

ECS_TASKS = "ecs-tasks.amazonaws.com"


class ScheduledFargateJob(pulumi.ComponentResource):
    """A Fargate task (ETL app + MySQL sidecar) run by a Step Functions state machine that
    EventBridge Scheduler starts on a schedule, plus a watchdog for slots that got no run.

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

        alerts = JobAlerts(name, full_name=full_name, topic_arn=platform.alerts.arn, opts=child)
        dead_letters = alerts.dead_letter_queue.arn

        # The run: a state machine per job (timeout, retries, Spot fallback, one outcome).
        network = platform.network
        states_trust = account.apply(
            lambda acct: json.dumps(policies.trust_policy("states.amazonaws.com", acct))
        )
        run_role = aws.iam.Role(
            f"{name}-run",
            description=f"Step Functions: run {full_name} tasks and alert on their outcome",
            assume_role_policy=states_trust,
            opts=child,
        )
        run_policy = aws.iam.RolePolicy(
            f"{name}-run",
            role=run_role.id,
            policy=pulumi.Output.all(
                task_definition.arn_without_revision,
                platform.cluster.arn,
                execution_role.arn,
                task_role.arn,
                platform.alerts.arn,
            ).apply(lambda a: json.dumps(policies.run_machine_policy(a[0], a[1], a[2:4], a[4]))),
            opts=child,
        )
        definition = pulumi.Output.all(
            platform.region,
            platform.cluster.arn,
            task_definition.arn,
            network.subnet_ids,
            network.security_group_id,
            platform.alerts.arn,
        ).apply(
            lambda a: json.dumps(
                run_definition(
                    job,
                    RunTarget(
                        full_name=full_name,
                        region=a[0],
                        cluster_arn=a[1],
                        task_definition_arn=a[2],
                        subnet_ids=list(a[3]),
                        security_group_ids=[a[4]],
                        assign_public_ip=network.assign_public_ip,
                        topic_arn=a[5],
                    ),
                )
            )
        )
        run_machine = aws.sfn.StateMachine(
            f"{name}-run",
            name=full_name,
            type="STANDARD",
            role_arn=run_role.arn,
            definition=definition,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[run_policy]),
        )

        # Missed slots: a watchdog started on the same expression checks the run exists.
        watch_name = names.watchdog_name(full_name)
        watch_role = aws.iam.Role(
            f"{name}-watch",
            description=f"Step Functions: alert when a {full_name} slot has no run",
            assume_role_policy=states_trust,
            opts=child,
        )
        watch_policy = aws.iam.RolePolicy(
            f"{name}-watch",
            role=watch_role.id,
            policy=pulumi.Output.all(run_machine.arn, platform.alerts.arn).apply(
                lambda a: json.dumps(policies.watchdog_policy(a[0], a[1]))
            ),
            opts=child,
        )
        watch_machine = aws.sfn.StateMachine(
            f"{name}-watch",
            name=watch_name,
            type="STANDARD",
            role_arn=watch_role.arn,
            definition=pulumi.Output.all(
                platform.region, run_machine.arn, platform.alerts.arn
            ).apply(
                lambda a: json.dumps(
                    watchdog_definition(
                        job, full_name=full_name, region=a[0], run_machine_arn=a[1], topic_arn=a[2]
                    )
                )
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[watch_policy]),
        )

        scheduler_role = aws.iam.Role(
            f"{name}-scheduler",
            description=f"EventBridge Scheduler: start {full_name} runs and their watchdog",
            assume_role_policy=account.apply(
                lambda acct: json.dumps(policies.trust_policy("scheduler.amazonaws.com", acct))
            ),
            opts=child,
        )
        scheduler_policy = aws.iam.RolePolicy(
            f"{name}-scheduler-start",
            role=scheduler_role.id,
            policy=pulumi.Output.all(run_machine.arn, watch_machine.arn, dead_letters).apply(
                lambda a: json.dumps(policies.scheduler_policy(a[0:2], a[2]))
            ),
            opts=child,
        )

        common = {
            "schedule_expression": job.schedule,
            "schedule_expression_timezone": job.timezone,
            "state": "ENABLED" if job.enabled else "DISABLED",
            "start_date": job.start_date,
            "end_date": job.end_date,
        }
        # The role must be allowed to start executions before the first invocation.
        after_policy = pulumi.ResourceOptions(parent=self, depends_on=[scheduler_policy])
        schedule = aws.scheduler.Schedule(
            name,
            name=full_name,
            description=f"Starts a run of the {name} ETL job",
            flexible_time_window=cast(
                aws.scheduler.ScheduleFlexibleTimeWindowArgsDict, flexible_time_window(job)
            ),
            target=cast(
                aws.scheduler.ScheduleTargetArgsDict,
                schedule_target(
                    job,
                    state_machine_arn=run_machine.arn,
                    role_arn=scheduler_role.arn,
                    dead_letter_arn=dead_letters,
                ),
            ),
            **common,
            opts=after_policy,
        )
        aws.scheduler.Schedule(
            f"{name}-watch",
            name=watch_name,
            description=f"Checks that each slot of the {name} ETL job got a run",
            flexible_time_window={"mode": "OFF"},  # it waits the window plus the grace itself
            target=cast(
                aws.scheduler.ScheduleTargetArgsDict,
                schedule_target(
                    job,
                    state_machine_arn=watch_machine.arn,
                    role_arn=scheduler_role.arn,
                    dead_letter_arn=dead_letters,
                ),
            ),
            **common,
            opts=after_policy,
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
            # Run now and backfill start executions of this state machine, per slot.
            "state_machine_arn": run_machine.arn,
            "watchdog_arn": watch_machine.arn,
            "schedule": pulumi.Output.from_input(job.schedule),
            "timezone": pulumi.Output.from_input(job.timezone),
            # What `python -m tools.run_now` and a person at a shell need to start it now.
            "run_task": run_task,
            "run_task_command": pulumi.Output.all(run_task, platform.region).apply(
                lambda a: run_task_command(a[0], a[1])
            ),
        }
        self.register_outputs(self.outputs)
