"""The layout is a rule, not a habit: pure builders never touch the Pulumi engine, and what
`pulumi up` runs never depends on the tools that work on it offline."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize(
    "path", sorted((ROOT / "components" / "specs").glob("*.py")), ids=lambda p: p.name
)
def test_pure_builders_do_not_import_pulumi(path: Path) -> None:
    engine = {m for m in _imports(path) if m.split(".")[0].startswith("pulumi")}
    assert not engine, f"{path.name} imports {engine}: builders go in specs only when pure"


@pytest.mark.parametrize(
    "path",
    sorted(
        [
            *(ROOT / "components").rglob("*.py"),
            ROOT / "__main__.py",
            *(ROOT / "provider").glob("*.py"),  # the component provider, and the example
            *(ROOT / "examples").rglob("*.py"),  # programs: the package and nothing else
        ]
    ),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_the_program_does_not_depend_on_tools(path: Path) -> None:
    tools = {m for m in _imports(path) if m.split(".")[0] in {"tools", "tests", "bench"}}
    assert not tools, f"{path.relative_to(ROOT)} imports {tools}"
