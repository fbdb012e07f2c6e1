"""What a CSV field may hold for each column type: loading is lossless or fails.

LOAD DATA converts text the way MySQL converts any string, and several of those conversions
change a value without a warning (MariaDB 10.11 measured; docs/sql-and-values.md has the
table): `1.5` into INT is 2, `5` into BIT(8) is the byte '5' (53), `1e-400` into DOUBLE is 0,
`26-01-05` and `2026/01/05` into DATE are 2026-01-05, `26` into YEAR is 2026, `10:00:00.5`
into DATETIME(0) is 10:00:00 (MariaDB truncates, MySQL rounds), `A` into ENUM('a') is `a`,
hex text into VARBINARY is the hex digits' own bytes. So every field is checked here, in the
loader's converter thread, against the one spelling that has exactly one meaning: the
spelling the exports write (docs/sql-and-values.md). A field that does not fit is a load
error naming the file, line, column and value; one that fits is what the server stores.

ISO 8601 times with an offset (`2026-01-05T10:00:00+02:00`, `…Z`) are converted to UTC here,
the session's time zone, so DATETIME and TIMESTAMP columns load them alike on MySQL 8.4 (which
reads offsets itself, 8.0.19+) and MariaDB (which does not).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# https://dev.mysql.com/doc/refman/8.4/en/data-types.html
_INTEGER_TYPES = {"tinyint", "smallint", "mediumint", "int", "integer", "bigint"}
_BINARY_TYPES = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"}

_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.([0-9]*))?|\.([0-9]+))")
_FLOAT = re.compile(r"[+-]?(?:([0-9]+)(?:\.([0-9]*))?|\.([0-9]+))(?:[eE][+-]?[0-9]+)?")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATETIME = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[ T]([0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]{1,6}))?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})?"
)
_TIME = re.compile(r"-?[0-9]{1,3}:[0-9]{2}:[0-9]{2}(?:\.([0-9]{1,6}))?")
_YEAR = re.compile(r"[0-9]{4}")
_MEMBER = re.compile(r"'((?:[^'\\]|''|\\.)*)'")


# How COLUMN_TYPE escapes a member (MariaDB 10.11 measured: \\, \n, \r, \0, '');
# MySQL's append_unescaped also writes \Z and \'.
_ESCAPED = {"0": "\0", "n": "\n", "r": "\r", "Z": "\x1a", "t": "\t", "b": "\b"}


def members(column_type: str) -> list[str]:
    """The members of enum('a','b')/set(...) as the server stores them, unescaped."""
    return [
        re.sub(r"''|\\(.)", lambda m: _ESCAPED.get(m[1], m[1]) if m[1] else "'", found)
        for found in _MEMBER.findall(column_type)
    ]


class BadValue(ValueError):
    """A field the column cannot take exactly; the message says what it would take."""


@dataclass(frozen=True)
class Column:
    """A column as information_schema.columns describes it."""

    name: str
    data_type: str  # DATA_TYPE, lower case: int, decimal, datetime, enum...
    column_type: str  # COLUMN_TYPE: int(10) unsigned, bit(8), enum('a','b')...
    scale: int | None = None  # NUMERIC_SCALE
    fraction: int | None = None  # DATETIME_PRECISION
    nullable: bool = True  # IS_NULLABLE

    @property
    def via_variable(self) -> bool:
        """Loaded through a user variable and a SET expression (bit, binary), not directly."""
        return self.data_type == "bit" or self.data_type in _BINARY_TYPES


def columns_sql() -> str:
    """The query for a table's columns, in Column's order (one parameter: the table)."""
    return (
        "SELECT column_name, LOWER(data_type), column_type, numeric_scale, "
        "datetime_precision, is_nullable = 'YES' FROM information_schema.columns "
        "WHERE table_schema = DATABASE() AND table_name = %s ORDER BY ordinal_position"
    )


def set_expression(column: Column, variable: str) -> str:
    """The SET clause's expression that stores `variable` (the field's checked text) exactly."""
    if column.data_type == "bit":
        return f"CAST({variable} AS UNSIGNED)"
    return f"UNHEX({variable})"


Check = Callable[[str], str]


def checker(column: Column) -> Check | None:
    """The function that returns the field to hand the server (the same text, or a UTC time
    for one with an offset) or raises BadValue; None when the server's own checks suffice."""
    kind = column.data_type
    if kind in _SIMPLE:
        return _SIMPLE[kind]
    scale, fraction = column.scale or 0, column.fraction or 0
    if kind == "decimal":
        return lambda value: _decimal(value, scale)
    if kind in {"datetime", "timestamp", "time"}:
        reader = _time if kind == "time" else _datetime
        return lambda value: reader(value, fraction)
    if kind == "bit":
        width = int(re.sub(r"\D", "", column.column_type) or 1)  # bit(8)
        return lambda value: _bit(value, width)
    if kind in {"enum", "set"}:
        allowed = set(members(column.column_type))
        return lambda value: _member(value, allowed, many=kind == "set")
    return None


def _integer(value: str) -> str:
    if not _INTEGER.fullmatch(value):
        raise BadValue("not an integer (digits, an optional sign; the server would round it)")
    return value


def _decimal(value: str, scale: int) -> str:
    found = _DECIMAL.fullmatch(value)
    if not found:
        raise BadValue("not a decimal number (digits, an optional sign and '.')")
    fraction = found[1] or found[2] or ""
    if fraction[scale:].strip("0"):
        raise BadValue(f"more than {scale} decimal places (the server would round it)")
    return value


def _number(value: str) -> float:
    found = _FLOAT.fullmatch(value)
    if not found:
        raise BadValue("not a number (digits, an optional sign, '.', an exponent)")
    number = float(value)
    digits = (found[1] or "") + (found[2] or "") + (found[3] or "")
    if number == 0.0 and digits.strip("0"):
        raise BadValue("too close to 0 for the column: the server would store 0")
    return number


def _double(value: str) -> str:
    _number(value)  # beyond the largest DOUBLE: the server's out-of-range warning fails it
    return value


def _single(value: str) -> str:
    number = _number(value)
    try:
        single = struct.unpack("f", struct.pack("f", number))[0]
    except OverflowError:  # beyond the largest FLOAT: the server's warning fails it
        return value
    if number != 0.0 and single == 0.0:
        raise BadValue("too close to 0 for FLOAT: the server would store 0")
    return value


def _bit(value: str, width: int) -> str:
    if not (value.isascii() and value.isdigit()):
        raise BadValue("not a BIT value: the bits as an unsigned decimal integer (b'101' is 5)")
    if int(value) >= 1 << width:
        raise BadValue(f"more than the column's {width} bits")
    return value


def _hex(value: str) -> str:
    if not _HEX.fullmatch(value):
        raise BadValue("not hex: binary columns take their bytes as hex digits (x'00FF' is 00ff)")
    return value


def _date(value: str) -> str:
    if not _DATE.fullmatch(value):
        raise BadValue("not a date as YYYY-MM-DD (the server would guess the century or order)")
    return value


def _datetime(value: str, fraction: int) -> str:
    found = _DATETIME.fullmatch(value)
    if not found:
        raise BadValue(
            "not a time as YYYY-MM-DD HH:MM:SS[.ffffff] (a 'T' and an offset, Z or +HH:MM, "
            "are read too)"
        )
    day, clock, digits, offset = found.groups()
    _fraction(digits or "", fraction)
    if not offset:
        return f"{day} {clock}" + (f".{digits}" if digits else "")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        utc = moment.astimezone(UTC)
    except ValueError as exc:
        raise BadValue(f"not a valid time ({exc})") from None
    except OverflowError:  # 0001-01-01T00:30:00+01:00 (.NET's DateTimeOffset.MinValue)
        raise BadValue("its UTC time falls outside the years 1 to 9999") from None
    return f"{utc:%Y-%m-%d %H:%M:%S}" + (f".{utc:%f}"[: len(digits) + 1] if digits else "")


def _time(value: str, fraction: int) -> str:
    found = _TIME.fullmatch(value)
    if not found:
        raise BadValue("not a time of day or duration as [-]HH:MM:SS[.ffffff]")
    _fraction(found[1] or "", fraction)
    return value


def _fraction(digits: str, precision: int) -> None:
    if digits[precision:].strip("0"):
        raise BadValue(
            f"more fractional-second digits than the column's {precision} (MySQL would round "
            "them, MariaDB cut them)"
        )


def _year(value: str) -> str:
    if not _YEAR.fullmatch(value):
        raise BadValue("not a year as YYYY (the server would guess the century)")
    return value


def _char(value: str) -> str:
    if value.endswith(" "):
        raise BadValue("trailing spaces: a CHAR column drops them (use VARCHAR to keep them)")
    return value


def _member(value: str, members: set[str], *, many: bool) -> str:
    for item in (value.split(",") if value else []) if many else [value]:
        if item not in members:
            raise BadValue(
                f"{item!r} is not one of the column's values, spelled exactly "
                "(the server would match it ignoring case)"
            )
    return value


_SIMPLE: dict[str, Check] = {
    **dict.fromkeys(_INTEGER_TYPES, _integer),
    **dict.fromkeys(_BINARY_TYPES, _hex),
    "float": _single, "double": _double, "real": _double,
    "date": _date, "year": _year, "char": _char,
}  # fmt: skip


# Between the fields and after the records of a batch: lone surrogates, which no text decoded
# strictly from UTF-8 holds (the loader's own placeholders).
SEPARATOR = "\udcfe"
RECORD_END = "\udcfd"
# The spelling most fields have, as a regular expression that `checker` passes unchanged:
# the loader matches a whole batch of records at once against them (in C), and runs the
# checkers field by field only when the batch does not match; so none matches a SEPARATOR or
# RECORD_END. Bounds keep it inside what
# cannot underflow: at most 20 digits and a 2-digit exponent, positive for FLOAT.
_COMMON = {
    **dict.fromkeys(_INTEGER_TYPES, r"[+-]?[0-9]+"),
    **dict.fromkeys(_BINARY_TYPES, r"(?:[0-9a-fA-F]{2})*"),
    "double": r"[+-]?(?:[0-9]{1,20}(?:\.[0-9]{0,20})?|\.[0-9]{1,20})(?:[eE][+-]?[0-9]{1,2})?",
    "float": r"[+-]?(?:[0-9]{1,20}(?:\.[0-9]{0,20})?|\.[0-9]{1,20})(?:[eE]\+?[0-9]{1,2})?",
    "date": r"[0-9]{4}-[0-9]{2}-[0-9]{2}",
    "year": r"[0-9]{4}",
    "char": "(?:[^\udcfe\udcfd]*[^ \udcfe\udcfd])?",  # never across SEPARATOR, RECORD_END
}  # fmt: skip
_COMMON["real"] = _COMMON["double"]


def common(column: Column) -> str | None:
    """The regular expression of `column`'s common spelling (see _COMMON), if it has one."""
    kind = column.data_type
    if kind in _COMMON:
        return _COMMON[kind]
    scale, fraction = column.scale or 0, column.fraction or 0
    if kind == "decimal":
        digits = rf"\.[0-9]{{0,{scale}}}0*" if scale else r"\.0*"
        return rf"[+-]?[0-9]+(?:{digits})?"
    seconds = (
        rf"(?:\.[0-9]{{1,{fraction}}}0{{0,{6 - fraction}}})?" if fraction else r"(?:\.0{1,6})?"
    )
    if kind in {"datetime", "timestamp"}:
        return r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}" + seconds
    if kind == "time":
        return r"-?[0-9]{1,3}:[0-9]{2}:[0-9]{2}" + seconds
    if kind in {"enum", "set"}:
        found = members(column.column_type)
        one = "(?:" + "|".join(map(re.escape, found)) + ")" if found else "(?!)"
        return f"(?:{one}(?:,{one})*)?" if kind == "set" else one
    return None


# A field as the CSV file spells it (RFC 4180): unquoted (no comma, quote, line break or NUL),
# or quoted with its quotes doubled. The converter matches batches of the file's own bytes
# against these and hands the server what matches unchanged (etl/convert.py). Possessive: each
# takes all it can, once, and a field is a field only if a separator comes next.
UNQUOTED = r'[^,"\r\n\x00]*+'
QUOTED = r'[^"\x00]*+(?:""[^"\x00]*+)*+'
# Quoted text where the converter spells empty fields NULL by replacing bytes over whole
# records (convert.spell_nulls): no comma beside a comma or a line break inside the quotes,
# which those replacements would take for an empty field (a field that has one is parsed).
QUOTED_SPELT = r'[^",\r\n\x00]*+(?:(?:""|,(?![,\r\n])|[\r\n](?!,))[^",\r\n\x00]*+)*+'
_SPELT_BAD = re.compile(r",[,\r\n]|[\r\n],")
_SPECIAL = re.compile(r'[,"\r\n\x00]')


def raw_spelling(column: Column | None, spell: bool = False) -> tuple[str, str] | None:
    """(unquoted, inside the quotes): the regular expressions of a CSV field of `column` that
    `checker` passes unchanged, as the file spells it; None when every field needs the checker
    (BIT has no such spelling). `spell`: inside the quotes, no comma beside a comma or a line
    break (QUOTED_SPELT)."""
    text = QUOTED_SPELT if spell else QUOTED
    if column is None or checker(column) is None:
        return UNQUOTED, text
    kind = column.data_type
    if kind == "char":  # no trailing space
        return UNQUOTED + "(?<! )", text + "(?<! )"
    if kind in {"enum", "set"}:
        # The longest first: an alternative taken is kept, though the separator may not follow.
        found = sorted((m for m in members(column.column_type) if m), key=len, reverse=True)
        plain = [re.escape(m) for m in found if not _SPECIAL.search(m)]
        quoted = [
            re.escape(m).replace('"', '""')
            for m in found  # a set's members stand between commas
            if not (spell and _SPELT_BAD.search(f",{m}," if kind == "set" else m))
        ]
        one = "(?:" + "|".join(quoted) + ")" if quoted else "(?!)"
        bare = "(?:" + "|".join(plain) + ")" if plain else "(?!)"  # a set's comma needs quotes
        return bare, f"(?:{one}(?:,{one})*)?" if kind == "set" else one
    spelled = common(column)  # digits, signs, '.', ':', '-', ' ', 'e': never a CSV special
    return None if spelled is None else (spelled, spelled)


@dataclass(frozen=True)
class FieldCheck:
    index: int  # the field's position in the file's header
    check: Check
    common: str | None


def checks(header: list[str], columns: dict[str, Column]) -> list[FieldCheck]:
    """The checks of each field of `header` whose column needs one."""
    found: list[FieldCheck] = []
    for index, name in enumerate(header):
        column = columns.get(name)
        check = checker(column) if column is not None else None
        if column is not None and check is not None:
            found.append(FieldCheck(index, check, common(column)))
    return found


def table_columns(cursor: Any, table: str) -> dict[str, Column]:
    """`table`'s columns, by name, from information_schema. The job's sessions return text
    (etl/db.py connect): IS_NULLABLE = 'YES' is '0' or '1', which bool() takes for True."""
    cursor.execute(columns_sql(), (table,))
    return {
        name: Column(name, kind, full, None if scale is None else int(scale),
                     None if fraction is None else int(fraction), int(nullable) == 1)
        for name, kind, full, scale, fraction, nullable in cursor.fetchall()
    }  # fmt: skip
