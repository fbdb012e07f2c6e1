"""The two export paths write the same bytes: rows streamed over a connection (the `mariadb`
client's engine when it is on PATH, as here), and lines the server writes itself (SELECT ...
INTO OUTFILE into the shared directory). Both run the server's row expression, so
tests/etl/test_stream_client.py holds every engine (and PyMySQL's) to an independent oracle."""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path
from typing import Any

import pymysql
import pytest
from etl_harness import DbServer, manifest, put_csv, read_bytes, run_etl

from etl import db, export
from etl.context import RunContext
from etl.jobdef import ExportQuery, export_query
from etl.settings import from_env

SCHEMA = """
DROP TABLE IF EXISTS seed;
CREATE TABLE seed (id INT NOT NULL PRIMARY KEY);
"""
# Values through SQL, so they include what no CSV input could carry (e.g. -0.0, 1e300).
TRANSFORM = r"""
DROP TABLE IF EXISTS nasty;
CREATE TABLE nasty (
  id INT NOT NULL PRIMARY KEY,
  txt TEXT NULL,
  vc VARCHAR(40) NULL,
  dbl DOUBLE NULL,
  flt FLOAT NULL,
  dec20 DECIMAL(20, 6) NULL,
  dt DATETIME NULL,
  dt6 DATETIME(6) NULL,
  d DATE NULL,
  tm TIME NULL,
  yr YEAR NULL,
  big BIGINT UNSIGNED NULL
);
INSERT INTO nasty VALUES
 (1, 'plain', 'x', 1.5, 1.5, 1.5, '2026-10-01 00:00:00', '2026-10-01 00:00:00.123456',
  '2026-10-01', '12:34:56', 2026, 18446744073709551615),
 (2, 'a,b', '"quoted"', -0.0, -1e-10, -0.000001, '1970-01-01 00:00:01', NULL, '1000-01-01',
  '-838:59:59', 1901, 0),
 (3, 'line\nbreak', 'cr\rhere', 1e300, 3.4e38, 99999999999999.999999, NULL,
  '2026-12-31 23:59:59.999999', NULL, NULL, NULL, NULL),
 (4, 'crlf\r\nx', '""', 2.2250738585072014e-308, 0.1, 0, '2026-02-28 12:00:00', NULL, '9999-12-31',
  '00:00:00', 2155, 42),
 (5, '', ' ', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (6, NULL, '', 123456789.125, 7, -5.5, NULL, NULL, NULL, NULL, NULL, NULL),
 (7, 'tab\there', 'back\\slash', 0.1, 0.3, 1, NULL, NULL, NULL, NULL, NULL, NULL),
 (8, 'NULL', '\\N', 1, 1, 1, NULL, NULL, NULL, NULL, NULL, NULL),
 (9, 'ünïcödé 😀 ✓', 'trailing ', 100, 100, 100, NULL, NULL, NULL, NULL, NULL, NULL),
 (10, '=1+1', ',', 3.141592653589793, 2.71828, 2.718281, NULL, NULL, NULL, NULL, NULL, NULL),
 (11, '"', '\n', 1e-300, -3.4e38, -99999999999999.999999, NULL, NULL, NULL, NULL, NULL, NULL);
"""
EXPORTS = {
    # Every type, in a non-trivial order (ORDER BY must survive the shared path's wrapper):
    # by a position and a name, which the server-formatted engines sort by outside it.
    "all_types": "SELECT * FROM nasty ORDER BY 11, `ID` DESC",
    # An ORDER BY by an expression: on MariaDB the PyMySQL engine runs it on both paths.
    "expression_order": "SELECT id, txt FROM nasty ORDER BY MOD(id, 3), id DESC",
    # One column: csv.writer writes an empty field as "" when it is alone on its line. (Not
    # ordered by id, which it does not export: on MariaDB that runs on the PyMySQL engine.)
    "single_text": "SELECT vc FROM nasty",
    "single_number": "SELECT dbl AS only_number FROM nasty ORDER BY only_number DESC",
    "empty_result": "SELECT id, txt FROM nasty WHERE id < 0",
    "grouped": "SELECT MOD(id, 2) AS odd, COUNT(*) AS n, GROUP_CONCAT(vc ORDER BY id) AS vcs "
    "FROM nasty GROUP BY MOD(id, 2) ORDER BY odd",
    "limited": "SELECT id, txt FROM nasty ORDER BY id DESC LIMIT 3",
    "variables": "SELECT @scheduled_time AS at, DATE_FORMAT(@scheduled_time, '%Y-%m') AS month, "
    "'a,\"b\"' AS constant -- a trailing comment\n",
    "unordered": "SELECT id, CONCAT(txt, '|') AS piped FROM nasty WHERE txt IS NOT NULL",
}


def make_job(tmp_path: Path) -> Path:
    folder = tmp_path / "nasty_job"
    (folder / "transform").mkdir(parents=True)
    (folder / "export").mkdir()
    (folder / "schema.sql").write_text(SCHEMA)
    (folder / "transform" / "10_values.sql").write_text(TRANSFORM)
    for name, sql in EXPORTS.items():
        (folder / "export" / f"{name}.sql").write_text(sql)
    return folder


def test_both_paths_write_identical_bytes(
    tmp_path: Path, db_server: DbServer, database: str, bucket: str, s3: Any, s3_endpoint: str,
    shared_dir: Path,
) -> None:  # fmt: skip
    put_csv(s3, bucket, "input/seed/seed.csv", "id\n1\n")
    folder = str(make_job(tmp_path))
    outputs = {}
    for path, extra in (("stream", {}), ("shared", {"DB_SHARED_DIR": str(shared_dir)})):
        run = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=folder,
                      OUTPUT_PREFIX=f"{path}/", EXPORT_PART_ROWS="4", **extra)  # fmt: skip
        assert run.returncode == 0, run.logs[-2:]
        assert run.events("stage_started")[-2]["path"] == path
        outputs[path] = manifest(s3, bucket, output=f"{path}/")
    stream, shared = outputs["stream"]["exports"], outputs["shared"]["exports"]
    assert set(stream) == set(shared) == set(EXPORTS)
    for name in EXPORTS:
        assert stream[name]["columns"] == shared[name]["columns"]
        assert [(f["rows"], f["bytes"], f["sha256"]) for f in stream[name]["files"]] == [
            (f["rows"], f["bytes"], f["sha256"]) for f in shared[name]["files"]
        ], name
        for left, right in zip(stream[name]["files"], shared[name]["files"], strict=True):
            assert read_bytes(s3, bucket, left["key"]) == read_bytes(s3, bucket, right["key"])
    assert list(shared_dir.iterdir()) == [], "the server's files are removed after upload"

    first = gzip.decompress(read_bytes(s3, bucket, stream["all_types"]["files"][0]["key"]))
    # ORDER BY yr (NULLs first), id DESC: rows 11, 10, 9, 8 make the first part.
    assert first.decode() == (
        "id,txt,vc,dbl,flt,dec20,dt,dt6,d,tm,yr,big\r\n"
        '11,"""","\n",1e-300,-3.4e38,-99999999999999.999999,,,,,,\r\n'
        '10,=1+1,",",3.141592653589793,2.71828,2.718281,,,,,,\r\n'
        "9,ünïcödé 😀 ✓,trailing ,100,100,100.000000,,,,,,\r\n"
        "8,NULL,\\N,1,1,1.000000,,,,,,\r\n"
    )
    single = gzip.decompress(read_bytes(s3, bucket, stream["single_text"]["files"][1]["key"]))
    # rows 5-8: ' ' stays as is; '' and NULL alone on a line are written "" (csv.writer's rule)
    assert single == b'vc\r\n \r\n""\r\nback\\slash\r\n\\N\r\n'


# Every column type MariaDB 10.11 has (aliases such as BOOLEAN or NATIONAL CHAR included), and
# expressions whose type only a result has. Row 1 holds values, row 2 NULL everywhere, row 3
# the empty and awkward ones. MySQL 8.4's own types are covered by the same rules: its JSON
# is text (kind json), its spatial types binary (kind binary): docs/job-authoring.md.
EVERY_TYPE = r"""
DROP TABLE IF EXISTS every_type;
CREATE TABLE every_type (
  id INT NOT NULL PRIMARY KEY,
  ti TINYINT NULL, tiu TINYINT UNSIGNED NULL, si SMALLINT NULL, mi MEDIUMINT NULL,
  i INT NULL, bi BIGINT NULL, biu BIGINT UNSIGNED NULL, bo BOOLEAN NULL,
  de DECIMAL(12, 3) NULL, fl FLOAT NULL, db DOUBLE NULL, dp DOUBLE PRECISION NULL,
  b1 BIT(1) NULL, b64 BIT(64) NULL,
  d DATE NULL, t TIME(3) NULL, dt DATETIME(6) NULL, ts TIMESTAMP NULL DEFAULT NULL, y YEAR NULL,
  c CHAR(5) NULL, vc VARCHAR(20) NULL, nc NATIONAL CHAR(3) NULL,
  l1 VARCHAR(20) CHARACTER SET latin1 NULL, vbin VARCHAR(20) COLLATE utf8mb4_bin NULL,
  bn BINARY(4) NULL, vb VARBINARY(20) NULL,
  tb TINYBLOB NULL, bl BLOB NULL, mb MEDIUMBLOB NULL, lb LONGBLOB NULL,
  tt TINYTEXT NULL, tx TEXT NULL, mt MEDIUMTEXT NULL, lt LONGTEXT NULL,
  en ENUM('a', 'b,c', '') NULL, st SET('x', 'y') NULL, js JSON NULL,
  uu UUID NULL, i4 INET4 NULL, i6 INET6 NULL,
  ge GEOMETRY NULL, pt POINT NULL, ls LINESTRING NULL, pg POLYGON NULL, mp MULTIPOINT NULL,
  ml MULTILINESTRING NULL, mpg MULTIPOLYGON NULL, gc GEOMETRYCOLLECTION NULL
);
INSERT INTO every_type VALUES
 (1, -128, 255, -32768, 8388607, -2147483648, -9223372036854775808, 18446744073709551615, TRUE,
  -123456789.125, 1.25, 2.5e300, -1e-300, b'1', x'FFFFFFFFFFFFFFFF',
  '2026-10-01', '-838:59:59.000', '2026-10-01 12:34:56.123456', '2026-10-01 12:00:00', 2026,
  'ab,c', 'say "hi"', 'ñ', 'café', 'Case', x'00FF0A0D', x'2C22FF00',
  x'C0', x'00', x'0D0A', x'E2828C', 'a,b', 'x\r\ny', '"', 'ünï 😀',
  'b,c', 'x,y', '{"a": [1, "b,c"]}',
  '123e4567-e89b-12d3-a456-426614174000', '192.168.0.1', '2001:db8::1',
  ST_GeomFromText('POINT(1 2)'), POINT(3, 4), ST_GeomFromText('LINESTRING(0 0,1 1)'),
  ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0))'), ST_GeomFromText('MULTIPOINT(0 0,1 1)'),
  ST_GeomFromText('MULTILINESTRING((0 0,1 1))'),
  ST_GeomFromText('MULTIPOLYGON(((0 0,1 0,1 1,0 0)))'),
  ST_GeomFromText('GEOMETRYCOLLECTION(POINT(1 1))')),
 (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL),
 (3, 0, 0, 0, 0, 0, 0, 0, FALSE, 0, 0, 0, 0, b'0', b'0', '1000-01-01', '00:00:00',
  '1000-01-01 00:00:00', '1970-01-01 00:00:01', 1901, '', '', '', '', '', x'00000000', x'', x'',
  x'', x'', x'', '', '', '', '', '', '', '[]', '00000000-0000-0000-0000-000000000000', '0.0.0.0',
  '::', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
"""


def for_mysql(sql: str) -> str:
    """EVERY_TYPE without MariaDB's own types (UUID, INET4, INET6), for MySQL 8.4 (CI runs it)."""
    for mariadb_only in (
        "  uu UUID NULL, i4 INET4 NULL, i6 INET6 NULL,\n",
        "  '123e4567-e89b-12d3-a456-426614174000', '192.168.0.1', '2001:db8::1',\n",
        " '00000000-0000-0000-0000-000000000000', '0.0.0.0',\n  '::',",
    ):
        assert mariadb_only in sql, mariadb_only
        sql = sql.replace(mariadb_only, "")
    return sql.replace("(2, NULL, NULL, NULL, ", "(2, ")


EVERY_TYPE_EXPORTS = {
    "every_type": "SELECT * FROM every_type ORDER  BY\n id DESC",
    "expressions": "SELECT id, CAST(vc AS BINARY) AS bin, UNHEX('00ff') AS unhexed, "
    "NULL AS nothing, b64 + 0 AS bits_as_number, CONCAT(vb, 'x') AS mixed, "
    "COMPRESS(tx) AS packed FROM every_type ORDER\tBY id",
    "single_binary": "SELECT vb FROM every_type ORDER /* the key */ BY id",
    "single_uuid": "SELECT uu FROM every_type ORDER -- the key\n BY id",
}


def test_every_column_type_is_written_the_same_by_both_paths(
    tmp_path: Path, db_server: DbServer, database: str, bucket: str, s3: Any, s3_endpoint: str,
    shared_dir: Path,
) -> None:  # fmt: skip
    with db_server.connect() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT VERSION()")
        mariadb = "MariaDB" in cursor.fetchone()[0]
    exports = {k: v for k, v in EVERY_TYPE_EXPORTS.items() if mariadb or k != "single_uuid"}
    folder = tmp_path / "every_type"
    (folder / "transform").mkdir(parents=True)
    (folder / "export").mkdir()
    (folder / "schema.sql").write_text(SCHEMA)
    (folder / "transform" / "10_values.sql").write_text(
        EVERY_TYPE if mariadb else for_mysql(EVERY_TYPE)
    )
    for name, sql in exports.items():
        (folder / "export" / f"{name}.sql").write_text(sql)
    put_csv(s3, bucket, "input/seed/seed.csv", "id\n1\n")
    outputs = {}
    for path, extra in (("stream", {}), ("shared", {"DB_SHARED_DIR": str(shared_dir)})):
        run = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(folder),
                      OUTPUT_PREFIX=f"{path}/", **extra)  # fmt: skip
        assert run.returncode == 0, run.logs[-2:]
        outputs[path] = manifest(s3, bucket, output=f"{path}/")["exports"]
    texts = {}
    for name in exports:
        stream, shared = outputs["stream"][name], outputs["shared"][name]
        assert stream["column_kinds"] == shared["column_kinds"], name
        [left], [right] = stream["files"], shared["files"]
        data = read_bytes(s3, bucket, left["key"])
        assert data == read_bytes(s3, bucket, right["key"]), name
        texts[name] = gzip.decompress(data).decode("utf-8")

    kinds = outputs["stream"]["every_type"]["column_kinds"]
    binary = {"bn", "vb", "tb", "bl", "mb", "lb", "ge", "pt", "ls", "pg", "mp", "ml", "mpg", "gc"}
    assert {c for c, k in kinds.items() if k == "binary"} == binary
    assert kinds["b1"] == kinds["b64"] == "bit" and kinds["js"] in {"text", "json"}
    assert kinds["en"] == kinds["vbin"] == "text"
    assert kinds["dt"] == "datetime" and kinds["de"] == "decimal" and kinds["biu"] == "integer"

    rows = list(csv.DictReader(io.StringIO(texts["every_type"], newline="")))
    assert [r["id"] for r in rows] == ["3", "2", "1"], "ORDER  BY\\n kept on the shared path"
    assert all(None not in r and None not in r.values() for r in rows), "no field dropped"
    full, nulls, empty = rows[2], rows[1], rows[0]
    assert set(nulls.values()) == {"", "2"}
    assert full["bn"] == "00ff0a0d" and full["vb"] == "2c22ff00" and full["tb"] == "c0"
    assert full["b1"] == "1" and full["b64"] == "18446744073709551615" and empty["b64"] == "0"
    assert full["pt"].startswith("00000000010100000000")
    assert full["c"] == "ab,c" and full["vc"] == 'say "hi"' and full["l1"] == "café"
    assert full["js"] == '{"a": [1, "b,c"]}' and full["st"] == "x,y"
    assert empty["bn"] == "00000000" and empty["vb"] == ""
    expressions = list(csv.DictReader(io.StringIO(texts["expressions"], newline="")))
    assert expressions[0]["bin"] == b'say "hi"'.hex() and expressions[0]["unhexed"] == "00ff"
    assert expressions[0]["bits_as_number"] == "18446744073709551615"
    assert [r["nothing"] for r in expressions] == ["", "", ""]
    assert texts["single_binary"] == 'vb\r\n2c22ff00\r\n""\r\n""\r\n'
    if mariadb:  # its UUID and INET6 columns: a NULL must not drop the field
        assert kinds["uu"] == kinds["i6"] == "text"
        assert full["uu"].startswith("123e4567") and full["i6"] == "2001:db8::1"
        assert empty["uu"].startswith("00000000-")
        assert texts["single_uuid"].split("\r\n")[2:] == [
            '""',
            "00000000-0000-0000-0000-000000000000",
            "",
        ]


def test_csv_null_tells_empty_strings_from_null_on_both_paths(
    tmp_path: Path, db_server: DbServer, database: str, bucket: str, s3: Any, s3_endpoint: str,
    shared_dir: Path,
) -> None:  # fmt: skip
    folder = tmp_path / "nulls"
    (folder / "export").mkdir(parents=True)
    (folder / "schema.sql").write_text(
        "DROP TABLE IF EXISTS t; CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(10) NULL, "
        "n INT NULL, b VARBINARY(4) NULL);"
    )
    (folder / "export" / "rows.sql").write_text(
        "SELECT id, s, n, b, s IS NULL AS s_null FROM t ORDER BY id"
    )
    (folder / "export" / "single.sql").write_text("SELECT s FROM t")  # (in the key's order)
    put_csv(s3, bucket, "input/t/t.csv", "id,s,n\n1,,5\n2,NULL,NULL\n3,x,7\n")
    texts = {}
    for path, extra in (("stream", {}), ("shared", {"DB_SHARED_DIR": str(shared_dir)})):
        run = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(folder),
                      OUTPUT_PREFIX=f"{path}/", CSV_NULL="NULL", **extra)  # fmt: skip
        assert run.returncode == 0, run.logs[-2:]
        document = manifest(s3, bucket, output=f"{path}/")
        assert document["csv_null"] == "NULL"
        for name in ("rows", "single"):
            [part] = document["exports"][name]["files"]
            texts[path, name] = gzip.decompress(read_bytes(s3, bucket, part["key"]))
    assert (
        texts["stream", "rows"]
        == texts["shared", "rows"]
        == (b"id,s,n,b,s_null\r\n1,,5,NULL,0\r\n2,NULL,NULL,NULL,1\r\n3,x,7,NULL,0\r\n")
    )
    assert texts["stream", "single"] == texts["shared", "single"] == b's\r\n""\r\nNULL\r\nx\r\n'


def export_on_both_paths(
    folder: Path, db_server: DbServer, database: str, bucket: str, s3: Any, s3_endpoint: str,
    shared_dir: Path,
) -> dict[str, bytes]:  # fmt: skip
    """The job folder run once per export path; its `rows` export's bytes by path."""
    outputs = {}
    for path, extra in (("stream", {}), ("shared", {"DB_SHARED_DIR": str(shared_dir)})):
        run = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(folder),
                      OUTPUT_PREFIX=f"{path}/", **extra)  # fmt: skip
        assert run.returncode == 0, (path, run.logs[-2].get("cause"))
        [part] = manifest(s3, bucket, output=f"{path}/")["exports"]["rows"]["files"]
        outputs[path] = gzip.decompress(read_bytes(s3, bucket, part["key"]))
    return outputs


def test_utf16_utf32_and_ucs2_text_columns_export_the_same_on_both_paths(
    tmp_path: Path, db_server: DbServer, database: str, bucket: str, s3: Any, s3_endpoint: str,
    shared_dir: Path,
) -> None:  # fmt: skip
    """Text columns in a Unicode character set other than utf8mb4: the shared path's row
    expression must not mix their collation with utf8mb4's (MariaDB: "Illegal mix of
    collations ... for operation 'case'"), and both paths write the same bytes."""
    folder = tmp_path / "wide_charsets"
    (folder / "export").mkdir(parents=True)
    (folder / "schema.sql").write_text(
        "DROP TABLE IF EXISTS t; CREATE TABLE t (id INT PRIMARY KEY, "
        "u16 VARCHAR(20) CHARACTER SET utf16 NULL, u32 VARCHAR(20) CHARACTER SET utf32 NULL, "
        "uc VARCHAR(20) CHARACTER SET ucs2 NULL);"
    )
    (folder / "export" / "rows.sql").write_text("SELECT id, u16, u32, uc FROM t ORDER BY id")
    put_csv(s3, bucket, "input/t/t.csv",
            'id,u16,u32,uc\n1,"a,b","q""q",plain\n2,\xe9,"x\r\ny",\xf1\n3,,,\n')  # fmt: skip
    outputs = export_on_both_paths(folder, db_server, database, bucket, s3, s3_endpoint, shared_dir)
    assert (
        outputs["stream"]
        == outputs["shared"]
        == ('id,u16,u32,uc\r\n1,"a,b","q""q",plain\r\n2,\xe9,"x\r\ny",\xf1\r\n3,,,\r\n'.encode())
    )


def test_session_settings_a_transform_changes_do_not_reach_the_exports(
    tmp_path: Path, db_server: DbServer, database: str, bucket: str, s3: Any, s3_endpoint: str,
    shared_dir: Path,
) -> None:  # fmt: skip
    """Transforms share the exports' session: a time zone, character set or SQL mode one of them
    sets must not shift times, break the decoding (stream) or the file's line ends (shared)."""
    folder = tmp_path / "session"
    (folder / "transform").mkdir(parents=True)
    (folder / "export").mkdir()
    (folder / "schema.sql").write_text(
        "DROP TABLE IF EXISTS t; CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(20) NULL);"
    )
    (folder / "transform" / "10_session.sql").write_text(
        "SET time_zone = '+05:00'; SET NAMES latin1; "
        "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES');"
    )
    (folder / "export" / "rows.sql").write_text(
        "SELECT id, s, FROM_UNIXTIME(0) AS epoch FROM t ORDER BY id"
    )
    put_csv(s3, bucket, "input/t/t.csv", 'id,s\n1,"caf\xe9, back\\\\slash"\n')
    outputs = export_on_both_paths(folder, db_server, database, bucket, s3, s3_endpoint, shared_dir)
    expected = 'id,s,epoch\r\n1,"caf\xe9, back\\\\slash",1970-01-01 00:00:00\r\n'.encode()
    assert outputs["stream"] == outputs["shared"] == expected


def test_the_column_probe_tells_which_texts_are_utf8_already_and_restores_the_session(
    db_server: DbServer, database: str, tmp_path: Path
) -> None:
    """Text whose bytes are utf8mb4 already skips CAST(... AS CHAR) in the row expression (the
    probe reads each column's own character set with character_set_results NULL); every
    other column keeps it. The session's results are utf8mb4 again afterwards, also when the
    query fails (PyMySQL decodes with utf8mb4)."""
    settings = from_env({"DB_HOST": db_server.host, "DB_PORT": str(db_server.port),
                         "DB_DATABASE": database, "DB_USERNAME": db_server.user,
                         "DB_PASSWORD": db_server.password, "DATA_BUCKET": "b"})  # fmt: skip
    with db.connect(settings) as conn, conn.cursor() as cursor:
        mariadb = export.is_mariadb(conn)
        cursor.execute(
            "CREATE TABLE cs (m VARCHAR(5), m3 VARCHAR(5) CHARACTER SET utf8mb3, "
            "a VARCHAR(5) CHARACTER SET ascii, l VARCHAR(5) CHARACTER SET latin1, "
            "w VARCHAR(5) CHARACTER SET utf16, t MEDIUMTEXT, b VARBINARY(5), n INT, "
            "e ENUM('x'), d DATETIME, j JSON"
            + (", u UUID" if mariadb else "")
            + ") DEFAULT CHARSET = utf8mb4"
        )
        ctx = RunContext(conn, s3=None, bucket="b", workdir=tmp_path)
        sql = "SELECT *, CONCAT(l, 'x') AS lx, CONCAT(m, 'x') AS mx FROM cs"
        found = export.export_columns(ctx, ExportQuery("q", sql, False, False))
        expected = {
            "m": True, "m3": True, "a": False, "l": False, "w": False, "t": True, "b": False,
            "n": False, "e": True, "d": False,
            "j": mariadb,  # MariaDB's JSON is LONGTEXT; MySQL's its own type (CAST kept)
            "lx": False, "mx": True,
        }  # fmt: skip
        if mariadb:
            expected["u"] = False  # a UUID's text is not its bytes (it reports latin1)
        assert dict(zip(found.names, found.utf8, strict=True)) == expected
        cursor.execute("SELECT @@character_set_results")
        assert cursor.fetchone() == ("utf8mb4",)
        with pytest.raises(pymysql.err.MySQLError):
            export.export_columns(ctx, ExportQuery("q", "SELECT nope FROM cs", False, False))
        cursor.execute("SELECT @@character_set_results")
        assert cursor.fetchone() == ("utf8mb4",)


def test_order_by_survives_rows_with_long_text_on_every_engine(
    tmp_path: Path, db_server: DbServer, database: str, bucket: str, s3: Any, s3_endpoint: str,
    shared_dir: Path,
) -> None:  # fmt: skip
    """An export's ORDER BY is its rows' order on every engine. The shared path and the C
    client wrap the export in a derived table; MariaDB materialises it into an Aria temporary
    table when a column is TEXT/BLOB (a JSON column, a long GROUP_CONCAT), or when its rows
    are too large for tmp_table_size in memory, and a scan of that table returned rows of
    ~1 KB or more after short ones inserted after them (MariaDB 10.11: ids 21, 28 … 56 of 60
    came last). So those engines sort outside the derived table by the ORDER BY's keys when
    each is one of the export's columns (by name or position); on MariaDB any other ORDER BY
    runs on the PyMySQL engine (logged). MySQL 8.4's temporary tables keep the order."""
    with db_server.connect() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT VERSION()")
        mariadb = "MariaDB" in cursor.fetchone()[0]
    folder = tmp_path / "long_text"
    (folder / "transform").mkdir(parents=True)
    (folder / "export").mkdir()
    (folder / "schema.sql").write_text(SCHEMA)
    (folder / "transform" / "10_notes.sql").write_text(
        "DROP TABLE IF EXISTS notes; CREATE TABLE notes (id INT NOT NULL PRIMARY KEY, "
        "body TEXT NOT NULL) DEFAULT CHARSET = utf8mb4;\n"
        "INSERT INTO notes WITH RECURSIVE n (id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM n "
        "WHERE id < 60) SELECT id, IF(id % 7 = 0, REPEAT('x', 3000), CONCAT('short ', id)) "
        "FROM n;\n"
        # No TEXT, but 36,000 rows of a VARCHAR(3000): more than tmp_table_size in memory,
        # so the derived table spills to Aria too.
        "DROP TABLE IF EXISTS spill; CREATE TABLE spill (id INT NOT NULL PRIMARY KEY, "
        "v VARCHAR(3000) NOT NULL) DEFAULT CHARSET = utf8mb4;\n"
        "INSERT INTO spill SELECT k, IF(k % 7 = 0, REPEAT('x', 2500), 'short') FROM "
        "(SELECT (a.id - 1) * 600 + (b.id - 1) * 10 + d.d + 1 AS k FROM notes a, notes b, "
        "(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL "
        "SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 "
        "UNION ALL SELECT 9) AS d) AS keys_;"
    )
    (folder / "export" / "rows.sql").write_text("SELECT id, body FROM notes ORDER BY id")
    (folder / "export" / "spilled.sql").write_text("SELECT id, v FROM spill ORDER BY 1")
    # Keys the derived table does not have: a column it does not export, an expression.
    (folder / "export" / "hidden.sql").write_text("SELECT body, id AS `n` FROM notes ORDER BY id")
    (folder / "export" / "expression.sql").write_text("SELECT id, v FROM spill ORDER BY -id DESC")
    # A column named like a word the server reads as a value: ORDER BY CURRENT_DATE is the
    # date (a constant), so this export's order is id's, not the column's.
    (folder / "export" / "constant.sql").write_text(
        "SELECT id % 7 AS `current_date`, id FROM notes ORDER BY CURRENT_DATE, id"
    )
    fallback = {"hidden", "expression", "constant"} if mariadb else set()
    put_csv(s3, bucket, "input/seed/seed.csv", "id\n1\n")
    engines = {
        "client": {},
        "pymysql": {"PATH": ""},
        "shared": {"DB_SHARED_DIR": str(shared_dir)},
    }
    wrong = {}
    for engine, extra in engines.items():
        run = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(folder),
                      OUTPUT_PREFIX=f"{engine}/", **extra)  # fmt: skip
        assert run.returncode == 0, (engine, run.logs[-2:])
        on_pymysql = {e["export"] for e in run.events("export_engine") if e["engine"] == "pymysql"}
        assert on_pymysql == (fallback if engine != "pymysql" else set()), engine
        exports = manifest(s3, bucket, output=f"{engine}/")["exports"]
        cases = (("rows", 60, "id"), ("spilled", 36_000, "id"), ("hidden", 60, "n"),
                 ("expression", 36_000, "id"), ("constant", 60, "id"))  # fmt: skip
        for name, rows, key in cases:
            [part] = exports[name]["files"]
            text = gzip.decompress(read_bytes(s3, bucket, part["key"])).decode()
            ids = [int(row[key]) for row in csv.DictReader(io.StringIO(text, newline=""))]
            if ids != list(range(1, rows + 1)):
                wrong[f"{engine}/{name}"] = next(i for i, v in enumerate(ids, 1) if v != i)
    assert not wrong, f"rows out of ORDER BY id (first wrong position): {wrong}"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id, v FROM un_a UNION ALL SELECT id, v FROM un_b ORDER BY id DESC",
        "(SELECT id, v FROM un_a) UNION ALL (SELECT id, v FROM un_b) ORDER BY 1 DESC",
        "SELECT id, v FROM un_a UNION SELECT id, v FROM un_b ORDER BY v, id DESC",
        "SELECT id, v FROM un_a ORDER BY id DESC",
        "(SELECT id, v FROM un_a) ORDER BY id DESC",
        "WITH c AS (SELECT id, v FROM un_b ORDER BY v) SELECT id, v FROM c ORDER BY `ID` DESC",
    ],
)
def test_an_ordered_export_is_sorted_once_by_the_server_formatted_engines(
    db_server: DbServer, database: str, tmp_path: Path, sql: str
) -> None:
    """The ORDER BY taken outside the derived table is the statement's only sort: MariaDB
    keeps a UNION's ORDER BY inside a derived table without a LIMIT, which sorted every row
    twice (EXPLAIN: a filesort on the UNION RESULT and on the derived table). The rows come
    in the export's own order."""
    with db_server.connect(database) as conn, conn.cursor() as cursor:
        for table in ("un_a", "un_b"):
            cursor.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, v VARCHAR(9))")
        cursor.execute("INSERT INTO un_a VALUES (1, 'b'), (3, 'a'), (5, 'b')")
        cursor.execute("INSERT INTO un_b VALUES (2, 'a'), (4, 'b'), (6, 'a')")
        path = tmp_path / "rows.sql"
        path.write_text(sql)
        query = export_query("rows", path)
        order = export.outer_order(query, ["id", "v"])
        assert order
        statement = f"SELECT id, v FROM ({export.derived_sql(query, order)}) AS export_rows{order}"
        cursor.execute(f"EXPLAIN {statement}")
        extras = [row[-1] or "" for row in cursor.fetchall()]
        assert sum("filesort" in e for e in extras) <= 1, extras
        cursor.execute(sql)
        expected = cursor.fetchall()
        cursor.execute(statement)
        assert cursor.fetchall() == expected
