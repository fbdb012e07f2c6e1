"""Pure parts of the job, without a database: record splitting, SQL file handling, settings."""

from __future__ import annotations

import gzip
import hashlib
import itertools
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest
from etl_harness import ROOT

from etl.context import RunContext
from etl.export import MAX_LIMIT, Parts, csv_line, outfile_sql, split_records
from etl.jobdef import JobDefinitionError, created_tables, export_query
from etl.settings import BUNDLED_JOB, SettingsError, from_env

CSV = b'1,a\r\n2,"x\r\ny"\r\n3,"say ""hi"", ok"\r\n4,"""\r\n"""\r\n5,b\r\n6,"unfinished\r\n'


def test_split_records_counts_only_crlf_outside_quotes() -> None:
    records, end = split_records(CSV, 100)
    assert records == 5  # the sixth is still open
    assert CSV[end:] == b'6,"unfinished\r\n'


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 5])
def test_split_records_stops_exactly_at_the_limit(limit: int) -> None:
    records, end = split_records(CSV, limit)
    assert records == limit
    lines = [
        b"1,a\r\n",
        b'2,"x\r\ny"\r\n',
        b'3,"say ""hi"", ok"\r\n',
        b'4,"""\r\n"""\r\n',
        b"5,b\r\n",
    ]
    assert CSV[:end] == b"".join(lines[:limit])


def test_split_records_matches_the_records_csv_writer_wrote() -> None:
    """Random rows of awkward text, cut anywhere and with any limit: what comes back is exactly
    the whole records before the cut (the boundaries csv.writer produced), or `limit` of them."""
    rng = random.Random(7)
    pieces = ["a", ",", '"', '""', "\r\n", "\r", "\n", "x y", ""]
    rows = [
        ["".join(rng.choice(pieces) for _ in range(rng.randrange(4))) for _ in range(3)]
        for _ in range(300)
    ]
    records = [csv_line(row) for row in rows]
    data = b"".join(records)
    ends = list(itertools.accumulate(len(r) for r in records))
    for _ in range(2000):
        cut = rng.randrange(len(data) + 1)
        limit = rng.choice([1, 2, 5, 50, 10_000])
        whole = [e for e in ends if e <= cut][:limit]
        assert split_records(data[:cut], limit) == (len(whole), whole[-1] if whole else 0)


def test_split_records_on_nothing_complete() -> None:
    assert split_records(b'7,"open', 10) == (0, 0)
    assert split_records(b"", 10) == (0, 0)


def test_csv_line_quotes_minimally() -> None:
    assert csv_line(["a", "b,c", 'd"e', "f\ng", ""]) == b'a,"b,c","d""e","f\ng",\r\n'


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_created_tables(tmp_path: Path) -> None:
    schema = write(tmp_path, "schema.sql", """
        -- comment with CREATE TABLE fake (x int);
        DROP TABLE IF EXISTS a;
        CREATE TABLE a (id INT);
        create table if not exists `b c` (id INT);
        CREATE TABLE db.d LIKE a;
        CREATE INDEX ix ON a (id);
        CREATE VIEW v AS SELECT 1;
    """)  # fmt: skip
    assert created_tables(schema) == ["a", "b c", "d"]


def test_input_tables_are_not_temporary(tmp_path: Path) -> None:
    # The loader's session of its own (LOAD DATA LOCAL) cannot see another session's tables.
    schema = write(tmp_path, "schema.sql", "CREATE TEMPORARY TABLE t (id INT);")
    with pytest.raises(JobDefinitionError, match="cannot be TEMPORARY"):
        created_tables(schema)


def test_export_queries_are_cleaned_for_wrapping(tmp_path: Path) -> None:
    query = export_query(
        "x", write(tmp_path, "x.sql", "-- head\nSELECT a -- tail\nFROM t ORDER BY a;\n")
    )
    assert query.sql == "SELECT a \nFROM t ORDER BY a"  # each comment read as whitespace
    assert query.ordered and not query.limited
    windowed = export_query(
        "w", write(tmp_path, "w.sql", "SELECT ROW_NUMBER() OVER (ORDER BY a) FROM t")
    )
    assert not windowed.ordered  # inside parentheses: not the query's order


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT a FROM t ORDER  BY a",
        "SELECT a FROM t ORDER\nBY a",
        "SELECT a FROM t ORDER\tBY a",
        "SELECT a FROM t ORDER /* by what */ BY a",
        "SELECT a FROM t ORDER -- by what\n BY a",
        "SELECT a FROM t WHERE a > 1 order\r\n by a",
        "SELECT a FROM t ORDER#the key\nBY a",  # MySQL's # comment, no space before it
        "(SELECT a FROM t ORDER BY a)",
        "((SELECT a FROM t ORDER BY a));",
        "(SELECT a FROM t) UNION (SELECT b FROM u) ORDER BY 1",
    ],
)
def test_order_by_is_found_by_the_tokenizer_in_every_spelling(tmp_path: Path, sql: str) -> None:
    query = export_query("o", write(tmp_path, "o.sql", sql))
    assert query.ordered and not query.limited
    assert f" LIMIT {MAX_LIMIT}) AS export_rows" in outfile_sql(query, ["a"], ["text"], "'/x'")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 'ORDER BY a' AS a FROM t",
        "SELECT `order by` FROM t",
        "SELECT a FROM (SELECT a FROM t ORDER BY a LIMIT 3) AS x",
        "SELECT a FROM t -- ORDER BY a",
    ],
)
def test_order_by_in_strings_names_comments_or_subqueries_is_not_the_query_order(
    tmp_path: Path, sql: str
) -> None:
    assert not export_query("o", write(tmp_path, "o.sql", sql)).ordered


def test_only_selects_are_exports(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="an export is a SELECT, found DELETE"):
        export_query("d", write(tmp_path, "d.sql", "DELETE FROM t"))
    with pytest.raises(Exception, match="exactly one SELECT, found 2"):
        export_query("two", write(tmp_path, "two.sql", "SELECT 1; SELECT 2;"))


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT a FROM t INTO OUTFILE '/tmp/x.csv'",
        "SELECT a INTO DUMPFILE '/tmp/x' FROM t",
        "SELECT a FROM t INTO @v",
        "SELECT a INTO @v FROM t",
        "SELECT a FROM t into\n@v",
        "(SELECT a FROM t) UNION (SELECT a FROM t) INTO @v",
    ],
)
def test_select_into_is_not_an_export(tmp_path: Path, sql: str) -> None:
    with pytest.raises(JobDefinitionError, match=r"INTO .* is not allowed"):
        export_query("i", write(tmp_path, "i.sql", sql))


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT a /*!, secret */ FROM t",
        "SELECT a /*!50700 , secret */ FROM t",
        "SELECT a /*M!100500 , secret */ FROM t",
    ],
)
def test_executable_comments_are_refused_in_exports(tmp_path: Path, sql: str) -> None:
    with pytest.raises(JobDefinitionError, match="executable comments"):
        export_query("h", write(tmp_path, "h.sql", sql))


@pytest.mark.parametrize(
    "sql",
    [
        "(SELECT a FROM t) UNION (SELECT a FROM u)",
        "(SELECT a FROM t) UNION ALL (SELECT a FROM u) ORDER BY a LIMIT 5",
        "((SELECT a FROM t))",
        "WITH x AS (SELECT a FROM t) SELECT a FROM x",
        "SELECT a FROM t /*+ a hint */",
        "SELECT 'INTO @v' AS a",
    ],
)
def test_selects_in_every_form_are_exports(tmp_path: Path, sql: str) -> None:
    export_query("u", write(tmp_path, "u.sql", sql))


@pytest.mark.parametrize(
    ("sql", "clause"),
    [
        ("SELECT a FROM t FOR UPDATE", "FOR UPDATE"),
        ("SELECT a FROM t FOR SHARE", "FOR SHARE"),
        ("SELECT a FROM t LOCK IN SHARE MODE", "LOCK IN"),
        ("SELECT a FROM t PROCEDURE ANALYSE()", "PROCEDURE"),
    ],
)
def test_locking_reads_and_procedures_are_not_exports(
    tmp_path: Path, sql: str, clause: str
) -> None:
    """They cannot be wrapped in the shared path's derived table: refused before the run."""
    with pytest.raises(JobDefinitionError, match=f"an export only reads; {clause} is not"):
        export_query("x", write(tmp_path, "x.sql", sql))


def test_fetch_first_is_a_limit(tmp_path: Path) -> None:
    """No LIMIT is added after a FETCH FIRST (a syntax error on the shared path)."""
    sql = "SELECT a FROM t ORDER BY a FETCH FIRST 3 ROWS ONLY"
    query = export_query("f", write(tmp_path, "f.sql", sql))
    assert query.ordered and query.limited
    assert "FETCH FIRST 3 ROWS ONLY) AS export_rows" in outfile_sql(
        query, ["a"], ["integer"], "'/x'"
    )


def test_ordered_exports_keep_their_order_in_the_server_wrapper(tmp_path: Path) -> None:
    ordered = export_query("o", write(tmp_path, "o.sql", "SELECT a FROM t ORDER BY a"))
    sql = outfile_sql(ordered, ["a"], ["integer"], "'/x'")
    assert f"ORDER BY a LIMIT {MAX_LIMIT}) AS export_rows" in sql
    limited = export_query("l", write(tmp_path, "l.sql", "SELECT a FROM t ORDER BY a LIMIT 5"))
    assert "LIMIT 5) AS export_rows" in outfile_sql(limited, ["a"], ["integer"], "'/x'")
    plain = export_query("p", write(tmp_path, "p.sql", "SELECT a, b FROM t"))
    sql = outfile_sql(plain, ["a", "b"], ["integer", "text"], "'/x/p.csv'")
    assert "INTO OUTFILE '/x/p.csv'" in sql  # before FROM: no deprecation warning
    assert sql.endswith("FROM (SELECT a, b FROM t) AS export_rows")
    assert "IFNULL(`a`, '')" in sql and "REGEXP" in sql  # numbers unchecked


def test_quotes_are_doubled_by_regexp_replace_on_mariadb_only(tmp_path: Path) -> None:
    """MariaDB's REPLACE is quadratic in a value's quotes, its REGEXP_REPLACE on bytes is not;
    MySQL 8.4 refuses binary strings in regular expressions, so it keeps REPLACE (the bytes
    are compared on both servers by test_export_paths and test_stream_client)."""
    plain = export_query("p", write(tmp_path, "p.sql", "SELECT b FROM t"))
    mariadb = outfile_sql(plain, ["b", "n"], ["text", "integer"], "'/x'", mariadb=True)
    assert "REGEXP_REPLACE(CAST(CAST(`b` AS CHAR) AS BINARY), '\"', '\"\"')" in mariadb
    mysql = outfile_sql(plain, ["b", "n"], ["text", "integer"], "'/x'")
    assert "REGEXP_REPLACE" not in mysql and "REPLACE(CAST(`b` AS CHAR), '\"', '\"\"')" in mysql


BASE_ENV = {"DB_HOST": "h", "DB_DATABASE": "d", "DB_USERNAME": "u", "DATA_BUCKET": "b"}


def test_settings_defaults_and_run_folder() -> None:
    settings = from_env({**BASE_ENV, "SCHEDULED_TIME": "2026-11-01T05:00:00+01:00"})
    assert settings.db_port == 3306 and settings.input_prefix == "input/"
    assert settings.output_root == f"output/{BUNDLED_JOB.name}/run=20261101T040000Z/"
    assert settings.db_shared_dir is None and settings.export_part_rows == 1_000_000
    assert settings.progress_seconds == 10


def test_shared_dir_must_exist() -> None:
    with pytest.raises(SettingsError, match="DB_SHARED_DIR='/nope' is not a directory"):
        from_env({**BASE_ENV, "DB_SHARED_DIR": "/nope"})


@pytest.mark.parametrize(
    ("inputs", "outputs"),
    [("data/", "data/"), ("data/", "data/out/"), ("data/in/", "data/"), ("", "output/"),
     ("input/", "")],
)  # fmt: skip
def test_overlapping_prefixes_are_refused(inputs: str, outputs: str) -> None:
    with pytest.raises(SettingsError, match="overlap"):
        from_env({**BASE_ENV, "INPUT_PREFIX": inputs, "OUTPUT_PREFIX": outputs})


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN"])
def test_lock_stale_seconds_must_be_a_finite_number(value: str) -> None:
    with pytest.raises(SettingsError, match="LOCK_STALE_SECONDS"):
        from_env({**BASE_ENV, "LOCK_STALE_SECONDS": value})


@pytest.mark.parametrize(
    "value", ["relative/dir", "/tmp/it's", '/tmp/a"b', "/tmp/a\\b", "/tmp/a\nb"]
)
def test_shared_dir_must_be_a_plain_absolute_path(value: str) -> None:
    with pytest.raises(SettingsError, match=r"DB_SHARED_DIR=.* absolute path without quotes"):
        from_env({**BASE_ENV, "DB_SHARED_DIR": value})


# os.environ turns a byte that is not UTF-8 into a lone surrogate ('\xff' -> '\udcff'): the
# loader's placeholders are such characters, so none may reach it through CSV_NULL.
@pytest.mark.parametrize("value", ["\udcff", "N\udcfeA", "a,b", 'q"', "sp ace", "x" * 17])
def test_csv_null_is_refused_when_it_could_be_read_otherwise(value: str) -> None:
    with pytest.raises(SettingsError, match=r"CSV_NULL=.* must be at most 16 characters"):
        from_env({**BASE_ENV, "CSV_NULL": value})


def test_a_non_utf8_csv_null_from_the_environment_stops_the_job() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "etl", "run"],
        env={**os.environ, **BASE_ENV, "CSV_NULL": "\udcff"},  # the byte 0xff, as os passes it
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    assert done.returncode == 2, done.stdout[-500:]
    assert b"CSV_NULL" in done.stdout


class _S3:
    """The one S3 call a part's upload makes, keeping each object's bytes."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def upload_fileobj(self, reader: Any, bucket: str, key: str, **_: Any) -> None:
        self.objects[key] = reader.read()


def test_a_part_is_the_same_bytes_however_its_records_arrive(tmp_path: Path) -> None:
    """The engines hand the parts their records in pieces of their own: PyMySQL's batches, the
    C client's pipe reads, the chunks of a file the server is still writing (sizes that vary
    with timing). A part's bytes and sha256 (the manifest's) must not: both paths, and a
    rerun of a slot, publish byte-identical parts (docs/outgrowing-the-sidecar.md)."""
    rng = random.Random(7)
    words = [b"alpha", b"beta,", b'"q"', b"12345", "été".encode(), b"x" * 50]
    records = [
        b",".join(rng.choice(words) for _ in range(rng.randrange(1, 8))) + b"\r\n"
        for _ in range(120_000)
    ]
    data = b"".join(records)
    ways: dict[str, list[bytes]] = {
        "whole": [data],
        "batches": [b"".join(records[i : i + 1000]) for i in range(0, len(records), 1000)],
        "records": records,
        "pipe reads": [],
    }
    start = 0
    while start < len(data):  # whole records, up to 64 KiB read at a time
        _, end = split_records(data[start : start + 65536], 10**9)
        ways["pipe reads"].append(data[start : start + end])
        start += end
    digests = {}
    for way, pieces in ways.items():
        s3 = _S3()
        ctx = RunContext(cast(Any, None), s3=s3, bucket="b", workdir=tmp_path)
        parts = Parts(ctx, "out/", "e", ["h"], ["text"], part_rows=10**9)
        for piece in pieces:
            parts.write(piece, piece.count(b"\r\n"))
        [file] = parts.close().files
        [body] = s3.objects.values()
        assert gzip.decompress(body) == b"h\r\n" + data, way
        assert (file.sha256, file.bytes) == (hashlib.sha256(body).hexdigest(), len(body))
        digests[way] = file.sha256[:12]
    assert digests == dict.fromkeys(ways, digests["whole"])
