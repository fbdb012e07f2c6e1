"""The job's SQL: schema.sql creates the tables, then transform/*.sql run in name order with
the run's logical time in @scheduled_time."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from etl import db, log


def create_schema(conn: db.Session, schema: Path, tables: list[str]) -> dict[str, list[str]]:
    """Run schema.sql; returns the columns of each of `tables`, which it must have created."""
    db.execute_file(conn, schema)
    found = db.table_columns(conn)
    missing = [t for t in tables if t not in found]
    if missing:
        raise RuntimeError(f"schema.sql did not create table(s) {', '.join(missing)}")
    return {t: found[t] for t in tables}


def run_transforms(conn: db.Session, paths: tuple[Path, ...], scheduled: datetime) -> None:
    """Run the transform files in order, after setting @scheduled_time for their SQL."""
    with conn.cursor() as cursor:
        db.set_scheduled_time(cursor, scheduled)
    for path in paths:
        db.execute_file(conn, path)
        log.info("transform_done", file=path.name)
