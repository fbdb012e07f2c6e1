"""Render a stack offline: what the program declares, without cloud credentials.

    python -m tools.render dev            # the resource tree of Pulumi.dev.yaml, any stack file
    python -m tools.render dev --json     # the same as JSON (tests/snapshots/<stack>.json)
    python -m tools.render --write-snapshots   # refresh every tests/snapshots/*.json

It runs the real program for the stack under Pulumi's mock engine. These are DECLARED INPUTS,
not what AWS will compute: ARNs, IDs and generated names are placeholders in a fake account
(123456789012), and secret values are masked.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import Any

from components.settings import ConfigError
from tools.offline import (
    ACCOUNT,
    PROJECT,
    REGION,
    ROOT,
    RUN_DIGEST,
    SECRET_SIG,
    Program,
    run_program,
    stack_config,
    stack_names,
    stack_region,
)

NOTE = (
    "Declared inputs under Pulumi's mock engine, not provider-computed values: ARNs, IDs and "
    f"generated names are placeholders in a fake account ({ACCOUNT}); secrets are masked."
)
SNAPSHOTS = ROOT / "tests" / "snapshots"


def _readable(value: Any) -> Any:
    """Mask secrets and unfold JSON documents (policies, container definitions) so that a
    change shows as a one-line diff."""
    if isinstance(value, dict):
        masked = SECRET_SIG in value
        return "[secret]" if masked else {k: _readable(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_readable(v) for v in value]
    if isinstance(value, str) and value[:1] in "{[":
        with contextlib.suppress(ValueError):
            return _readable(json.loads(value))
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the engine hands numbers over as floats
    return value


def placeholders(stack: str) -> dict[str, str]:
    """Values the render shows that are not the stack's own, each with why."""
    config = stack_config(stack)
    shown = {"account": f"{ACCOUNT}: a fake account; pulumi up uses the credentials' account"}
    if stack_region(config) is None:
        shown["region"] = (
            f"{REGION}: Pulumi.{stack}.yaml sets no aws:region; pulumi up uses the AWS "
            "provider's region (AWS_REGION or your AWS config)"
        )
    image = config.get(f"{PROJECT}:image")
    if isinstance(image, dict) and "repository" in image and "digest" not in image:
        shown["image.digest"] = f"{RUN_DIGEST}: CI sets the digest it built for each run"
    return shown


def document(stack: str) -> dict[str, Any]:
    program: Program = run_program(stack)
    resources = sorted(program.resources, key=lambda r: r.urn)
    return {
        "note": NOTE,
        "stack": stack,
        "placeholders": placeholders(stack),
        "resources": [
            {
                "urn": r.urn,
                "type": r.type,
                "name": r.name,
                "parent": r.parent,
                "inputs": _readable(r.inputs),
            }
            for r in resources
        ],
        "outputs": _readable(program.outputs),
    }


def text(doc: dict[str, Any]) -> str:
    """The resource tree, children under their parents, each with its inputs."""
    children: dict[str, list[dict[str, Any]]] = {}
    for resource in doc["resources"]:
        children.setdefault(resource["parent"], []).append(resource)
    lines = [f"# stack {doc['stack']}: {doc['note']}"]
    lines += [f"# placeholder {key} = {why}" for key, why in doc["placeholders"].items()]
    lines.append("")

    def walk(parent: str, depth: int) -> None:
        for resource in children.get(parent, []):
            pad = "  " * depth
            lines.append(f"{pad}{resource['name']}  ({resource['type']})")
            for key, value in resource["inputs"].items():
                rendered = json.dumps(value, ensure_ascii=False)
                if len(rendered) > 100:
                    rendered = json.dumps(value, indent=2, ensure_ascii=False)
                    rendered = rendered.replace("\n", "\n" + pad + "      ")
                lines.append(f"{pad}    {key}: {rendered}")
            walk(resource["urn"], depth + 1)

    roots = {r["parent"] for r in doc["resources"]} - {r["urn"] for r in doc["resources"]}
    for root in sorted(roots):
        walk(root, 0)
    lines += ["", "outputs:", json.dumps(doc["outputs"], indent=2, ensure_ascii=False)]
    return "\n".join(lines)


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.render",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("stack", nargs="?", help="a stack with a Pulumi.<stack>.yaml here")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the tree")
    parser.add_argument("--write-snapshots", action="store_true",
                        help="write tests/snapshots/<stack>.json for every stack")  # fmt: skip
    args = parser.parse_args(argv)
    stacks = stack_names()
    if args.stack and args.stack not in stacks:
        parser.error(f"no Pulumi.{args.stack}.yaml in {ROOT} (stacks: {', '.join(stacks)})")
    if not args.write_snapshots and not args.stack:
        parser.error("name a stack, or use --write-snapshots")
    current = args.stack
    try:
        if args.write_snapshots:
            SNAPSHOTS.mkdir(parents=True, exist_ok=True)
            for current in stacks:
                (SNAPSHOTS / f"{current}.json").write_text(dumps(document(current)))
                print(f"wrote {SNAPSHOTS / f'{current}.json'}")
            return 0
        doc = document(args.stack)
    except ConfigError as err:  # a person reads it: the problems, no traceback
        print(f"Pulumi.{current}.yaml: {err}", file=sys.stderr)
        return 2
    sys.stdout.write(dumps(doc) if args.json else text(doc) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
