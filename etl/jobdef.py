"""A job folder: schema.sql, transform/*.sql (in name order), export/*.sql (one SELECT each)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import sqlparse
from sqlparse import tokens as T


class JobDefinitionError(Exception):
    """The job folder is incomplete or malformed."""


@dataclass(frozen=True)
class JobDefinition:
    name: str
    schema: Path
    transforms: tuple[Path, ...]
    exports: dict[str, Path]  # export name (file stem) -> SELECT file


def load_job(folder: Path) -> JobDefinition:
    schema = folder / "schema.sql"
    if not schema.is_file():
        raise JobDefinitionError(f"{folder}: no schema.sql")
    exports = {path.stem: path for path in sorted((folder / "export").glob("*.sql"))}
    if not exports:
        raise JobDefinitionError(f"{folder}: no export/*.sql, so the job would produce nothing")
    for name in exports:
        if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
            raise JobDefinitionError(f"export {name!r}: names are letters, digits, '_' and '-'")
    return JobDefinition(
        name=folder.name,
        schema=schema,
        transforms=tuple(sorted((folder / "transform").glob("*.sql"))),
        exports=exports,
    )


def statements(path: Path) -> list[str]:
    """The file's SQL statements, split by a real SQL tokenizer (quotes and comments are
    respected), without empty or comment-only pieces."""
    pieces = sqlparse.split(path.read_text(encoding="utf-8"))
    return [p for p in pieces if sqlparse.format(p, strip_comments=True).strip().rstrip(";")]


@dataclass(frozen=True)
class ExportQuery:
    name: str
    sql: str  # without comments or the final ';', so it can be wrapped
    top_level: frozenset[str]  # keywords outside any parentheses, e.g. ORDER BY, LIMIT


def export_query(name: str, path: Path) -> ExportQuery:
    found = statements(path)
    if len(found) != 1:
        raise JobDefinitionError(f"{path}: an export holds exactly one SELECT, found {len(found)}")
    sql = sqlparse.format(found[0], strip_comments=True).strip().rstrip(";").strip()
    [statement] = sqlparse.parse(sql)
    kind = statement.get_type()  # type: ignore[no-untyped-call]
    if kind != "SELECT":
        raise JobDefinitionError(f"{path}: an export is a SELECT, found {kind}")
    keywords = frozenset(t.normalized for t in statement.tokens if t.ttype in T.Keyword)
    return ExportQuery(name, sql, keywords)


def created_tables(path: Path) -> list[str]:
    """Tables a schema file creates (`CREATE [TEMPORARY] TABLE [IF NOT EXISTS] [db.]name`),
    found with sqlparse's tokenizer: these are the tables the job loads from S3."""
    names: list[str] = []
    for statement in sqlparse.parse(path.read_text(encoding="utf-8")):
        tokens = [
            t
            for t in statement.flatten()  # type: ignore[no-untyped-call]
            if not t.is_whitespace and t.ttype not in T.Comment
        ]
        if not tokens or tokens[0].ttype is not T.Keyword.DDL or tokens[0].normalized != "CREATE":
            continue
        position = 1
        while position < len(tokens) and tokens[position].ttype is T.Keyword:
            position += 1
        if "TABLE" not in {t.normalized for t in tokens[1:position]}:
            continue  # CREATE INDEX, VIEW, ...
        name = tokens[position].value
        if position + 2 < len(tokens) and tokens[position + 1].value == ".":
            name = tokens[position + 2].value  # db.table
        names.append(name.strip("`"))
    return names
