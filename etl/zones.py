"""Named time zones in a job's SQL, which the deployed sidecar cannot resolve.

The sidecar starts without MySQL's time-zone tables (MYSQL_INITDB_SKIP_TZINFO: loading them
costs about 1.2 s of every first start, README "Sidecar start-up"), so a named zone
('Europe/Berlin', and 'UTC' too) in CONVERT_TZ() gives NULL and `SET time_zone = 'Europe/Berlin'`
fails (https://dev.mysql.com/doc/refman/8.4/en/time-zone-support.html). Offsets ('+01:00')
and 'SYSTEM' need no tables. `named_zones` finds the zones written as string literals where
MySQL reads a time zone: CONVERT_TZ's second and third arguments, and assignments to
time_zone; the job folder is refused when it has any (validate, and the run before its lock).
A zone from a column or a variable cannot be known before the run: validate warns of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sqlparse import lexer
from sqlparse import tokens as T

_NEEDS_NO_TABLES = re.compile(r"[+-][0-9]{1,2}:[0-9]{2}|SYSTEM", re.IGNORECASE)


@dataclass(frozen=True)
class ZoneUse:
    line: int
    zone: str | None  # the literal; None when the zone is an expression (a column...)
    where: str  # "CONVERT_TZ" or "time_zone"

    @property
    def named(self) -> bool:
        return self.zone is not None and not _NEEDS_NO_TABLES.fullmatch(self.zone)


def _tokens(text: str) -> list[tuple[object, str, int]]:
    """(kind, value, line) of the significant tokens (no whitespace or comments)."""
    found: list[tuple[object, str, int]] = []
    line = 1
    for kind, value in lexer.tokenize(text):  # type: ignore[no-untyped-call]
        if kind not in T.Whitespace and kind not in T.Comment:
            found.append((kind, value, line))
        line += value.count("\n")
    return found


def _literal(kind: object, value: str) -> str | None:
    if kind in T.String.Single or kind in T.String.Symbol:
        return value[1:-1].replace(value[0] * 2, value[0])
    return None


def _convert_tz(tokens: list[tuple[object, str, int]], start: int) -> list[ZoneUse]:
    """The zone arguments of the CONVERT_TZ( whose name is at `start`."""
    args: list[list[tuple[object, str, int]]] = [[]]
    depth = 0
    for kind, value, line in tokens[start + 1 :]:
        if kind in T.Punctuation and value == "(":
            depth += 1
            if depth == 1:
                continue
        elif kind in T.Punctuation and value == ")":
            depth -= 1
            if depth == 0:
                break
        elif depth == 1 and kind in T.Punctuation and value == ",":
            args.append([])
            continue
        args[-1].append((kind, value, line))
    uses = []
    for arg in args[1:3]:
        if arg:
            zone = _literal(arg[0][0], arg[0][1]) if len(arg) == 1 else None
            uses.append(ZoneUse(arg[0][2], zone, "CONVERT_TZ"))
    return uses


def zone_uses(path: Path) -> list[ZoneUse]:
    """Where `path`'s SQL names a time zone: CONVERT_TZ(x, from, to) and time_zone = ..."""
    tokens = _tokens(path.read_text(encoding="utf-8"))
    uses: list[ZoneUse] = []
    setting = False  # in a SET statement (elsewhere `time_zone = ...` compares a column)
    for position, (_, value, line) in enumerate(tokens):
        if position == 0 or tokens[position - 1][1] == ";":
            setting = value.upper() == "SET"
        name = value.lower()
        following = tokens[position + 1 : position + 3]
        assigned = len(following) == 2 and following[0][1] in {"=", ":="}
        if name == "convert_tz" and following and following[0][1] == "(":
            uses += _convert_tz(tokens, position)
        elif name == "time_zone" and setting and assigned:
            zone = _literal(following[1][0], following[1][1])
            uses.append(ZoneUse(line, zone, "time_zone"))
    return uses


def named_zones(paths: list[Path]) -> list[tuple[Path, ZoneUse]]:
    """Every named zone (a literal that is not an offset or SYSTEM) in `paths`."""
    return [(path, use) for path in paths for use in zone_uses(path) if use.named]


def refusal(path: Path, use: ZoneUse) -> str:
    return (
        f"{path.name} line {use.line}: the named time zone {use.zone!r} ({use.where}): the "
        "deployed sidecar has no time-zone tables, so it would be NULL or an error; use an "
        "offset such as '+01:00' (docs/sql-and-values.md, Time zones)"
    )
