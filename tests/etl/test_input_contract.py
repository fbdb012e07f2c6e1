"""Input files as job authors really write them, and errors that point at the problem: the
file, the line (the real one), the column and a value short enough to read."""

from __future__ import annotations

import csv
import gzip
import io
import time
from pathlib import Path
from typing import Any

import pytest
from etl_harness import DbServer, keys, manifest, put_csv, read_export, run_etl

from etl.extract import BadInput
from etl.load import _check_header

SCHEMA = """
DROP TABLE IF EXISTS t;
CREATE TABLE t (id INT NOT NULL PRIMARY KEY, note MEDIUMTEXT NULL, doc JSON NULL,
                amount DECIMAL(10, 2) NULL);
"""


def make_job(tmp_path: Path) -> Path:
    folder = tmp_path / "input_job"
    (folder / "export").mkdir(parents=True, exist_ok=True)
    (folder / "schema.sql").write_text(SCHEMA)
    (folder / "export" / "rows.sql").write_text("SELECT id, LENGTH(note) AS n FROM t ORDER BY id")
    return folder


@pytest.fixture
def run(db_server: DbServer, database: str, bucket: str, s3_endpoint: str, tmp_path: Path) -> Any:
    def go(**settings: str) -> Any:
        return run_etl(db_server, database, bucket, s3_endpoint,
                       ETL_JOB=str(make_job(tmp_path)), **settings)  # fmt: skip

    return go


def failed(result: Any, stage: str, *fragments: str) -> str:
    assert result.returncode == 1, result.logs[-2:]
    cause = result.failure["cause"]
    assert result.failure["stage"] == stage, cause
    for fragment in fragments:
        assert fragment in cause, cause
    return str(cause)


def test_a_broken_gzip_file_is_named(run: Any, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="input/t/a.csv.gz", Body=b"\x1f\x8b\x08not gzip at all")
    failed(run(), "load", "input/t/a.csv.gz", "gzip")


def test_a_truncated_gzip_file_is_named(run: Any, s3: Any, bucket: str) -> None:
    body = gzip.compress(("id,note\n" + "".join(f"{i},x\n" for i in range(5000))).encode())
    s3.put_object(Bucket=bucket, Key="input/t/a.csv.gz", Body=body[: len(body) // 2])
    failed(run(), "load", "input/t/a.csv.gz", "gzip")


def test_a_duplicate_key_names_file_line_and_value(run: Any, s3: Any, bucket: str) -> None:
    put_csv(s3, bucket, "input/t/a.csv", "id,note\n1,a\n2,b\n1,c\n")
    failed(run(), "load", "input/t/a.csv line 4, column id (value '1')", "Duplicate entry")


def test_a_duplicate_key_across_files_names_the_second_file(run: Any, s3: Any, bucket: str) -> None:
    put_csv(s3, bucket, "input/t/a.csv", "id,note\n1,a\n2,b\n")
    put_csv(s3, bucket, "input/t/b.csv", "id,note\n3,c\n4,d\n2,e\n")
    failed(run(), "load", "input/t/b.csv line 4, column id (value '2')", "Duplicate entry")


def test_bad_json_names_file_line_and_column(run: Any, s3: Any, bucket: str) -> None:
    put_csv(s3, bucket, "input/t/a.csv", 'id,doc\n1,"{""a"": 1}"\n2,{oops\n3,[]\n')
    failed(run(), "load", "input/t/a.csv line 3, column doc (value '{oops')")


def test_a_bad_byte_is_reported_on_its_real_line(run: Any, s3: Any, bucket: str) -> None:
    good = "".join(f"{i},{'text ' * 10}\n" for i in range(1, 2000)).encode()
    body = b"id,note\n" + good + b"2000,caf\xe9\n" + b"2001,fine\n"
    s3.put_object(Bucket=bucket, Key="input/t/a.csv", Body=body)
    failed(run(), "load", "input/t/a.csv line 2001: not UTF-8")


def test_a_rounded_decimal_fails_the_file(run: Any, s3: Any, bucket: str) -> None:
    put_csv(s3, bucket, "input/t/a.csv", "id,amount\n1,1.5\n2,1.005\n")
    failed(run(), "load", "input/t/a.csv line 3, column amount (value '1.005')")


def test_long_values_and_odd_files_load(run: Any, s3: Any, bucket: str) -> None:
    big = "x" * (1024 * 1024)  # 1 MiB in one field (Python's csv stops at 128 KiB by default)
    put_csv(s3, bucket, "input/t/A.CSV", f'id,note\n1,"{big}"\n2,b\n\n')  # a trailing blank line
    put_csv(s3, bucket, "input/t/b.csv.GZ", "id,note\n3,c\n", gzipped=True)
    s3.put_object(Bucket=bucket, Key="input/t/empty.csv", Body=b"")  # not a file of the table
    result = run()
    assert result.returncode == 0, result.logs[-2:]
    files = manifest(s3, bucket)["inputs"]["t"]["files"]
    assert sorted(f["key"] for f in files) == ["input/t/A.CSV", "input/t/b.csv.GZ"]
    assert [e["key"] for e in result.events("input_skipped")] == ["input/t/empty.csv"]
    exported = manifest(s3, bucket)["exports"]["rows"]["files"]
    _, rows = read_export(s3, bucket, [f["key"] for f in exported])
    assert rows == [["1", str(len(big))], ["2", "1"], ["3", "1"]]


def test_only_empty_objects_are_no_input(run: Any, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="input/t/empty.csv", Body=b"")
    failed(run(), "extract", "no input files for table t")


def test_error_lines_quote_a_short_value(run: Any, s3: Any, bucket: str) -> None:
    put_csv(s3, bucket, "input/t/a.csv", f"id,amount\n1,{'9' * 3_000_000}x\n")
    cause = failed(run(), "load", "input/t/a.csv line 2, column amount")
    assert len(cause) < 2000


def test_the_duplicate_header_check_is_linear() -> None:
    header = [f"c{i}" for i in range(200_000)] * 2
    started = time.monotonic()
    with pytest.raises(BadInput, match="duplicate column"):
        _check_header("k", header, header)
    assert time.monotonic() - started < 30  # quadratic: 8e10 comparisons, hours


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda f: (f / "export" / "rows.sql").unlink(), "no export/*.sql"),
        (lambda f: (f / "export" / "rows.sql").write_text("DELETE FROM t"), "is a SELECT"),
        (lambda f: (f / "export" / "bad name.sql").write_text("SELECT 1"), "names are"),
        (lambda f: (f / "schema.sql").write_bytes(b"CREATE TABLE t (v TEXT) -- caf\xe9"), "utf-8"),
    ],
)
def test_job_folder_problems_exit_2_before_the_lock(
    db_server: DbServer, database: str, bucket: str, s3_endpoint: str, s3: Any, tmp_path: Path,
    change: Any, fragment: str,
) -> None:  # fmt: skip
    folder = make_job(tmp_path)
    change(folder)
    result = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(folder))
    assert result.returncode == 2, result.logs[-2:]
    assert result.failure["stage"] == "job_definition" and fragment in result.failure["cause"]
    assert keys(s3, bucket) == []


SPECIAL = [
    "a\ttab", "back\\slash", "\\N", "\\\\N", "ends with \\", "cr\rlf\r\n", "lf\nlf", "\t",
    "\t\t", "", "NULL", "ünïcödé ✓", '"quoted", comma', "all\tof\\them\r\nhere", "\\t\\n",
    " ", "\x00nul",
]  # fmt: skip


@pytest.mark.parametrize("csv_null", ["", "NULL"])
def test_every_special_character_loads_as_written(
    db_server: DbServer,
    database: str,
    bucket: str,
    s3_endpoint: str,
    s3: Any,
    tmp_path: Path,
    csv_null: str,
) -> None:
    """What MySQL might read otherwise (tab, backslash, line breaks, a literal \\N, the word
    NULL, a lone space) loads as written, whether a record goes to the server as it is or is
    written again; NULL is only what CSV_NULL says (an empty field by default)."""
    body = io.StringIO()
    writer = csv.writer(body, lineterminator="\n")
    writer.writerow(["id", "note"])
    writer.writerows([i, value] for i, value in enumerate(SPECIAL))
    put_csv(s3, bucket, "input/t/a.csv", body.getvalue())
    result = run_etl(db_server, database, bucket, s3_endpoint,
                     ETL_JOB=str(make_job(tmp_path)), CSV_NULL=csv_null)  # fmt: skip
    assert result.returncode == 0, result.logs[-2:]
    with db_server.connect(database) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT id, note FROM t ORDER BY id")
        loaded = dict(cursor.fetchall())
    expected = {i: None if value == csv_null else value for i, value in enumerate(SPECIAL)}
    assert loaded == expected


def one_column_job(tmp_path: Path) -> Path:
    folder = tmp_path / "one_column_job"
    (folder / "export").mkdir(parents=True, exist_ok=True)
    (folder / "schema.sql").write_text("DROP TABLE IF EXISTS w; CREATE TABLE w (v TEXT NULL);")
    (folder / "export" / "rows.sql").write_text("SELECT v FROM w")
    return folder


def loaded_w(db_server: DbServer, database: str) -> list[Any]:
    with db_server.connect(database) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT v FROM w ORDER BY v IS NULL, v")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.parametrize("body", [b"\n\n\n", b"\r\n\r\n", b"\xef\xbb\xbf\n\n"])
def test_a_file_whose_first_line_is_blank_is_refused(
    db_server: DbServer, database: str, bucket: str, s3_endpoint: str, s3: Any, tmp_path: Path,
    body: bytes,
) -> None:  # fmt: skip
    """A first line that is blank is no header: the file is refused, naming it, and loads no
    rows (the header was [], and LOAD DATA's empty column list means every column)."""
    s3.put_object(Bucket=bucket, Key="input/w/a.csv", Body=body)
    result = run_etl(db_server, database, bucket, s3_endpoint,
                     ETL_JOB=str(one_column_job(tmp_path)))  # fmt: skip
    failed(result, "load", "input/w/a.csv line 1", "header")
    assert loaded_w(db_server, database) == []


@pytest.mark.parametrize("csv_null", ["", "NULL"])
def test_a_one_column_file_loads_empty_strings_and_nulls(
    db_server: DbServer, database: str, bucket: str, s3_endpoint: str, s3: Any, tmp_path: Path,
    csv_null: str,
) -> None:  # fmt: skip
    """One column: "" is an empty field (a record of its own, as exports write it), a blank
    line is skipped; with CSV_NULL, "" is an empty string and the marker NULL."""
    put_csv(s3, bucket, "input/w/a.csv", 'v\nx\n""\n\nNULL\n')
    result = run_etl(db_server, database, bucket, s3_endpoint,
                     ETL_JOB=str(one_column_job(tmp_path)), CSV_NULL=csv_null)  # fmt: skip
    assert result.returncode == 0, result.logs[-2:]
    expected = ["", "x", None] if csv_null else ["NULL", "x", None]
    assert loaded_w(db_server, database) == expected


def test_an_input_table_holding_rows_before_the_load_fails_the_run(
    tmp_path: Path, env: tuple[Any, ...], s3: Any
) -> None:
    """`CREATE TABLE IF NOT EXISTS` (a common habit) against a database that outlives the run
    (local runs, `DB_DATABASE` of one's own): main appended the input to the previous run's
    rows, and the second run exported every row twice with exit 0."""
    db_server, database, bucket, s3_endpoint = env
    folder = tmp_path / "kept"
    (folder / "export").mkdir(parents=True)
    (folder / "schema.sql").write_text("CREATE TABLE IF NOT EXISTS kept (id INT, v TEXT);")
    (folder / "export" / "rows.sql").write_text("SELECT COUNT(*) AS n FROM kept")
    put_csv(s3, bucket, "input/kept/a.csv", "id,v\n1,a\n2,b\n")
    first = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(folder))
    assert first.returncode == 0, first.logs[-2:]
    again = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(folder))
    [part] = manifest(s3, bucket)["exports"]["rows"]["files"]
    assert again.returncode == 1, read_export(s3, bucket, [part["key"]])
    assert again.failure["stage"] == "schema"
    assert "kept" in again.failure["cause"] and "already holds rows" in again.failure["cause"]
