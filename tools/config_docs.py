"""Write docs/configuration.md's tables from the settings models and the job's contract.

    python -m tools.config_docs           # rewrite the tables in docs/configuration.md, reuse.md
    python -m tools.config_docs --check   # exit 1 with a diff when a page is stale

Each key's meaning is its field's docstring in components/settings.py (or, for a key the public
API's args share, in components/args.py: settings.documented_by), followed by the range
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
from pulumi.provider.experimental.util import camel_case
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from components.args import (
    JOB_RESOURCE_KEYS,
    ImageBuildArgs,
    JobPlatformArgs,
    NewVpcArgs,
    ScheduledFargateJobArgs,
    field_docs,
)
from components.settings import JobSettings, Settings
from etl.contract import ENVIRONMENT, SetBy

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "configuration.md"
TABLES: dict[str, type[BaseModel]] = {"stack": Settings, "job": JobSettings}
DOC_DEFAULT = "doc_default"
# docs/reuse.md: the public API's args (components/args.py), key by key. The job's own keys
# are the job table of docs/configuration.md, so its args table lists the other keys.
ARGS_PAGE = ROOT / "docs" / "reuse.md"
ARGS_TABLES: dict[str, tuple[type, frozenset[str] | None]] = {
    "platform-args": (JobPlatformArgs, None),
    "new-vpc-args": (NewVpcArgs, None),
    "image-build-args": (ImageBuildArgs, None),
    "job-args": (ScheduledFargateJobArgs, JOB_RESOURCE_KEYS),
}


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


def args_table(args: type, only: frozenset[str] | None = None) -> str:
    """A TypedDict's keys as Python writes them and as the schema (other languages) does."""
    docs = field_docs(args)
    required: frozenset[str] = getattr(args, "__required_keys__", frozenset())
    rows = [
        f"| `{name}` | `{camel_case(name)}` | {'yes' if name in required else 'no'}"
        f" | {_cell(docs[name])} |"
        for name in args.__annotations__
        if only is None or name in only
    ]
    header = ["| Python | schema | required | meaning |", "|---|---|---|---|"]
    return "\n".join([*header, *rows])


def tables() -> dict[str, str]:
    return {
        **{name: table(model) for name, model in TABLES.items()},
        "environment": environment_table(),
    }


def args_tables() -> dict[str, str]:
    return {name: args_table(*table) for name, table in ARGS_TABLES.items()}


def render(page: str, path: Path | None = None) -> str:
    """The page (docs/configuration.md, or ARGS_PAGE) with every generated table replaced; the
    text around them untouched."""
    path = PAGE if path is None else path
    for name, text in (args_tables() if path == ARGS_PAGE else tables()).items():
        start, end = f"<!-- config:{name} -->", f"<!-- /config:{name} -->"
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
        if len(pattern.findall(page)) != 1:
            raise ValueError(f"{path.name} needs exactly one {start} ... {end}")
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
    stale = 0
    for path in (PAGE, ARGS_PAGE):
        current = path.read_text()
        wanted = render(current, path)
        if wanted == current:
            continue
        if not args.check:
            path.write_text(wanted)
            continue
        page = str(path.relative_to(ROOT))
        sys.stdout.writelines(
            difflib.unified_diff(
                current.splitlines(keepends=True),
                wanted.splitlines(keepends=True),
                page,
                f"{page} (from components/settings.py, args.py, etl/contract.py)",
            )
        )
        print(f"{page} is stale: run python -m tools.config_docs (make config-docs)")
        stale = 1
    return stale


if __name__ == "__main__":
    sys.exit(main())
