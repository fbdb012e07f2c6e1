"""The two export paths write the same bytes: rows streamed through Python's csv module, and
lines formatted by the server itself (SELECT ... INTO OUTFILE into the shared directory)."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

from etl_harness import DbServer, manifest, put_csv, read_bytes, run_etl

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
    # Every type, in a non-trivial order (ORDER BY must survive the shared path's wrapper).
    "all_types": "SELECT * FROM nasty ORDER BY MOD(id, 3), id DESC",
    # One column: csv.writer writes an empty field as "" when it is alone on its line.
    "single_text": "SELECT vc FROM nasty ORDER BY id",
    "single_number": "SELECT dbl AS only_number FROM nasty ORDER BY id",
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
        outputs[path] = manifest(s3, bucket, f"{path}/run=20261101T040000Z/")
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
    assert first.decode().startswith(
        "id,txt,vc,dbl,flt,dec20,dt,dt6,d,tm,yr,big\r\n"
        "9,ünïcödé 😀 ✓,trailing ,100,100,100.000000,,,,,,\r\n"
        "6,,,123456789.125,7,-5.500000,,,,,,\r\n"
    )
    single = gzip.decompress(read_bytes(s3, bucket, stream["single_text"]["files"][1]["key"]))
    # rows 5-8: ' ' stays as is; '' and NULL alone on a line are written "" (csv.writer's rule)
    assert single == b'vc\r\n \r\n""\r\nback\\slash\r\n\\N\r\n'
