"""The public API (components/args.py, JobPlatform, ScheduledFargateJob) as another program
uses it: Pulumi's analyzer accepts the components, the args and the settings share their keys
and docstrings, and jobs built on existing resources create none of them while passing the
same strict AWS validation and authorization table as the committed stacks.

The last two reuse the stack tests themselves: the test functions imported below run once more
here, with this module's `program` fixture (consumer programs) instead of a stack's.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pulumi_aws as aws
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from pulumi.provider.experimental.analyzer import Analyzer
from pulumi.runtime.sync_await import _sync_await
from test_authorization import (
    decision,
    near_misses,
    test_an_alarm_or_rule_of_another_stack_or_account_may_not_publish,
    test_every_action_and_condition_key_is_one_aws_lists,
    test_every_call_is_allowed,
    test_every_resource_is_of_a_type_aws_lists_for_its_action,
    test_only_the_jobs_own_rule_may_dead_letter_into_its_queue,
    test_pass_role_to_another_service_is_denied,
    test_the_run_role_finds_a_timed_out_task_in_its_cluster_only,
    test_the_table_covers_every_call_of_the_state_machines,
)
from test_aws_validation import (
    test_every_declared_input_reaches_a_request,
    test_every_declared_type_has_a_mapping,
    test_every_request_is_valid_for_aws,
    test_every_request_keeps_the_aws_rules,
    test_the_stack_keeps_the_aws_rules_across_requests,
)

from components.args import (
    JOB_RESOURCE_KEYS,
    JobPlatformArgs,
    ScheduledFargateJobArgs,
    field_docs,
)
from components.job import ScheduledFargateJob
from components.platform import JobPlatform
from components.settings import (
    BuildSettings,
    ConfigError,
    JobSettings,
    NewVpcNetwork,
    Settings,
)
from components.specs import authorization
from components.specs.alerts import alerts_topic_policy
from components.stack import STACK_ONLY_JOB_KEYS
from tools import authorization as tool
from tools import config_docs
from tools.offline import ACCOUNT, REGION, ROOT, Program, RecordingMocks, refusal, run_program

# The stack tests this module runs again on consumer programs (see the module docstring).
REUSED = [
    test_every_declared_type_has_a_mapping,
    test_every_request_is_valid_for_aws,
    test_every_request_keeps_the_aws_rules,
    test_the_stack_keeps_the_aws_rules_across_requests,
    test_every_declared_input_reaches_a_request,
    test_every_call_is_allowed,
    test_the_run_role_finds_a_timed_out_task_in_its_cluster_only,
    test_pass_role_to_another_service_is_denied,
    test_an_alarm_or_rule_of_another_stack_or_account_may_not_publish,
    test_only_the_jobs_own_rule_may_dead_letter_into_its_queue,
    test_the_table_covers_every_call_of_the_state_machines,
    test_every_action_and_condition_key_is_one_aws_lists,
    test_every_resource_is_of_a_type_aws_lists_for_its_action,
]

# Existing resources of the consumer's account, by ARN and ID (valid forms: they are validated).
CLUSTER = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/shared"
SUBNETS = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
GROUPS = ["sg-0123456789abcdef0"]
BUCKET = "consumer-data-lake"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/etl:1.0"
TOPIC_NAME = "consumer-alerts"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:{TOPIC_NAME}"  # what the mocks give the topic
PREFIX = "lake-dev"
# The consumer programs run as stack `dev`: the mock engine keeps the first root stack resource
# a process creates (set_mocks reuses it), and the snapshots were written with dev's.
STACK = "dev"
JOBS = {"nightly": "nightly/", "hourly": "hourly/"}

# What a platform or job may create; given existing ones, the components create none of them.
SHARED_TYPES = {
    "aws:ecs/cluster:Cluster",
    "aws:ecs/clusterCapacityProviders:ClusterCapacityProviders",
    "aws:ec2/securityGroup:SecurityGroup",
    "awsx:ec2:DefaultVpc",
    "awsx:ec2:Vpc",
    "aws:s3/bucket:Bucket",
    "aws:s3/bucketPolicy:BucketPolicy",
    "aws:sns/topic:Topic",
    "aws:sns/topicPolicy:TopicPolicy",
    "awsx:ecr:Repository",
}


def owners_topic(jobs: list[str]) -> None:
    """The alerts topic as its owner declares it (here, the consumer program), with the
    statements docs/reuse.md says to attach so that the jobs' alarms and rules may publish."""
    topic = aws.sns.Topic(TOPIC_NAME)
    aws.sns.TopicPolicy(
        TOPIC_NAME,
        arn=topic.arn,
        policy=topic.arn.apply(
            lambda arn: json.dumps(alerts_topic_policy(arn, [f"{PREFIX}-{j}" for j in jobs]))
        ),
    )


def job_alone() -> None:
    """A job straight on existing resources, no JobPlatform."""
    owners_topic(["nightly"])
    ScheduledFargateJob(
        "nightly",
        ScheduledFargateJobArgs(
            name_prefix=PREFIX,
            cluster_arn=CLUSTER,
            subnet_ids=SUBNETS,
            security_group_ids=GROUPS,
            bucket_name=BUCKET,
            alerts_topic_arn=TOPIC,
            image_uri=IMAGE,
            s3_prefix="nightly/",
            schedule="cron(0 3 * * ? *)",
            timezone="Europe/Berlin",
            capacity="FARGATE_SPOT",
        ),
    )


BUILT: list[JobPlatform] = []  # the last consumer program's platform


def platform_of_existing_parts() -> None:
    """JobPlatform given every part, and two jobs on its outputs."""
    owners_topic(sorted(JOBS))
    platform = JobPlatform(
        PREFIX,
        JobPlatformArgs(
            name_prefix=PREFIX,
            job_names=sorted(JOBS),
            cluster_arn=CLUSTER,
            subnet_ids=SUBNETS,
            security_group_ids=GROUPS,
            bucket_name=BUCKET,
            alerts_topic_arn=TOPIC,
        ),
    )
    for name, prefix in JOBS.items():
        ScheduledFargateJob(
            name,
            ScheduledFargateJobArgs(
                name_prefix=PREFIX,
                cluster_arn=platform.cluster_arn,
                subnet_ids=platform.subnet_ids,
                security_group_ids=platform.security_group_ids,
                assign_public_ip=platform.assign_public_ip,
                bucket_name=platform.bucket_name,
                alerts_topic_arn=platform.alerts_topic_arn,
                image_uri=IMAGE,
                s3_prefix=prefix,
            ),
        )
    BUILT[:] = [platform]  # not exported: the mock engine's root stack outlives the program


CONSUMERS: dict[str, Callable[[], None]] = {
    "job alone": job_alone,
    "platform of existing parts": platform_of_existing_parts,
}


@pytest.fixture(scope="module", params=sorted(CONSUMERS))
def program(request: pytest.FixtureRequest) -> Program:
    return run_program(STACK, {}, main=CONSUMERS[request.param])


def test_the_reused_stack_tests_run_here() -> None:
    assert all(globals()[test.__name__] is test for test in REUSED)


def test_existing_resources_are_referenced_not_created(program: Program) -> None:
    created = [r for r in program.resources if r.type in SHARED_TYPES]
    # Only the owner's topic and its policy, which the consumer program declares itself.
    assert {(r.type, r.name) for r in created} == {
        ("aws:sns/topic:Topic", TOPIC_NAME),
        ("aws:sns/topicPolicy:TopicPolicy", TOPIC_NAME),
    }
    assert all("::pulumi:pulumi:Stack::" in r.parent for r in created)  # not a component's
    machines = program.of_type("aws:sfn/stateMachine:StateMachine")
    runs = [m for m in machines if not m.inputs["name"].endswith("-watch")]
    assert runs
    for machine in runs:
        definition = machine.inputs["definition"]
        assert CLUSTER in definition and TOPIC in definition
        assert all(id_ in definition for id_ in [*SUBNETS, *GROUPS])
    tasks = program.of_type("aws:ecs/taskDefinition:TaskDefinition")
    assert {t.inputs["family"] for t in tasks} <= {f"{PREFIX}-{job}" for job in JOBS}
    for task in tasks:
        assert all(
            c["image"] in (IMAGE, JobSettings().mysql_image)
            for c in json.loads(task.inputs["containerDefinitions"])
        )


def test_the_platform_tells_the_policy_an_existing_topic_needs() -> None:
    run_program(STACK, {}, main=platform_of_existing_parts)
    policy = _sync_await(BUILT[0].alerts_topic_policy.future())
    expected = alerts_topic_policy(TOPIC, [f"{PREFIX}-{job}" for job in sorted(JOBS)], PREFIX)
    assert json.loads(policy) == expected


def test_a_platform_creates_what_it_is_not_given() -> None:
    def consumer() -> None:
        JobPlatform("mine", JobPlatformArgs(name_prefix="mine", subnet_ids=SUBNETS,
                                            vpc_id="vpc-0123456789abcdef0"))  # fmt: skip

    program = run_program(STACK, {}, main=consumer)
    created = {r.type for r in program.resources}
    assert {"aws:ecs/cluster:Cluster", "aws:ec2/securityGroup:SecurityGroup",
            "aws:s3/bucket:Bucket", "aws:sns/topic:Topic"} <= created  # fmt: skip
    [policy] = program.of_type("aws:sns/topicPolicy:TopicPolicy")
    # No job names given: the topic admits the prefix's alarms and rules.
    assert "alarm:mine-*" in policy.inputs["policy"]


def test_invalid_args_are_reported_in_one_pass_before_anything_exists() -> None:
    def consumer() -> None:
        ScheduledFargateJob(
            "bad",
            ScheduledFargateJobArgs(
                name_prefix=PREFIX, cluster_arn=CLUSTER, subnet_ids=SUBNETS,
                security_group_ids=GROUPS, bucket_name=BUCKET, alerts_topic_arn=TOPIC,
                image_uri=IMAGE, cpu=1024, memory=100, timezone="Europe/Berln",
                ephemeral_storage_gib=5,
            ),
        )  # fmt: skip

    with pytest.raises(ConfigError) as raised:
        run_program(STACK, {}, main=consumer)
    message = str(raised.value)
    assert "invalid args of job bad" in message
    assert f"{PREFIX}-bad: args.timezone" in message and "Europe/Berlin" in message
    assert f"{PREFIX}-bad: args.memory = 100" in message
    assert f"{PREFIX}-bad: args.ephemeral_storage_gib = 5" in message  # as the args spell it


def test_a_long_prefix_is_refused_with_the_names_it_breaks() -> None:
    def consumer() -> None:
        ScheduledFargateJob(
            "nightly",
            ScheduledFargateJobArgs(
                name_prefix="x" * 60, cluster_arn=CLUSTER, subnet_ids=SUBNETS,
                security_group_ids=GROUPS, bucket_name=BUCKET, alerts_topic_arn=TOPIC,
                image_uri=IMAGE,
            ),
        )  # fmt: skip

    with pytest.raises(ConfigError, match="shorten the name prefix or the job name"):
        run_program(STACK, {}, main=consumer)


def test_pulumis_analyzer_accepts_the_components() -> None:
    """What the component provider (and its schema) are built from."""
    result = Analyzer("scheduled-etl").analyze([JobPlatform, ScheduledFargateJob])
    components = result["component_definitions"]
    assert set(components) == {"JobPlatform", "ScheduledFargateJob"}
    job = components["ScheduledFargateJob"]
    required = {name for name, prop in job.inputs.items() if not prop.optional}
    assert required == {"namePrefix", "clusterArn", "subnetIds", "securityGroupIds",
                        "bucketName", "alertsTopicArn", "imageUri", "s3Prefix"}  # fmt: skip
    assert all(prop.description for prop in job.inputs.values())
    assert "taskDefinitionArn" in job.outputs and "runTaskCommand" in job.outputs
    assert result["dependencies"] == set()  # existing resources are strings, not aws types


def test_the_args_job_keys_are_the_stack_files_job_keys() -> None:
    """components/stack.py passes a stack's job keys as they are: the two lists are one."""
    job_keys = set(ScheduledFargateJobArgs.__annotations__) - JOB_RESOURCE_KEYS
    assert job_keys == set(JobSettings.model_fields) - STACK_ONLY_JOB_KEYS


@pytest.mark.parametrize(
    ("model", "args"),
    [
        (JobSettings, ScheduledFargateJobArgs),
        (Settings, JobPlatformArgs),
        (NewVpcNetwork, JobPlatformArgs.__annotations__["new_vpc"]),
        (BuildSettings, JobPlatformArgs.__annotations__["image_build"]),
    ],
)
def test_a_key_the_args_share_has_their_docstring(model: type, args: object) -> None:
    """One text per key: docs/configuration.md's (from the settings) is the schema's."""
    source = getattr(args, "__args__", (args,))[0]  # NotRequired[X] -> X
    docs = field_docs(source)
    shared = [name for name in model.model_fields if name in docs]
    assert shared
    for name in shared:
        if name in STACK_ONLY_JOB_KEYS and model is JobSettings:
            continue  # the job's imageUri overrides the stack's image: its own docstring
        assert model.model_fields[name].description == docs[name], name


def test_the_reuse_page_is_generated_from_the_args() -> None:
    page = config_docs.ARGS_PAGE.read_text()
    assert config_docs.render(page, config_docs.ARGS_PAGE) == page, "make config-docs"


def test_invalid_platform_args_are_reported_in_one_pass_before_anything_exists() -> None:
    def consumer() -> None:
        JobPlatform(
            "mine",
            JobPlatformArgs(
                name_prefix="mine", container_insights="on", log_retention_days=8,
                new_vpc={"availability_zones": 9, "nat_gateways": "Many"},
                image_build={"architecture": "SPARC"},
            ),
        )  # fmt: skip

    message = refusal(consumer, STACK)
    assert message.startswith("invalid args of platform mine (nothing was created):")
    for line in ('args.container_insights = "on"', "args.log_retention_days = 8",
                 "args.new_vpc.availability_zones = 9", 'args.new_vpc.nat_gateways = "Many"',
                 'args.image_build.architecture = "SPARC"'):  # fmt: skip
        assert f"  - mine: {line}: " in message, line


def test_a_long_platform_name_is_refused_with_the_names_it_breaks() -> None:
    def consumer() -> None:
        given = JobPlatformArgs(name_prefix="p", cluster_arn=CLUSTER, subnet_ids=SUBNETS,
                                security_group_ids=GROUPS, alerts_topic_arn=TOPIC)  # fmt: skip
        JobPlatform("x" * 70, given)

    with pytest.raises(ConfigError) as raised:
        run_program(STACK, {}, main=consumer)
    # What it creates (the bucket and its log bucket), not what it was given.
    assert str(raised.value).count("use a shorter name") == 2
    assert "S3 bucket name" in str(raised.value) and "cluster" not in str(raised.value)


def _top_level_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def _imported_modules(path: Path) -> set[str]:
    return {node.module for node in ast.walk(ast.parse(path.read_text(), str(path)))
            if isinstance(node, ast.ImportFrom) and node.module and not node.level}  # fmt: skip


def test_the_package_holds_what_the_components_import() -> None:
    """pyproject.toml lists its packages (a flat layout): every package under components/ is
    listed, and every distribution the components and etl/contract.py import is a
    dependency (pulumi-awsx an extra), so that `pip install <repository>` runs them."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = set(project["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for p in (ROOT / "components").rglob("__init__.py")}  # fmt: skip
    assert found == packages
    # Of the job runtime, the modules the components import (etl/contract.py) and no more: its
    # other modules need what only the runtime package installs (boto3, PyMySQL, …).
    sources = [*(ROOT / "components").rglob("*.py")]
    from_etl = {m for path in sources for m in _imported_modules(path) if m.startswith("etl.")}
    assert set(project["tool"]["setuptools"]["py-modules"]) == from_etl == {"etl.contract"}
    declared = {
        canonicalize_name(Requirement(r).name)
        for r in [*project["project"]["dependencies"],
                  *(r for extra in project["project"]["optional-dependencies"].values()
                    for r in extra)]
    }  # fmt: skip
    sources = [*(ROOT / "components").rglob("*.py"), ROOT / "etl" / "contract.py"]
    modules = set().union(*map(_top_level_imports, sources)) - set(sys.stdlib_module_names)
    distributions = importlib.metadata.packages_distributions()
    imported = {canonicalize_name(distributions[m][0])
                for m in modules - {"components", "etl"}}  # fmt: skip
    assert imported <= declared, imported - declared
    assert "pulumi-awsx" not in {
        canonicalize_name(Requirement(r).name) for r in project["project"]["dependencies"]
    }


def test_existing_resources_given_as_plain_values_are_checked_in_the_same_pass() -> None:
    """The job's IAM policies and requests are built from these strings: a cluster's name
    where its ARN belongs (the run role's ecs:cluster condition), a bucket's ARN where its name
    belongs (the task role's keys), a topic's name, malformed IDs or a retention CloudWatch
    refuses would deploy a job that cannot run. Each is named with the job keys' problems;
    an output is its resource's to be right."""

    def consumer() -> None:
        ScheduledFargateJob(
            "bad",
            ScheduledFargateJobArgs(
                name_prefix="lake data", cluster_arn="shared", subnet_ids=["subnet-1", *SUBNETS],
                security_group_ids=[*GROUPS, *GROUPS], bucket_name=f"arn:aws:s3:::{BUCKET}",
                alerts_topic_arn=TOPIC_NAME, image_uri="etl:latest", log_retention_days=2,
                memory=100,
            ),
        )  # fmt: skip

    message = refusal(consumer, STACK)
    assert message.startswith("invalid args of job bad (nothing was created):")
    for line in ('args.name_prefix = "lake data"', 'args.cluster_arn = "shared"',
                 'args.subnet_ids.0 = "subnet-1"', "args.security_group_ids = [",
                 f'args.bucket_name = "arn:aws:s3:::{BUCKET}"',
                 f'args.alerts_topic_arn = "{TOPIC_NAME}"', 'args.image_uri = "etl:latest"',
                 "args.log_retention_days = 2", "args.memory = 100"):  # fmt: skip
        assert f"  - lake data-bad: {line}" in message, line
    # The prefix's own problem, not one per name it would break.
    assert "shorten the name prefix" not in message


def job_on_outputs() -> None:
    """A job on the consumer's own cluster and topic, passed as their resources' outputs."""
    cluster = aws.ecs.Cluster("own")
    topic = aws.sns.Topic("own-alerts")
    aws.sns.TopicPolicy("own-alerts", arn=topic.arn, policy=topic.arn.apply(
        lambda arn: json.dumps(alerts_topic_policy(arn, [f"{PREFIX}-nightly"]))))  # fmt: skip
    ScheduledFargateJob("nightly", ScheduledFargateJobArgs(
        name_prefix=PREFIX, cluster_arn=cluster.arn, subnet_ids=SUBNETS,
        security_group_ids=GROUPS, bucket_name=BUCKET, alerts_topic_arn=topic.arn,
        image_uri=IMAGE, s3_prefix="nightly/"))  # fmt: skip


@pytest.mark.parametrize("test", REUSED, ids=lambda test: test.__name__)
def test_a_job_on_outputs_passes_the_stack_tests(test: Callable[[Program], None]) -> None:
    """Required args given as outputs (a cluster ARN from the consumer's own aws.ecs.Cluster):
    the same strict AWS validation and authorization as the stacks."""
    program = run_program(STACK, {}, main=job_on_outputs)
    [cluster] = program.of_type("aws:ecs/cluster:Cluster")
    [task] = program.of_type("aws:ecs/taskDefinition:TaskDefinition")
    assert task.parent.endswith("::nightly") and "pulumi:pulumi:Stack::" in cluster.parent
    test(program)


def test_existing_resources_given_as_outputs_are_not_checked_until_known() -> None:
    """A cluster ARN and subnets from the consumer's own resources are outputs: accepted."""

    def consumer() -> None:
        cluster = aws.ecs.Cluster("own")
        ScheduledFargateJob(
            "nightly",
            ScheduledFargateJobArgs(
                name_prefix=PREFIX, cluster_arn=cluster.arn, subnet_ids=SUBNETS,
                security_group_ids=[cluster.id.apply(lambda _: GROUPS[0])],
                bucket_name=BUCKET, alerts_topic_arn=TOPIC, image_uri=IMAGE, s3_prefix="n/",
            ),
        )  # fmt: skip

    program = run_program(STACK, {}, main=consumer)
    assert program.of_type("aws:ecs/taskDefinition:TaskDefinition")


def test_a_platforms_existing_resources_are_checked_in_the_same_pass() -> None:
    def consumer() -> None:
        JobPlatform(
            "mine",
            JobPlatformArgs(
                name_prefix="mine", job_names=["Nightly"], vpc_id="vpc-1", subnet_ids=[],
                security_group_ids=["sg-1"], cluster_arn="shared",
                alerts_topic_arn=TOPIC_NAME, log_retention_days=8,
            ),
        )  # fmt: skip

    message = refusal(consumer, STACK)
    assert message.startswith("invalid args of platform mine (nothing was created):")
    for line in ('args.job_names.0 = "Nightly"', 'args.vpc_id = "vpc-1"',
                 "args.subnet_ids = []", 'args.security_group_ids.0 = "sg-1"',
                 'args.cluster_arn = "shared"', f'args.alerts_topic_arn = "{TOPIC_NAME}"',
                 "args.log_retention_days = 8"):  # fmt: skip
        assert f"  - mine: {line}" in message, line


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        (
            {"vpc_id": "vpc-0123456789abcdef0"},
            'args.vpc_id = "vpc-0123456789abcdef0": give subnet_ids',
        ),
        ({"subnet_ids": SUBNETS}, "args.subnet_ids: give vpc_id"),
        (
            {
                "vpc_id": "vpc-0123456789abcdef0",
                "subnet_ids": SUBNETS,
                "new_vpc": {"cidr_block": "10.1.0.0/16"},
            },
            "args.new_vpc: give new_vpc or",
        ),
    ],
)
def test_a_platforms_network_is_one_choice(given: dict[str, object], problem: str) -> None:
    """A VPC without its subnets was replaced by the default VPC (tasks with a public IP in
    another network), and by a new VPC when both were given; refused before anything exists."""

    def consumer() -> None:
        JobPlatform("mine", JobPlatformArgs(name_prefix="mine", **given))  # type: ignore[typeddict-item]

    assert f"  - mine: {problem}" in refusal(consumer, STACK)


def test_a_jobs_near_misses_on_existing_resources_are_denied(program: Program) -> None:
    """As for the stacks (test_authorization): with the consumer's cluster, bucket and topic,
    each call of a job changed to another cluster, family, bucket, prefix (every job here has
    one), run machine, schedule target or pair of roles is denied."""
    jobs = tool.job_facts(program)
    assert {job.cluster_arn for job in jobs} == {CLUSTER}
    assert {job.bucket for job in jobs} == {BUCKET}
    for job in jobs:
        real = authorization.calls(job)
        for miss, facts in near_misses(job, whole_bucket=False).items():
            changed = [c for c, r in zip(authorization.calls(facts), real, strict=True)
                       if c != r and c.principal == r.principal]  # fmt: skip
            assert changed, miss
            allowed = [(c.who, c.action, c.resource) for c in changed
                       if decision(program, job, c) == "Allow"]  # fmt: skip
            assert allowed == [], miss


def test_two_prefixes_with_a_job_of_the_same_name_do_not_collide() -> None:
    """Pulumi needs each resource's URN unique: the jobs take their resource names (`a-nightly`,
    `b-nightly`) and their names under each prefix (`job_name`), so every full name and URN
    differs."""

    def consumer() -> None:
        for prefix in ("lake-a", "lake-b"):
            platform = JobPlatform(prefix, JobPlatformArgs(
                name_prefix=prefix, job_names=["nightly"], cluster_arn=CLUSTER,
                subnet_ids=SUBNETS, security_group_ids=GROUPS))  # fmt: skip
            ScheduledFargateJob(f"{prefix}-nightly", ScheduledFargateJobArgs(
                name_prefix=prefix, job_name="nightly", cluster_arn=platform.cluster_arn,
                subnet_ids=SUBNETS, security_group_ids=GROUPS, bucket_name=platform.bucket_name,
                alerts_topic_arn=platform.alerts_topic_arn, image_uri=IMAGE,
                s3_prefix=f"{prefix}/"))  # fmt: skip

    program = run_program(STACK, {}, main=consumer)
    urns = [r.urn for r in program.resources]
    assert all(urns) and len(set(urns)) == len(urns)
    families = {
        t.inputs["family"] for t in program.of_type("aws:ecs/taskDefinition:TaskDefinition")
    }
    assert families == {"lake-a-nightly", "lake-b-nightly"}
    schedules = program.of_type("aws:scheduler/schedule:Schedule")
    assert {s.inputs["name"] for s in schedules} == {
        "lake-a-nightly",
        "lake-a-nightly-watch",
        "lake-b-nightly",
        "lake-b-nightly-watch",
    }
    assert all("of the nightly ETL job" in s.inputs["description"] for s in schedules)
    policies = [p.inputs["policy"] for p in program.of_type("aws:sns/topicPolicy:TopicPolicy")]
    assert sorted("alarm:lake-a-nightly-*" in p for p in policies) == [False, True]


def test_a_long_resource_name_is_refused_with_the_role_names_it_breaks() -> None:
    """The job's roles and role policies are auto-named after its resource name, not its
    job_name: a resource name too long for IAM is refused before anything exists."""

    def consumer() -> None:
        ScheduledFargateJob("x" * 50, ScheduledFargateJobArgs(
            name_prefix=PREFIX, job_name="nightly", cluster_arn=CLUSTER, subnet_ids=SUBNETS,
            security_group_ids=GROUPS, bucket_name=BUCKET, alerts_topic_arn=TOPIC,
            image_uri=IMAGE))  # fmt: skip

    mocks = RecordingMocks()
    with pytest.raises(ConfigError, match="IAM role name") as raised:
        run_program(STACK, {}, mocks, main=consumer)
    assert "x" * 50 in str(raised.value)
    assert mocks.resources == []


def test_two_prefixes_statements_for_one_existing_topic_merge_into_one_policy() -> None:
    """SNS refuses a topic policy whose statements share a Sid: the statements each platform
    exports for an existing topic are named after its prefix, so its owner can add both."""
    built: list[JobPlatform] = []

    def consumer() -> None:
        for prefix in ("lake-a", "lake-b"):
            built.append(JobPlatform(prefix, JobPlatformArgs(
                name_prefix=prefix, cluster_arn=CLUSTER, subnet_ids=SUBNETS,
                security_group_ids=GROUPS, alerts_topic_arn=TOPIC)))  # fmt: skip

    run_program(STACK, {}, main=consumer)
    policies = [json.loads(_sync_await(p.alerts_topic_policy.future())) for p in built]
    statements = [s for policy in policies for s in policy["Statement"]]
    sids = [s["Sid"] for s in statements]
    assert len(sids) == 4 and len(set(sids)) == 4, sids
    assert all(re.fullmatch("[A-Za-z0-9]+", sid) for sid in sids)
