"""Input files as real tools export them, through a job of a newcomer's own (README "Write your
own job"): the loader must load exactly what each file holds, or fail naming the file, the
line, the column and the value (docs/job-authoring.md, "A run", step 1)."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest
from etl_harness import DbServer, run_etl

SCHEMA = """
DROP TABLE IF EXISTS orders;
CREATE TABLE orders (
  id INT NOT NULL PRIMARY KEY,
  placed_at DATETIME NOT NULL,
  shipped_at DATETIME(3) NULL
) DEFAULT CHARSET = utf8mb4;
"""


def _job(tmp_path: Path) -> Path:
    folder = tmp_path / "my_orders"
    (folder / "export").mkdir(parents=True, exist_ok=True)
    (folder / "schema.sql").write_text(SCHEMA)
    (folder / "export" / "all_orders.sql").write_text("SELECT * FROM orders ORDER BY id")
    return folder


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:30:00+01:00",  # .NET's DateTimeOffset.MinValue in a +01:00 zone
        "9999-12-31T23:30:00-01:00",  # a far-future sentinel written with an offset
    ],
)
def test_an_offset_time_beyond_the_years_python_holds_is_named_by_file_line_and_column(
    db_server: DbServer, database: str, bucket: str, s3_endpoint: str, s3: Any, tmp_path: Path,
    value: str,
) -> None:  # fmt: skip
    """Converting such a time to UTC leaves year 1..9999: the run failed with
    `cause="date value out of range" error=OverflowError`, naming no file, line or column."""
    body = f"id,placed_at\r\n1,2026-11-01 00:00:00\r\n2,{value}\r\n".encode()
    s3.put_object(Bucket=bucket, Key="input/orders/export.csv", Body=body)
    result = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(_job(tmp_path)))
    assert result.returncode == 1, result.logs[-2:]
    cause = result.failure["cause"]
    assert result.failure["error"] == "BadInput", cause
    assert "input/orders/export.csv line 3, column placed_at" in cause, cause
    assert value in cause, cause


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("empty_sheet.csv", b"\xef\xbb\xbf"),  # Excel's "CSV UTF-8" of an empty sheet: a BOM
        ("empty.csv.gz", gzip.compress(b"", mtime=0)),  # a tool that gzips an empty export
    ],
    ids=["bom-only", "gzip-of-nothing"],
)
def test_a_file_holding_no_header_is_not_a_tables_input(
    db_server: DbServer, database: str, bucket: str, s3_endpoint: str, s3: Any, tmp_path: Path,
    name: str, body: bytes,
) -> None:  # fmt: skip
    """A 0-byte object is skipped (`input_skipped`) and a table left without input fails the
    run (`no input files for table orders`); a file whose first line is blank is refused (`no
    header`). A file holding nothing but a BOM, or a gzip of nothing, held no header either,
    yet it loaded as the table's input with 0 rows and the run succeeded."""
    s3.put_object(Bucket=bucket, Key=f"input/orders/{name}", Body=body)
    result = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(_job(tmp_path)))
    assert result.returncode == 1, [e for e in result.logs if e["event"] == "file_loaded"]
    assert "orders" in result.failure["cause"], result.failure
