"""The loader's value checks on a whole batch at once (etl/load.py _ColumnChecks): one
regular expression of a record over the batch's text, the per-field checks only when it does
not match. These pin that the fast path never lets through what the per-field checks refuse
(a field's spelling may not run into the next field or record), names the right line across
batches, and still normalises times with offsets. The end-to-end cases (a real server) are in
test_sql_values.py."""

from __future__ import annotations

import io
import random
import re

import pytest

from etl import convert as convert_module
from etl import values
from etl.convert import Converter
from etl.extract import BadInput

COLUMNS = {
    "id": values.Column("id", "int", "int(11)"),
    "amount": values.Column("amount", "decimal", "decimal(8,2)", scale=2),
    "at": values.Column("at", "datetime", "datetime", fraction=0),
    "note": values.Column("note", "varchar", "varchar(9)"),
    "code": values.Column("code", "char", "char(4)"),
    "flag": values.Column("flag", "bit", "bit(1)"),
}


def convert(text: str) -> str:
    """`text` (a CSV with a header) as the loader hands it to the server."""
    converter = Converter(io.BytesIO(text.encode()), "k.csv")
    header = converter.header()
    assert header is not None
    out = io.BytesIO()
    converter.copy(out, header, COLUMNS)
    return out.getvalue().decode()


def test_common_spellings_pass_unchanged() -> None:
    """Records whose every field has its common spelling go to the server as the file has
    them (empty fields too: the LOAD's SET makes them NULL)."""
    rows = "".join(f'{i},{i}.5,2026-01-05 10:00:0{i % 10},"a,b",ab\n' for i in range(25))
    text = rows + '99,,"",,\n'
    assert convert("id,amount,at,note,code\n" + text) == text


def test_parsed_records_are_written_again_quoted_with_null_bare() -> None:
    """A BIT column has no common spelling: every record is parsed, checked and written
    again, each field quoted and NULL the bare word (the server reads an unquoted NULL as NULL,
    a quoted one as the text)."""
    rows = "".join(f'{i},{i}.5,2026-01-05 10:00:0{i % 10},"a,""b",ab,{i % 2}\n' for i in range(25))
    lines = convert("id,amount,at,note,code,flag\n" + rows + "99,,,NULL,,\n").splitlines()
    assert len(lines) == 26
    assert lines[3] == '"3","3.5","2026-01-05 10:00:03","a,""b","ab","1"'
    assert lines[-1] == '"99",NULL,NULL,"NULL",NULL,NULL'


@pytest.mark.parametrize(
    ("rows", "line", "column"),
    [
        # A CHAR's trailing space, last in its record: the spelling must not reach into the next.
        ("1,x,ab \n2,y,cd\n", 2, "code"),
        ("1,x,ab\n2,y,cd \n", 3, "code"),
        ("1,x,ab\n2.5,y,cd\n", 3, "id"),
        ('1,x,ab\n2,y,"c\nd "\n', 3, "code"),
    ],
)
def test_a_bad_field_is_named_wherever_it_is(rows: str, line: int, column: str) -> None:
    with pytest.raises(BadInput, match=rf"k.csv line {line}, column {column} "):
        convert("id,note,code\n" + rows)


def test_a_char_field_never_runs_into_the_next_record() -> None:
    """One CHAR column: with a spelling that crossed the record's end, `ab ` and `cd` read as
    one field `ab <end>cd`, which has no trailing space."""
    with pytest.raises(BadInput, match=r"k.csv line 2, column code \(value 'ab '\)"):
        convert("code\nab \ncd\n")


def test_a_bad_field_in_a_later_batch_is_named_by_its_line() -> None:
    count = convert_module._BATCH_ROWS * 2 + 7
    rows = [f"{i},1.25" for i in range(count)]
    rows[count - 3] = f"{count - 3},1.255"  # more places than the column's scale
    with pytest.raises(BadInput, match=rf"k.csv line {count - 1}, column amount \(value '1.255'\)"):
        convert("id,amount\n" + "\n".join(rows) + "\n")


def test_bit_fields_are_checked_though_they_have_no_common_spelling() -> None:
    assert convert("id,flag\n1,1\n2,0\n").splitlines() == ['"1","1"', '"2","0"']
    with pytest.raises(BadInput, match=r"k.csv line 3, column flag \(value '2'\)"):
        convert("id,flag\n1,1\n2,2\n")


def test_a_time_with_an_offset_is_normalised_in_an_otherwise_common_batch() -> None:
    written = convert(
        "id,at\n1,2026-01-05 10:00:00\n2,2026-01-05T10:00:00+02:00\n3,2026-01-05 11:00:00\n"
    )
    assert written.splitlines() == [
        "1,2026-01-05 10:00:00", '"2","2026-01-05 08:00:00"', "3,2026-01-05 11:00:00"
    ]  # fmt: skip


def test_a_batch_of_uncommon_spellings_still_checks_every_column() -> None:
    """Every time has an offset (no batch matches the record's expression): the times are
    normalised, and the other columns are still checked."""
    rows = "".join(f"{i},2026-01-05T10:00:0{i}+01:00\n" for i in range(1, 4))
    assert convert("id,at\n" + rows).splitlines()[2] == '"3","2026-01-05 09:00:03"'
    with pytest.raises(BadInput, match=r"k.csv line 3, column id \(value '2x'\)"):
        convert("id,at\n" + rows.replace("2,", "2x,"))


def test_a_bad_field_after_many_round_amounts_is_named_at_once() -> None:
    """A batch whose text does not match, after many amounts like 12.50 or 3.00: a DECIMAL(8,2)
    spelling (digits, then up to 2 decimals and any zeros) matches a trailing zero two or three
    ways, and the batch's expression backtracked through every combination (160 such rows took
    0.5 s, 250 never ended: a job stuck on one bad value). Each field is matched atomically."""
    rows = [f"{i},{i % 7}.{(i % 3) * 5}0" for i in range(3000)]
    rows[2500] = "2500,1.2.5"
    with pytest.raises(BadInput, match=r"k.csv line 2502, column amount \(value '1.2.5'\)"):
        convert("id,amount\n" + "\n".join(rows) + "\n")
    assert convert("id,amount\n" + "\n".join(rows[:2500]) + "\n").splitlines()[1] == "1,1.50"


KINDS = {
    "state": values.Column("state", "enum", "enum('new','a,b','say \"hi\"')"),
    "tags": values.Column("tags", "set", "set('x','y')"),
    "code": values.Column("code", "char", "char(4)"),
    "must": values.Column("must", "varchar", "varchar(9)", nullable=False),
    "note": values.Column("note", "varchar", "varchar(9)"),
}


def as_is(text: str, null: str = "") -> bool:
    """Whether `text` (records after the header) goes to the server unchanged, whole."""
    header = ["state", "tags", "code", "must", "note"]
    record = convert_module.record_pattern(header, KINDS, null, b"\n")
    assert record is not None
    return re.fullmatch(f"(?:{record})*".encode(), text.encode()) is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('new,x,ab,m,n\n"a,b","x,y","a b",m,""\n"say ""hi""",,,m,\n', True),
        ("a,b,x,ab,m,n\n", False),  # a member with a comma unquoted is two fields
        ('new,"x,z",ab,m,n\n', False),  # not a member
        ('new,x,"ab ",m,n\n', False),  # CHAR's trailing space, inside quotes too
        ("new,x,ab,,n\n", False),  # an empty NOT NULL field: written again as NULL
        ('new,x,ab,"",n\n', False),
        ("new,x,ab,m,NULL\n", False),  # the server reads an unquoted NULL as NULL
        ('new,x,ab,m,"NULL"\n', True),
        ("new,x,ab,m,n\r\n", False),  # another line end than the header's
        ('new,x,ab,m,"n"x\n', False),  # text after a closing quote
        ('new,x,ab,m,n"\n', False),  # a quote in an unquoted field
        ("new,x,ab,m,a\rb\n", False),  # a bare CR: a line end to csv
        ("new,x,ab,m,\0\n", False),
    ],
)
def test_what_goes_to_the_server_as_the_file_spells_it(text: str, expected: bool) -> None:
    assert as_is(text) is expected


def test_with_csv_null_an_empty_field_is_text_and_the_marker_is_parsed() -> None:
    assert as_is("new,x,ab,m,\n", null="NA")  # '' in a text column
    assert not as_is("new,x,ab,m,NA\n", null="NA")
    assert as_is('new,x,ab,m,"NA"\n', null="NA")


def _records_by_hand(data: bytes, term: bytes) -> int:
    """Record ends outside quotes, one byte at a time (the slow, obvious count)."""
    count, inside, i = 0, False, 0
    while i < len(data):
        if data[i : i + 1] == b'"':
            inside = not inside
        elif not inside and data.startswith(term, i):
            count += 1
            i += len(term)
            continue
        i += 1
    return count


@pytest.mark.parametrize("term", [b"\r\n", b"\n", b"\r"])
def test_records_are_counted_outside_quotes_whatever_the_quotes_and_breaks(term: bytes) -> None:
    """count_records drops everything but quotes and line breaks (and adjacent quote pairs)
    before it splits, when no CR stands alone; random records of quotes, doubled quotes,
    commas, CR, LF, CRLF and text inside and outside quoted fields, counted both ways."""
    rng = random.Random(20)
    pieces = [b'"', b'""', b",", b"\r", b"\n", b"\r\n", b"ab", b"\0", b"x y"]
    for _ in range(3000):
        fields = []
        for _ in range(rng.randrange(1, 5)):
            inner = b"".join(rng.choice(pieces) for _ in range(rng.randrange(0, 6)))
            fields.append(
                b'"' + inner.replace(b'"', b'""') + b'"'
                if rng.random() < 0.6
                else inner.replace(b'"', b"").replace(b"\r", b"").replace(b"\n", b"")
            )
        records = [b",".join(fields) for _ in range(rng.randrange(1, 4))]
        data = term.join(records) + (term if rng.random() < 0.7 else b"")
        assert convert_module.count_records(data, term) == _records_by_hand(data, term), data


@pytest.mark.parametrize(("null", "field"), [("", ""), ("", '""'), ("NA", "NA")])
def test_a_null_for_a_not_null_timestamp_is_refused_naming_its_line(null: str, field: str) -> None:
    """The server refuses NULL in a NOT NULL column, but not in a NOT NULL TIMESTAMP: LOAD DATA
    stores the current time there, without a warning (MariaDB 10.11 measured)."""
    columns = {
        "id": values.Column("id", "int", "int(11)"),
        "at": values.Column("at", "timestamp", "timestamp", fraction=0, nullable=False),
    }
    text = f"id,at\n1,2026-01-05 10:00:00\n\n2,{field}\n"
    converter = Converter(io.BytesIO(text.encode()), "k.csv", null)
    header = converter.header()
    assert header is not None
    with pytest.raises(BadInput, match=r"^k\.csv line 4, column at: .*NOT NULL TIMESTAMP"):
        converter.copy(io.BytesIO(), header, columns)


def test_table_columns_reads_the_text_only_sessions_answers() -> None:
    """The job's sessions return MySQL's own text (db.connect: no decoders), so IS_NULLABLE =
    'YES' arrives as '0' or '1': bool('0') made every column nullable, and a NOT NULL
    column's empty field went to the server as it was (a NOT NULL TIMESTAMP's as the current
    time)."""

    class Cursor:
        def execute(self, sql: str, args: tuple[str]) -> None:
            pass

        def fetchall(self) -> list[tuple[str | None, ...]]:
            return [("id", "int", "int(11)", "0", None, "0"), ("at", "timestamp", "timestamp",
                     None, "0", "1")]  # fmt: skip

    found = values.table_columns(Cursor(), "t")
    assert (found["id"].nullable, found["at"].nullable) == (False, True)
    assert (found["id"].scale, found["at"].fraction) == (0, 0)
