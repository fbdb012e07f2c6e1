"""A job folder: schema.sql, transform/*.sql (in name order), export/*.sql (one SELECT each)."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlparse
from sqlparse import keywords, lexer
from sqlparse import tokens as T

# MySQL's dialect of one rule sqlparse reads otherwise: `#` starts a comment to the end of the
# line wherever it stands outside a string or a quoted name. sqlparse's default takes it as
# part of a name (T-SQL's #temp, `ORDER#x` as one token), so an export's ORDER BY could go
# unseen and a `;` after a `#` could split a statement. Set once, for every sqlparse call.
lexer.Lexer.get_default_instance().set_SQL_REGEX(  # type: ignore[no-untyped-call]
    [
        (r"#.*?(\r\n|\r|\n|$)", T.Comment.Single),
        *((pattern.replace("[$#\\w]", "[$\\w]"), kind) for pattern, kind in keywords.SQL_REGEX),
    ]
)


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
    sql: str  # without comments, the final ';' or enclosing parentheses, so it can be wrapped
    ordered: bool  # a top-level ORDER BY (outside any parentheses)
    limited: bool  # a top-level LIMIT


def _significant(sql: str) -> list[tuple[Any, str]]:
    """sqlparse's tokens of `sql` without whitespace."""
    return [
        (kind, value)
        for kind, value in lexer.tokenize(sql)  # type: ignore[no-untyped-call]
        if kind not in T.Whitespace
    ]


def _unwrap(sql: str) -> str:
    """`(SELECT ...)` -> `SELECT ...`, while one pair of parentheses encloses it all."""
    while True:
        tokens = _significant(sql)
        if not tokens or tokens[0][1] != "(" or tokens[-1][1] != ")":
            return sql
        depth = 0
        for position, (kind, value) in enumerate(tokens):
            if kind in T.Punctuation:
                depth += {"(": 1, ")": -1}.get(value, 0)
            if depth == 0:
                if position != len(tokens) - 1:
                    return sql  # `(SELECT 1) UNION (SELECT 2)`: the first pair closes early
                break
        sql = sql[sql.index("(") + 1 : sql.rindex(")")].strip()


def _top_level_words(tokens: list[tuple[Any, str]]) -> list[str]:
    """Keywords outside any parentheses, one word each (`ORDER\n BY` -> ORDER, BY)."""
    words: list[str] = []
    depth = 0
    for kind, value in tokens:
        if kind in T.Punctuation:
            depth += {"(": 1, ")": -1}.get(value, 0)
        elif depth == 0 and kind in T.Keyword:
            words += value.upper().split()
    return words


def export_query(name: str, path: Path) -> ExportQuery:
    """An export is one SELECT (or WITH ... SELECT, or a UNION of SELECTs, parenthesised or
    not) that returns rows to the job: no INTO (OUTFILE, DUMPFILE, @variables), and no
    executable comments (`/*! ... */`, `/*M! ... */`), which the server would run but the
    job's checks and its comment-free copy of the SQL would not see."""
    found = statements(path)
    if len(found) != 1:
        raise JobDefinitionError(f"{path}: an export holds exactly one SELECT, found {len(found)}")
    raw = _significant(found[0])
    hidden = [v for k, v in raw if k in T.Comment and re.match(r"/\*M?!", v)]
    if hidden:
        raise JobDefinitionError(
            f"{path}: executable comments ({hidden[0][:40]!r}) are not allowed in an export; "
            "write the SQL plainly"
        )
    sql = _unwrap(sqlparse.format(found[0], strip_comments=True).strip().rstrip(";").strip())
    tokens = _significant(sql)
    first = next((k, v) for k, v in tokens if v != "(")
    if first[0] in T.Keyword.CTE:
        [statement] = sqlparse.parse(sql)
        kind = statement.get_type()  # type: ignore[no-untyped-call]
    else:
        kind = first[1].upper()
    if kind != "SELECT":
        raise JobDefinitionError(f"{path}: an export is a SELECT, found {kind}")
    if any(k in T.Keyword and v.upper() == "INTO" for k, v in tokens):
        raise JobDefinitionError(
            f"{path}: an export returns its rows to the job; SELECT ... INTO (OUTFILE, "
            "DUMPFILE, @variable) is not allowed"
        )
    words = _top_level_words(tokens)
    pairs = set(itertools.pairwise(words))
    # Locking reads and PROCEDURE cannot sit inside the derived table the shared path wraps
    # the export in; an export only reads, so they are refused here rather than at run time.
    locking = pairs & {("FOR", "UPDATE"), ("FOR", "SHARE"), ("LOCK", "IN")}
    if locking or "PROCEDURE" in words:
        clause = " ".join(sorted(locking)[0]) if locking else "PROCEDURE"
        raise JobDefinitionError(f"{path}: an export only reads; {clause} is not allowed")
    # FETCH FIRST|NEXT n ROWS ONLY is the standard's LIMIT.
    limited = "LIMIT" in words or "FETCH" in words
    return ExportQuery(name, sql, ordered=("ORDER", "BY") in pairs, limited=limited)


# CREATE [TEMPORARY] TABLE [IF NOT EXISTS] name: MySQL 8.4's grammar (sqlparse may hand
# "IF NOT EXISTS" over as one token).
CREATE_WORDS = frozenset({"TEMPORARY", "TABLE", "IF", "NOT", "EXISTS"})


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
        # Only CREATE's own words: sqlparse calls many table names keywords (events, status…).
        while position < len(tokens) and set(tokens[position].normalized.split()) <= CREATE_WORDS:
            position += 1
        words = {t.normalized for t in tokens[1:position]}
        if "TABLE" not in words:
            continue  # CREATE INDEX, VIEW, ...
        if "TEMPORARY" in words:
            raise JobDefinitionError(
                f"{path}: input tables cannot be TEMPORARY (the loader fills them from a "
                "session of its own); create them as ordinary tables"
            )
        name = tokens[position].value
        if position + 2 < len(tokens) and tokens[position + 1].value == ".":
            name = tokens[position + 2].value  # db.table
        names.append(name.strip("`"))
    return names
