"""Both LOAD forms (etl/load.py load_data_sql): the converter spelling empty fields NULL and
the server's SET making '' NULL (a table with a TEXT column keeps it) load each file into the
same table, or fail it at the same line and column. test_load_parity.py has hostile text; these are
the edges of spell_nulls: empty first and last fields, "" at record starts and ends, the three
line ends (CR inside quotes with CR ends), mixed ends, a single column, the columns loaded
through a variable (binary), ENUM with '' and SET members, NOT NULL columns, later failures,
commas beside commas or line breaks inside quotes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from etl_harness import job_folder, put_csv, run_etl

SCHEMA = """
DROP TABLE IF EXISTS t;
CREATE TABLE t (
  a VARCHAR(20) NULL, b INT NULL, c VARBINARY(4) NULL, d ENUM('', 'x', 'y,z', 'p,,q') NULL,
  e CHAR(3) NULL, f VARCHAR(3) NULL, g SET('p', 'q') NULL, h VARCHAR(200) NULL
) DEFAULT CHARSET = utf8mb4;
DROP TABLE IF EXISTS s;
CREATE TABLE s (v VARCHAR(10) NULL) DEFAULT CHARSET = utf8mb4;
DROP TABLE IF EXISTS n;
DROP TABLE IF EXISTS w;
CREATE TABLE w (k INT NULL, ts TIMESTAMP NOT NULL) DEFAULT CHARSET = utf8mb4;
CREATE TABLE n (k INT NULL, m VARCHAR(5) NOT NULL, o VARCHAR(5) NULL) DEFAULT CHARSET = utf8mb4;
"""

# The same tables with a TEXT column the files leave NULL: their loads keep the SET.
SCHEMA_SET = SCHEMA.replace(") DEFAULT CHARSET", ", z TEXT NULL) DEFAULT CHARSET")

CASES: dict[str, tuple[str, str]] = {
    "edges_crlf": (
        "t",
        'a,b,c,d,e,f,g,h\r\n,,,,,,,\r\n"",,"",,"","",,""\r\n'
        'x,1,ab,x,abc,xyz,"p,q",""\r\n,2,,"",,,,\r\n"a""",,,"y,z",,"""",,"\r\n"\r\n',
    ),
    "edges_lf": (
        "t",
        'a,b,c,d,e,f,g,h\n,,,,,,,\n"",,"",,"","",,""\nx,1,ab,x,abc,xyz,"p,q",""\n'
        ',2,,"",,,,\n\n"a""",,,"y,z",,"""",,"\n"\n',
    ),
    "edges_cr": (
        "t",
        'a,b,c,d,e,f,g,h\r,,,,,,,\r"",,"",,"","",,""\rx,1,ab,x,abc,xyz,"p,q",""\r'
        ',2,,"",,,,\r"a""",,,"y,z",,"""",,"\r\n"\r,,,,,,,"a\rb"\r',
    ),
    # A comma beside a comma or a line break inside quotes: those records are parsed where the
    # converter spells (the replacements would spell NULL inside them), between ones that are not.
    "commas_in_quotes": (
        "t",
        'a,b,c,d,e,f,g,h\r\n"a,,b",,,"p,,q",,,,\r\n,1,,,,,,\r\n"x,\r\ny",,,,,,,"\n,z"\r\n'
        '",",,,,,",,",,",\r"\r\n,,,x,,,,\r\n',
    ),
    "mixed_ends": ("t", 'a,b,c,d,e,f,g,h\r\n,,,,,,,\n"",,,,,,,\r\n,,,,,,,\r,,,,,,,\r\n'),
    "cr_then_lf": ("t", "a,b,c,d,e,f,g,h\r,1,,,,,,\r\n,2,,,,,,\r"),
    "bom": ("t", "\ufeffa,b,c,d,e,f,g,h\r\n,,,,,,,\r\n"),
    "no_final_end": ("t", "a,b,c,d,e,f,g,h\r\n,,,,,,,\r\n,,,,,,,"),
    "single": ("s", 'v\r\n""\r\n\r\nx\r\n""\r\n"NULL"\r\nNULL\r\n""'),
    "single_cr": ("s", 'v\r""\r\rx\r""\r'),
    "reordered": ("t", 'h,a\r\n,\r\n"",x\r\n'),
    "not_null_later": ("n", "k,m,o\r\n" + ",a,\r\n,b,\r\n" * 3 + ",,\r\n"),
    "not_null_quoted": ("n", 'k,m,o\n,a,\n,"",\n'),
    "too_long_later": ("n", "k,m,o\r\n" + ",a,\r\n" * 5 + ",a,toolong\r\n"),
    "bad_int_later": ("n", "k,m,o\r\n" + ",a,\r\n" * 5 + "1.5,a,\r\n"),
    "not_null_clock": ("w", "k,ts\r\n,2026-01-01 00:00:00\r\n,\r\n"),
    "big": (
        "t",
        "a,b,c,d,e,f,g,h\r\n"
        + "".join(
            f"{'' if i % 3 else i},{'' if i % 2 else i},,{'' if i % 5 else chr(34) * 2},,,,"
            f"{chr(34) + 'q' + chr(34) * 2 + ',' + chr(10) + chr(34) if i % 7 == 0 else ''}\r\n"
            for i in range(150000)
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_both_forms_agree(
    case: str, tmp_path: Path, env: tuple[Any, ...], s3: Any, shared_dir: Path
) -> None:
    db_server, database, bucket, s3_endpoint = env
    table, text = CASES[case]
    for other, head in (("t", "a\n"), ("s", "v\n"), ("n", "k,m\n"), ("w", "k,ts\n")):
        put_csv(s3, bucket, f"input/{other}/f.csv", text if other == table else head)
    seen = []
    # Spelt on the stream path; the SET on the shared one (whose loads are the same LOCAL ones).
    for form, schema, extra in (
        ("spelt", SCHEMA, {}),
        ("set", SCHEMA_SET, {"DB_SHARED_DIR": str(shared_dir)}),
    ):
        folder = job_folder(tmp_path / form, schema)
        run = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(folder), **extra)
        if not run.returncode:  # each file took the form its table picks
            forms = {event["nulls"] for event in run.events("file_loaded")}
            assert forms == {form}, forms
        # Where it failed: MariaDB words a NULL in a NOT NULL column otherwise with a SET.
        cause = run.failure["cause"].split(": ")[0] if run.returncode else None
        with db_server.connect(database) as conn, conn.cursor() as cursor:
            cursor.execute(f"SELECT * FROM {table}")
            rows = sorted(repr(row if form == "spelt" else row[:-1]) for row in cursor.fetchall())
        seen.append((cause, rows))
    assert seen[0] == seen[1]
    assert (seen[0][0] is not None) is (case.endswith("later") or case.startswith("not_null")), seen


def test_a_table_with_a_text_column_keeps_the_set(
    tmp_path: Path, env: tuple[Any, ...], s3: Any
) -> None:
    """Without DB_SHARED_DIR too: long values load faster through the SET (etl/load.py)."""
    db_server, database, bucket, s3_endpoint = env
    folder = job_folder(
        tmp_path / "job",
        "DROP TABLE IF EXISTS l;\nCREATE TABLE l (k INT NOT NULL PRIMARY KEY, v TEXT NULL, "
        "w VARCHAR(9) NULL);\n",
    )
    put_csv(s3, bucket, "input/l/f.csv", 'k,v,w\n1,,x\n2,"",\n3,"a,,b",""\n')
    run = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(folder))
    assert run.returncode == 0, run.logs[-2:]
    assert [event["nulls"] for event in run.events("file_loaded")] == ["set"]
    with db_server.connect(database) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT k, v, w FROM l ORDER BY k")
        assert cursor.fetchall() == ((1, None, "x"), (2, None, None), (3, "a,,b", None))
