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


@pytest.mark.parametrize("path", PATHS)
def test_a_transform_that_sets_global_variables_fails_the_run(
    path: str, tmp_path: Path, env: tuple[Any, ...], db_server: DbServer, s3: Any,
    shared_dir: Path,
) -> None:  # fmt: skip
    """COM_RESET_CONNECTION sets every session variable to its GLOBAL value, and the job's
    user may SET GLOBAL: main exported 5 rows of 8 (sql_select_limit) and 1/3 as 0
    (div_precision_increment) and exited 0. The run fails naming the transform instead."""
    _, _, bucket, _ = env
    with db_server.connect() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT @@GLOBAL.sql_select_limit, @@GLOBAL.div_precision_increment")
        limit, precision = cursor.fetchone()
    folder = job(
        tmp_path / "global",
        transform="SET GLOBAL sql_select_limit = 5; SET GLOBAL div_precision_increment = 0;",
        export="SELECT id, id / 3 AS third FROM t ORDER BY id",
    )
    put_csv(s3, bucket, "input/t/t.csv", "id,v\n" + "".join(f"{i},x\n" for i in range(1, 9)))
    try:
        run = run_on(path, shared_dir, env, folder)
    finally:
        with db_server.connect() as conn, conn.cursor() as cursor:
            cursor.execute(
                f"SET GLOBAL sql_select_limit = {int(limit)}, "
                f"div_precision_increment = {int(precision)}"
            )
    assert run.returncode == 1
    failure = run.failure
    assert failure["stage"] == "transform"
    assert "10_session.sql" in failure["cause"]
    assert "div_precision_increment" in failure["cause"]
    assert "sql_select_limit" in failure["cause"]


@pytest.mark.parametrize("path", PATHS)
def test_names_mode_zone_and_a_temporary_shadow_do_not_reach_exports(
    path: str, tmp_path: Path, env: tuple[Any, ...], s3: Any, shared_dir: Path
) -> None:  # fmt: skip
    """SET NAMES latin1, an empty sql_mode, a +05:00 time zone and a TEMPORARY table that
    shadows t, all set by a transform: exports read t itself, in UTF-8 and UTC."""
    _, _, bucket, _ = env
    folder = job(
        tmp_path / "shadow",
        transform="SET NAMES latin1; SET @@session.sql_mode = ''; SET time_zone = '+05:00';"
        " CREATE TEMPORARY TABLE t (id INT, v VARCHAR(200)); INSERT INTO t VALUES (0, 'shadow');",
        export="SELECT id, v, @@session.sql_mode <> '' AS strict, @@time_zone AS tz,"
        " FROM_UNIXTIME(0) AS epoch FROM t ORDER BY id",
    )
    put_csv(s3, bucket, "input/t/t.csv", "id,v\n1,ünï ✓\n")
    run = run_on(path, shared_dir, env, folder)
    assert run.returncode == 0, run.logs[-2].get("cause")
    assert exported(s3, bucket, path) == (
        "id,v,strict,tz,epoch\r\n1,ünï ✓,1,+00:00,1970-01-01 00:00:00\r\n".encode()
    )


@pytest.mark.parametrize(
    "transform",
    ["SET autocommit = 0; UPDATE t SET v = 'changed';",
     "START TRANSACTION; UPDATE t SET v = 'changed';"],
)  # fmt: skip
def test_a_transform_left_uncommitted_fails_the_run(
    transform: str, tmp_path: Path, env: tuple[Any, ...], s3: Any, shared_dir: Path
) -> None:
    """The session reset rolls back an open transaction: main exported the rows as they were
    before the transform and exited 0. A transaction left open fails the transform."""
    _, _, bucket, _ = env
    folder = job(tmp_path / "open", transform=transform, export="SELECT id, v FROM t ORDER BY id")
    put_csv(s3, bucket, "input/t/t.csv", "id,v\n1,before\n")
    run = run_on("stream", shared_dir, env, folder)
    assert run.returncode == 1, exported(s3, bucket, "stream")
    failure = run.failure
    assert failure["stage"] == "transform"
    assert "10_session.sql" in failure["cause"] and "COMMIT" in failure["cause"]


def test_a_transform_leaving_an_xa_transaction_prepared_fails_the_run(
    tmp_path: Path, env: tuple[Any, ...], db_server: DbServer, s3: Any, shared_dir: Path
) -> None:
    """A prepared XA transaction outlives the session reset (and the connection, MariaDB
    10.5+) uncommitted: the exports would read the rows as before."""
    _, _, bucket, _ = env
    xid = f"etl-{tmp_path.name}"[:60]
    folder = job(
        tmp_path / "xa",
        transform=f"XA START '{xid}'; UPDATE t SET v = 'changed'; "
        f"XA END '{xid}'; XA PREPARE '{xid}';",
        export="SELECT id, v FROM t ORDER BY id",
    )
    put_csv(s3, bucket, "input/t/t.csv", "id,v\n1,before\n")
    try:
        run = run_on("stream", shared_dir, env, folder)
    finally:
        with db_server.connect() as conn, conn.cursor() as cursor:
            cursor.execute("XA RECOVER")
            if any(row[-1] in (xid, xid.encode()) for row in cursor.fetchall()):
                cursor.execute(f"XA ROLLBACK '{xid}'")  # it holds t's rows locked
    assert run.returncode == 1, exported(s3, bucket, "stream")
    failure = run.failure
    assert failure["stage"] == "transform" and "transaction open" in failure["cause"]


@pytest.mark.parametrize("engine", ["client", "pymysql", "shared"])
def test_an_export_that_fails_on_the_server_is_named_in_the_failure(
    engine: str, tmp_path: Path, env: tuple[Any, ...], s3: Any, shared_dir: Path
) -> None:
    """An error only the data brings (a scalar subquery finding two rows passes `validate
    --database` on empty tables) fails the run naming the export, whichever engine ran it:
    main named it on the C client only, and the shared path (the task's default) and PyMySQL
    logged the bare server error, `(1242, 'Subquery returns more than 1 row')`."""
    db_server, database, bucket, s3_endpoint = env
    later = "SELECT id, (SELECT v FROM t AS u WHERE u.id > t.id) AS later FROM t"
    folder = job(tmp_path / "failing", transform="SELECT 1;", export=later)
    (folder / "export" / "a_fine.sql").write_text("SELECT id FROM t ORDER BY id")
    put_csv(s3, bucket, "input/t/t.csv", "id,v\n1,a\n2,b\n3,c\n")
    extra = {"client": {}, "pymysql": {"PATH": ""}, "shared": {"DB_SHARED_DIR": str(shared_dir)}}
    run = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(folder),
                  OUTPUT_PREFIX=f"{engine}/", **extra[engine])  # fmt: skip
    assert run.returncode == 1
    assert run.failure["stage"] == "export"
    assert run.failure["cause"].startswith("export rows: "), run.failure["cause"]
    assert "Subquery returns more than 1 row" in run.failure["cause"]


@pytest.mark.parametrize("engine", ["client", "pymysql", "shared"])
def test_column_names_differing_only_in_letter_case_fail_on_every_engine(
    engine: str, tmp_path: Path, env: tuple[Any, ...], s3: Any, shared_dir: Path
) -> None:
    """MySQL's column names ignore letter case: the shared path and the C client (a derived
    table) refused `id` beside `ID`, and `validate --database` too, but the PyMySQL engine
    exported both, a header no downstream can tell apart by name."""
    db_server, database, bucket, s3_endpoint = env
    folder = job(tmp_path / "cased", transform="SELECT 1;",
                 export="SELECT id, v AS ID FROM t")  # fmt: skip
    put_csv(s3, bucket, "input/t/t.csv", "id,v\n1,a\n")
    extra = {"client": {}, "pymysql": {"PATH": ""}, "shared": {"DB_SHARED_DIR": str(shared_dir)}}
    run = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(folder),
                  OUTPUT_PREFIX=f"{engine}/", **extra[engine])  # fmt: skip
    assert run.returncode == 1, engine
    assert run.failure["stage"] == "export"
    assert run.failure["cause"].startswith("export rows: "), run.failure["cause"]
    assert "duplicate column name" in run.failure["cause"].lower(), run.failure["cause"]
