"""A hostile review of the converter (etl/convert.py): inputs where handing the server the
file's own bytes, or parsing only the rest, goes wrong or slow."""

from __future__ import annotations

import csv
import io
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, cast

import pytest
from etl_harness import DbServer, put_csv, run_etl

from etl import convert as convert_module
from etl import values
from etl.convert import Converter
from etl.extract import BadInput

COLUMNS = {
    "id": values.Column("id", "int", "int(11)"),
    "note": values.Column("note", "varchar", "varchar(40)"),
}


def _convert(body: bytes) -> tuple[int, bytes]:
    converter = Converter(io.BytesIO(body), "k.csv")
    header = converter.header()
    assert header is not None
    out = io.BytesIO()
    return converter.copy(out, header, COLUMNS), out.getvalue()


def test_a_bad_byte_deep_in_a_chunk_is_named_at_once() -> None:
    """The records before a bad byte all match the record's expression: the chunk was matched,
    its decoding failed, one record was parsed, and the chunk matched again: a scan of the
    buffer for each record before the bad byte (40,000 records took 155 s)."""
    rows = b"".join(b"%d,hello world\n" % i for i in range(40_000))
    started = time.perf_counter()
    try:
        _convert(b"id,note\n" + rows + b"7,caf\xff\n")
    except BadInput as err:
        assert str(err) == "k.csv line 40002: not UTF-8 (invalid start byte)"
    else:
        raise AssertionError("no error")
    assert time.perf_counter() - started < 5


def test_records_alternating_between_as_is_and_parsed_convert_in_linear_time() -> None:
    """Every other record has an unquoted NULL (parsed, written again as the text "NULL"):
    each parsed record decoded and copied the whole 1 MiB buffer (4 MiB took 55 s)."""
    rows = b"".join(b"%d,hello\n" % i if i % 2 else b"%d,NULL\n" % i for i in range(200_000))
    started = time.perf_counter()
    count, written = _convert(b"id,note\n" + rows)
    assert time.perf_counter() - started < 10
    assert count == 200_000
    lines = written.split(b"\n")
    assert lines[:3] == [b'"0","NULL"', b"1,hello", b'"2","NULL"']
    assert lines[-2:] == [b"199999,hello", b""]


def test_a_field_over_the_limit_is_refused_though_its_record_goes_as_it_is() -> None:
    """Quoted fields hold up to 16 MiB (docs/job-authoring.md); csv refuses a larger one. The
    buffer doubles while a record goes on past it, so a record of 16 to 32 MiB was matched
    whole and handed over as it is: the limit held only in records that were parsed."""
    big = b"x" * (convert_module.FIELD_LIMIT + 1)
    with pytest.raises(BadInput, match=r"k.csv line 3: malformed CSV \(field larger than"):
        _convert(b'id,note\n1,a\n2,"' + big + b'"\n3,b\n')
    # One just under the limit goes as it is.
    rows = b'2,"' + big[:-100] + b'"\n'
    assert _convert(b"id,note\n" + rows) == (1, rows)


HOSTILE_SCHEMA = """
DROP TABLE IF EXISTS h;
CREATE TABLE h (
  id INT NOT NULL PRIMARY KEY,
  l1 VARCHAR(20) CHARACTER SET latin1 NULL,
  t LONGTEXT NULL,
  b VARBINARY(8) NULL,
  e ENUM('x', 'y,z', 'NULL', 'Ü') NULL,
  nn VARCHAR(10) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
DROP TABLE IF EXISTS one;
CREATE TABLE one (v VARCHAR(20) NULL) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
"""
# (file's fields, the row the table must hold): every record goes to the server as it is.
HOSTILE_ROWS = [
    ("1,é,null,00ff,x,a", (1, "é", "null", b"\x00\xff", "x", "a")),
    ('2,"",\\N,,"y,z", ', (2, None, "\\N", None, "y,z", " ")),
    ('3, ,"a\r\nb""\rc",,"NULL",\\', (3, " ", 'a\r\nb"\rc', None, "NULL", "\\")),
    ('4,,"😀 ",,Ü,"x"""', (4, None, "😀 ", None, "Ü", 'x"')),
]


@pytest.mark.parametrize("end", ["\r\n", "\n", "\r"])
def test_records_the_server_reads_as_they_are_load_as_csv_reads_them(
    db_server: DbServer, database: str, bucket: str, s3_endpoint: str, s3: Any, tmp_path: Path,
    end: str,
) -> None:  # fmt: skip
    """Values the server could read otherwise than csv (lower-case null, \\N, a backslash,
    CR and CRLF inside quotes, a doubled quote last, a latin1 column through the LOAD's SET,
    4-byte UTF-8, a quoted ENUM member NULL) in files of each line end, all records handed
    over as they are; and a one-column file with blank lines and "" (NULL)."""
    body = end.join(["id,l1,t,b,e,nn", *(fields for fields, _ in HOSTILE_ROWS)]) + end
    header = Converter(io.BytesIO(body.encode()), "k.csv")
    columns = {
        "l1": values.Column("l1", "varchar", "varchar(20)"),
        "t": values.Column("t", "longtext", "longtext"),
        "b": values.Column("b", "varbinary", "varbinary(8)"),
        "e": values.Column("e", "enum", "enum('x','y,z','NULL','Ü')"),
        "nn": values.Column("nn", "varchar", "varchar(10)", nullable=False),
        "id": values.Column("id", "int", "int(11)", nullable=False),
    }
    names = header.header()
    assert names is not None
    out = io.BytesIO()
    header.copy(out, names, columns)
    assert out.getvalue() == body.split(end, 1)[1].encode()  # all as they are
    put_csv(s3, bucket, "input/h/a.csv", body)
    put_csv(s3, bucket, "input/one/a.csv", end.join(["v", "a", "", '""', "NULL", "b", ""]))
    folder = tmp_path / "hostile_job"
    (folder / "export").mkdir(parents=True)
    (folder / "schema.sql").write_text(HOSTILE_SCHEMA)
    (folder / "export" / "n.sql").write_text("SELECT COUNT(*) AS n FROM h")
    result = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(folder))
    assert result.returncode == 0, result.logs[-2:]
    with db_server.connect(database) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT id, l1, t, b, e, nn FROM h ORDER BY id")
        assert [tuple(row) for row in cursor.fetchall()] == [row for _, row in HOSTILE_ROWS]
        cursor.execute("SELECT v FROM one")
        assert sorted(cursor.fetchall(), key=str) == sorted(
            [("a",), (None,), ("NULL",), ("b",)], key=str
        )


def test_a_server_warning_after_a_blank_line_names_the_real_line(
    db_server: DbServer, database: str, bucket: str, s3_endpoint: str, s3: Any, tmp_path: Path
) -> None:
    """The server numbers the rows it read: blank lines are skipped before it (csv reads them
    as records without fields), so the report counted them as rows and named the line before
    the bad value, without its value."""
    folder = tmp_path / "blank_job"
    (folder / "export").mkdir(parents=True)
    (folder / "schema.sql").write_text(
        "DROP TABLE IF EXISTS t; CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(3) NULL);"
    )
    (folder / "export" / "n.sql").write_text("SELECT COUNT(*) AS n FROM t")
    put_csv(s3, bucket, "input/t/a.csv", "id,v\n1,a\n\n\n2,abcd\n3,b\n")
    result = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(folder))
    assert result.returncode == 1, result.logs[-2:]
    cause = result.failure["cause"]
    assert cause.startswith("input/t/a.csv line 5, column v (value 'abcd'): "), cause


@pytest.mark.parametrize(
    ("last", "error"),
    [
        (b"3.5,c\r\n", r"k.csv line 7, column id \(value '3.5'\)"),
        (b"3,\xff\r\n", r"k.csv line 7: not UTF-8"),
        (b'3,"c\r\n', r"k.csv line 7: malformed CSV"),
    ],
)
def test_a_cr_header_with_crlf_records_names_the_real_line(last: bytes, error: str) -> None:
    """The header's CR is the records' end: each record goes as it is up to the CR of its
    CRLF and its LF is parsed (csv skips it); counted apart, each CRLF was two lines (the
    bad value on line 7 was named on line 12)."""
    body = b"id,note\r" + b"".join(b"%d,a\r\n" % i for i in range(1, 6)) + last
    with pytest.raises(BadInput, match=error):
        _convert(body)


@pytest.mark.parametrize(
    ("null", "rows", "expected"),
    [
        ("", "1,a,1\n2,,2\n", "line 3, column nn (value '')"),
        ("", "1,a,1\n2,b,\n", "line 3, column n (value '')"),
        ("", '1,a,1\n2,"",2\n', "line 3, column nn (value '')"),
        ("NA", "1,a,1\n2,NA,2\n", "line 3, column nn (value 'NA')"),
    ],
)
def test_an_empty_or_null_field_of_a_not_null_column_is_named(
    db_server: DbServer, database: str, bucket: str, s3_endpoint: str, s3: Any, tmp_path: Path,
    null: str, rows: str, expected: str,
) -> None:  # fmt: skip
    """A NOT NULL column's empty field (or unquoted CSV_NULL) is never handed over as it is:
    it is written again as NULL, which the server refuses, named by line, column and value."""
    folder = tmp_path / "not_null_job"
    (folder / "export").mkdir(parents=True)
    (folder / "schema.sql").write_text(
        "DROP TABLE IF EXISTS t; CREATE TABLE t (id INT PRIMARY KEY, nn VARCHAR(5) NOT NULL,"
        " n INT NOT NULL);"
    )
    (folder / "export" / "n.sql").write_text("SELECT COUNT(*) AS n FROM t")
    put_csv(s3, bucket, "input/t/a.csv", "id,nn,n\n" + rows)
    result = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(folder), CSV_NULL=null)
    assert result.returncode == 1, result.logs[-2:]
    assert result.failure["cause"].startswith(f"input/t/a.csv {expected}: "), result.failure
    marker = f"unquoted {null}" if null else "an empty field"  # where the NULL came from
    assert f"({marker} is NULL; CSV_NULL sets the marker)" in result.failure["cause"]


def server_reads(data: bytes, term: bytes) -> list[list[bytes | None]]:
    """The records LOAD DATA reads from `data` with FIELDS TERMINATED BY ',' ENCLOSED BY '"'
    ESCAPED BY '' and LINES TERMINATED BY `term`, as MariaDB's READ_INFO::read_field and
    read_sep_field do (sql/sql_load.cc): a quote opens a field only as its first byte; inside,
    a doubled quote is one, and a quote closes the field only before ',' or the line end
    (else it is data); the line end counts only outside quotes; an unquoted NULL is NULL."""
    rows: list[list[bytes | None]] = []
    i, n = 0, len(data)
    while i < n:
        row: list[bytes | None] = []
        end = False
        while not end:
            enclosed = data.startswith(b'"', i)
            i += enclosed
            value, closed = bytearray(), False
            while True:
                if i >= n:
                    value, end = bytearray(b'"' if enclosed else b"") + value, True
                    break
                if not enclosed and data.startswith(term, i):
                    i, end = i + len(term), True
                    break
                if not enclosed and data[i] == ord(","):
                    i += 1
                    break
                if enclosed and data[i] == ord('"'):
                    if data.startswith(b'"', i + 1):
                        value, i = value + b'"', i + 2
                        continue
                    if i + 1 >= n or data.startswith(term, i + 1):
                        i, end, closed = i + 1 + len(term), True, True
                        break
                    if data.startswith(b",", i + 1):
                        i, closed = i + 2, True
                        break
                value.append(data[i])
                i += 1
            row.append(None if not closed and value == b"NULL" else bytes(value))
        rows.append(row)
    return rows


class _Trickle(io.RawIOBase):
    """A source that returns at most `size` bytes a read (records straddle every read)."""

    def __init__(self, data: bytes, size: int) -> None:
        self.data, self.size, self.at = data, size, 0

    def read(self, n: int = -1) -> bytes:
        out = self.data[self.at : self.at + min(self.size, n if n >= 0 else self.size)]
        self.at += len(out)
        return out


FUZZ_COLUMNS = {
    "a": values.Column("a", "varchar", "varchar(99)"),
    "b": values.Column("b", "varchar", "varchar(99)", nullable=False),
    "c": values.Column("c", "char", "char(99)"),
}
FUZZ_PIECES = [b"a", b",", b'"', b"\r", b"\n", b"\r\n", b" ", b"NULL", b"\xc3\xa9", b'""',
               b"NA", b'"x"', b",,", b"\xff", b"\x00"]  # fmt: skip


def _expected(body: bytes, null: str) -> list[dict[str, str | None]]:
    """The job's contract, from Python's csv module over the whole file; raises on a file
    the loader must refuse."""
    lines = io.StringIO(body.decode("utf-8"), newline="")
    raw: list[str] = []

    def kept() -> Iterator[str]:
        for line in lines:
            raw.append(line)
            yield line

    reader = csv.reader(kept(), strict=True)
    header = next(reader)
    raw.clear()
    rows = []
    for fields in reader:
        quoted = convert_module.quoted_fields("".join(raw)) if null else [False] * len(fields)
        raw.clear()
        if not fields:
            continue
        if len(fields) != len(header):
            raise BadInput("field count")
        row: dict[str, str | None] = {}
        for name, value, was_quoted in zip(header, fields, quoted, strict=False):
            row[name] = None if value == null and not was_quoted else value
            if null == "" and value == "":
                row[name] = None
            if name == "c" and value.endswith(" "):
                raise BadInput("CHAR's trailing space")
        rows.append(row)
    return rows


@pytest.mark.parametrize("spell", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_random_files_load_as_csv_reads_them_through_a_model_of_the_server(
    seed: int, spell: bool
) -> None:
    """Random small files of quotes, commas, CR, LF, CRLF, NULL, NA, NUL and bad bytes, with
    each line end, read through short reads: the loader refuses exactly the files the csv
    module and the checks refuse, and the server (modelled on MariaDB's code) reads from its
    output exactly csv's values, with as many records as the loader counted. Both forms of the
    LOAD: the server's SET making '' NULL, and (`spell`, but for long text) the converter
    spelling each empty field NULL, with no SET: an empty field the server reads is ''."""
    rng = random.Random(seed)
    loads = 0
    for _ in range(400):
        null = rng.choice(["", "", "NA"])
        term = rng.choice([b"\n", b"\r\n", b"\r"])
        header = rng.sample(["a", "b", "c"], rng.randint(1, 3))
        body = ",".join(header).encode() + term
        for _ in range(rng.randint(0, 6)):
            fields = [b"".join(rng.choices(FUZZ_PIECES, k=rng.randint(0, 3))) for _ in header]
            fields = [b'"' + f + b'"' if rng.random() < 0.5 and b'"' not in f else f
                      for f in fields]  # fmt: skip
            ends = [term] * 9 + [b"\n", b"\r\n", b"\r", b""]
            body += b",".join(fields) + rng.choice(ends)
        try:
            expected: list[dict[str, str | None]] | None = _expected(body, null)
        except (csv.Error, BadInput, UnicodeDecodeError):
            expected = None
        source = cast(IO[bytes], _Trickle(body, rng.choice([1, 3, 8, 1 << 20])))
        converter = Converter(source, "k.csv", null, spell=spell)
        out = io.BytesIO()
        try:
            names = converter.header()
            assert names is not None
            count = converter.copy(out, names, FUZZ_COLUMNS)
        except BadInput:
            assert expected is None, body
            continue
        assert expected is not None, body
        read = server_reads(out.getvalue(), converter.term)
        assert len(read) == count, body
        set_ = not null and not converter.spell  # the LOAD's SET: '' is NULL (load_data_sql)
        loaded = []
        for record in read:
            assert len(record) == len(names), body
            loaded.append({
                name: None if value is None or (set_ and not value and name != "b")
                else value.decode()
                for name, value in zip(names, record, strict=True)
            })  # fmt: skip
        assert loaded == expected, (body, out.getvalue())
        loads += 1
    assert loads > 50  # not only files refused
