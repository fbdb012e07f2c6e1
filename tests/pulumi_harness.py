"""Run the real Pulumi program under the SDK's mock engine and record what it registers."""

from __future__ import annotations

import json
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "scheduled-etl"
ACCOUNT = "123456789012"
REGION = "eu-west-1"


@dataclass
class Registered:
    type: str
    name: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]


@dataclass
class RecordingMocks(pulumi.runtime.Mocks):
    """Answers like AWS would (camelCase outputs, ARNs) and remembers every registration."""

    resources: list[Registered] = field(default_factory=list)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        name, typ, inputs = args.name, args.typ, dict(args.inputs)
        # Custom resources echo their inputs as state; awsx components have outputs of their own.
        echoed = {} if typ.startswith("awsx:") else inputs
        outputs = {**echoed, **_computed(typ, name, inputs)}
        self.resources.append(Registered(typ, name, inputs, outputs))
        return f"{name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        answers: dict[str, dict[str, Any]] = {
            "aws:index/getCallerIdentity:getCallerIdentity": {
                "accountId": ACCOUNT,
                "arn": f"arn:aws:iam::{ACCOUNT}:user/ci",
                "userId": "AIDA",
            },
            "aws:index/getPartition:getPartition": {
                "partition": "aws",
                "dnsSuffix": "amazonaws.com",
            },
            "aws:index/getRegion:getRegion": {"name": REGION, "region": REGION},
        }
        return answers[args.token]


SECRET_SIG = "4dabf18193072939515e22adb298388d"  # how the engine marks a secret value


def secret_value(value: Any) -> Any:
    """The plaintext of a value the program marked secret; fails if it was not secret."""
    assert isinstance(value, dict) and SECRET_SIG in value, f"not a Pulumi secret: {value!r}"
    return value["value"]


def _arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}"


def _computed(typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Provider-computed attributes the program reads back."""
    if typ == "aws:ecs/cluster:Cluster":
        return {"name": name, "arn": _arn("ecs", f"cluster/{name}")}
    if typ == "aws:ecs/taskDefinition:TaskDefinition":
        family = inputs["family"]
        return {
            "arn": _arn("ecs", f"task-definition/{family}:1"),
            "arnWithoutRevision": _arn("ecs", f"task-definition/{family}"),
            "revision": 1,
        }
    if typ == "aws:iam/role:Role":
        return {"name": name, "arn": f"arn:aws:iam::{ACCOUNT}:role/{name}"}
    if typ == "aws:secretsmanager/secret:Secret":
        return {"arn": _arn("secretsmanager", f"secret:{inputs.get('namePrefix', name)}AbCdEf")}
    if typ == "aws:cloudwatch/logGroup:LogGroup":
        return {"arn": _arn("logs", f"log-group:{inputs['name']}")}
    if typ == "aws:scheduler/schedule:Schedule":
        return {"arn": _arn("scheduler", f"schedule/default/{inputs['name']}")}
    if typ == "aws:s3/bucket:Bucket":
        return {"bucket": name, "arn": f"arn:aws:s3:::{name}"}
    if typ == "aws:ec2/securityGroup:SecurityGroup":
        return {"arn": _arn("ec2", f"security-group/sg-{name}")}
    if typ == "random:index/randomPassword:RandomPassword":
        return {"result": "p" * int(inputs["length"])}
    if typ == "awsx:ec2:DefaultVpc":
        return {
            "vpcId": "vpc-default",
            "publicSubnetIds": ["subnet-pub1", "subnet-pub2"],
            "privateSubnetIds": [],
        }
    if typ == "awsx:ec2:Vpc":
        return {
            "vpcId": "vpc-new",
            "publicSubnetIds": ["subnet-pub1", "subnet-pub2"],
            "privateSubnetIds": ["subnet-priv1", "subnet-priv2"],
        }
    if typ == "awsx:ecr:Repository":
        return {"url": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{name}"}
    if typ == "awsx:ecr:Image":
        return {"imageUri": f"{inputs['repositoryUrl']}@sha256:{'0' * 64}"}
    return {}


def stack_config(stack: str) -> dict[str, Any]:
    """The `config:` of Pulumi.<stack>.yaml, decoded like YAML (objects stay objects)."""
    return yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]


def _as_pulumi_strings(config: dict[str, Any]) -> dict[str, str]:
    """What the Pulumi engine hands the program: every value a string, objects as JSON."""

    def encode(value: Any) -> str:
        if isinstance(value, str):
            return value
        return json.dumps(value)

    return {key: encode(value) for key, value in config.items()}


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
    stack: str, config: dict[str, Any] | None = None, mocks: RecordingMocks | None = None
) -> Program:
    """Run __main__.py for `stack` (or an explicit config) with preview=False and a fresh
    mock monitor; pass `mocks` to inspect what was registered when the program raises."""
    mocks = RecordingMocks() if mocks is None else mocks
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False)
    pulumi.runtime.set_all_config(
        _as_pulumi_strings(stack_config(stack) if config is None else config)
    )
    exported: dict[str, Any] = {}

    def program() -> None:
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")

    _sync_await(run_pulumi_func(program))
    stack_resource = pulumi.runtime.settings.get_root_resource()
    if stack_resource is not None:
        for key, output in getattr(stack_resource, "outputs", {}).items():
            exported[key] = _sync_await(pulumi.Output.from_input(output).future())
    return Program(mocks.resources, exported)
