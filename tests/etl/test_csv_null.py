"""CSV_NULL is unambiguous (issue 19, point 6): NULL is the marker unquoted, a text equal to
the marker is written quoted ("NA") by both export paths and loaded back as that text."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest
from etl_harness import manifest, put_csv, read_bytes, run_etl

from etl.convert import quoted_fields

SCHEMA = (
    "DROP TABLE IF EXISTS t; CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(10) NULL, "
    "n INT NULL, b VARBINARY(4) NULL);"
)


def job(folder: Path, transform: str, exports: dict[str, str]) -> Path:
    (folder / "transform").mkdir(parents=True)
    (folder / "export").mkdir()
    (folder / "schema.sql").write_text(SCHEMA)
    (folder / "transform" / "10_rows.sql").write_text(transform)
    for name, sql in exports.items():
        (folder / "export" / f"{name}.sql").write_text(sql)
    return folder


def exported(s3: Any, bucket: str, prefix: str, name: str = "rows") -> bytes:
    document = manifest(s3, bucket, output=prefix)
    [part] = document["exports"][name]["files"]
    return gzip.decompress(read_bytes(s3, bucket, part["key"]))


@pytest.mark.parametrize(
    ("marker", "rows", "expected"),
    [
        ("NA", "(1, 'NA', 1, NULL), (2, NULL, 2, NULL), (3, 'na', 3, NULL), (4, 'NA ', 4, NULL)",
         '1,"NA",1,NA\r\n2,NA,2,NA\r\n3,na,3,NA\r\n4,NA ,4,NA\r\n'),
        ("7", "(1, '7', 7, NULL), (2, NULL, NULL, NULL), (3, '77', 17, NULL)",
         '1,"7","7",7\r\n2,7,7,7\r\n3,77,17,7\r\n'),
        ("ab", "(1, 'ab', 1, x'ab'), (2, 'x', 2, NULL), (3, 'AB', 3, x'abab')",
         '1,"ab",1,"ab"\r\n2,x,2,ab\r\n3,AB,3,abab\r\n'),
    ],
)  # fmt: skip
def test_a_text_equal_to_csv_null_is_quoted_on_both_paths(
    marker: str, rows: str, expected: str, tmp_path: Path, env: tuple[Any, ...], s3: Any,
    shared_dir: Path,
) -> None:  # fmt: skip
    """Main wrote `NA` for both the text 'NA' and NULL."""
    db_server, database, bucket, s3_endpoint = env
    folder = job(tmp_path / "marker", f"INSERT INTO t VALUES {rows};",
                 {"rows": "SELECT id, s, n, b FROM t ORDER BY id",
                  "single": "SELECT s FROM t"})  # fmt: skip
    put_csv(s3, bucket, "input/t/none.csv", "id\n")
    for path, extra in (("stream", {}), ("shared", {"DB_SHARED_DIR": str(shared_dir)})):
        run = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(folder),
                      OUTPUT_PREFIX=f"{path}/", CSV_NULL=marker, **extra)  # fmt: skip
        assert run.returncode == 0, (path, run.logs[-2].get("cause"))
    header = b"id,s,n,b\r\n"
    assert exported(s3, bucket, "stream/") == exported(s3, bucket, "shared/")
    assert exported(s3, bucket, "stream/") == header + expected.encode()
    assert exported(s3, bucket, "stream/", "single") == exported(s3, bucket, "shared/", "single")


def test_a_quoted_csv_null_loads_as_text_and_a_bare_one_as_null(
    tmp_path: Path, env: tuple[Any, ...], s3: Any
) -> None:
    """Main loaded "NA" (quoted) as NULL too: the text could not be loaded at all."""
    db_server, database, bucket, s3_endpoint = env
    export = "SELECT id, s IS NULL AS s_null, LENGTH(s) AS len FROM t ORDER BY id"
    folder = job(tmp_path / "load", "SELECT 1;", {"rows": export})
    put_csv(s3, bucket, "input/t/a.csv",
            'id,s,n\n1,NA,NA\n2,"NA",3\n3,,4\n\n4,"N""A",NA\n"5","x,NA","NA"\n')  # fmt: skip
    run = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(folder), CSV_NULL="NA")
    assert run.returncode == 1  # n = "NA" quoted is the text NA: not an integer
    assert "input/t/a.csv line 7, column n (value 'NA'): not an integer" in run.failure["cause"]
    put_csv(s3, bucket, "input/t/a.csv",
            'id,s,n\n1,NA,NA\n2,"NA",3\n3,,4\n\n4,"N""A",NA\n"5","x,NA",NA\n')  # fmt: skip
    run = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(folder), CSV_NULL="NA")
    assert run.returncode == 0, run.logs[-2].get("cause")
    assert exported(s3, bucket, "output/") == (
        b"id,s_null,len\r\n1,1,NA\r\n2,0,2\r\n3,0,0\r\n4,0,3\r\n5,0,4\r\n"
    )


def test_quoted_fields_reads_rfc_4180_records() -> None:
    assert quoted_fields('a,"b",,"c,""d"""\r\n') == [False, True, False, True]
    assert quoted_fields('"multi\nline",x,\n') == [True, False, False]
    assert quoted_fields("NA") == [False]
    assert quoted_fields('""') == [True]
