"""SQL read as MySQL reads it (issue 19, points 5, 11 and 12): comments, strings, table names
that are non-reserved keywords or hold backticks, OFFSET n ROWS on both export paths, export
names that fit the files they become."""

from __future__ import annotations

import gzip
import uuid
from pathlib import Path
from typing import Any

import pytest
from etl_harness import DbServer, manifest, put_csv, read_bytes, run_etl

from etl.export import MAX_LIMIT, derived_sql, outer_order
from etl.jobdef import JobDefinitionError, created_tables, export_query, load_job, statements
from etl.validate import check_folder

SCHEMA = "DROP TABLE IF EXISTS t; CREATE TABLE t (id INT PRIMARY KEY);"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("sql", "kept"),
    [
        ("SELECT id, 10--1 AS total FROM t", "10--1 AS total"),  # 10 - (-1)
        ("SELECT id, 10 --\n-1 AS total FROM t", "10 -1 AS total"),  # `--` + newline
        ("SELECT id, 10 -- note\n-1 AS total FROM t", "10 -1 AS total"),
        ("SELECT id, 10 --\t-1 AS total FROM t", "10"),  # a tab is whitespace: comment
        ("SELECT id, '--1 # x /* y */' AS s FROM t", "'--1 # x /* y */' AS s"),
        ("SELECT id, `a--1#b` FROM t", "`a--1#b`"),
        ("SELECT id, 1 # note\n AS one FROM t", "1 AS one"),
        ("SELECT id, 2 /* note; -- */ AS two FROM t", "2 AS two"),
    ],
)
def test_comments_are_mysqls(tmp_path: Path, sql: str, kept: str) -> None:
    """MySQL: `--` starts a comment only when whitespace or a control character follows; `#`
    and `/* */` anywhere outside strings and quoted names. Main read `--1` as a comment."""
    query = export_query("x", write(tmp_path, "x.sql", sql))
    assert kept in " ".join(query.sql.split())
    assert "note" not in query.sql


def test_statements_split_as_mysql_reads_strings_and_comments(tmp_path: Path) -> None:
    """A backslash escapes the next character in a string ('a\\\\' ends there: main ran the
    string on through `\\'` and took both statements as one) and `--1` is no comment (main
    swallowed the `;` after it)."""
    text = "SELECT 'a\\\\' AS s;\nSELECT 2--1;\nSELECT 'it''s; \\'quoted\\'' AS q; -- end\n"
    found = statements(write(tmp_path, "s.sql", text))
    assert [s.strip() for s in found] == [
        "SELECT 'a\\\\' AS s;",
        "SELECT 2--1;",
        "SELECT 'it''s; \\'quoted\\'' AS q;",
    ]


def test_minus_minus_one_is_arithmetic_in_a_run(
    tmp_path: Path, env: tuple[Any, ...], s3: Any
) -> None:
    """The issue's case end to end: main exported a column `10` = 10 instead of `total` = 11."""
    db_server, database, bucket, s3_endpoint = env
    folder = tmp_path / "arith"
    (folder / "export").mkdir(parents=True)
    (folder / "schema.sql").write_text(SCHEMA)
    (folder / "export" / "rows.sql").write_text("SELECT id, 10--1 AS total FROM t ORDER BY id")
    put_csv(s3, bucket, "input/t/t.csv", "id\n1\n")
    run = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(folder))
    assert run.returncode == 0, run.logs[-2].get("cause")
    [part] = manifest(s3, bucket)["exports"]["rows"]["files"]
    assert gzip.decompress(read_bytes(s3, bucket, part["key"])) == b"id,total\r\n1,11\r\n"


def test_every_non_reserved_keyword_is_a_table_name(tmp_path: Path, db_server: DbServer) -> None:
    """The server's own keyword list (information_schema.KEYWORDS): each word the server accepts
    as a table name in `CREATE TABLE <word> (...)` is one `created_tables` finds, spelled with
    and without a space before the parenthesis. Main skipped every keyword (events, data,
    source, names, time...) and read `(` as the name."""
    scratch = f"etl_keywords_{uuid.uuid4().hex[:12]}"
    accepted: list[str] = []
    with db_server.connect() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT word FROM information_schema.keywords ORDER BY word")
        words = [row[0] for row in cursor.fetchall() if row[0].isidentifier()]
        cursor.execute(f"CREATE DATABASE `{scratch}`")
        try:
            cursor.execute(f"USE `{scratch}`")
            for word in words:
                try:
                    cursor.execute(f"CREATE TABLE {word} (id INT)")
                except Exception:  # a reserved word: the server refuses it
                    continue
                accepted.append(word)
                cursor.execute(f"DROP TABLE `{word}`")
        finally:
            cursor.execute(f"DROP DATABASE `{scratch}`")
    assert {"EVENTS", "DATA", "SOURCE", "NAMES", "TIME"} <= set(accepted)
    assert len(accepted) > 200
    schema = "".join(
        f"CREATE TABLE {w.lower()} (id INT);\nCREATE TABLE IF NOT EXISTS db.{w}(id INT);\n"
        for w in accepted
    )
    path = write(tmp_path, "schema.sql", schema)
    assert created_tables(path) == [name for w in accepted for name in (w.lower(), w)]
    assert len(statements(path)) == 2 * len(accepted)  # `begin`, `go`: no statement merged


def test_quoted_table_names_hold_any_character(tmp_path: Path) -> None:
    schema = (
        "CREATE TABLE `a``b` (i INT); CREATE TABLE `select` (i INT); CREATE TABLE `x y.z` (i INT);"
    )
    assert created_tables(write(tmp_path, "schema.sql", schema)) == ["a`b", "select", "x y.z"]


def test_a_table_named_with_a_backtick_loads_and_exports(
    tmp_path: Path, env: tuple[Any, ...], s3: Any
) -> None:
    """`a``b` (the table a`b) with a column c`d: main looked for inputs under `a``b/` and, with
    the name fixed, sent LOAD DATA an unbalanced quote (an unreadable syntax error)."""
    db_server, database, bucket, s3_endpoint = env
    folder = tmp_path / "tick"
    (folder / "export").mkdir(parents=True)
    (folder / "schema.sql").write_text(
        "CREATE TABLE `a``b` (id INT PRIMARY KEY, `c``d` VARCHAR(5) NULL);"
    )
    (folder / "export" / "rows.sql").write_text("SELECT * FROM `a``b` ORDER BY id")
    put_csv(s3, bucket, "input/a`b/t.csv", 'id,c`d\n1,x\n2,"y,z"\n')
    run = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(folder))
    assert run.returncode == 0, run.logs[-2].get("cause")
    [part] = manifest(s3, bucket)["exports"]["rows"]["files"]
    assert gzip.decompress(read_bytes(s3, bucket, part["key"])) == (b'id,c`d\r\n1,x\r\n2,"y,z"\r\n')


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id FROM t ORDER BY id DESC OFFSET 2 ROWS",
        "SELECT id FROM t ORDER BY id DESC OFFSET 2 ROWS FETCH FIRST 3 ROWS ONLY",
        "SELECT id FROM t ORDER BY id DESC LIMIT 3 OFFSET 2",
    ],
)
def test_offset_rows_exports_the_same_on_both_paths(
    sql: str, tmp_path: Path, env: tuple[Any, ...], s3: Any, shared_dir: Path
) -> None:
    """Main: OFFSET n ROWS got a LIMIT appended on the shared path (a syntax error); without
    it MariaDB drops both the order and the offset inside the derived table."""
    db_server, database, bucket, s3_endpoint = env
    folder = tmp_path / "offset"
    (folder / "export").mkdir(parents=True)
    (folder / "schema.sql").write_text(SCHEMA)
    (folder / "export" / "rows.sql").write_text(sql)
    put_csv(s3, bucket, "input/t/t.csv", "id\n" + "".join(f"{i}\n" for i in range(1, 9)))
    outputs = {}
    for path, extra in (("stream", {}), ("shared", {"DB_SHARED_DIR": str(shared_dir)})):
        run = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(folder),
                      OUTPUT_PREFIX=f"{path}/", **extra)  # fmt: skip
        assert run.returncode == 0, (path, run.logs[-2].get("cause"))
        [part] = manifest(s3, bucket, output=f"{path}/")["exports"]["rows"]["files"]
        outputs[path] = gzip.decompress(read_bytes(s3, bucket, part["key"]))
    expected = list(range(6, 0, -1)) if "FETCH" not in sql and "LIMIT" not in sql else [6, 5, 4]
    assert outputs["stream"] == outputs["shared"]
    assert outputs["stream"] == b"id\r\n" + b"".join(b"%d\r\n" % i for i in expected)


def test_an_export_name_too_long_for_its_files_is_refused_by_validate(tmp_path: Path) -> None:
    """Main: 245 characters passed validate, then the run failed after loading (the part file
    `<name>-00000.csv.gz` is longer than a file name may be)."""
    folder = tmp_path / "long"
    (folder / "export").mkdir(parents=True)
    (folder / "schema.sql").write_text(SCHEMA)
    (folder / "export" / f"{'e' * 245}.sql").write_text("SELECT id FROM t")
    findings = [str(f) for f in check_folder(folder)]
    assert any("245 characters; names are at most 64" in f for f in findings), findings
    assert all(not f.startswith("error") for f in check_folder(one_export(tmp_path, "e" * 64)))


def one_export(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / "fits"
    (folder / "export").mkdir(parents=True)
    (folder / "schema.sql").write_text(SCHEMA)
    (folder / "export" / f"{name}.sql").write_text("SELECT id FROM t")
    return folder


@pytest.mark.parametrize(
    ("sql", "warned"),
    [
        ("SELECT id FROM t ORDER BY id OFFSET 2 ROWS", True),
        ("SELECT id FROM t ORDER BY id FETCH FIRST 2 ROWS ONLY", True),
        ("SELECT id FROM t ORDER BY id LIMIT 2 OFFSET 1", False),
        ("SELECT id FROM t ORDER BY id LIMIT 1, 2", False),
        # OFFSET is not reserved: a column of that name is no MariaDB OFFSET clause.
        ("SELECT id, offset FROM t ORDER BY offset", False),
        ("SELECT id FROM t WHERE offset > 0 ORDER BY id OFFSET 2 ROWS", True),
    ],
)
def test_validate_warns_of_mariadb_only_limits(tmp_path: Path, sql: str, warned: bool) -> None:
    """Both paths agree on MariaDB; MySQL 8.4, the deployed sidecar, has only LIMIT."""
    folder = one_export(tmp_path, "rows")
    (folder / "export" / "rows.sql").write_text(sql)
    found = [str(f) for f in check_folder(folder)]
    assert any("MariaDB's syntax" in f and f.startswith("warning") for f in found) == warned


def test_validate_warns_of_an_export_reading_a_variable_a_transform_set(tmp_path: Path) -> None:
    """Exports read a clean session: a newcomer's export reading the transform's @day_start
    got an empty column and validate said nothing (found trying the README's own example)."""
    folder = one_export(tmp_path, "rows")
    (folder / "export" / "rows.sql").write_text(
        "SELECT id, DATE(@scheduled_time) AS slot,\n  @Day_Start AS day, '@quoted' AS q FROM t"
    )
    found = [str(f) for f in check_folder(folder)]
    lost = [f for f in found if "which exports do not see" in f]
    assert len(lost) == 1, found
    assert lost[0].startswith("warning") and "rows.sql:2" in lost[0] and "@Day_Start" in lost[0]


@pytest.mark.parametrize(
    ("file", "sql"),
    [
        ("schema.sql", "CREATE /*! TEMPORARY */ TABLE t (id INT PRIMARY KEY);"),
        ("schema.sql", "CREATE TABLE t (id INT);\n/*M!100000 CREATE TABLE u (id INT)*/;"),
        ("transform/10_step.sql",
         "SELECT 1;\nUPDATE t SET id = 1 /*!50700 , v = CONVERT_TZ(v, 'UTC', 'Asia/Tokyo') */;"),
    ],
)  # fmt: skip
def test_executable_comments_are_refused_in_every_sql_file(
    tmp_path: Path, file: str, sql: str
) -> None:
    """The server runs `/*! ... */` (and MariaDB `/*M! ... */`); main refused them in exports
    only, so a schema's hidden TEMPORARY or a transform's hidden named time zone passed
    validate ("valid") and the run's checks."""
    folder = tmp_path / "hidden"
    (folder / "transform").mkdir(parents=True)
    (folder / "export").mkdir()
    (folder / "schema.sql").write_text("CREATE TABLE t (id INT PRIMARY KEY, v DATETIME);")
    (folder / "transform" / "10_step.sql").write_text("SELECT 1;")
    (folder / "export" / "rows.sql").write_text("SELECT id FROM t")
    (folder / file).write_text(sql)
    line = sql[: sql.index("/*")].count("\n") + 1
    with pytest.raises(JobDefinitionError, match=rf"{file}:{line}: executable comments"):
        load_job(folder)
    errors = [str(f) for f in check_folder(folder) if str(f).startswith("error")]
    assert any("executable comments" in e for e in errors), errors


ID_V = ["id", "v"]


@pytest.mark.parametrize(
    ("sql", "columns", "order"),
    [
        ("SELECT * FROM t", ID_V, ""),
        ("SELECT id, v FROM t ORDER BY id", ID_V, " ORDER BY export_rows.`id`"),
        # Letter case ignored, the export's spelling kept; positions; DESC; quoted names.
        ("SELECT ID, v FROM t ORDER BY `id` DESC, 2", ["ID", "v"],
         " ORDER BY export_rows.`ID` DESC, export_rows.`v`"),
        ("SELECT a AS `x``y`, v FROM t ORDER BY `x``y` asc LIMIT 3", ["x`y", "v"],
         " ORDER BY export_rows.`x``y`"),
        ("SELECT date, v FROM t ORDER BY date DESC OFFSET 2 ROWS", ["date", "v"],
         " ORDER BY export_rows.`date` DESC"),
        ("(SELECT id, v FROM t) UNION (SELECT 1, 2) ORDER BY v", ID_V, " ORDER BY export_rows.`v`"),
        # A plain name is the select list's column of that name, not FROM's.
        ("SELECT v AS id, id AS v FROM t ORDER BY id", ID_V, " ORDER BY export_rows.`id`"),
        # Keys the derived table does not have, or may not mean the same there.
        ("SELECT id, v FROM t ORDER BY other", ID_V, None),
        ("SELECT id, v FROM t ORDER BY t.id", ID_V, None),
        ("SELECT id, v FROM t ORDER BY 3", ID_V, None),
        ("SELECT id, v FROM t ORDER BY 0", ID_V, None),
        ("SELECT id, v FROM t ORDER BY -1", ID_V, None),
        ("SELECT id, v FROM t ORDER BY id + 0", ID_V, None),
        ("SELECT id, v FROM t ORDER BY v COLLATE utf8mb4_bin", ID_V, None),
        ("SELECT id, v FROM t ORDER BY MOD(id, 3), id", ID_V, None),
        ('SELECT id, v FROM t ORDER BY "id"', ID_V, None),  # a string constant, not a name
        # Bare words the server reads as a value, not a name: a column aliased `current_date`
        # is not what ORDER BY CURRENT_DATE means (the date, a constant: the order is id's).
        ("SELECT d AS `current_date`, id FROM t ORDER BY CURRENT_DATE, id",
         ["current_date", "id"], None),
        ("SELECT d AS `true`, id FROM t ORDER BY TRUE, id", ["true", "id"], None),
        ("SELECT d AS `null`, id FROM t ORDER BY null, id", ["null", "id"], None),
        ("SELECT d AS `utc_timestamp`, id FROM t ORDER BY Utc_Timestamp", ["utc_timestamp", "id"],
         None),
        ("SELECT d AS `current_date`, id FROM t ORDER BY `current_date`", ["current_date", "id"],
         " ORDER BY export_rows.`current_date`"),
        # An ORDER BY inside parentheses is not the export's.
        ("SELECT id, SUM(v) OVER (ORDER BY id) AS v FROM t", ID_V, ""),
    ],
)  # fmt: skip
def test_the_export_order_is_sorted_outside_the_derived_table_by_its_own_columns(
    tmp_path: Path, sql: str, columns: list[str], order: str | None
) -> None:
    """MariaDB loses a derived table's inner order once it is Aria: the server-formatted
    engines sort outside it by the ORDER BY's keys when each is one of its columns."""
    query = export_query("rows", write(tmp_path, "rows.sql", sql))
    assert outer_order(query, columns) == order
    # The inner ORDER BY needs a LIMIT to be kept, unless the order is taken outside.
    kept = order is None and not (query.limited or query.offset)
    assert derived_sql(query, order or "").endswith(f"LIMIT {MAX_LIMIT}") == kept


def test_a_column_named_offset_is_no_offset_clause(tmp_path: Path) -> None:
    """MySQL 8.4 does not reserve OFFSET: taken for MariaDB's OFFSET n ROWS, the export got
    `FETCH NEXT … ROWS ONLY` in its derived table, a syntax error on MySQL 8.4."""
    query = export_query("rows", write(tmp_path, "rows.sql", "SELECT id, offset FROM t"))
    assert not query.offset and not query.mariadb_only
    assert derived_sql(query) == "SELECT id, offset FROM t"
