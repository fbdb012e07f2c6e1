"""The tables a schema creates are the tables the job loads: a table named like a keyword of
sqlparse's (events, status, user, …) is a table all the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.jobdef import JobDefinitionError, created_tables


def test_tables_named_like_keywords_are_found(tmp_path: Path) -> None:
    schema = tmp_path / "schema.sql"
    schema.write_text(
        "DROP TABLE IF EXISTS events;\n"
        "CREATE TABLE events (event_id BIGINT PRIMARY KEY);\n"
        "CREATE TABLE IF NOT EXISTS status (s INT);\n"
        "CREATE TABLE user (u INT);\n"
        "CREATE TABLE db.`order` (o INT);\n"
        "CREATE INDEX by_event ON events (event_id);\n"
        "CREATE UNIQUE INDEX one ON status (s);\n"
    )
    assert created_tables(schema) == ["events", "status", "user", "order"]


def test_a_temporary_table_is_still_refused(tmp_path: Path) -> None:
    schema = tmp_path / "schema.sql"
    schema.write_text("CREATE TEMPORARY TABLE events (e INT);\n")
    with pytest.raises(JobDefinitionError, match="TEMPORARY"):
        created_tables(schema)
