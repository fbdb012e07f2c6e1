"""python -m tools.schema [--write | --check]: the component provider's package schema, offline.

The schema is what `pulumi package add` gets from the provider (GetSchema) and generates each
language's SDK from. It is inferred from the components' args (TypedDicts: annotations and the
docstring under each field) by the SDK's own ComponentProvider, from exactly the components,
name and version provider/__main__.py hosts; no Pulumi CLI is needed. Without an option it is
printed; --write updates provider/schema.json, --check fails when that copy is stale.
"""

from __future__ import annotations

import argparse
import difflib
import json
import runpy
import sys
from pathlib import Path
from typing import Any

from pulumi.provider.experimental.component import ComponentProvider

ROOT = Path(__file__).resolve().parent.parent
PROVIDER = ROOT / "provider"
SCHEMA = PROVIDER / "schema.json"


def hosted() -> dict[str, Any]:
    """provider/__main__.py's NAME, VERSION and COMPONENTS (loaded, not run as the host)."""
    return runpy.run_path(str(PROVIDER / "__main__.py"), run_name="provider")


def provider() -> ComponentProvider:
    """The provider the plugin hosts (provider/__main__.py's)."""
    made: ComponentProvider = hosted()["provider"]()
    return made


def generate() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(provider().schema or "{}")
    return schema


def render(schema: dict[str, Any]) -> str:
    """Stable text: sorted keys, so the committed copy diffs by meaning."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.schema",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"update {SCHEMA.relative_to(ROOT)}")
    mode.add_argument("--check", action="store_true", help="fail when the committed copy differs")
    args = parser.parse_args(argv)
    text = render(generate())
    if args.write:
        SCHEMA.write_text(text)
        print(f"wrote {SCHEMA.relative_to(ROOT)}")
    elif args.check:
        committed = SCHEMA.read_text() if SCHEMA.exists() else ""
        if committed != text:
            sys.stdout.writelines(difflib.unified_diff(
                committed.splitlines(keepends=True), text.splitlines(keepends=True),
                "provider/schema.json (committed)", "generated"))  # fmt: skip
            print("stale: run `python -m tools.schema --write`", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
