"""The job's SQL: schema.sql creates the tables, then transform/*.sql run in name order with
the run's logical time in @scheduled_time."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from etl import db, log


def create_schema(conn: db.Session, schema: Path, tables: list[str]) -> dict[str, list[str]]:
    """Run schema.sql; returns the columns of each of `tables`, which it must have created,
    empty: rows already there (`CREATE TABLE IF NOT EXISTS` in a database that outlived an
    earlier run) would be exported with the input appended to them."""
    db.execute_file(conn, schema)
    found = db.table_columns(conn)
    missing = [t for t in tables if t not in found]
    if missing:
        raise RuntimeError(f"schema.sql did not create table(s) {', '.join(missing)}")
    with conn.cursor() as cursor:
        for table in dict.fromkeys(tables):
            quoted = "`" + table.replace("`", "``") + "`"
            cursor.execute(f"SELECT COUNT(*) FROM (SELECT 1 FROM {quoted} LIMIT 1) AS first")
            row = cursor.fetchone()
            if row and int(row[0]):  # (MySQL's text: the job's sessions decode nothing)
                raise RuntimeError(
                    f"input table {table} already holds rows before the load (left by an "
                    "earlier run?); schema.sql must create it empty: DROP TABLE IF EXISTS "
                    "first, or CREATE OR REPLACE TABLE"
                )
    return {t: found[t] for t in tables}


def run_transforms(
    conn: db.Session, paths: tuple[Path, ...], scheduled: datetime, observer: db.Session
) -> None:
    """Run the transform files in order, after setting @scheduled_time for their SQL. The
    session reset before the exports (COM_RESET_CONNECTION) rolls back an open transaction and
    gives every session variable its global value, so a file fails when it leaves a
    transaction open (its changes would vanish) or changes a GLOBAL variable (`SET GLOBAL
    sql_select_limit = 5` would reach every export). The globals are read on `observer`, a
    session of the job's own that the transforms cannot change (in theirs, a SET SESSION
    sql_select_limit would cut the list short)."""
    with conn.cursor() as cursor:
        db.set_scheduled_time(cursor, scheduled)
    before = db.global_variables(observer)
    for path in paths:
        db.execute_file(conn, path)
        if db.in_transaction(conn):
            raise RuntimeError(
                f"{path.name} left a transaction open (START TRANSACTION or autocommit = 0 "
                "without COMMIT): COMMIT it in the file, or the exports would not see its changes"
            )
        after = db.global_variables(observer)
        changed = sorted(name for name in before.keys() | after.keys()
                         if before.get(name) != after.get(name))  # fmt: skip
        if changed:
            raise RuntimeError(
                f"{path.name} changed global variable(s) {', '.join(changed)}; a transform may "
                "SET SESSION variables only (exports read every global value)"
            )
        log.info("transform_done", file=path.name)
