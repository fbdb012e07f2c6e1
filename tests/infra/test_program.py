"""The real __main__.py, run for each stack file under Pulumi's mock engine (preview=False).

Asserts on what the program registers: types and counts, the wiring of ARNs between
resources, the properties each environment sets, and AWS API validity (botocore models).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_models import create_schedule_params, errors, register_task_definition_params

from components.settings import (
    ConfigError,
    DefaultVpcNetwork,
    ExistingNetwork,
    JobSettings,
    NewVpcNetwork,
    assigns_public_ip,
)
from components.specs.names import stack_prefix
from tools.offline import (
    ACCOUNT,
    INVOKES,
    REGION,
    RUN_DIGEST,
    Program,
    RecordingMocks,
    Registered,
    run_program,
    secret_value,
    stack_config,
    stack_region,
    stack_settings,
)

TASK_DEF = "aws:ecs/taskDefinition:TaskDefinition"
SCHEDULE = "aws:scheduler/schedule:Schedule"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
MACHINE = "aws:sfn/stateMachine:StateMachine"
SECRET = "aws:secretsmanager/secret:Secret"


@pytest.fixture
def program(stack: tuple[str, Program]) -> tuple[str, Program]:
    return stack


def jobs_of(stack: str) -> dict[str, JobSettings]:
    """The stack file's jobs with every default applied, as the program reads them."""
    return dict(stack_settings(stack).jobs)


def containers(task_definition: Registered) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in json.loads(task_definition.inputs["containerDefinitions"])}


def outputs_of(program: Program, typ: str, name: str) -> dict[str, Any]:
    return program.one(typ, name).outputs


def policy_of(program: Program, name: str) -> dict[str, Any]:
    return json.loads(program.one(ROLE_POLICY, name).inputs["policy"])


def tasks_group(program: Program) -> Registered:
    """The tasks' security group (an Aurora stack has the cluster's too)."""
    [group] = [g for g in program.of_type("aws:ec2/securityGroup:SecurityGroup")
               if g.name.endswith("-network-tasks")]  # fmt: skip
    return group


def cluster_secret(program: Program) -> tuple[str, str]:
    """The stack's Aurora cluster: its master user secret's ARN and key."""
    [secret] = program.one("aws:rds/cluster:Cluster").outputs["masterUserSecrets"]
    return secret["secretArn"], secret["kmsKeyId"]


# --- what every stack declares -------------------------------------------------------------


def test_one_component_and_task_per_job(program: tuple[str, Program]) -> None:
    stack, prog = program
    names = set(jobs_of(stack))
    assert {r.name for r in prog.of_type("scheduled-etl:etl:ScheduledFargateJob")} == names
    assert {r.inputs["family"] for r in prog.of_type(TASK_DEF)} == {
        f"scheduled-etl-{stack}-{n}" for n in names
    }
    assert len(prog.of_type(SCHEDULE)) == 2 * len(names)  # the run and its watchdog
    assert len(prog.of_type(MACHINE)) == 2 * len(names)
    job_roles = [r for r in prog.of_type(ROLE) if r.parent.endswith(tuple(f"::{n}" for n in names))]
    assert len(job_roles) == 6 * len(names)  # a created VPC's flow-log role is the stack's
    assert len(prog.of_type("aws:ecs/cluster:Cluster")) == 1  # shared


def test_task_definitions_are_valid_fargate_requests(program: tuple[str, Program]) -> None:
    stack, prog = program
    for name, job in jobs_of(stack).items():
        inputs = prog.one(TASK_DEF, name).inputs
        assert inputs["requiresCompatibilities"] == ["FARGATE"]
        assert inputs["networkMode"] == "awsvpc"
        assert (inputs["cpu"], inputs["memory"]) == (str(job.cpu), str(job.memory))
        assert inputs["ephemeralStorage"] == {"sizeInGib": float(job.ephemeral_storage_gib)}
        # See containers.py: the sidecar's data volume and the app's /tmp; an aurora job's app
        # alone has /tmp only.
        volumes = [{"name": "tmp"}] if job.database_server == "aurora" else [
            {"name": "mysql"}, {"name": "tmp"}]  # fmt: skip
        assert inputs["volumes"] == volumes
        assert inputs["runtimePlatform"] == {
            "cpuArchitecture": job.architecture,
            "operatingSystemFamily": "LINUX",
        }
        assert (
            errors(register_task_definition_params(inputs), "ecs", "RegisterTaskDefinition") == ""
        )


def test_roles_and_secret_wiring(program: tuple[str, Program]) -> None:
    stack, prog = program
    for name in jobs_of(stack):
        task_def = prog.one(TASK_DEF, name).inputs
        execution = outputs_of(prog, ROLE, f"{name}-execution")
        task = outputs_of(prog, ROLE, f"{name}-task")
        assert task_def["executionRoleArn"] == execution["arn"]
        assert task_def["taskRoleArn"] == task["arn"]
        for role in (execution, task):
            trust = json.loads(role["assumeRolePolicy"])["Statement"][0]
            assert trust["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
            assert trust["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT

        attachment = prog.one(
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment", f"{name}-execution"
        )
        assert attachment.inputs["role"] == execution["name"]
        assert attachment.inputs["policyArn"] == (
            "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
        )
        declared = containers(prog.one(TASK_DEF, name))
        if jobs_of(stack)[name].database_server == "aurora":
            # The cluster's RDS-managed secret, its key through Secrets Manager only.
            secret_arn, key = cluster_secret(prog)
            read, decrypt = policy_of(prog, f"{name}-execution-secret")["Statement"]
            assert (read["Action"], read["Resource"]) == ("secretsmanager:GetSecretValue",
                                                          secret_arn)  # fmt: skip
            assert (decrypt["Action"], decrypt["Resource"]) == ("kms:Decrypt", key)
            assert decrypt["Condition"]["StringEquals"]["kms:ViaService"].startswith(
                "secretsmanager."
            )
            assert set(declared) == {"app"}
            assert {s["valueFrom"] for s in declared["app"]["secrets"]} == {
                f"{secret_arn}:username::", f"{secret_arn}:password::"}  # fmt: skip
            assert not [r for r in prog.of_type(SECRET) if r.name == name]  # none of its own
            continue
        secret_arn = outputs_of(prog, SECRET, name)["arn"]
        [read] = policy_of(prog, f"{name}-execution-secret")["Statement"]
        assert read["Resource"] == secret_arn

        app, mysql = declared["app"], declared["mysql"]
        assert {s["valueFrom"] for s in app["secrets"] + mysql["secrets"]} == {
            f"{secret_arn}:password::",
            f"{secret_arn}:rootPassword::",
        }


def test_secret_values_are_generated_and_kept_secret(program: tuple[str, Program]) -> None:
    stack, prog = program
    for name, job in jobs_of(stack).items():
        if job.database_server == "aurora":
            continue  # its credentials are the cluster's, which RDS generates and rotates
        version = prog.one("aws:secretsmanager/secretVersion:SecretVersion", name).inputs
        assert version["secretId"] == f"{name}-id"
        stored = json.loads(secret_value(version["secretString"]))
        assert set(stored) == {"username", "password", "rootPassword"}
        for pw in (f"{name}-db", f"{name}-db-root"):
            assert prog.one("random:index/randomPassword:RandomPassword", pw).inputs["length"] == 32
        # No password reaches any plain container environment.
        for container in containers(prog.one(TASK_DEF, name)).values():
            assert stored["password"] not in json.dumps(container.get("environment", []))


def test_logs_go_to_a_retained_group_per_job(program: tuple[str, Program]) -> None:
    stack, prog = program
    retention = float(stack_settings(stack).log_retention_days)
    for name in jobs_of(stack):
        group = prog.one("aws:cloudwatch/logGroup:LogGroup", name).inputs
        assert group == {"name": f"/ecs/scheduled-etl-{stack}-{name}", "retentionInDays": retention}
        for cname, container in containers(prog.one(TASK_DEF, name)).items():
            options = container["logConfiguration"]["options"]
            assert options["awslogs-group"] == group["name"]
            assert options["awslogs-stream-prefix"] == cname


def test_schedules_are_valid_and_wired(program: tuple[str, Program]) -> None:
    stack, prog = program
    for name, job in jobs_of(stack).items():
        full = f"scheduled-etl-{stack}-{name}"
        run = outputs_of(prog, MACHINE, f"{name}-run")
        watch = outputs_of(prog, MACHINE, f"{name}-watch")
        for schedule_name, machine in ((name, run), (f"{name}-watch", watch)):
            schedule = prog.one(SCHEDULE, schedule_name).inputs
            assert errors(create_schedule_params(schedule), "scheduler", "CreateSchedule") == ""
            # The watchdog fires on the run's own expression, time zone, dates and state.
            assert schedule["scheduleExpression"] == job.schedule
            assert schedule["scheduleExpressionTimezone"] == job.timezone
            assert schedule["state"] == ("ENABLED" if job.enabled else "DISABLED")
            target = schedule["target"]
            assert target["arn"] == machine["arn"] and "ecsParameters" not in target
            assert target["roleArn"] == outputs_of(prog, ROLE, f"{schedule_name}-scheduler")["arn"]
            assert json.loads(target["input"]) == {
                "scheduledTime": "<aws.scheduler.scheduled-time>"
            }
        assert prog.one(SCHEDULE, name).inputs["name"] == full
        assert prog.one(SCHEDULE, f"{name}-watch").inputs["flexibleTimeWindow"] == {"mode": "OFF"}
        assert (run["name"], watch["name"]) == (full, f"{full}-watch")
        assert run["type"] == watch["type"] == "STANDARD"


def test_state_machines_run_this_jobs_task(program: tuple[str, Program]) -> None:
    stack, prog = program
    cluster_arn = prog.one("aws:ecs/cluster:Cluster").outputs["arn"]
    security_group = tasks_group(prog)
    for name, job in jobs_of(stack).items():
        machine = outputs_of(prog, MACHINE, f"{name}-run")
        assert machine["roleArn"] == outputs_of(prog, ROLE, f"{name}-run")["arn"]
        run_task = json.loads(machine["definition"])["States"]["RunTask"]
        params = run_task["Parameters"]
        assert params["Cluster"] == cluster_arn
        assert params["TaskDefinition"] == outputs_of(prog, TASK_DEF, name)["arn"]
        vpc = params["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert vpc["SecurityGroups"] == [f"{security_group.name}-id"]
        assert run_task["TimeoutSeconds"] == job.timeout_minutes * 60
        watch = json.loads(outputs_of(prog, MACHINE, f"{name}-watch")["definition"])
        assert watch["States"]["ListRuns"]["Parameters"]["StateMachineArn"] == machine["arn"]


def test_roles_of_the_workflows_are_scoped_to_this_job(program: tuple[str, Program]) -> None:
    stack, prog = program
    cluster_arn = prog.one("aws:ecs/cluster:Cluster").outputs["arn"]
    for name in jobs_of(stack):
        # The run's schedule and the watchdog's: a role and a dead-letter queue each, so that
        # breaking one (its role edited, its queue deleted) leaves the other working.
        for schedule, machine in ((name, f"{name}-run"), (f"{name}-watch", f"{name}-watch")):
            role = outputs_of(prog, ROLE, f"{schedule}-scheduler")
            trust = json.loads(role["assumeRolePolicy"])["Statement"][0]
            assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
            assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
            start, dead_letters = policy_of(prog, f"{schedule}-scheduler-start")["Statement"]
            assert start["Resource"] == [outputs_of(prog, MACHINE, machine)["arn"]]
            assert (
                dead_letters["Resource"]
                == outputs_of(prog, "aws:sqs/queue:Queue", f"{schedule}-dlq")["arn"]
            )
        for kind in ("run", "watch"):
            trust = json.loads(outputs_of(prog, ROLE, f"{name}-{kind}")["assumeRolePolicy"])
            assert trust["Statement"][0]["Principal"] == {"Service": "states.amazonaws.com"}
        run = {s["Sid"]: s for s in policy_of(prog, f"{name}-run")["Statement"]}
        family = outputs_of(prog, TASK_DEF, name)["arnWithoutRevision"]
        assert run["RunJobTask"]["Resource"] == [family, f"{family}:*"]
        assert run["RunJobTask"]["Condition"] == {"ArnEquals": {"ecs:cluster": cluster_arn}}
        assert sorted(run["PassTaskRoles"]["Resource"]) == sorted(
            outputs_of(prog, ROLE, f"{name}-{kind}")["arn"] for kind in ("execution", "task")
        )
        watch = {s["Sid"]: s for s in policy_of(prog, f"{name}-watch")["Statement"]}
        assert watch["ListRuns"]["Resource"][0] == outputs_of(prog, MACHINE, f"{name}-run")["arn"]


def test_security_group_allows_no_ingress(program: tuple[str, Program]) -> None:
    _, prog = program
    group = tasks_group(prog).inputs
    assert group.get("ingress", []) == []
    egress = [(e["protocol"], e["fromPort"], e["toPort"]) for e in group["egress"]]
    if not prog.of_type("aws:rds/cluster:Cluster"):
        assert egress == [("tcp", 443, 443)]
        return
    # And MySQL to the stack's Aurora cluster, within the VPC only.
    assert egress == [("tcp", 443, 443), ("tcp", 3306, 3306)]
    # The CIDR of the VPC the stack creates, else of the one it looks up (default or existing).
    created = prog.of_type("awsx:ec2:Vpc")
    vpc = created[0].inputs if created else INVOKES["aws:ec2/getVpc:getVpc"]
    assert group["egress"][1]["cidrBlocks"] == [vpc["cidrBlock"]]


def test_outputs(program: tuple[str, Program]) -> None:
    stack, prog = program
    outputs = prog.outputs
    assert outputs["cluster_arn"] == prog.one("aws:ecs/cluster:Cluster").outputs["arn"]
    assert set(outputs["jobs"]) == set(jobs_of(stack))
    for name, job in outputs["jobs"].items():
        assert job["task_definition_arn"] == outputs_of(prog, TASK_DEF, name)["arn"]
        assert job["schedule_name"] == f"scheduled-etl-{stack}-{name}"
        if jobs_of(stack)[name].database_server == "aurora":
            assert job["secret_arn"] == cluster_secret(prog)[0]
        else:
            assert job["secret_arn"] == outputs_of(prog, SECRET, name)["arn"]
        assert job["log_group_name"] == f"/ecs/scheduled-etl-{stack}-{name}"
        assert job["state_machine_arn"] == outputs_of(prog, MACHINE, f"{name}-run")["arn"]
        assert job["watchdog_arn"] == outputs_of(prog, MACHINE, f"{name}-watch")["arn"]
        assert job["schedule"] == jobs_of(stack)[name].schedule
        region = stack_region(stack_config(stack)) or REGION
        assert job["run_task_command"].startswith(f"aws ecs run-task --region {region} --cluster ")
        assert job["task_definition_arn"] in job["run_task_command"]


def test_each_job_runs_the_image_its_stack_file_names(program: tuple[str, Program]) -> None:
    stack, prog = program
    settings = stack_settings(stack)
    image = settings.image
    region = stack_region(stack_config(stack)) or REGION
    if image.repository is not None:  # CI builds and pushes it; the run names it by digest
        assert not [r for r in prog.resources if r.type.startswith("awsx:ecr:")]
        stack_image = f"{ACCOUNT}.dkr.ecr.{region}.amazonaws.com/{image.repository}@{RUN_DIGEST}"
        assert prog.outputs["app_image_digest"] == RUN_DIGEST
    elif image.uri is not None:
        stack_image = image.uri
    else:
        stack_image = prog.one("awsx:ecr:Image").outputs["imageUri"]
    for name, job in settings.jobs.items():
        expected = job.image_uri or stack_image
        assert containers(prog.one(TASK_DEF, name))["app"]["image"] == expected
    assert prog.outputs["app_image"] == stack_image


def test_a_build_stack_builds_the_image_once_and_pins_it_by_digest() -> None:
    config = {**stack_config("prod"), "scheduled-etl:image": {"build": {}}}
    prog = run_program("prod", config)
    image = prog.one("awsx:ecr:Image")
    assert image.inputs["platform"] == "linux/amd64"
    assert image.inputs["repositoryUrl"] == prog.one("awsx:ecr:Repository").outputs["url"]
    assert "@sha256:" in image.outputs["imageUri"]
    for name in jobs_of("prod"):
        assert containers(prog.one(TASK_DEF, name))["app"]["image"] == image.outputs["imageUri"]
    assert prog.outputs["app_image"] == image.outputs["imageUri"]


# --- where environments differ -----------------------------------------------------------


def run_definition_of(prog: Program, job: str) -> dict[str, Any]:
    return dict(json.loads(prog.one(MACHINE, f"{job}-run").inputs["definition"]))


def network_of(prog: Program, job: str) -> dict[str, Any]:
    """The awsvpc configuration the job's state machine runs its task with."""
    run_task = run_definition_of(prog, job)["States"]["RunTask"]
    return dict(run_task["Parameters"]["NetworkConfiguration"]["AwsvpcConfiguration"])


def test_each_job_is_scheduled_and_placed_as_its_stack_file_says(
    program: tuple[str, Program],
) -> None:
    stack, prog = program
    settings = stack_settings(stack)
    for name, job in settings.jobs.items():
        schedule = prog.one(SCHEDULE, name).inputs
        assert (schedule["scheduleExpression"], schedule["scheduleExpressionTimezone"]) == (
            job.schedule,
            job.timezone,
        )
        assert schedule["state"] == ("ENABLED" if job.enabled else "DISABLED")
        window = job.flexible_window_minutes
        assert schedule["flexibleTimeWindow"] == (
            {"mode": "FLEXIBLE", "maximumWindowInMinutes": float(window)} if window
            else {"mode": "OFF"}
        )  # fmt: skip
        strategy = run_definition_of(prog, name)["States"]["Prepare"]["Assign"]["strategy"]
        assert strategy[0] == {"CapacityProvider": job.capacity, "Weight": 1}
        vpc = network_of(prog, name)
        assert vpc["AssignPublicIp"] == (
            "ENABLED" if assigns_public_ip(settings.network) else "DISABLED"
        )
        network = settings.network
        if isinstance(network, ExistingNetwork):
            assert vpc["Subnets"] == network.subnet_ids
        else:  # the mock engine's subnets of an awsx default or new VPC
            public = isinstance(network, DefaultVpcNetwork)
            assert vpc["Subnets"] == (
                ["subnet-pub1", "subnet-pub2"] if public else ["subnet-priv1", "subnet-priv2"]
            )
    assert prog.one("aws:ecs/cluster:Cluster").inputs["settings"] == [
        {"name": "containerInsights", "value": settings.container_insights}
    ]


def test_the_network_is_the_one_the_stack_file_chose(program: tuple[str, Program]) -> None:
    stack, prog = program
    network = stack_settings(stack).network
    group = tasks_group(prog).inputs
    assert len(prog.of_type("awsx:ec2:DefaultVpc")) == isinstance(network, DefaultVpcNetwork)
    assert len(prog.of_type("awsx:ec2:Vpc")) == isinstance(network, NewVpcNetwork)
    if isinstance(network, NewVpcNetwork):
        vpc = prog.one("awsx:ec2:Vpc")
        assert vpc.inputs["cidrBlock"] == network.cidr_block
        assert vpc.inputs["numberOfAvailabilityZones"] == float(network.availability_zones)
        assert vpc.inputs["natGateways"] == {"strategy": network.nat_gateways}
        assert group["vpcId"] == vpc.outputs["vpcId"]
    elif isinstance(network, ExistingNetwork):
        assert group["vpcId"] == network.vpc_id
    else:
        assert group["vpcId"] == prog.one("awsx:ec2:DefaultVpc").outputs["vpcId"]


def test_each_job_reaches_only_its_prefix_of_the_stacks_bucket(
    program: tuple[str, Program],
) -> None:
    stack, prog = program
    settings = stack_settings(stack)
    data = f"{stack_prefix(stack)}-data"
    buckets = [r for r in prog.of_type("aws:s3/bucket:Bucket") if r.name == data]
    if settings.bucket_name is not None:
        assert buckets == [], "an existing bucket is referenced, not created"
        bucket, bucket_arn = settings.bucket_name, f"arn:aws:s3:::{settings.bucket_name}"
    else:
        [created] = buckets
        bucket, bucket_arn = created.outputs["bucket"], created.outputs["arn"]
        assert_locked_down(prog, created.name, bucket_arn)
    for name, job in settings.jobs.items():
        statements = policy_of(prog, f"{name}-task-bucket")["Statement"]
        resources = {json.dumps(s["Resource"]) for s in statements}
        assert json.dumps(f"{bucket_arn}/{job.s3_prefix}*") in resources
        listing = next(s for s in statements if s["Action"] == "s3:ListBucket")
        if job.s3_prefix:
            assert listing["Condition"] == {"StringLike": {"s3:prefix": [f"{job.s3_prefix}*"]}}
        app = containers(prog.one(TASK_DEF, name))["app"]
        assert {"name": "DATA_BUCKET", "value": bucket} in app["environment"]
        assert {"name": "INPUT_PREFIX", "value": job.input_prefix} in app["environment"]


def assert_locked_down(prog: Program, name: str, bucket_arn: str) -> None:
    block = prog.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", name).inputs
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    assert all(block[k] is True for k in flags)
    encryption = prog.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        name,
    ).inputs
    assert encryption["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    policy = prog.one("aws:s3/bucketPolicy:BucketPolicy", name).inputs["policy"]
    [deny] = json.loads(policy)["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }
    assert deny["Resource"] == [bucket_arn, f"{bucket_arn}/*"]


def test_a_pinned_image_uri_skips_the_build() -> None:
    config = {**stack_config("dev"), "scheduled-etl:image": {"uri": "registry/app:1.2.3"}}
    prog = run_program("dev", config)
    assert not prog.of_type("awsx:ecr:Image") and not prog.of_type("awsx:ecr:Repository")
    task_definitions = prog.of_type(TASK_DEF)
    assert len(task_definitions) == len(jobs_of("dev"))
    for task_definition in task_definitions:
        assert containers(task_definition)["app"]["image"] == "registry/app:1.2.3"


def test_invalid_config_stops_before_any_resource() -> None:
    config = {**stack_config("dev"), "scheduled-etl:jobs": {"monthly-orders": {"cpu": 3}}}
    mocks = RecordingMocks()
    with pytest.raises(ConfigError, match=r"scheduled-etl:jobs.monthly-orders.cpu = 3"):
        run_program("dev", config, mocks)
    assert mocks.resources == []
