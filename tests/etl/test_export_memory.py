"""The stream export path's memory is bounded by bytes, not rows (issue 19, point 9): 300 rows
of 1 MiB took 1.8 GB of RSS on main (enough to have a 2 GiB task killed); the numbers before
and after come from `python -m bench.wide_rows` (docs/sql-and-values.md)."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

from etl_harness import manifest, put_csv, read_bytes, run_etl

from bench.wide_rows import job_folder

ROWS, MIB = 300, 1
BOUND_MB = 600  # measured after the fix: ~115 MB; before: ~1,850 MB


def test_wide_rows_stream_in_bounded_memory(tmp_path: Path, env: tuple[Any, ...], s3: Any) -> None:
    db_server, database, bucket, s3_endpoint = env
    folder = job_folder(tmp_path / "wide_job", ROWS, MIB)
    put_csv(s3, bucket, "input/seed/seed.csv", "id\n1\n")
    run = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(folder), timeout=600)
    assert run.returncode == 0, run.logs[-2].get("cause")
    [export] = [e for e in run.events("stage_finished") if e["stage"] == "export"]
    assert export["peak_rss_mb"] < BOUND_MB, export
    document = manifest(s3, bucket)
    assert document["exports"]["wide"]["rows"] == ROWS
    [part] = document["exports"]["wide"]["files"]
    body = gzip.decompress(read_bytes(s3, bucket, part["key"]))
    assert len(body) == len(b"id,v\r\n") + sum(len(f"{i},\r\n") for i in range(1, ROWS + 1)) + (
        ROWS * MIB * 1024 * 1024
    )
