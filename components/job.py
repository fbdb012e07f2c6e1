"""One scheduled job: its task definition, roles, secret, logs, state machines and schedules."""

from __future__ import annotations

import json
from typing import Any, cast

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.job_alerts import JobAlerts
from components.platform import Platform
from components.settings import JobSettings
from components.specs import names, policies, sfn_logging
from components.specs.alerts import rule_dead_letter_policy
from components.specs.containers import TaskInputs, container_definitions, task_volumes
from components.specs.schedule import (
    flexible_time_window,
    run_task_command,
    run_task_request,
    schedule_target,
)
from components.specs.state_machine import RunTarget, run_definition
from components.specs.suppressions import suppression
from components.specs.unplanned import unplanned_end_message, unplanned_end_pattern
from components.specs.watchdog import watchdog_definition

ECS_TASKS = "ecs-tasks.amazonaws.com"
STATES = "states.amazonaws.com"
SCHEDULER = "scheduler.amazonaws.com"


def _json(value: Any) -> str:
    return json.dumps(value)


class ScheduledFargateJob(pulumi.ComponentResource):
    """A Fargate task (ETL app + MySQL sidecar) run by a Step Functions state machine that
    EventBridge Scheduler starts on a schedule, plus a watchdog for slots that got no run.

    `full_name` (project-stack-job) names what people look for: the task definition family,
    the schedule and the log group. The resources are attributes, for the stack's exports and
    for whatever a stack adds around a job.
    """

    log_group: aws.cloudwatch.LogGroup
    secret: aws.secretsmanager.Secret  # the sidecar's credentials (username, password, root)
    execution_role: aws.iam.Role  # the ECS agent: pull, logs, the secret
    task_role: aws.iam.Role  # the app: its keys in the data bucket
    task_definition: aws.ecs.TaskDefinition
    alerts: JobAlerts  # the run schedule's dead-letter queue (undeliverable invocations), alarm
    watchdog_alerts: JobAlerts  # the watchdog schedule's own dead-letter queue and alarm
    state_machine: aws.sfn.StateMachine  # one run: timeout, retries, Spot fallback, outcome
    watchdog: aws.sfn.StateMachine  # alerts when a slot got no run
    unplanned_rule: aws.cloudwatch.EventRule  # alerts when either machine ends unplanned
    unplanned_alerts: JobAlerts  # the rule's dead-letter queue (alerts it could not deliver)
    schedule: aws.scheduler.Schedule  # starts the state machine
    watchdog_schedule: aws.scheduler.Schedule  # starts the watchdog on the same expression
    run_task: pulumi.Output[dict[str, Any]]  # ECS RunTask parameters, as the schedule runs it

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
        self._name, self._job, self._platform, self._full_name = name, job, platform, full_name
        self._log_retention_days = log_retention_days
        self._child = pulumi.ResourceOptions(parent=self)

        self.log_group = aws.cloudwatch.LogGroup(
            name,
            name=names.log_group_name(full_name),
            retention_in_days=log_retention_days,
            opts=self._child,
        )
        self.secret = self._database_secret()
        self.execution_role, self.task_role = self._task_roles()
        self.task_definition = self._task_definition(app_image)
        self.alerts = JobAlerts(
            name, full_name=full_name, topic_arn=platform.alerts.arn, opts=self._child
        )
        self.watchdog_alerts = JobAlerts(
            f"{name}-watch",
            full_name=names.watchdog_name(full_name),
            topic_arn=platform.alerts.arn,
            opts=self._child,
        )
        self.state_machine = self._run_machine()
        self.watchdog = self._watchdog()
        self.unplanned_rule = self._unplanned_end_alert()
        self.schedule, self.watchdog_schedule = self._schedules()
        network = platform.network
        self.run_task = pulumi.Output.all(
            cluster=platform.cluster.name,
            task_definition=self.task_definition.arn,
            subnets=network.subnet_ids,
            security_group=network.security_group_id,
        ).apply(
            lambda o: run_task_request(
                job,
                cluster=o["cluster"],
                task_definition_arn=o["task_definition"],
                subnet_ids=list(o["subnets"]),
                security_group_ids=[o["security_group"]],
                assign_public_ip=network.assign_public_ip,
            )
        )
        self.register_outputs(
            {
                "task_definition_arn": self.task_definition.arn,
                "state_machine_arn": self.state_machine.arn,
                "schedule_name": self.schedule.name,
            }
        )

    @property
    def run_task_command(self) -> pulumi.Output[str]:
        """The `aws ecs run-task` command that starts the task by hand, as the schedule would."""
        return pulumi.Output.all(request=self.run_task, region=self._platform.region).apply(
            lambda o: run_task_command(o["request"], o["region"])
        )

    def _trust(self, service: str) -> pulumi.Output[str]:
        return self._platform.account_id.apply(
            lambda account: _json(policies.trust_policy(service, account))
        )

    def _database_secret(self) -> aws.secretsmanager.Secret:
        """The sidecar's passwords: generated, stored in Secrets Manager, injected by ECS."""
        name, child = self._name, self._child
        password = random.RandomPassword(f"{name}-db", length=32, special=False, opts=child)
        root_password = random.RandomPassword(
            f"{name}-db-root", length=32, special=False, opts=child
        )
        secret = aws.secretsmanager.Secret(
            name,
            name_prefix=names.secret_prefix(self._full_name),
            description=f"MySQL sidecar credentials of the {name} job",
            # FSBP SecretsManager.1/.4 suppressed: these open a database that lives for one
            # task and listens on the task's 127.0.0.1 only; rotation would protect nothing
            # (docs/security.md).
            tags=suppression(
                ["SecretsManager.1", "SecretsManager.4"],
                "task-local database reachable from inside its task only",
            ),
            opts=child,
        )
        aws.secretsmanager.SecretVersion(
            name,
            secret_id=secret.id,
            # Secret in state too: it is built from RandomPassword results, which are secrets.
            secret_string=pulumi.Output.json_dumps(
                {
                    "username": self._job.db_username,
                    "password": password.result,
                    "rootPassword": root_password.result,
                }
            ),
            opts=child,
        )
        return secret

    def _task_roles(self) -> tuple[aws.iam.Role, aws.iam.Role]:
        """(execution role, task role): what ECS does for the task, and what the app may do."""
        name, full_name, child = self._name, self._full_name, self._child
        ecs_trust = self._trust(ECS_TASKS)
        execution_role = aws.iam.Role(
            f"{name}-execution",
            description=f"ECS agent for {full_name}: pull images, write logs, read the DB secret",
            assume_role_policy=ecs_trust,
            opts=child,
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-execution",
            role=execution_role.name,
            policy_arn=self._platform.partition.apply(
                lambda p: f"arn:{p}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
            ),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-execution-secret",
            role=execution_role.id,
            policy=self.secret.arn.apply(lambda arn: _json(policies.read_secret_policy(arn))),
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
            policy=self._platform.bucket.arn.apply(
                lambda arn: _json(policies.bucket_read_write_policy(arn, self._job.s3_prefix))
            ),
            opts=child,
        )
        return execution_role, task_role

    def _task_definition(self, app_image: pulumi.Input[str]) -> aws.ecs.TaskDefinition:
        job, platform = self._job, self._platform
        containers = pulumi.Output.all(
            app_image=app_image,
            secret_arn=self.secret.arn,
            log_group=self.log_group.name,
            region=platform.region,
            bucket=platform.bucket.name,
        ).apply(
            lambda o: _json(container_definitions(job, TaskInputs(**o, job_name=self._full_name)))
        )
        return aws.ecs.TaskDefinition(
            self._name,
            family=self._full_name,
            cpu=str(job.cpu),
            memory=str(job.memory),
            network_mode="awsvpc",
            requires_compatibilities=["FARGATE"],
            ephemeral_storage={"size_in_gib": job.ephemeral_storage_gib},
            runtime_platform={
                "cpu_architecture": job.architecture,
                "operating_system_family": "LINUX",
            },
            execution_role_arn=self.execution_role.arn,
            task_role_arn=self.task_role.arn,
            container_definitions=containers,
            volumes=[aws.ecs.TaskDefinitionVolumeArgs(name=v["name"]) for v in task_volumes(job)],
            opts=self._child,
        )

    def _run_machine(self) -> aws.sfn.StateMachine:
        """The run: a state machine per job (timeout, retries, Spot fallback, one outcome)."""
        name, full_name, platform = self._name, self._full_name, self._platform
        network = platform.network
        role = aws.iam.Role(
            f"{name}-run",
            description=f"Step Functions: run {full_name} tasks and alert on their outcome",
            assume_role_policy=self._trust(STATES),
            opts=self._child,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-run",
            role=role.id,
            policy=pulumi.Output.all(
                family=self.task_definition.arn_without_revision,
                cluster=platform.cluster.arn,
                execution_role=self.execution_role.arn,
                task_role=self.task_role.arn,
                topic=platform.alerts.arn,
            ).apply(
                lambda o: _json(
                    policies.run_machine_policy(
                        o["family"],
                        o["cluster"],
                        [o["execution_role"], o["task_role"]],
                        o["topic"],
                    )
                )
            ),
            opts=self._child,
        )
        logging, logging_policy = self._machine_logging(f"{name}-run", full_name, role)
        definition = pulumi.Output.all(
            region=platform.region,
            cluster_arn=platform.cluster.arn,
            task_definition_arn=self.task_definition.arn,
            subnet_ids=network.subnet_ids,
            security_group_id=network.security_group_id,
            topic_arn=platform.alerts.arn,
        ).apply(
            lambda o: _json(
                run_definition(
                    self._job,
                    RunTarget(
                        full_name=full_name,
                        region=o["region"],
                        cluster_arn=o["cluster_arn"],
                        task_definition_arn=o["task_definition_arn"],
                        subnet_ids=list(o["subnet_ids"]),
                        security_group_ids=[o["security_group_id"]],
                        assign_public_ip=network.assign_public_ip,
                        topic_arn=o["topic_arn"],
                    ),
                )
            )
        )
        return aws.sfn.StateMachine(
            f"{name}-run",
            name=full_name,
            type="STANDARD",
            role_arn=role.arn,
            definition=definition,
            logging_configuration=logging,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy, logging_policy]),
        )

    def _watchdog(self) -> aws.sfn.StateMachine:
        """Missed slots: a watchdog started on the same expression checks the run exists."""
        name, full_name, platform = self._name, self._full_name, self._platform
        role = aws.iam.Role(
            f"{name}-watch",
            description=f"Step Functions: alert when a {full_name} slot has no run",
            assume_role_policy=self._trust(STATES),
            opts=self._child,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-watch",
            role=role.id,
            policy=pulumi.Output.all(run=self.state_machine.arn, topic=platform.alerts.arn).apply(
                lambda o: _json(policies.watchdog_policy(o["run"], o["topic"]))
            ),
            opts=self._child,
        )
        logging, logging_policy = self._machine_logging(
            f"{name}-watch", names.watchdog_name(full_name), role
        )
        return aws.sfn.StateMachine(
            f"{name}-watch",
            name=names.watchdog_name(full_name),
            type="STANDARD",
            role_arn=role.arn,
            definition=pulumi.Output.all(
                region=platform.region, run=self.state_machine.arn, topic=platform.alerts.arn
            ).apply(
                lambda o: _json(
                    watchdog_definition(
                        self._job,
                        full_name=full_name,
                        region=o["region"],
                        run_machine_arn=o["run"],
                        topic_arn=o["topic"],
                    )
                )
            ),
            logging_configuration=logging,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy, logging_policy]),
        )

    def _unplanned_end_alert(self) -> aws.cloudwatch.EventRule:
        """Either machine's execution ending outside the planned outcomes -> the alerts topic;
        what EventBridge cannot deliver there -> a dead-letter queue whose alarm pages."""
        name, full_name, platform = self._name, self._full_name, self._platform
        rule_name = names.unplanned_rule_name(full_name)
        rule = aws.cloudwatch.EventRule(
            f"{name}-unplanned",
            name=rule_name,
            description=f"{full_name}: a run or watchdog execution ended outside the planned "
            "outcomes",
            event_pattern=pulumi.Output.all(self.state_machine.arn, self.watchdog.arn).apply(
                lambda arns: _json(unplanned_end_pattern(list(arns)))
            ),
            opts=self._child,
        )
        queue_arn = pulumi.Output.concat(
            "arn:", platform.partition, ":sqs:", platform.region, ":", platform.account_id,
            ":", names.queue_name(rule_name),
        )  # fmt: skip
        self.unplanned_alerts = JobAlerts(
            f"{name}-ended",
            full_name=rule_name,
            topic_arn=platform.alerts.arn,
            sender="EventBridge could not deliver an alert of",
            queue_policy=pulumi.Output.all(queue_arn, rule.arn).apply(
                lambda o: _json(rule_dead_letter_policy(o[0], o[1]))
            ),
            opts=self._child,
        )
        aws.cloudwatch.EventTarget(
            f"{name}-unplanned",
            rule=rule.name,
            arn=platform.alerts.arn,
            input_transformer=platform.region.apply(
                lambda region: cast(
                    aws.cloudwatch.EventTargetInputTransformerArgsDict,
                    unplanned_end_message(name, full_name, region),
                )
            ),
            dead_letter_config={"arn": self.unplanned_alerts.dead_letter_queue.arn},
            opts=self._child,
        )
        return rule

    def _machine_logging(
        self, name: str, machine_name: str, role: aws.iam.Role
    ) -> tuple[pulumi.Output[Any], aws.iam.RolePolicy]:
        """FSBP StepFunctions.1: a state machine's own log group (the stack's retention), its
        role's log-delivery permissions, and the StateMachine's logging_configuration."""
        group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=sfn_logging.log_group_name(machine_name),
            retention_in_days=self._log_retention_days,
            opts=self._child,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-logs",
            role=role.id,
            policy=_json(sfn_logging.log_delivery_policy()),
            opts=self._child,
        )
        return group.arn.apply(sfn_logging.logging_configuration), policy

    def _schedules(self) -> tuple[aws.scheduler.Schedule, aws.scheduler.Schedule]:
        """(the run's schedule, the watchdog's). Each has its own role and dead-letter queue,
        so a broken run schedule (its role edited, its queue gone) leaves the watchdog able to
        start and to report the missed slot."""
        name, full_name, job = self._name, self._full_name, self._job
        common: dict[str, Any] = {
            "schedule_expression": job.schedule,
            "schedule_expression_timezone": job.timezone,
            "state": "ENABLED" if job.enabled else "DISABLED",
            "start_date": job.start_date,
            "end_date": job.end_date,
        }
        run = aws.scheduler.Schedule(
            name,
            name=full_name,
            description=f"Starts a run of the {name} ETL job",
            flexible_time_window=cast(
                aws.scheduler.ScheduleFlexibleTimeWindowArgsDict, flexible_time_window(job)
            ),
            **self._schedule_target(name, f"start {full_name} runs", self.state_machine,
                                    self.alerts),
            **common,
        )  # fmt: skip
        watch = aws.scheduler.Schedule(
            f"{name}-watch",
            name=names.watchdog_name(full_name),
            description=f"Checks that each slot of the {name} ETL job got a run",
            flexible_time_window={"mode": "OFF"},  # it waits the window plus the grace itself
            **self._schedule_target(f"{name}-watch", f"start the {full_name} watchdog",
                                    self.watchdog, self.watchdog_alerts),
            **common,
        )  # fmt: skip
        return run, watch

    def _schedule_target(
        self, name: str, purpose: str, machine: aws.sfn.StateMachine, alerts: JobAlerts
    ) -> dict[str, Any]:
        """A schedule's target and options: its own role, allowed to start `machine` and to
        dead-letter into `alerts`' queue only."""
        dead_letters = alerts.dead_letter_queue.arn
        role = aws.iam.Role(
            f"{name}-scheduler",
            description=f"EventBridge Scheduler: {purpose}",
            assume_role_policy=self._trust(SCHEDULER),
            opts=self._child,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-scheduler-start",
            role=role.id,
            policy=pulumi.Output.all(machine=machine.arn, dlq=dead_letters).apply(
                lambda o: _json(policies.scheduler_policy([o["machine"]], o["dlq"]))
            ),
            opts=self._child,
        )
        target = schedule_target(
            self._job, state_machine_arn=machine.arn, role_arn=role.arn,
            dead_letter_arn=dead_letters,
        )  # fmt: skip
        return {
            "target": cast(aws.scheduler.ScheduleTargetArgsDict, target),
            # The role must be allowed to start executions before the first invocation.
            "opts": pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        }
