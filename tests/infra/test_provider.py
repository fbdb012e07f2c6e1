"""The package as a Pulumi component provider (provider/, docs/other-languages.md), offline.

What `pulumi package add` reads is the schema the plugin serves over gRPC; here the plugin is
started as the CLI starts it (provider/__main__.py with an engine address), asked for its
schema and version, and the schema is compared with the committed copy (provider/schema.json,
`python -m tools.schema --write`). What a consumer's program sends arrives through the SDK's
ComponentProvider.construct, which is run here under Pulumi's mocks with the values YAML or
TypeScript would send (camelCase keys, numbers as floats)."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
import tomllib
import typing
from collections.abc import Iterator
from typing import Any

import grpc
import pulumi
import pytest
from google.protobuf import empty_pb2
from pulumi.provider.experimental.util import camel_case
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from tools import schema as schema_tool
from tools.offline import ROOT, RecordingMocks

COMMITTED = json.loads(schema_tool.SCHEMA.read_text())
HOST = schema_tool.hosted()
TOKEN = {c.__name__: f"{HOST['NAME']}:index:{c.__name__}" for c in HOST["COMPONENTS"]}


def args_type(component: type) -> Any:
    """The TypedDict a component's `args` parameter is annotated with (what the analyzer reads)."""
    return typing.get_type_hints(component.__init__)["args"]


def test_the_committed_schema_is_the_generated_one() -> None:
    assert schema_tool.render(schema_tool.generate()) == schema_tool.SCHEMA.read_text(), (
        "provider/schema.json is stale: run `python -m tools.schema --write` and review the diff"
    )
    assert schema_tool.main(["--check"]) == 0


def test_the_version_is_the_packages() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert COMMITTED["version"] == HOST["VERSION"] == pyproject["project"]["version"]
    assert COMMITTED["name"] == HOST["NAME"]


def test_each_component_is_in_the_schema_with_its_args_documented() -> None:
    """Every hosted component, its required inputs those its args require, every input,
    output and type property described (the docstrings), no other provider's types."""
    assert set(COMMITTED["resources"]) == set(TOKEN.values())
    assert COMMITTED["dependencies"] == []
    for component in HOST["COMPONENTS"]:
        resource = COMMITTED["resources"][TOKEN[component.__name__]]
        args = args_type(component)
        assert resource["isComponent"] is True
        assert resource["description"], f"{component.__name__} has no docstring"
        assert set(resource["inputProperties"]) == {camel_case(k) for k in args.__annotations__}
        assert set(resource.get("requiredInputs", [])) == {
            camel_case(k) for k in args.__required_keys__
        }
        for name, prop in [*resource["inputProperties"].items(), *resource["properties"].items()]:
            assert prop.get("description"), f"{component.__name__}.{name} has no docstring"
    for token, typ in COMMITTED.get("types", {}).items():
        assert typ["description"], f"{token} has no docstring"
        for name, prop in typ["properties"].items():
            assert prop.get("description"), f"{token}.{name} has no docstring"


@pytest.fixture(scope="module")
def plugin() -> Iterator[provider_pb2_grpc.ResourceProviderStub]:
    """provider/__main__.py as the language host runs it: it prints its gRPC port."""
    process = subprocess.Popen(
        [sys.executable, str(schema_tool.PROVIDER), "127.0.0.1:1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=schema_tool.PROVIDER,
    )
    try:
        assert process.stdout is not None
        port = process.stdout.readline().strip()
        assert port.isdigit(), f"the plugin printed {port!r}, not its port"
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield provider_pb2_grpc.ResourceProviderStub(channel)
    finally:
        process.terminate()
        process.communicate(timeout=10)  # and close its pipes


def test_the_plugin_serves_the_committed_schema(
    plugin: provider_pb2_grpc.ResourceProviderStub,
) -> None:
    served = plugin.GetSchema(provider_pb2.GetSchemaRequest(version=0), timeout=30)
    assert json.loads(served.schema) == COMMITTED
    assert plugin.GetPluginInfo(empty_pb2.Empty(), timeout=30).version == HOST["VERSION"]


def construct(component: str, inputs: dict[str, Any]) -> tuple[RecordingMocks, dict[str, Any]]:
    """ComponentProvider.construct, as the plugin runs it for a consumer's program, under the
    mock engine: what the component registered, and the outputs it returns to the consumer
    (with `urn`, the URN construct answers the engine with)."""
    mocks = RecordingMocks()
    pulumi.runtime.settings.ROOT.set(None)  # a stack of its own (see tools.offline)
    pulumi.runtime.set_mocks(mocks, project="consumer", stack="dev", preview=False)
    provider = schema_tool.provider()
    state: dict[str, Any] = {}

    def program() -> None:
        result = provider.construct("nightly", TOKEN[component], inputs, None)
        state.update(result.state, urn=result.urn)

    _sync_await(run_pulumi_func(program))
    state["urn"] = _sync_await(pulumi.Output.from_input(state["urn"]).future())
    return mocks, state


def wire(inputs: dict[str, Any]) -> dict[str, Any]:
    """Integers as a consumer's SDK sends them over gRPC: floats."""
    return {k: float(v) if isinstance(v, int) and not isinstance(v, bool) else v
            for k, v in inputs.items()}  # fmt: skip


JOB_INPUTS = {
    "namePrefix": "analytics",
    "clusterArn": "arn:aws:ecs:eu-west-1:123456789012:cluster/data",
    "subnetIds": ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"],
    "securityGroupIds": ["sg-0a1b2c3d4e5f60001"],
    "bucketName": "analytics-lake",
    "alertsTopicArn": "arn:aws:sns:eu-west-1:123456789012:data-alerts",
    "imageUri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/my-etl-jobs:nightly-sessions-1",
    "s3Prefix": "nightly-sessions/",
    "schedule": "cron(30 4 * * ? *)",
    "cpu": 512,
    "memory": 1024,
}


def test_a_job_constructed_through_the_provider_uses_what_it_is_given() -> None:
    """The analyzer's mapping (camelCase to the args' keys, floats to ints) reaches the
    component; it creates the job's own resources on the given cluster, bucket and topic."""
    mocks, state = construct("ScheduledFargateJob", wire(JOB_INPUTS))
    outputs = COMMITTED["resources"][TOKEN["ScheduledFargateJob"]]
    assert set(outputs.get("required", [])) <= set(state), "every required output is returned"
    kinds = {r.type for r in mocks.resources}
    assert "aws:ecs/taskDefinition:TaskDefinition" in kinds
    for created in ("aws:ecs/cluster:Cluster", "aws:s3/bucket:Bucket", "aws:sns/topic:Topic",
                    "aws:s3/bucketV2:BucketV2", "aws:ec2/securityGroup:SecurityGroup"):  # fmt: skip
        assert created not in kinds, f"{created} was given, not to be created"
    [task] = [r for r in mocks.resources if r.type == "aws:ecs/taskDefinition:TaskDefinition"]
    assert (task.inputs["cpu"], task.inputs["memory"]) == ("512", "1024")
    assert task.inputs["family"].startswith("analytics-nightly")
    containers = task.inputs["containerDefinitions"]
    containers = json.loads(containers) if isinstance(containers, str) else containers
    [app] = [c for c in containers if c["image"] == JOB_INPUTS["imageUri"]]
    assert app


def test_a_required_input_left_out_is_named() -> None:
    missing = {k: v for k, v in JOB_INPUTS.items() if k != "clusterArn"}
    with pytest.raises(Exception, match="Missing required input 'clusterArn'"):
        construct("ScheduledFargateJob", wire(missing))


def test_the_args_are_typed_dicts() -> None:
    """The provider hands a component its args as a dict: a dataclass would fail there."""
    for component in HOST["COMPONENTS"]:
        args = args_type(component)
        assert typing.is_typeddict(args), f"{component.__name__}: {args} is not a TypedDict"
        assert inspect.getdoc(args)


def test_the_release_the_docs_pin_is_the_packages() -> None:
    """`pulumi package add …@v<version>`, `pip install git+…@v<version>`, the runtime image's
    tag: the pages that tell a consumer what to pin name the current release."""
    version = HOST["VERSION"]
    examples = ROOT / "examples"
    pages = [ROOT / "docs" / "other-languages.md", ROOT / "docs" / "own-image.md",
             *examples.rglob("README.md"), *examples.rglob("*.txt")]  # fmt: skip
    pinned = {(page.name, found) for page in pages
              for found in re.findall(r"[@#:]v(\d+\.\d+\.\d+)", page.read_text())}  # fmt: skip
    assert pinned, "the pages pin a release"
    assert {found for _, found in pinned} == {version}, sorted(pinned)


def test_a_platform_with_a_nested_type_constructed_through_the_provider() -> None:
    """`newVpc` (a NewVpcArgs type in the schema) arrives as the dict its TypedDict describes,
    with its Python keys; what the platform is not given, it creates."""
    new_vpc = {"cidrBlock": "10.20.0.0/16", "availabilityZones": 3.0, "natGateways": "OnePerAz"}
    mocks, state = construct("JobPlatform", {"namePrefix": "analytics", "newVpc": new_vpc})
    [vpc] = [r for r in mocks.resources if r.type == "awsx:ec2:Vpc"]
    assert vpc.inputs["cidrBlock"] == "10.20.0.0/16"
    assert vpc.inputs["numberOfAvailabilityZones"] == 3
    assert vpc.inputs["natGateways"] == {"strategy": "OnePerAz"}
    kinds = {r.type for r in mocks.resources}
    assert {"aws:ecs/cluster:Cluster", "aws:s3/bucket:Bucket", "aws:sns/topic:Topic"} <= kinds
    outputs = COMMITTED["resources"][TOKEN["JobPlatform"]]
    assert set(outputs.get("required", [])) <= set(state)


@pytest.mark.parametrize("component", sorted(TOKEN))
def test_a_constructed_component_registers_the_schemas_type(component: str) -> None:
    """The consumer's SDK registers `scheduled-etl:index:<Component>` and the engine keeps the
    URN construct returns: the component must register that same type, or the state, policy
    packs and resource references name a type the schema does not have. The root program's
    components keep their own (`scheduled-etl:etl:…`, the URNs of 0.1.0)."""
    inputs = wire(JOB_INPUTS) if component == "ScheduledFargateJob" else {"namePrefix": "a",
        "clusterArn": JOB_INPUTS["clusterArn"], "subnetIds": JOB_INPUTS["subnetIds"],
        "securityGroupIds": JOB_INPUTS["securityGroupIds"], "bucketName": "analytics-lake",
        "alertsTopicArn": JOB_INPUTS["alertsTopicArn"]}  # fmt: skip
    hosted = next(c for c in HOST["COMPONENTS"] if c.__name__ == component)
    mocks, state = construct(component, inputs)
    types = (TOKEN[component], hosted.TYPE)
    [registered] = [r for r in mocks.resources if r.name == "nightly" and r.type in types]
    assert registered.type == TOKEN[component]
    assert state["urn"].rsplit("::", 2)[1].split("$")[-1] == TOKEN[component]
    assert hosted.TYPE.startswith(f"{HOST['NAME']}:etl:"), "the root program's type is kept"
