"""convert.spell_nulls: the records the converter hands over as they are, each empty field
(unquoted or "") spelt NULL, every other byte kept. The oracle is the generator's values and
Python's csv module reading the output back; the server's own reading of both LOAD forms is
tests/etl/test_load_parity.py."""

from __future__ import annotations

import csv
import io
import random
import re

import pytest

from etl import values
from etl.convert import Converter, record_pattern, spell_nulls

# Pieces of values: every byte the quoting turns on, and escaped quotes next to separators.
PIECES = ["a", " ", ",", '"', '""', "\r", "\n", ",,", '",', ',"', "é"]


def _value(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.25:
        return ""
    if roll < 0.3:
        return "NULL"  # the text NULL: quoted, so never the server's NULL
    return "".join(rng.choice(PIECES) for _ in range(rng.randrange(1, 5)))


def _field(value: str, rng: random.Random, quote_all: bool, width: int) -> str:
    """RFC 4180 as a file may spell it: quoted when it must be (or always, or at random);
    an empty field unquoted or "" (always "" alone on its line: a blank line is skipped)."""
    must = value == "NULL" or any(c in value for c in ',"\r\n') or (width == 1 and not value)
    if quote_all or must or rng.random() < 0.2:
        return '"' + value.replace('"', '""') + '"'
    return value


@pytest.mark.parametrize("term", ["\r\n", "\n", "\r"])
@pytest.mark.parametrize("quote_all", [False, True])
@pytest.mark.parametrize("width", [1, 2, 5])
def test_each_empty_field_is_null_and_nothing_else_changes(
    term: str, quote_all: bool, width: int
) -> None:
    rng = random.Random(f"{term}{quote_all}{width}")
    rows = [[_value(rng) for _ in range(width)] for _ in range(3000)]
    records = [",".join(_field(v, rng, quote_all, width) for v in row) + term for row in rows]
    # Spelt chunk by chunk, as the converter hands records over: each chunk whole records.
    out = bytearray()
    start = 0
    while start < len(records):
        end = start + rng.randrange(1, 40)
        out += spell_nulls("".join(records[start:end]).encode(), term.encode())
        start = end
    text = out.decode()
    read = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    assert read == [[v or "NULL" for v in row] for row in rows]
    # The NULLs are the bare word: values never hold NULL but whole, and then quoted.
    empties = sum(v == "" for row in rows for v in row)
    assert text.count("NULL") - text.count('"NULL"') == empties


# What the replacements alone would take for an empty field inside quotes.
_BESIDE = re.compile(r",[,\r\n]|[\r\n],")


@pytest.mark.parametrize("term", ["\r\n", "\n", "\r"])
@pytest.mark.parametrize("quote_all", [False, True])
@pytest.mark.parametrize("width", [1, 2, 5])
def test_records_the_spell_pattern_passes_are_spelt_by_the_replacements_alone(
    term: str, quote_all: bool, width: int
) -> None:
    """matched=True skips cutting the quoted text out: record_pattern's spell form refuses
    exactly the records with a comma beside a comma or a line break inside quotes (they are
    parsed), and the records it passes come out as the general form spells them."""
    header = [f"c{i}" for i in range(width)]
    record = record_pattern(header, {}, "", term.encode(), spell=True)
    assert record is not None
    pattern = re.compile(record.encode())
    rng = random.Random(f"matched{term}{quote_all}{width}")
    passed: list[tuple[list[str], str]] = []
    refused = 0
    for _ in range(3000):
        row = [_value(rng) for _ in range(width)]
        line = ",".join(_field(v, rng, quote_all, width) for v in row) + term
        beside = any(_BESIDE.search(v) for v in row)
        assert (pattern.fullmatch(line.encode()) is None) is beside, line
        if beside:
            refused += 1
        else:
            passed.append((row, line))
    assert refused and passed  # both kinds were generated
    out = bytearray()
    start = 0
    while start < len(passed):
        end = start + rng.randrange(1, 40)
        chunk = "".join(line for _, line in passed[start:end]).encode()
        spelt = spell_nulls(chunk, term.encode(), matched=True)
        assert spelt == spell_nulls(chunk, term.encode())
        out += spelt
        start = end
    read = list(csv.reader(io.StringIO(out.decode(), newline=""), strict=True))
    assert read == [[v or "NULL" for v in row] for row, _ in passed]


def test_enum_and_set_members_with_a_comma_beside_a_comma_or_line_break_are_parsed() -> None:
    """The spell form keeps such members out of the records that go as they are: the
    replacements would spell NULL inside them."""
    columns = {
        "e": values.Column("e", "enum", "enum('p,,q','r')"),
        "s": values.Column("s", "set", "set('x\n','y')"),
    }
    for spell, expected in ((False, True), (True, False)):
        record = record_pattern(["e", "s"], columns, "", b"\r\n", spell=spell)
        assert record is not None
        for line in ('"p,,q",y\r\n', 'r,"x\n,y"\r\n'):
            assert (re.fullmatch(record, line) is not None) is expected, (spell, line)
        assert re.fullmatch(record, 'r,"y"\r\n')  # the other members go as they are


@pytest.mark.parametrize(
    ("data", "spelt"),
    [
        (b",a,\r\n", b"NULL,a,NULL\r\n"),
        (b'"",x\r\n', b"NULL,x\r\n"),  # "" at the start of the data
        (b'"a""",""\r\n', b'"a""",NULL\r\n'),  # an escaped quote that ends a value
        (b'"""a",""\r\n', b'"""a",NULL\r\n'),  # one that starts a value
        (b'"x,,y",\r\n""\r\n', b'"x,,y",NULL\r\nNULL\r\n'),  # ",," inside quotes is text
        (b'a,"",""\r\n', b"a,NULL,NULL\r\n"),
        (b'"a",b\r\n', b'"a",b\r\n'),  # nothing empty: the same bytes
    ],
)
def test_spelling_at_the_edges(data: bytes, spelt: bytes) -> None:
    assert spell_nulls(data, b"\r\n") == spelt


def test_a_table_with_no_nullable_column_passes_quoted_commas_as_they_are() -> None:
    """With nothing to spell, the spell form's restriction on quoted text does not apply:
    "a,,b" goes to the server as the file has it instead of the parsed way."""
    columns = {
        "k": values.Column("k", "int", "int(11)", nullable=False),
        "v": values.Column("v", "varchar", "varchar(9)", nullable=False),
    }
    records = b'1,"a,,b"\r\n2,"x,\r\ny"\r\n'
    converter = Converter(io.BytesIO(b"k,v\r\n" + records), "k.csv", spell=True)
    header = converter.header()
    assert header == ["k", "v"]
    out = io.BytesIO()
    assert converter.copy(out, header, columns) == 2
    assert out.getvalue() == records
