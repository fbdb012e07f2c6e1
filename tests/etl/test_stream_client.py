"""The stream path's C-client engine (etl/stream_client.py) against an independent oracle.

The shared path and the C-client engine run the same row expression on the server, so their
byte equality alone proves nothing about either: every engine's output is parsed back with
Python's csv module and compared with the values PyMySQL reads from the tables themselves
(MySQL's text protocol, converted by the contract's rules: NULL empty, binary as hex, BIT as
an integer). The PyMySQL engine (no client on PATH) is held to the same oracle and bytes.
"""

from __future__ import annotations

import csv
import gzip
import io
import subprocess
import time
from pathlib import Path
from typing import Any

import pymysql
import pymysql.converters
import pytest
from etl_harness import DbServer, manifest, put_csv, read_bytes, run_etl

from etl import stream_client
from etl.export import _kinds

SCHEMA = "DROP TABLE IF EXISTS seed; CREATE TABLE seed (id INT NOT NULL PRIMARY KEY);"
TRANSFORM = r"""
DROP TABLE IF EXISTS odd;
CREATE TABLE odd (
  id INT NOT NULL PRIMARY KEY, note VARCHAR(64) NULL, amount DECIMAL(10, 2) NULL,
  at DATETIME NULL, dbl DOUBLE NULL, raw VARBINARY(8) NULL, bits BIT(9) NULL, body TEXT NULL
);
INSERT INTO odd VALUES
 (1, 'gift, wrapped', 12.50, '2026-10-01 12:00:00', 1e300, x'00ff', b'100000001', 'a\r\nb'),
 (2, 'call "Sam" first', -0.01, NULL, -0.0, x'', b'0', '"'),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (4, '', 0, '1000-01-01 00:00:00', 0.1, x'2c0d0a', b'111111111', 'ünïcödé 😀'),
 (5, '\\N', 99999999.99, '9999-12-31 23:59:59', 3.4e38, x'22', NULL, 'line\nbreak, "q"'),
 (6, 'ü"', 1, NULL, 1.5, NULL, NULL, REPEAT('ü say "hi", "', 3000));
"""
SCHEDULED = "2026-11-01 04:00:00"  # the harness's SCHEDULED_TIME
EXPORTS = {
    "rows": "SELECT * FROM odd ORDER BY id DESC",
    "single": "SELECT note FROM odd",  # (ordered by id, not exported: PyMySQL on MariaDB)
    "scheduled": "SELECT @scheduled_time AS at, 'a,\"b\"' AS constant",
}


# Parameter encoders only: every value arrives as the protocol's text (or bytes, binary).
TEXT_ONLY = {k: v for k, v in pymysql.converters.conversions.items() if not isinstance(k, int)}


def _oracle_value(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "binary":
        return bytes(value).hex()
    if kind == "bit":
        return str(int.from_bytes(value, "big"))
    return value.decode() if isinstance(value, bytes) else str(value)


def oracle(db_server: DbServer, database: str, sql: str) -> list[list[str]]:
    """The rows as the database holds them, read with PyMySQL (no shared formatter)."""
    conn = pymysql.connect(
        host=db_server.host, port=db_server.port, user=db_server.user,
        password=db_server.password, database=database, charset="utf8mb4",
        conv=TEXT_ONLY, init_command=f"SET time_zone = '+00:00', @scheduled_time = '{SCHEDULED}'",
    )  # fmt: skip
    with conn, conn.cursor() as cursor:
        cursor.execute(sql)
        kinds = _kinds(cursor)
        header = [d[0] for d in cursor.description]
        rows = [[_oracle_value(v, k) for v, k in zip(row, kinds, strict=True)] for row in cursor]
    return [header, *rows]


def parsed(s3: Any, bucket: str, files: list[dict[str, Any]]) -> tuple[bytes, list[list[str]]]:
    data = b"".join(gzip.decompress(read_bytes(s3, bucket, f["key"])) for f in files)
    rows: list[list[str]] = []
    for i, f in enumerate(files):
        text = gzip.decompress(read_bytes(s3, bucket, f["key"])).decode()
        part = list(csv.reader(io.StringIO(text, newline="")))
        rows += part if i == 0 else part[1:]  # each part repeats the header
    return data, rows


def test_every_engine_writes_what_the_database_holds(
    tmp_path: Path, db_server: DbServer, database: str, bucket: str, s3: Any, s3_endpoint: str,
    shared_dir: Path,
) -> None:  # fmt: skip
    folder = tmp_path / "odd_job"
    (folder / "transform").mkdir(parents=True)
    (folder / "export").mkdir()
    (folder / "schema.sql").write_text(SCHEMA)
    (folder / "transform" / "10_values.sql").write_text(TRANSFORM)
    for name, sql in EXPORTS.items():
        (folder / "export" / f"{name}.sql").write_text(sql)
    put_csv(s3, bucket, "input/seed/seed.csv", "id\n1\n")
    engines = {
        "client": {},
        "pymysql": {"PATH": ""},  # no C client on PATH: the PyMySQL engine
        "shared": {"DB_SHARED_DIR": str(shared_dir)},
    }
    outputs: dict[str, dict[str, tuple[bytes, list[list[str]]]]] = {}
    for engine, extra in engines.items():
        run = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(folder),
                      OUTPUT_PREFIX=f"{engine}/", EXPORT_PART_ROWS="2", **extra)  # fmt: skip
        assert run.returncode == 0, run.logs[-2:]
        used = {e["engine"] for e in run.events("export_engine")}
        assert used == ({"mariadb"} if engine == "client" else set()), engine
        # The client logged in and ran every export (no fallback to PyMySQL): on the CI's
        # MySQL 8.4 leg, libmariadb's caching_sha2_password against a password account.
        assert not run.events("export_engine_unavailable"), run.events("export_engine_unavailable")
        exports = manifest(s3, bucket, output=f"{engine}/")["exports"]
        outputs[engine] = {name: parsed(s3, bucket, exports[name]["files"]) for name in EXPORTS}
    for name, sql in EXPORTS.items():
        expected = oracle(db_server, database, sql)
        assert len(expected) > 1, name
        for engine in engines:
            assert outputs[engine][name][1] == expected, (engine, name)
        assert (
            outputs["client"][name][0]
            == outputs["pymysql"][name][0]
            == (outputs["shared"][name][0])
        ), name


def _one_export(tmp_path: Path, sql: str) -> str:
    folder = tmp_path / "job"
    (folder / "export").mkdir(parents=True)
    (folder / "schema.sql").write_text(SCHEMA)
    (folder / "export" / "e.sql").write_text(sql)
    return str(folder)


@pytest.mark.parametrize(
    ("sql", "settings", "message"),
    [
        # A value changed on its way out (1292) fails the export instead of writing it.
        ("SELECT CAST('12abc' AS SIGNED) AS n", {}, "the server warned"),
        # An error only execution finds (the column probe runs with LIMIT 0).
        ("SELECT (SELECT id FROM seed) AS one FROM seed", {}, "Subquery returns more than 1"),
        # The client is stopped at the statement bound; no part is published.
        (
            "SELECT id, SLEEP(10) AS s FROM seed",
            {"DB_STATEMENT_TIMEOUT_SECONDS": "1"},
            "was killed",
        ),
    ],
)
def test_the_client_engine_fails_the_export_on_warnings_errors_and_timeouts(
    tmp_path: Path, db_server: DbServer, database: str, bucket: str, s3: Any, s3_endpoint: str,
    sql: str, settings: dict[str, str], message: str,
) -> None:  # fmt: skip
    put_csv(s3, bucket, "input/seed/seed.csv", "id\n1\n2\n")
    run = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=_one_export(tmp_path, sql),
                  **settings)  # fmt: skip
    assert run.returncode != 0
    assert run.events("export_engine"), run.failure
    assert message in run.failure["cause"], run.failure
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="output/").get("Contents", [])
    assert [o["Key"] for o in listed if "part-" in o["Key"]] == []
    # The client's statement does not run on in the server (it was KILLed, not abandoned).
    deadline = time.monotonic() + 5
    while _running(db_server, database) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _running(db_server, database) == []


def _running(db_server: DbServer, database: str) -> list[str]:
    with db_server.connect() as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT info FROM information_schema.processlist "
            "WHERE db = %s AND command = 'Query' AND id <> CONNECTION_ID()",
            (database,),
        )
        return [row[0] for row in cursor.fetchall()]


def test_a_client_that_cannot_log_in_leaves_the_export_to_pymysql(
    tmp_path: Path, db_server: DbServer, database: str, bucket: str, s3: Any, s3_endpoint: str
) -> None:
    """A server or authentication the `mariadb` client does not support (here a stand-in that
    fails as a refused login does) costs speed, not the run: PyMySQL exports, and the log says
    why."""
    fake = tmp_path / "bin" / "mariadb"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "ERROR 1045 (28000): Access denied for user" >&2\nexit 1\n')
    fake.chmod(0o755)
    put_csv(s3, bucket, "input/seed/seed.csv", "id\n1\n2\n")
    sql = "SELECT id, 'a,\"b\"' AS v FROM seed ORDER BY id"
    run = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=_one_export(tmp_path, sql),
                  PATH=str(fake.parent))  # fmt: skip
    assert run.returncode == 0, run.logs[-2:]
    [unavailable] = run.events("export_engine_unavailable")
    assert "Access denied" in unavailable["cause"]
    files = manifest(s3, bucket)["exports"]["e"]["files"]
    assert parsed(s3, bucket, files)[1] == oracle(db_server, database, sql)


def test_the_client_runs_no_client_commands_from_the_sql_it_is_given(
    tmp_path: Path, db_server: DbServer, database: str
) -> None:
    """The export's SQL is the job's, and the mariadb client would run `\\!` in it as a shell
    command in the app container (its environment: an aurora job's DB_ADMIN_PASSWORD, the task
    role's credentials endpoint), `\\T`/`\\o` would write files: the client takes none."""
    marker = tmp_path / "ran"
    options = tmp_path / "client.cnf"
    options.write_text(
        f"[client]\nhost={db_server.host}\nport={db_server.port}\nuser={db_server.user}\n"
        f'password="{db_server.password}"\n'
    )
    client = stream_client.client_binary()
    assert client, "the mariadb client is part of the test environment"
    for sql in (f"SELECT 1 AS a\n\\! touch {marker}\n", f"SELECT 1 \\! touch {marker}\n"):
        done = subprocess.run(stream_client.client_command(client, options, database, sql),
                              check=False, capture_output=True, text=True, timeout=30)  # fmt: skip
        assert done.returncode != 0 and not marker.exists(), (done.stdout, done.stderr)


@pytest.mark.parametrize("engine", ["client", "shared"])
def test_an_ascii_text_holding_other_bytes_is_not_written_as_they_are(
    tmp_path: Path, db_server: DbServer, database: str, bucket: str, s3: Any, s3_endpoint: str,
    shared_dir: Path, engine: str,
) -> None:  # fmt: skip
    """MariaDB's ascii takes any byte without a word (CONVERT(... USING ascii) checks none, nor
    does a column of it), and 0xE9 is no UTF-8: its utf8mb4 text is '?' with warning 1977
    (INTO OUTFILE ... CHARACTER SET utf8mb4 warns 1366 on the bytes), which fails the export
    as any changed value does. The client would write the bytes as they are: a published part
    that is not UTF-8. (MySQL 8.4's ascii refuses the byte: nothing to export there.)"""
    make = (
        "CREATE TABLE a (id INT PRIMARY KEY, s VARCHAR(5) CHARACTER SET ascii); "
        "INSERT INTO a VALUES (1, CONVERT(UNHEX('41E9') USING ascii));"
    )
    with db_server.connect(database) as conn, conn.cursor() as cursor:
        try:
            for statement in make.split("; "):
                cursor.execute(statement)
            cursor.execute("SELECT HEX(s) FROM a")
            held = cursor.fetchone()
        except pymysql.err.MySQLError:
            held = None
        cursor.execute("DROP TABLE IF EXISTS a")
    if held != ("41E9",):
        pytest.skip("this server's ascii holds no byte over 0x7F")
    folder = Path(_one_export(tmp_path, "SELECT id, s FROM a"))
    (folder / "transform").mkdir()
    (folder / "transform" / "10_a.sql").write_text(make)
    put_csv(s3, bucket, "input/seed/seed.csv", "id\n1\n")
    extra = {"DB_SHARED_DIR": str(shared_dir)} if engine == "shared" else {}
    run = run_etl(db_server, database, bucket, s3_endpoint, ETL_JOB=str(folder), **extra)
    assert run.returncode != 0, "a part that is not UTF-8 was published"
    assert "the server warned" in run.failure["cause"], run.failure
