"""Exports read a clean session (issue 19, point 3): nothing a transform SETs, USEs or leaves
in user variables reaches them, on either export path, and any warning of the server while an
export runs fails the run."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest
from etl_harness import DbServer, manifest, put_csv, read_bytes, run_etl

PATHS = ("stream", "shared")


def job(folder: Path, transform: str, export: str) -> Path:
    (folder / "transform").mkdir(parents=True)
    (folder / "export").mkdir()
    (folder / "schema.sql").write_text(
        "DROP TABLE IF EXISTS t; CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(200) NULL);"
    )
    (folder / "transform" / "10_session.sql").write_text(transform)
    (folder / "export" / "rows.sql").write_text(export)
    return folder


def run_on(path: str, shared_dir: Path, env: tuple[Any, ...], folder: Path) -> Any:
    db_server, database, bucket, s3_endpoint = env
    extra = {"DB_SHARED_DIR": str(shared_dir)} if path == "shared" else {}
    return run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(folder),
                   OUTPUT_PREFIX=f"{path}/", **extra)  # fmt: skip


def exported(s3: Any, bucket: str, path: str) -> bytes:
    [part] = manifest(s3, bucket, output=f"{path}/")["exports"]["rows"]["files"]
    return gzip.decompress(read_bytes(s3, bucket, part["key"]))


@pytest.mark.parametrize("path", PATHS)
def test_session_variables_use_and_user_variables_do_not_reach_exports(
    path: str, tmp_path: Path, env: tuple[Any, ...], db_server: DbServer, s3: Any,
    shared_dir: Path,
) -> None:  # fmt: skip
    """sql_select_limit, group_concat_max_len, USE and @variables set by a transform: main let
    each of them change what the exports wrote (5 rows, values cut at 20 characters, another
    database's table, a user variable's value). @scheduled_time is set again for them."""
    _, database, bucket, _ = env
    other = f"{database}_other"
    with db_server.connect() as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{other}`")
        cursor.execute(f"CREATE TABLE `{other}`.t (id INT PRIMARY KEY, v VARCHAR(200) NULL)")
        cursor.execute(f"INSERT INTO `{other}`.t VALUES (99, 'the other database')")
    try:
        folder = job(
            tmp_path / "session",
            transform=f"SET SESSION sql_select_limit = 5; SET SESSION group_concat_max_len = 20;"
            f" SET @who = 'transform'; USE `{other}`;",
            export="SELECT COUNT(*) AS n, LENGTH(GROUP_CONCAT(v ORDER BY id SEPARATOR '')) AS "
            "chars, @who AS who, @scheduled_time AS at FROM t",
        )
        rows = "".join(f"{i},{'x' * 10}\n" for i in range(1, 9))
        put_csv(s3, bucket, "input/t/t.csv", "id,v\n" + rows)
        run = run_on(path, shared_dir, env, folder)
        assert run.returncode == 0, run.logs[-2].get("cause")
        assert exported(s3, bucket, path) == b"n,chars,who,at\r\n8,80,,2026-11-01 04:00:00\r\n"
    finally:
        with db_server.connect() as conn, conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{other}`")


@pytest.mark.parametrize("path", PATHS)
def test_an_export_warning_fails_the_run(
    path: str, tmp_path: Path, env: tuple[Any, ...], s3: Any, shared_dir: Path
) -> None:
    """A SELECT that reads 'x7' as the number 0 only warns (strict mode stops writes, not
    reads): main wrote 0 and exited 0."""
    _, _, bucket, _ = env
    folder = job(tmp_path / "warned", transform="SELECT 1;",
                 export="SELECT id, CAST(v AS UNSIGNED) AS n FROM t ORDER BY id")  # fmt: skip
    put_csv(s3, bucket, "input/t/t.csv", "id,v\n1,5\n2,x7\n")
    run = run_on(path, shared_dir, env, folder)
    assert run.returncode == 1
    failure = run.failure
    assert failure["stage"] == "export"
    assert "export rows: the server warned" in failure["cause"]
    assert "x7" in failure["cause"]
