"""Time zones (issue 19, point 11): named zones, which the deployed sidecar cannot resolve
(no time-zone tables), are refused by validate and by the run before its lock; ISO 8601 times
with offsets have a documented way in (the loader, or offsets in SQL) on MariaDB and MySQL."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

from etl_harness import manifest, put_csv, read_bytes, run_etl

from etl.validate import check_folder

SCHEMA = "DROP TABLE IF EXISTS t; CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(40) NULL);"


def job(folder: Path, transform: str, export: str) -> Path:
    (folder / "transform").mkdir(parents=True)
    (folder / "export").mkdir()
    (folder / "schema.sql").write_text(SCHEMA)
    (folder / "transform" / "10_step.sql").write_text(transform)
    (folder / "export" / "rows.sql").write_text(export)
    return folder


def findings(folder: Path) -> list[str]:
    return [str(f) for f in check_folder(folder)]


def test_validate_refuses_named_time_zones_with_their_lines(tmp_path: Path) -> None:
    """Main: 'valid', and the sidecar then gave NULL for every converted time."""
    folder = job(
        tmp_path / "named",
        transform="SET time_zone = '+00:00';\nSET SESSION time_zone = 'Europe/Paris';\n"
        "UPDATE t SET v = v WHERE time_zone = 'Europe/Rome';",  # a column compared: not a zone
        export="SELECT id,\n CONVERT_TZ(NOW(), 'UTC', 'Europe/Berlin') AS local_time,\n"
        " CONVERT_TZ(NOW(), '+00:00', '-05:30') AS shifted,\n"
        " convert_tz (NOW(), 'SYSTEM', v) AS from_column FROM t",
    )
    found = findings(folder)
    errors = [f for f in found if f.startswith("error")]
    assert len(errors) == 3, found
    assert "transform/10_step.sql:2: the named time zone 'Europe/Paris'" in errors[0]
    assert "export/rows.sql:2: the named time zone 'UTC' (CONVERT_TZ)" in errors[1]
    assert "export/rows.sql:2: the named time zone 'Europe/Berlin'" in errors[2]
    assert any(f.startswith("warning: export/rows.sql:4: CONVERT_TZ with a time zone from an")
               for f in found)  # fmt: skip
    assert not any("Europe/Rome" in f or "-05:30" in f for f in found)


def test_offsets_and_system_are_valid(tmp_path: Path) -> None:
    folder = job(tmp_path / "offsets", transform="SET time_zone = '-03:00';",
                 export="SELECT CONVERT_TZ(NOW(), '+00:00', '+14:00') AS t1, "
                 "CONVERT_TZ(NOW(), 'system', '-12:00') AS t2")  # fmt: skip
    assert not [f for f in findings(folder) if f.startswith("error")]


def test_a_run_with_a_named_time_zone_stops_before_its_lock(
    tmp_path: Path, env: tuple[Any, ...], s3: Any
) -> None:
    """Main exited 0 and exported NULL (this MariaDB, like the sidecar, has no zone tables)."""
    db_server, database, bucket, s3_endpoint = env
    folder = job(tmp_path / "berlin", transform="SELECT 1;",
                 export="SELECT id, CONVERT_TZ('2026-01-05 10:00:00', 'UTC', 'Europe/Berlin') "
                 "AS berlin FROM t ORDER BY id")  # fmt: skip
    put_csv(s3, bucket, "input/t/a.csv", "id\n1\n")
    run = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(folder))
    assert run.returncode == 2, run.logs[-2:]
    assert "the named time zone 'UTC'" in run.failure["cause"]
    assert not run.events("stage_started") or all(
        e["stage"] == "job_definition" for e in run.events("stage_started")
    )


def test_iso_8601_text_converts_to_utc_in_sql_on_both_servers(
    tmp_path: Path, env: tuple[Any, ...], s3: Any
) -> None:
    """The SQL way (docs/sql-and-values.md) for a time kept as text: offsets need no zone
    tables, and MySQL 8.4 and MariaDB read 'YYYY-MM-DD HH:MM:SS' and '+HH:MM' alike."""
    db_server, database, bucket, s3_endpoint = env
    utc = ("CAST(CONVERT_TZ(REPLACE(LEFT(v, 19), 'T', ' '), "
           "IF(RIGHT(v, 1) = 'Z', '+00:00', RIGHT(v, 6)), '+00:00') AS DATETIME)")  # fmt: skip
    folder = job(tmp_path / "iso", transform="SELECT 1;",
                 export=f"SELECT id, {utc} AS utc FROM t ORDER BY id")  # fmt: skip
    put_csv(s3, bucket, "input/t/a.csv",
            "id,v\n1,2026-01-05T10:00:00+02:00\n2,2026-01-05T10:00:00Z\n"
            "3,2026-01-05 01:00:00-03:30\n")  # fmt: skip
    run = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(folder))
    assert run.returncode == 0, run.logs[-2].get("cause")
    [part] = manifest(s3, bucket)["exports"]["rows"]["files"]
    assert gzip.decompress(read_bytes(s3, bucket, part["key"])) == (
        b"id,utc\r\n1,2026-01-05 08:00:00\r\n2,2026-01-05 10:00:00\r\n3,2026-01-05 04:30:00\r\n"
    )
