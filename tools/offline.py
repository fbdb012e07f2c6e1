"""Run the real Pulumi program offline, under the SDK's mock engine, and record what it declares.

Used by the tests and by `python -m tools.render`. Nothing here talks to AWS: values AWS
would assign (ARNs, IDs, generated names) are placeholders in a fake account, 123456789012.
"""

from __future__ import annotations

import functools
import json
import runpy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.settings import ConfigError, Settings, parse_settings

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "scheduled-etl"
ACCOUNT = "123456789012"
REGION = "eu-west-1"  # what region-bearing values show when a stack file sets no aws:region


def stack_names(root: Path = ROOT) -> tuple[str, ...]:
    """Every stack with a Pulumi.<stack>.yaml in the project, sorted."""
    return tuple(sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml")
                        for p in root.glob("Pulumi.*.yaml")))  # fmt: skip


STACKS = stack_names()
_region = [REGION]  # the region of the program running under the mocks (one at a time)
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # how the engine marks a secret value


@dataclass
class Registered:
    type: str
    name: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    urn: str = ""
    parent: str = ""  # the parent's URN
    # input key -> URNs of the resources its value came from (what CrossGuard sees as
    # propertyDependencies)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)


def _arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{_region[0]}:{ACCOUNT}:{resource}"


def _task_definition(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    family = inputs["family"]
    return {
        "arn": _arn("ecs", f"task-definition/{family}:1"),
        "arnWithoutRevision": _arn("ecs", f"task-definition/{family}"),
        "revision": 1,
    }


def _vpc(private: list[str]) -> Callable[[str, dict[str, Any]], dict[str, Any]]:
    return lambda name, inputs: {
        "vpcId": f"vpc-{name}",
        "publicSubnetIds": ["subnet-pub1", "subnet-pub2"],
        "privateSubnetIds": private,
    }


def _db_cluster(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """A cluster's endpoint, and the master user secret RDS creates for it
    (ManageMasterUserPassword), encrypted with Secrets Manager's key of the account."""
    identifier = inputs.get("clusterIdentifier") or f"{name}-a1b2c3d"
    return {
        "clusterIdentifier": identifier,
        "arn": _arn("rds", f"cluster:{identifier}"),
        "endpoint": f"{identifier}.cluster-c0ffee0123ab.{_region[0]}.rds.amazonaws.com",
        "masterUserSecrets": [{
            "secretArn": _arn("secretsmanager", "secret:rds!cluster-0a1b2c3d-AbCdEf"),
            "kmsKeyId": _arn("kms", "key/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"),
            "secretStatus": "active",
        }],
    }  # fmt: skip


# Attributes the provider computes and the program reads back, by resource type.
COMPUTED: dict[str, Callable[[str, dict[str, Any]], dict[str, Any]]] = {
    "aws:ecs/cluster:Cluster": lambda n, i: {"name": n, "arn": _arn("ecs", f"cluster/{n}")},
    "aws:ecs/taskDefinition:TaskDefinition": _task_definition,
    "aws:iam/role:Role": lambda n, i: {"name": n, "arn": f"arn:aws:iam::{ACCOUNT}:role/{n}"},
    "aws:secretsmanager/secret:Secret": lambda n, i: {
        "arn": _arn("secretsmanager", f"secret:{i.get('namePrefix', n)}AbCdEf")
    },
    "aws:cloudwatch/logGroup:LogGroup": lambda n, i: {
        "arn": _arn("logs", f"log-group:{i['name']}")
    },
    "aws:scheduler/schedule:Schedule": lambda n, i: {
        "arn": _arn("scheduler", f"schedule/default/{i['name']}")
    },
    "aws:s3/bucket:Bucket": lambda n, i: {"bucket": n, "arn": f"arn:aws:s3:::{n}"},
    "aws:ec2/securityGroup:SecurityGroup": lambda n, i: {"arn": _arn("ec2", f"security-group/{n}")},
    "aws:rds/cluster:Cluster": _db_cluster,
    # Autonamed by the provider (Pulumi's autonaming: the logical name and 7 characters).
    "aws:rds/subnetGroup:SubnetGroup": lambda n, i: {"name": i.get("name") or f"{n}-a1b2c3d"},
    "aws:rds/clusterParameterGroup:ClusterParameterGroup": lambda n, i: {
        "name": i.get("name") or f"{n}-a1b2c3d"
    },
    "random:index/randomPassword:RandomPassword": lambda n, i: {"result": "p" * int(i["length"])},
    "random:index/randomId:RandomId": lambda n, i: {"hex": "f" * 2 * int(i["byteLength"])},
    "aws:sqs/queue:Queue": lambda n, i: {
        "arn": _arn("sqs", i["name"]),
        "url": f"https://sqs.{_region[0]}.amazonaws.com/{ACCOUNT}/{i['name']}",
    },
    "aws:sns/topic:Topic": lambda n, i: {"arn": _arn("sns", n), "name": n},
    "aws:cloudwatch/eventRule:EventRule": lambda n, i: {"arn": _arn("events", f"rule/{i['name']}")},
    "aws:sfn/stateMachine:StateMachine": lambda n, i: {
        "arn": _arn("states", f"stateMachine:{i['name']}")
    },
    "aws:cloudwatch/metricAlarm:MetricAlarm": lambda n, i: {
        "arn": _arn("cloudwatch", f"alarm:{i['name']}")
    },
    "awsx:ec2:DefaultVpc": _vpc([]),
    "awsx:ec2:Vpc": _vpc(["subnet-priv1", "subnet-priv2"]),
    "awsx:ecr:Repository": lambda n, i: {
        "url": f"{ACCOUNT}.dkr.ecr.{_region[0]}.amazonaws.com/{n}"
    },
    "awsx:ecr:Image": lambda n, i: {"imageUri": f"{i['repositoryUrl']}@sha256:{'0' * 64}"},
}

_EXISTING_SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:rds!cluster-9f8e7d6c-ZyXwVu"
_EXISTING_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/9f8e7d6c-5b4a-3f2e-1d0c-9b8a7f6e5d4c"

# What invokes answer (camelCase, like the provider).
INVOKES: dict[str, dict[str, Any]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": {
        "accountId": ACCOUNT,
        "arn": f"arn:aws:iam::{ACCOUNT}:user/ci",
        "userId": "AIDA",
    },
    "aws:index/getPartition:getPartition": {"partition": "aws", "dnsSuffix": "amazonaws.com"},
    "aws:index/getRegion:getRegion": {"name": REGION, "region": REGION},
    "aws:ec2/getNetworkAcls:getNetworkAcls": {"id": REGION, "ids": ["acl-default"]},
    # The tasks' VPC (its CIDR bounds their MySQL egress to an Aurora cluster).
    "aws:ec2/getVpc:getVpc": {"id": "vpc-0abc", "cidrBlock": "10.0.0.0/16"},
    # An existing Aurora cluster (aurora.existingCluster) with its RDS-managed secret.
    "aws:rds/getCluster:getCluster": {
        "id": "shared-etl",
        "clusterIdentifier": "shared-etl",
        "endpoint": f"shared-etl.cluster-c0ffee0123ab.{REGION}.rds.amazonaws.com",
        "masterUserSecrets": [
            {"secretArn": _EXISTING_SECRET, "kmsKeyId": _EXISTING_KEY, "secretStatus": "active"}
        ],
    },
}
_REGIONAL_INVOKES = ("aws:index/getRegion:getRegion", "aws:ec2/getNetworkAcls:getNetworkAcls")


@dataclass
class RecordingMocks(pulumi.runtime.Mocks):
    """Answers like AWS would (camelCase outputs, ARNs) and remembers every registration."""

    resources: list[Registered] = field(default_factory=list)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        name, typ, inputs = args.name, args.typ, dict(args.inputs)
        # Custom resources echo their inputs as state; awsx components have outputs of their own.
        echoed = {} if typ.startswith("awsx:") else inputs
        computed = COMPUTED[typ](name, inputs) if typ in COMPUTED else {}
        outputs = {**echoed, **computed}
        self.resources.append(Registered(typ, name, inputs, outputs))
        return f"{name}-id", outputs

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        answer = INVOKES[args.token]
        if args.token in _REGIONAL_INVOKES:
            answer = {k: _region[0] if v == REGION else v for k, v in answer.items()}
        return answer, []  # no check failures


class _ParentRecordingMonitor(MockMonitor):
    """The mock monitor, also remembering each resource's parent (for the resource tree)."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.parents: dict[str, str] = {}
        self.property_dependencies: dict[str, dict[str, list[str]]] = {}

    def RegisterResource(self, request: Any) -> Any:  # the gRPC method's name
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        self.parents[response.urn] = request.parent
        self.property_dependencies[response.urn] = {
            key: list(value.urns) for key, value in request.propertyDependencies.items()
        }
        return response


def secret_value(value: Any) -> Any:
    """The plaintext of a value the program marked secret; fails if it was not secret."""
    assert isinstance(value, dict) and SECRET_SIG in value, f"not a Pulumi secret: {value!r}"
    return value["value"]


def stack_config(stack: str) -> dict[str, Any]:
    """The `config:` of Pulumi.<stack>.yaml, decoded like YAML (objects stay objects)."""
    path = ROOT / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = ", ".join(STACKS) or "none"
        raise FileNotFoundError(f"no stack file {path.name} (stack files here: {known})")
    config: dict[str, Any] = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    return config


def stack_region(config: dict[str, Any]) -> str | None:
    """The stack's `aws:region`, if its config sets one."""
    region = config.get("aws:region")
    return region if isinstance(region, str) and region else None


def stack_settings(stack: str) -> Settings:
    """The stack file's settings as the program reads them (with a run's image digest)."""
    prefix = f"{PROJECT}:"
    config = with_image_digest(stack_config(stack))
    return parse_settings(
        {k.removeprefix(prefix): v for k, v in config.items() if k.startswith(prefix)}, stack
    )


# The digest a run passes as `image.digest` (CI: built for the commit, or the deployed one).
RUN_DIGEST = "sha256:" + "1" * 64


def with_image_digest(config: dict[str, Any], digest: str = RUN_DIGEST) -> dict[str, Any]:
    """`config` as a run passes it: `pulumi config set --path image.digest <digest>` when the
    image comes from a repository (CI-built), unchanged otherwise."""
    image = config.get(f"{PROJECT}:image")
    if not isinstance(image, dict) or "repository" not in image:
        return config
    return {**config, f"{PROJECT}:image": {**image, "digest": digest}}


def _as_pulumi_strings(config: dict[str, Any]) -> dict[str, str]:
    """What the Pulumi engine hands the program: every value a string, objects as JSON."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


@dataclass
class Program:
    resources: list[Registered]
    outputs: dict[str, Any]

    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.resources if r.type == typ]

    def one(self, typ: str, name: str | None = None) -> Registered:
        found = [r for r in self.of_type(typ) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {typ} {name or ''}, found {[r.name for r in found]}"
        return found[0]


def run_program(
    stack: str,
    config: dict[str, Any] | None = None,
    mocks: RecordingMocks | None = None,
    *,
    preview: bool = False,
    main: Callable[[], None] | None = None,
) -> Program:
    """Run __main__.py for `stack` (its stack file with `image.digest` set as a run sets it, or an
    explicit config) as `pulumi up` (or `pulumi preview`: preview=True) with a fresh mock
    monitor; pass `mocks` to inspect what was registered when the program raises, and `main`
    to run another program (a consumer of the public API) instead of __main__.py."""
    mocks = RecordingMocks() if mocks is None else mocks
    monitor = _ParentRecordingMonitor(mocks)
    # set_mocks keeps the root Stack resource of an earlier run in this process (and with it
    # that run's stack name and exports): drop it so each program gets its own.
    pulumi.runtime.settings.reset_options()
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview, monitor=monitor)
    config = with_image_digest(stack_config(stack)) if config is None else config
    _region[0] = stack_region(config) or REGION
    pulumi.runtime.set_all_config(_as_pulumi_strings(config))

    def program() -> None:
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")

    _sync_await(run_pulumi_func(main or program))
    by_key = {(urn.rsplit("::", 2)[1].split("$")[-1], urn.rsplit("::", 1)[1]): urn
              for urn in monitor.resources}  # fmt: skip
    for resource in mocks.resources:
        resource.urn = by_key.get((resource.type, resource.name), "")
        resource.parent = monitor.parents.get(resource.urn, "")
        resource.property_dependencies = monitor.property_dependencies.get(resource.urn, {})
    exported: dict[str, Any] = {}
    stack_resource = pulumi.runtime.settings.get_root_resource()
    for key, output in getattr(stack_resource, "outputs", {}).items():
        exported[key] = _sync_await(pulumi.Output.from_input(output).future())
    return Program(mocks.resources, exported)


def refusal(main: Callable[[], None], stack: str = "dev") -> str:
    """The ConfigError message of a program (a consumer of the public API) whose args are
    refused, after checking that it declared nothing: bad args stop before any resource."""
    mocks = RecordingMocks()
    try:
        run_program(stack, {}, mocks, main=main)
    except ConfigError as refused:
        assert mocks.resources == [], [r.name for r in mocks.resources]
        return str(refused)
    raise AssertionError("the program's args were accepted")


@functools.cache
def rendered(stack: str) -> Program:
    """run_program(stack), once per process: for callers that only read what it declares."""
    return run_program(stack)
