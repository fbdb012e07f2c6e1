"""LOAD DATA LOCAL's packets (etl/db.py): 1 MiB, but within the server's max_allowed_packet,
which resets the connection on a longer one (MariaDB 10.11 took 65,535 bytes under a limit
of 65,536 and reset at 65,536), whatever a DBA set it to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from etl_harness import job_folder, put_csv, run_etl

ROWS = 30_000  # ~450 KB: many packets under a 64 KiB limit, one under the default


def test_a_server_with_a_small_max_allowed_packet_still_loads(
    tmp_path: Path, env: tuple[Any, ...], s3: Any
) -> None:
    db_server, database, bucket, s3_endpoint = env
    folder = job_folder(
        tmp_path / "job",
        "DROP TABLE IF EXISTS p;\n"
        "CREATE TABLE p (k INT NOT NULL PRIMARY KEY, v VARCHAR(40) NULL);\n",
    )
    put_csv(s3, bucket, "input/p/f.csv", "k,v\n" + "".join(f"{i},v{i}\n" for i in range(ROWS)))
    with db_server.connect() as root, root.cursor() as cursor:
        cursor.execute("SELECT @@GLOBAL.max_allowed_packet")
        (before,) = cursor.fetchone() or (0,)
        cursor.execute("SET GLOBAL max_allowed_packet = 65536")  # the job's sessions take it
        try:
            run = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(folder))
        finally:
            cursor.execute(f"SET GLOBAL max_allowed_packet = {int(before)}")
    assert run.returncode == 0, run.logs[-2:]
    assert [event["rows"] for event in run.events("file_loaded")] == [ROWS]
    with db_server.connect(database) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT COUNT(*), MAX(k) FROM p")
        assert cursor.fetchone() == (ROWS, ROWS - 1)
