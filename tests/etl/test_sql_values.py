"""Loading is lossless or fails (issue 19, points 4, 11 and 12): every value the server would
change without a warning is a load error naming the file, line, column and value; the binary
and BIT encodings the exports write load back to the same bytes; ISO 8601 times with offsets
load as UTC."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest
from etl_harness import manifest, put_csv, read_bytes, run_etl

from etl.values import BadValue, Column, checker

TYPES = {
    "i": "INT", "u": "INT UNSIGNED", "dc": "DECIMAL(8,2)", "f": "FLOAT", "d": "DOUBLE",
    "bt": "BIT(8)", "vb": "VARBINARY(8)", "bl": "BLOB", "bn": "BINARY(3)", "dt": "DATE",
    "ts": "DATETIME", "ts3": "DATETIME(3)", "tz": "TIMESTAMP", "tm": "TIME", "y": "YEAR",
    "e": "ENUM('a','B')", "st": "SET('x','y')", "ch": "CHAR(4)", "tx": "TEXT",
}  # fmt: skip


def job(folder: Path, table: str = "t", export: str = "SELECT * FROM t ORDER BY id") -> Path:
    (folder / "export").mkdir(parents=True)
    columns = ", ".join(f"{name} {kind} NULL" for name, kind in TYPES.items())
    (folder / "schema.sql").write_text(
        f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id INT PRIMARY KEY, {columns});"
    )
    (folder / "export" / "rows.sql").write_text(export)
    return folder


def exported(s3: Any, bucket: str, prefix: str = "output/") -> bytes:
    document = manifest(s3, bucket, output=prefix)
    [part] = document["exports"]["rows"]["files"]
    return gzip.decompress(read_bytes(s3, bucket, part["key"]))


# (column, field, what the server stored without a warning on main)
SILENT = [
    ("i", "1.5", "2"),
    ("i", "1e3", "1000"),
    ("i", " 12", "12"),
    ("bt", "b'101'", "0"),
    ("bt", "256", "255"),
    ("vb", "0x00ff", "the six bytes '0x00ff'"),
    ("d", "1e-400", "0"),
    ("f", "1e-50", "0"),
    ("dt", "26-01-05", "2026-01-05"),
    ("dt", "2026/01/05", "2026-01-05"),
    ("dt", "20260105", "2026-01-05"),
    ("y", "26", "2026"),
    ("y", "5", "2005"),
    ("ts", "2026-01-05 10:00:00.5", "10:00:00 (MariaDB cuts, MySQL rounds)"),
    ("ts3", "2026-01-05 10:00:00.12345", "10:00:00.123"),
    ("tm", "12:30", "12:30:00"),
    ("tm", "1 10:00:00", "34:00:00"),
    ("e", "A", "a"),
    ("st", "X", "x"),
    ("ch", "ab  ", "ab"),
]


@pytest.mark.parametrize(("column", "field", "stored"), SILENT)
def test_a_value_the_server_would_change_fails_the_load(
    column: str, field: str, stored: str, tmp_path: Path, env: tuple[Any, ...], s3: Any
) -> None:
    db_server, database, bucket, s3_endpoint = env
    folder = job(tmp_path / "values")
    put_csv(s3, bucket, "input/t/a.csv", f'id,{column}\n1,\n2,"{field}"\n')
    run = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(folder))
    assert run.returncode == 1, f"loaded as {stored}"
    assert run.failure["stage"] == "load"
    assert f"input/t/a.csv line 3, column {column} (value {field!r}): " in run.failure["cause"]


def test_bit_and_binary_fields_load_as_the_exports_write_them(
    tmp_path: Path, env: tuple[Any, ...], s3: Any
) -> None:
    """BIT as an unsigned integer, binary as hex: main stored '5' as the byte 53 and '00ff' as
    the four bytes of its digits."""
    db_server, database, bucket, s3_endpoint = env
    export = "SELECT bt + 0 AS bits, HEX(vb) AS vb, HEX(bl) AS bl FROM t ORDER BY id"
    folder = job(tmp_path / "encoded", export=export)
    put_csv(s3, bucket, "input/t/a.csv", "id,bt,vb,bl\n1,5,00ff,DEADbeef\n2,0,,\n")
    run = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(folder))
    assert run.returncode == 0, run.logs[-2].get("cause")
    assert exported(s3, bucket) == b"bits,vb,bl\r\n5,00FF,DEADBEEF\r\n0,,\r\n"


def test_every_exported_value_loads_back_to_the_same_bytes(
    tmp_path: Path, env: tuple[Any, ...], s3: Any
) -> None:
    """Export -> load -> export is the identity, binary and BIT included (main loaded the hex
    digits as the bytes and '5' as 53), with CSV_NULL set so empty strings survive."""
    db_server, database, bucket, s3_endpoint = env
    source = job(tmp_path / "source", table="src", export="SELECT * FROM src ORDER BY id")
    (source / "transform").mkdir()
    (source / "transform" / "10_values.sql").write_text(r"""
        INSERT INTO src VALUES
        (1, -2147483648, 4294967295, -123456.78, 3.40282e38, 2.2250738585072014e-308, b'10100101',
         x'00ff0a0d2c22', x'', x'0102', '1000-01-01', '9999-12-31 23:59:59',
         '2026-01-05 10:00:00.123', '2038-01-19 03:14:07', '-838:59:59', 1901, 'B', 'x,y',
         'a b', 'tab\there, "quoted"\r\nline'),
        (2, 0, 0, 0.01, -1.5e-38, -1e-300, b'0', x'', x'00', x'000000', '2026-02-28',
         '2026-02-28 00:00:00', '2026-02-28 00:00:00.000', '1970-01-01 00:00:01', '00:00:00',
         2155, 'a', '', '', ''),
        (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
         NULL, NULL, NULL, NULL, NULL);
    """)  # the table has no input: its rows come from SQL, as any export's do
    put_csv(s3, bucket, "input/src/none.csv", "id\n")
    first = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(source),
                    OUTPUT_PREFIX="first/", CSV_NULL="NULL")  # fmt: skip
    assert first.returncode == 0, first.logs[-2].get("cause")
    original = exported(s3, bucket, "first/")
    put_csv(s3, bucket, "again/t/part.csv", original.decode())
    again = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(job(tmp_path / "back")),
                    INPUT_PREFIX="again/", OUTPUT_PREFIX="second/", CSV_NULL="NULL")  # fmt: skip
    assert again.returncode == 0, again.logs[-2].get("cause")
    assert exported(s3, bucket, "second/") == original
    assert b",00ff0a0d2c22,,010200," in original  # hex on the way out and in (BINARY pads)
    assert b",165," in original  # b'10100101'


@pytest.mark.parametrize(
    ("field", "utc"),
    [
        ("2026-01-05T10:00:00+02:00", "2026-01-05 08:00:00"),
        ("2026-01-05 10:00:00-05:30", "2026-01-05 15:30:00"),
        ("2026-01-05T10:00:00Z", "2026-01-05 10:00:00"),
        ("2026-01-01T00:30:00+01:00", "2025-12-31 23:30:00"),
        ("2026-01-05T10:00:00", "2026-01-05 10:00:00"),  # no offset: UTC, the session's zone
    ],
)
def test_iso_8601_times_with_offsets_load_as_utc(
    field: str, utc: str, tmp_path: Path, env: tuple[Any, ...], s3: Any
) -> None:
    """MariaDB refused an offset ('Data truncated'), MySQL 8.4 converts it: the loader converts
    it to UTC itself, so both servers store the same instant, in DATETIME and TIMESTAMP."""
    db_server, database, bucket, s3_endpoint = env
    folder = job(tmp_path / "offsets", export="SELECT ts, tz, ts3 FROM t ORDER BY id")
    millis = (
        field.replace(":00+", ":00.250+").replace(":00-", ":00.250-").replace(":00Z", ":00.250Z")
    )
    put_csv(s3, bucket, "input/t/a.csv", f"id,ts,tz,ts3\n1,{field},{field},{millis}\n")
    run = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(folder))
    assert run.returncode == 0, run.logs[-2].get("cause")
    expected_ms = f"{utc}.250" if millis != field else f"{utc}.000"
    assert exported(s3, bucket) == f"ts,tz,ts3\r\n{utc},{utc},{expected_ms}\r\n".encode()


def column(
    kind: str, full: str = "", scale: int | None = None, fraction: int | None = None
) -> Column:
    return Column("c", kind, full or kind, scale, fraction)


@pytest.mark.parametrize(
    ("col", "good", "bad"),
    [
        (column("int"), ["0", "-12", "+7", "18446744073709551615"], ["1.0", "", "1_000", "١٢"]),
        (column("decimal", scale=2), ["1.5", "-0.01", ".5", "3.10", "7."], ["1.005", "1e1", "0x1"]),
        (
            column("double"),
            ["1e-300", "-0", "1.5E+10", ".5", "0e0"],
            ["1e-400", "inf", "nan", "1_0"],
        ),
        (column("float"), ["1e-38", "3.4e38", "0.0"], ["1e-50", "infinity"]),
        (column("bit", "bit(3)"), ["0", "7"], ["8", "-1", "b'1'", "0x1"]),
        (column("varbinary"), ["", "00", "FFee"], ["0", "0x00", "zz", "00 ff"]),
        (column("date"), ["2026-01-05", "0000-00-00"], ["26-01-05", "2026/01/05", "2026-1-5"]),
        (column("time", fraction=1), ["-838:59:59", "10:00:00.50"], ["10:00", "10:00:00.55"]),
        (column("year"), ["2026", "0000"], ["26", "5", "02026"]),
        (column("enum", "enum('a','it''s')"), ["a", "it's"], ["A", "b", ""]),
        (column("set", "set('a','b')"), ["", "a", "a,b"], ["A", "a,c"]),
        (column("char"), ["ab", " ab"], ["ab "]),
    ],
)
def test_checks_accept_exactly_the_exported_spellings(
    col: Column, good: list[str], bad: list[str]
) -> None:
    check = checker(col)
    assert check is not None
    for value in good:
        assert check(value) == value
    for value in bad:
        with pytest.raises(BadValue):
            check(value)
