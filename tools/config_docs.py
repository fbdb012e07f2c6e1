"""Write docs/configuration.md's tables from the settings models and the job's contract.

    python -m tools.config_docs           # rewrite the tables in docs/configuration.md
    python -m tools.config_docs --check   # exit 1 with a diff when the page is stale

Each key's meaning is its field's docstring in components/settings.py, followed by the range
its Field(ge=, le=) allows; its default is the field's default, or the words in
json_schema_extra={"doc_default": ...} where the value alone would not say it. A table lives
between ``<!-- config:<name> -->`` and ``<!-- /config:<name> -->``. The job's environment
table comes from etl/contract.py's ENVIRONMENT.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from pathlib import Path

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from components.settings import JobSettings, Settings
from etl.contract import ENVIRONMENT, SetBy

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "configuration.md"
TABLES: dict[str, type[BaseModel]] = {"stack": Settings, "job": JobSettings}
DOC_DEFAULT = "doc_default"


def key(name: str, field: FieldInfo) -> str:
    """The key as written in Pulumi.<stack>.yaml."""
    return field.alias or name


def default(field: FieldInfo) -> str:
    extra = field.json_schema_extra
    if isinstance(extra, dict) and isinstance(shown := extra.get(DOC_DEFAULT), str):
        return shown
    value = field.default
    if value is PydanticUndefined:
        return "required"
    if value is None:
        return "none"
    if isinstance(value, BaseModel):
        raise ValueError(f"give {field.alias} a {DOC_DEFAULT}: {value!r} reads badly")
    return f"`{value if isinstance(value, str) and value else json.dumps(value)}`"


def bounds(field: FieldInfo) -> tuple[object, object]:
    """Field(ge=, le=): the inclusive range, or None at an open end."""
    low = next((m.ge for m in field.metadata if isinstance(m, annotated_types.Ge)), None)
    high = next((m.le for m in field.metadata if isinstance(m, annotated_types.Le)), None)
    return low, high


def _cell(text: str) -> str:
    """Text on one line, safe in a markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def meaning(field: FieldInfo) -> str:
    """The docstring on one line (a table cell), then the allowed range."""
    text = _cell(field.description or "")
    low, high = bounds(field)
    if low is not None and high is not None:
        text = f"{text} ({low}–{high})" if text else f"{low}–{high}"
    return text


def table(model: type[BaseModel]) -> str:
    rows = [
        f"| `{key(name, field)}` | {default(field)} | {meaning(field)} |"
        for name, field in model.model_fields.items()
    ]
    return "\n".join(["| key | default | allowed / meaning |", "|---|---|---|", *rows])


SET_BY: dict[SetBy, str] = {
    "task": "the task definition",
    "secret": "Secrets Manager",
    "state machine": "the state machine",
    "local": "nobody (local mode)",
    "you": "a job's `environment`",
}


def environment_table() -> str:
    """The job's variables (etl/contract.py): what `python -m etl --help` lists too."""
    rows = [
        f"| `{v.name}` | {v.default} | {SET_BY[v.set_by]} | {_cell(v.meaning)} |"
        for v in ENVIRONMENT
    ]
    header = ["| variable | default | in a task, set by | meaning |", "|---|---|---|---|"]
    return "\n".join([*header, *rows])


def tables() -> dict[str, str]:
    return {
        **{name: table(model) for name, model in TABLES.items()},
        "environment": environment_table(),
    }


def render(page: str) -> str:
    """The page with every generated table replaced; the text around them untouched."""
    for name, text in tables().items():
        start, end = f"<!-- config:{name} -->", f"<!-- /config:{name} -->"
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
        if len(pattern.findall(page)) != 1:
            raise ValueError(f"{PAGE.name} needs exactly one {start} ... {end}")
        block = f"{start}\n\n{text}\n\n{end}"
        page = pattern.sub(lambda _: block, page)  # noqa: B023  # used at once
    return page


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.config_docs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--check", action="store_true", help="fail when the page is stale")
    args = parser.parse_args(argv)
    current = PAGE.read_text()
    wanted = render(current)
    if wanted == current:
        return 0
    if args.check:
        sys.stdout.writelines(
            difflib.unified_diff(
                current.splitlines(keepends=True),
                wanted.splitlines(keepends=True),
                str(PAGE.relative_to(ROOT)),
                f"{PAGE.relative_to(ROOT)} (from components/settings.py, etl/contract.py)",
            )
        )
        print(
            f"{PAGE.relative_to(ROOT)} is stale: run python -m tools.config_docs (make config-docs)"
        )
        return 1
    PAGE.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
