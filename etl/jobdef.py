"""A job folder: schema.sql, transform/*.sql (in name order), export/*.sql (one SELECT each)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlparse
from sqlparse import keywords, lexer
from sqlparse import tokens as T

# MySQL's dialect of the rules sqlparse reads otherwise
# (https://dev.mysql.com/doc/refman/8.4/en/comments.html,
# https://dev.mysql.com/doc/refman/8.4/en/string-literals.html):
# - `#` starts a comment to the end of the line wherever it stands outside a string or a quoted
#   name; sqlparse's default takes it as part of a name (T-SQL's #temp, `ORDER#x` one token).
# - `--` starts a comment only when a space or control character (or the end) follows:
#   `10--1` is 10 - (-1). sqlparse's default took `--1 AS total` as a comment.
# - In a string, a backslash escapes the next character: `'a\\'` ends after the second
#   backslash; sqlparse's default read its `\'` as an escaped quote and the string ran on.
# Set once, for every sqlparse call.
_MYSQL_RULES = [
    (r"#.*?(\r\n|\r|\n|$)", T.Comment.Single),
    (r"--(?=[\s\x00-\x1f\x7f]|$).*?(\r\n|\r|\n|$)", T.Comment.Single),
    (r"'(?:[^'\\]|\\[\s\S]|'')*'", T.String.Single),
    (r'"(?:[^"\\]|\\[\s\S]|"")*"', T.String.Symbol),
]
_REPLACED = {T.Comment.Single, T.Comment.Single.Hint, T.String.Single, T.String.Symbol}
lexer.Lexer.get_default_instance().set_SQL_REGEX(  # type: ignore[no-untyped-call]
    [
        *_MYSQL_RULES,
        *(
            (pattern.replace("[$#\\w]", "[$\\w]"), kind)
            for pattern, kind in keywords.SQL_REGEX
            if kind not in _REPLACED
        ),
    ]
)
# Export names become file names (`<name>-00000.csv.gz` in the scratch folder, `<job>@<id>-
# <name>.csv` in the shared folder: 255 bytes at most each) and S3 keys.
MAX_EXPORT_NAME = 64


class JobDefinitionError(Exception):
    """The job folder is incomplete or malformed."""


@dataclass(frozen=True)
class JobDefinition:
    name: str
    schema: Path
    transforms: tuple[Path, ...]
    exports: dict[str, Path]  # export name (file stem) -> SELECT file


def load_job(folder: Path, *, zones: bool = True) -> JobDefinition:
    """The job folder's files, checked for what the runner needs before it takes the lock;
    `zones`: refuse named time zones too (validate reports each one itself)."""
    schema = folder / "schema.sql"
    if not schema.is_file():
        raise JobDefinitionError(f"{folder}: no schema.sql")
    exports = {path.stem: path for path in sorted((folder / "export").glob("*.sql"))}
    if not exports:
        raise JobDefinitionError(f"{folder}: no export/*.sql, so the job would produce nothing")
    for name in exports:
        if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
            raise JobDefinitionError(f"export {name!r}: names are letters, digits, '_' and '-'")
        if len(name) > MAX_EXPORT_NAME:
            raise JobDefinitionError(
                f"export {name[:40]}…: {len(name)} characters; names are at most "
                f"{MAX_EXPORT_NAME} (they become file names and S3 keys)"
            )
    job = JobDefinition(
        name=folder.name,
        schema=schema,
        transforms=tuple(sorted((folder / "transform").glob("*.sql"))),
        exports=exports,
    )
    for path in (schema, *job.transforms):
        try:
            hidden = executable_comment(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeError):
            continue  # an unreadable file is reported by the statement checks
        if hidden:
            line, text = hidden
            raise JobDefinitionError(
                f"{path}:{line}: executable comments ({text[:40]!r}) are not allowed; the "
                "server runs them but the job's checks (input tables, time zones) do not "
                "see them: write the SQL plainly"
            )
    if zones:
        from etl.zones import named_zones, refusal  # noqa: PLC0415 (it reads SQL with these rules)

        try:
            found = named_zones([schema, *job.transforms, *exports.values()])
        except (OSError, UnicodeError):
            found = []  # an unreadable file is reported by the statement checks
        if found:
            raise JobDefinitionError(refusal(*found[0]))
    return job


def executable_comment(text: str) -> tuple[int, str] | None:
    """The line and text of the first comment the server would run: `/*! ... */` (MySQL and
    MariaDB, https://dev.mysql.com/doc/refman/8.4/en/comments.html) or `/*M! ... */`
    (MariaDB, https://mariadb.com/kb/en/comment-syntax/)."""
    line = 1
    for kind, value in lexer.tokenize(text):  # type: ignore[no-untyped-call]
        if kind in T.Comment and re.match(r"/\*M?!", value):
            return line, value
        line += value.count("\n")
    return None


def split_sql(text: str) -> list[str]:
    """`text` cut after every `;` outside strings, quoted names and comments, every character
    kept: what the mysql client does without a DELIMITER command. sqlparse's own splitter
    guesses procedure blocks from keywords, and a table named `begin` or `go` ran two
    statements together or cut one in two."""
    pieces: list[str] = []
    current: list[str] = []
    for kind, value in lexer.tokenize(text):  # type: ignore[no-untyped-call]
        current.append(value)
        if kind in T.Punctuation and value == ";":
            pieces.append("".join(current))
            current = []
    if current:
        pieces.append("".join(current))
    return pieces


def strip_comments(sql: str) -> str:
    """`sql` without its comments (each one a space, or the line break that ended it, as MySQL
    reads a comment), nor the whitespace and `;` at its ends."""
    kept = [
        (("\n" if value.endswith(("\n", "\r")) else " ") if kind in T.Comment else value)
        for kind, value in lexer.tokenize(sql)  # type: ignore[no-untyped-call]
    ]
    return "".join(kept).strip().rstrip(";").strip()


def statements(path: Path) -> list[str]:
    """The file's SQL statements (split_sql), without empty or comment-only pieces."""
    return [p for p in split_sql(path.read_text(encoding="utf-8")) if strip_comments(p)]


@dataclass(frozen=True)
class OrderKey:
    """One ORDER BY key: a name as MySQL reads it (unquoted) or a 1-based position."""

    key: str | int
    descending: bool = False


@dataclass(frozen=True)
class ExportQuery:
    name: str
    sql: str  # without comments, the final ';' or enclosing parentheses, so it can be wrapped
    ordered: bool  # a top-level ORDER BY (outside any parentheses)
    limited: bool  # a top-level LIMIT (or FETCH FIRST|NEXT)
    offset: bool = False  # a top-level OFFSET (MariaDB's OFFSET n ROWS, or LIMIT's)
    fetch: bool = False  # a top-level FETCH FIRST|NEXT
    # The top-level ORDER BY's keys when each is a plain name or a position, with DESC (else
    # None): the server-formatted engines sort by them outside their derived table.
    order_keys: tuple[OrderKey, ...] | None = None
    # `sql` without that ORDER BY when it is the last clause (no LIMIT, OFFSET, FETCH) and its
    # keys are order_keys: the derived table's SQL when the order is taken outside it (a
    # UNION's ORDER BY is kept inside a derived table by MariaDB, a second sort of every row).
    unordered_sql: str = ""

    @property
    def mariadb_only(self) -> bool:
        """OFFSET n ROWS or FETCH FIRST|NEXT: MariaDB's syntax, a syntax error on MySQL 8.4
        (https://dev.mysql.com/doc/refman/8.4/en/select.html has LIMIT only)."""
        return (self.offset and not self.limited) or self.fetch


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


def _top_level(tokens: list[tuple[Any, str]]) -> Iterator[tuple[int, Any, str]]:
    """(position, kind, value) of each token outside any parentheses, punctuation aside."""
    depth = 0
    for position, (kind, value) in enumerate(tokens):
        if kind in T.Punctuation:
            depth += {"(": 1, ")": -1}.get(value, 0)
        elif depth == 0:
            yield position, kind, value


def _top_level_words(tokens: list[tuple[Any, str]]) -> list[str]:
    """Keywords outside any parentheses, one word each (`ORDER\n BY` -> ORDER, BY)."""
    return [w for _, k, v in _top_level(tokens) if k in T.Keyword for w in v.upper().split()]


def _last_order_by(tokens: list[tuple[Any, str]]) -> int | None:
    """The position of the last ORDER BY outside any parentheses (the export's own)."""
    found = None
    for position, kind, value in _top_level(tokens):
        if kind in T.Keyword and value.upper().split() == ["ORDER", "BY"]:
            found = position
    return found


# What may follow a top-level ORDER BY's keys (https://dev.mysql.com/doc/refman/8.4/en/select.html,
# MariaDB's FETCH FIRST|NEXT); OFFSET, not reserved, is told by _offset_at.
_AFTER_ORDER = {"LIMIT", "FETCH", "FOR", "LOCK", "INTO", "PROCEDURE"}


# Bare words that MySQL 8.4 and MariaDB read as a value, never a name: ORDER BY CURRENT_DATE
# is the date (a constant), whatever a select list aliases `current_date`
# (https://dev.mysql.com/doc/refman/8.4/en/keywords.html, MariaDB's CURRENT_ROLE). sqlparse
# lexes some of them as names (utc_date).
_BARE_VALUES = {
    "NULL", "TRUE", "FALSE", "CURRENT_DATE", "CURRENT_TIME", "CURRENT_TIMESTAMP", "LOCALTIME",
    "LOCALTIMESTAMP", "UTC_DATE", "UTC_TIME", "UTC_TIMESTAMP", "CURRENT_USER", "CURRENT_ROLE",
}  # fmt: skip


def _order_keys(tokens: list[tuple[Any, str]]) -> tuple[OrderKey, ...] | None:
    """The top-level ORDER BY's keys when each is one name (plain or `quoted`) or a positive
    position, ASC or DESC; None when there is none or a key is anything else (an expression,
    a qualified name, COLLATE, a bare value such as CURRENT_DATE or NULL)."""
    order_by = _last_order_by(tokens)
    if order_by is None:
        return None
    keys: list[list[tuple[Any, str]]] = [[]]
    for position, (kind, value) in enumerate(tokens[order_by + 1 :], order_by + 1):
        if kind in T.Keyword and value.upper() in _AFTER_ORDER:
            break
        if _offset_at(tokens, position):
            break
        if kind in T.Punctuation and value == ",":
            keys.append([])
        else:
            keys[-1].append((kind, value))
    found = [_order_key(key) for key in keys]
    return None if None in found else tuple(k for k in found if k)


def _offset_at(tokens: list[tuple[Any, str]], position: int) -> bool:
    """Whether an OFFSET clause starts at `position`: the word and a number after it. MySQL
    8.4 does not reserve OFFSET, so a column may be named so (`SELECT offset FROM t`)."""
    kind, value = tokens[position]
    after = tokens[position + 1][0] if position + 1 < len(tokens) else None
    return kind in T.Keyword and value.upper() == "OFFSET" and after in T.Number.Integer


def _top_level_offset(tokens: list[tuple[Any, str]]) -> bool:
    """An OFFSET clause outside any parentheses (MariaDB's OFFSET n ROWS, or LIMIT's)."""
    return any(_offset_at(tokens, position) for position, _, _ in _top_level(tokens))


def _before_order(sql: str) -> str:
    """`sql` up to its last top-level ORDER BY (the whole of it when there is none)."""
    tokens = list(lexer.tokenize(sql))  # type: ignore[no-untyped-call]
    order_by = _last_order_by(tokens)
    return sql[: sum(len(v) for _, v in tokens[:order_by])].rstrip()


def _order_key(tokens: list[tuple[Any, str]]) -> OrderKey | None:
    """One key: a name or a position, ASC or DESC after it; None for anything else."""
    descending = False
    if len(tokens) > 1 and tokens[-1][0] in T.Keyword.Order:
        descending = tokens[-1][1].upper() == "DESC"
        tokens = tokens[:-1]
    if len(tokens) != 1:
        return None
    kind, value = tokens[0]
    if kind in T.Number.Integer and value.isdigit() and int(value) > 0:
        return OrderKey(int(value), descending)
    if value.upper() in _BARE_VALUES:
        return None  # a value (the order is the other keys'), not the column of that name
    # sqlparse calls some column names builtins or keywords (`date`, `year`, `user`).
    if (kind in T.Name or kind in T.Keyword) and kind not in T.Keyword.Order:
        return OrderKey(unquote_name(value), descending)
    return None


def export_query(name: str, path: Path) -> ExportQuery:
    """An export is one SELECT (or WITH ... SELECT, or a UNION of SELECTs, parenthesised or
    not) that returns rows to the job: no INTO (OUTFILE, DUMPFILE, @variables), and no
    executable comments (`/*! ... */`, `/*M! ... */`), which the server would run but the
    job's checks and its comment-free copy of the SQL would not see."""
    found = statements(path)
    if len(found) != 1:
        raise JobDefinitionError(f"{path}: an export holds exactly one SELECT, found {len(found)}")
    hidden = executable_comment(found[0])
    if hidden:
        raise JobDefinitionError(
            f"{path}: executable comments ({hidden[1][:40]!r}) are not allowed in an export; "
            "write the SQL plainly"
        )
    sql = _unwrap(strip_comments(found[0]))
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
    ordered = ("ORDER", "BY") in pairs
    order_keys = _order_keys(tokens) if ordered else None
    offset = _top_level_offset(tokens)
    last = order_keys is not None and not limited and not offset
    return ExportQuery(
        name, sql, ordered=ordered, limited=limited, offset=offset,
        fetch="FETCH" in words, order_keys=order_keys,
        unordered_sql=_before_order(sql) if last else "",
    )  # fmt: skip


def unquote_name(token: str) -> str:
    """A name as MySQL reads it: `a``b` -> a`b (a doubled backtick is one), plain names as is."""
    if len(token) >= 2 and token[0] == token[-1] == "`":
        return token[1:-1].replace("``", "`")
    return token


def created_tables(path: Path) -> list[str]:
    """Tables a schema file creates (`CREATE [OR REPLACE] [TEMPORARY] TABLE [IF NOT EXISTS]
    [db.]name`), found with sqlparse's tokenizer: these are the tables the job loads from S3.
    The name is the token after that fixed prefix, whatever kind the tokenizer gave it:
    MySQL's non-reserved keywords (events, data, source, names, time...) are names there.
    https://dev.mysql.com/doc/refman/8.4/en/keywords.html"""
    names: list[str] = []
    for piece in split_sql(path.read_text(encoding="utf-8")):
        tokens = [(k, v) for k, v in _significant(piece) if k not in T.Comment]
        words = [v.upper() for _, v in tokens[:3]]
        if not words or words[0].split()[0] != "CREATE" or tokens[0][0] is not T.Keyword.DDL:
            continue
        temporary = len(words) > 1 and words[1] == "TEMPORARY"
        position = 1 + temporary
        if position >= len(tokens) or tokens[position][1].upper() != "TABLE":
            continue  # CREATE INDEX, VIEW, ...
        if temporary:
            raise JobDefinitionError(
                f"{path}: input tables cannot be TEMPORARY (the loader fills them from a "
                "session of its own); create them as ordinary tables"
            )
        position += 1
        if position < len(tokens) and re.fullmatch(
            r"IF\s+NOT\s+EXISTS", tokens[position][1], re.IGNORECASE
        ):
            position += 1
        if position >= len(tokens):
            continue  # not a complete statement: the server will say so
        name = tokens[position][1]
        if position + 2 < len(tokens) and tokens[position + 1][1] == ".":
            name = tokens[position + 2][1]  # db.table
        names.append(unquote_name(name))
    return names
