"""One scheduled job: its task definition, roles, secret, logs, state machines and schedules."""

import json
from typing import Any, cast

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.args import ScheduledFargateJobArgs
from components.job_alerts import JobAlerts
from components.settings import job_settings
from components.specs import aurora, names, policies, sfn_logging
from components.specs.alerts import rule_dead_letter_policy
from components.specs.aurora import ClusterEndpoint
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

# No `from __future__ import annotations`: Pulumi's analyzer reads this class's annotations
# (its outputs) and its __init__'s `args` as objects. The resources are attributes without a
# class-level annotation, so that the schema's outputs stay plain values.

ECS_TASKS = "ecs-tasks.amazonaws.com"
STATES = "states.amazonaws.com"
SCHEDULER = "scheduler.amazonaws.com"


def _json(value: Any) -> str:
    return json.dumps(value)


class ScheduledFargateJob(pulumi.ComponentResource):
    """A Fargate task (ETL app + MySQL sidecar) run by a Step Functions state machine that
    EventBridge Scheduler starts on a schedule, plus a watchdog for slots that got no run and
    alerts to an SNS topic. It runs on a cluster, subnets, security groups, bucket and topic
    it is given (existing ones, or `JobPlatform`'s) and creates only the job's own resources.

    Its full name (`<namePrefix>-<jobName>`; `jobName`: its name unless given) names what
    people look for: the task definition family, the schedule and the log group. In Python the
    resources are attributes too, for whatever a program adds around a job.
    """

    task_definition_arn: pulumi.Output[str]
    """the task definition (with its revision)"""
    state_machine_arn: pulumi.Output[str]
    """the run's state machine: run now and backfill start its executions, per slot"""
    watchdog_arn: pulumi.Output[str]
    """the missed-slot watchdog's state machine"""
    schedule_name: pulumi.Output[str]
    """the EventBridge Scheduler schedule that starts the runs"""
    log_group_name: pulumi.Output[str]
    """the task's log group (both containers)"""
    secret_arn: pulumi.Output[str]
    """the database credentials the task reads: the sidecar's, generated, or the Aurora
    cluster's master user secret"""
    dead_letter_queue_arn: pulumi.Output[str]
    """the run schedule's dead-letter queue (invocations Scheduler could not deliver)"""
    run_task: pulumi.Output[dict[str, Any]]
    """ECS RunTask parameters, as the schedule runs the task"""
    run_task_command: pulumi.Output[str]
    """the `aws ecs run-task` command that starts the task by hand, as the schedule would"""

    # The registered type, kept from 0.1.0 so that the stacks' URNs stay (not an output: no
    # annotation). A component provider process may set `<package>:index:ScheduledFargateJob`.
    TYPE = "scheduled-etl:etl:ScheduledFargateJob"

    def __init__(
        self,
        name: str,
        args: ScheduledFargateJobArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        # The job's name under its prefix; `name` stays the Pulumi name its resources take,
        # unique in the program (two prefixes' `nightly` jobs: `a-nightly`, `b-nightly`).
        job = job_settings(name, args)  # before anything exists
        job_name = args.get("job_name", name)
        full_name = f"{args['name_prefix']}-{job_name}"
        super().__init__(self.TYPE, name, None, opts)
        self._name, self._job, self._full_name = name, job, full_name
        self._job_name = job_name
        self._log_retention_days = args.get("log_retention_days", 30)
        self._child = pulumi.ResourceOptions(parent=self)

        invoke = pulumi.InvokeOutputOptions(parent=self)
        self._account_id = aws.get_caller_identity_output(opts=invoke).account_id
        self._partition = aws.get_partition_output(opts=invoke).partition
        self._region = aws.get_region_output(opts=invoke).region
        self._cluster_arn = pulumi.Output.from_input(args["cluster_arn"])
        self._subnet_ids = pulumi.Output.from_input(args["subnet_ids"])
        self._security_group_ids = pulumi.Output.from_input(args["security_group_ids"])
        self._assign_public_ip = pulumi.Output.from_input(args.get("assign_public_ip", False))
        self._bucket_name = pulumi.Output.from_input(args["bucket_name"])
        self._bucket_arn = pulumi.Output.concat("arn:", self._partition, ":s3:::",
                                                self._bucket_name)  # fmt: skip
        self._topic_arn = pulumi.Output.from_input(args["alerts_topic_arn"])

        # The job's database: the sidecar (its credentials generated into a secret of the
        # job's own), or the stack's Aurora cluster (its endpoint and RDS-managed secret).
        self._database: pulumi.Output[ClusterEndpoint] | None = None
        if job.database_server == "aurora":
            if "database_endpoint" not in args or "database_secret_arn" not in args:
                raise ValueError(f"job {name}: databaseServer aurora needs databaseEndpoint "
                                 "and databaseSecretArn (JobPlatform's with `aurora`)")  # fmt: skip
            self._database = pulumi.Output.all(
                args["database_endpoint"],
                args["database_secret_arn"],
                args.get("database_secret_kms_key_id", ""),
            ).apply(lambda o: ClusterEndpoint(*o))

        self.log_group = aws.cloudwatch.LogGroup(
            name,
            name=names.log_group_name(full_name),
            retention_in_days=self._log_retention_days,
            opts=self._child,
        )
        # The sidecar's credentials (an aurora job reads the cluster's secret instead).
        self.secret = self._database_secret() if self._database is None else None
        self._secret_arn: pulumi.Output[str] = (
            self.secret.arn if self.secret is not None
            else self._database.apply(lambda d: d.secret_arn)  # type: ignore[union-attr]
        )  # fmt: skip
        # The ECS agent (pull, logs, the secret), and the app (its keys in the data bucket).
        self.execution_role, self.task_role = self._task_roles()
        self.task_definition = self._task_definition(args["image_uri"])
        # The run schedule's dead-letter queue (undeliverable invocations) and its alarm.
        self.alerts = JobAlerts(
            name, full_name=full_name, topic_arn=self._topic_arn, opts=self._child
        )
        self.watchdog_alerts = JobAlerts(  # the watchdog schedule's own
            f"{name}-watch",
            full_name=names.watchdog_name(full_name),
            topic_arn=self._topic_arn,
            opts=self._child,
        )
        self.state_machine = self._run_machine()  # one run: timeout, retries, Spot, outcome
        self.watchdog = self._watchdog()  # alerts when a slot got no run
        # Alerts when either machine ends unplanned (and unplanned_alerts: its dead letters).
        self.unplanned_rule = self._unplanned_end_alert()
        # The run's schedule, and the watchdog's on the same expression.
        self.schedule, self.watchdog_schedule = self._schedules()
        self.run_task = pulumi.Output.all(
            cluster=self._cluster_arn.apply(_cluster_name),
            task_definition=self.task_definition.arn,
            subnets=self._subnet_ids,
            security_groups=self._security_group_ids,
            public_ip=self._assign_public_ip,
        ).apply(
            lambda o: run_task_request(
                job,
                cluster=o["cluster"],
                task_definition_arn=o["task_definition"],
                subnet_ids=list(o["subnets"]),
                security_group_ids=list(o["security_groups"]),
                assign_public_ip=o["public_ip"],
            )
        )
        self.run_task_command = pulumi.Output.all(request=self.run_task, region=self._region).apply(
            lambda o: run_task_command(o["request"], o["region"])
        )
        self.task_definition_arn = self.task_definition.arn
        self.state_machine_arn = self.state_machine.arn
        self.watchdog_arn = self.watchdog.arn
        self.schedule_name = self.schedule.name
        self.log_group_name = self.log_group.name
        self.secret_arn = self._secret_arn
        self.dead_letter_queue_arn = self.alerts.dead_letter_queue.arn
        self.register_outputs(
            {
                "task_definition_arn": self.task_definition.arn,
                "state_machine_arn": self.state_machine.arn,
                "schedule_name": self.schedule.name,
            }
        )

    def _trust(self, service: str) -> pulumi.Output[str]:
        return self._account_id.apply(
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
            description=f"MySQL sidecar credentials of the {self._job_name} job",
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
            policy_arn=self._partition.apply(
                lambda p: f"arn:{p}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
            ),
            opts=child,
        )
        if self._database is None:
            secret_policy = self._secret_arn.apply(
                lambda arn: _json(policies.read_secret_policy(arn))
            )
        else:
            secret_policy = pulumi.Output.all(self._database, self._region).apply(
                lambda o: _json(aurora.read_master_secret_policy(o[0], o[1]))
            )
        aws.iam.RolePolicy(
            f"{name}-execution-secret", role=execution_role.id, policy=secret_policy, opts=child
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
            policy=self._bucket_arn.apply(
                lambda arn: _json(policies.bucket_read_write_policy(arn, self._job.s3_prefix))
            ),
            opts=child,
        )
        return execution_role, task_role

    def _task_definition(self, app_image: pulumi.Input[str]) -> aws.ecs.TaskDefinition:
        job = self._job
        inputs = pulumi.Output.all(
            app_image=app_image,
            secret_arn=self._secret_arn,
            log_group=self.log_group.name,
            region=self._region,
            bucket=self._bucket_name,
        ).apply(lambda o: TaskInputs(**o, job_name=self._full_name))
        if self._database is None:
            containers = inputs.apply(lambda i: _json(container_definitions(job, i)))
            volumes = task_volumes(job)
        else:  # the app alone, on the cluster
            containers = pulumi.Output.all(inputs, self._database).apply(
                lambda o: _json(aurora.task_containers(job, o[0], o[1]))
            )
            volumes = aurora.task_volumes()
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
            volumes=[aws.ecs.TaskDefinitionVolumeArgs(name=v["name"]) for v in volumes],
            opts=self._child,
        )

    def _run_machine(self) -> aws.sfn.StateMachine:
        """The run: a state machine per job (timeout, retries, Spot fallback, one outcome)."""
        name, full_name = self._name, self._full_name
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
                cluster=self._cluster_arn,
                execution_role=self.execution_role.arn,
                task_role=self.task_role.arn,
                topic=self._topic_arn,
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
            region=self._region,
            cluster_arn=self._cluster_arn,
            task_definition_arn=self.task_definition.arn,
            subnet_ids=self._subnet_ids,
            security_group_ids=self._security_group_ids,
            public_ip=self._assign_public_ip,
            topic_arn=self._topic_arn,
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
                        security_group_ids=list(o["security_group_ids"]),
                        assign_public_ip=o["public_ip"],
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
        name, full_name = self._name, self._full_name
        role = aws.iam.Role(
            f"{name}-watch",
            description=f"Step Functions: alert when a {full_name} slot has no run",
            assume_role_policy=self._trust(STATES),
            opts=self._child,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-watch",
            role=role.id,
            policy=pulumi.Output.all(run=self.state_machine.arn, topic=self._topic_arn).apply(
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
                region=self._region, run=self.state_machine.arn, topic=self._topic_arn
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
        name, full_name = self._name, self._full_name
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
            "arn:", self._partition, ":sqs:", self._region, ":", self._account_id,
            ":", names.queue_name(rule_name),
        )  # fmt: skip
        self.unplanned_alerts = JobAlerts(
            f"{name}-ended",
            full_name=rule_name,
            topic_arn=self._topic_arn,
            sender="EventBridge could not deliver an alert of",
            queue_policy=pulumi.Output.all(queue_arn, rule.arn).apply(
                lambda o: _json(rule_dead_letter_policy(o[0], o[1]))
            ),
            opts=self._child,
        )
        aws.cloudwatch.EventTarget(
            f"{name}-unplanned",
            rule=rule.name,
            arn=self._topic_arn,
            input_transformer=self._region.apply(
                lambda region: cast(
                    aws.cloudwatch.EventTargetInputTransformerArgsDict,
                    unplanned_end_message(self._job_name, full_name, region),
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
            description=f"Starts a run of the {self._job_name} ETL job",
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
            description=f"Checks that each slot of the {self._job_name} ETL job got a run",
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


def _cluster_name(cluster_arn: str) -> str:
    """arn:<partition>:ecs:<region>:<account>:cluster/<name>"""
    return cluster_arn.rsplit("/", 1)[-1]
