"""The component provider: ScheduledFargateJob and JobPlatform for TypeScript, Go, YAML, ….

Pulumi runs this file (PulumiPlugin.yaml) from its clone of the whole repository, so the
components are imported from the checkout beside it. The schema it serves is inferred from the
args' type annotations and docstrings (pulumi.provider.experimental's analyzer); its committed
copy, schema.json, is regenerated with `python -m tools.schema --write`.
"""

import sys
import tomllib
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))  # components/ and etl/ of this checkout

from typing import Any  # noqa: E402

import pulumi  # noqa: E402
import pulumi.provider  # noqa: E402
from pulumi.provider.experimental.component import ComponentProvider  # noqa: E402

from components.job import ScheduledFargateJob  # noqa: E402
from components.platform import JobPlatform  # noqa: E402

# The package name: types are `scheduled-etl:index:<Component>` (YAML: `scheduled-etl:<Component>`).
NAME = "scheduled-etl"
COMPONENTS: list[type[JobPlatform | ScheduledFargateJob]] = [JobPlatform, ScheduledFargateJob]
# The version consumers pin is the package's own (pyproject.toml), tagged `v<version>`.
VERSION: str = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"]["version"]


def provider() -> ComponentProvider:
    """component_provider_host's provider (the schema inferred from the components), except
    that what it constructs registers the schema's type, `<NAME>:index:<Component>`: the type
    the consumer's SDK registers, whose URN the engine keeps from construct. The root program's
    components keep their own type (TYPE, `scheduled-etl:etl:…`, the stacks' URNs)."""
    hosted = ComponentProvider(list(COMPONENTS), NAME, None, VERSION)
    for component in COMPONENTS:
        token = f"{NAME}:index:{component.__name__}"
        hosted._components[component.__name__] = _registering_as(component, token)
    return hosted


def _registering_as(component: type[JobPlatform | ScheduledFargateJob], token: str) -> Any:
    def construct(name: str, args: Any, opts: pulumi.ResourceOptions | None) -> Any:
        instance = component.__new__(component)
        instance.TYPE = token  # the instance's, read by its __init__; the class keeps its own
        instance.__init__(name, args, opts)  # type: ignore[misc]
        return instance

    return construct


if __name__ == "__main__":
    # As component_provider_host runs it: argv holds the engine's address and flags.
    pulumi.provider.main(provider(), sys.argv[1:])
