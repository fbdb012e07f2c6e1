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

import pulumi  # noqa: E402
from pulumi.provider.experimental import component_provider_host  # noqa: E402

from components.job import ScheduledFargateJob  # noqa: E402
from components.platform import JobPlatform  # noqa: E402

# The package name: types are `scheduled-etl:index:<Component>` (YAML: `scheduled-etl:<Component>`).
NAME = "scheduled-etl"
COMPONENTS: list[type[pulumi.ComponentResource]] = [JobPlatform, ScheduledFargateJob]
# The version consumers pin is the package's own (pyproject.toml), tagged `v<version>`.
VERSION: str = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"]["version"]

if __name__ == "__main__":
    component_provider_host(components=COMPONENTS, name=NAME, version=VERSION)
