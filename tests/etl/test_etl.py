"""End-to-end runs of `python -m etl run` against the real database server and S3 over HTTP.

Nothing is mocked: the job is a subprocess, MariaDB/MySQL loads and transforms, moto's server
stores the objects. Each test has its own database and bucket.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from etl_harness import (
    DbServer,
    DelayedProxy,
    keys,
    manifest,
    put_csv,
    read_bytes,
    read_export,
    run_etl,
)

from etl import sample
from tools.s3_emulator import free_port

ROOT_OUT = "output/edge_job/run=20261101T040000Z/"
SAMPLE_OUT = "output/monthly_orders/run=20261101T040000Z/"  # the bundled job


@pytest.fixture
def job(
    request: pytest.FixtureRequest, db_server: DbServer, database: str, bucket: str,
    s3_endpoint: str,
) -> Any:  # fmt: skip
    """Run the job for this test's database and bucket; keyword arguments are settings.
    Parametrized indirectly (`both_paths`) it runs with the shared export path too."""
    path = getattr(request, "param", "stream")
    shared = (
        {"DB_SHARED_DIR": str(request.getfixturevalue("shared_dir"))} if path == "shared" else {}
    )

    def run(**settings: str) -> Any:
        return run_etl(db_server, database, bucket, s3_endpoint, **{**shared, **settings})

    return run


both_paths = pytest.mark.parametrize("job", ["stream", "shared"], indirect=True)


# --- the bundled example job ---------------------------------------------------------------


def upload_sample(s3: Any, bucket: str, tmp_path: Path, rows: int, gzipped: bool) -> Path:
    folder = tmp_path / "sample"
    for path in sample.write(folder, rows=rows, seed=11, month="2026-10", gzipped=gzipped):
        s3.upload_file(str(path), bucket, f"input/{path.parent.name}/{path.name}")
    return folder


def read_csv(path: Path) -> list[dict[str, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def expected_reports(folder: Path) -> tuple[list[list[str]], list[list[str]]]:
    """The monthly report computed in Python from the generated CSV, independently of SQL."""
    customers = {r["customer_id"]: r for r in read_csv(next(folder.glob("customers/*")))}
    products = {r["product_id"]: r for r in read_csv(next(folder.glob("products/*")))}
    per_customer: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"orders": 0, "items": 0, "revenue": Decimal(0), "times": []}
    )
    per_product: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"units": 0, "revenue": Decimal(0)}
    )
    for order in read_csv(next(folder.glob("orders/*"))):
        quantity = int(order["quantity"])
        if order["status"] != "completed" or quantity <= 0:
            continue
        if not ("2026-10-01 00:00:00" <= order["ordered_at"] < "2026-11-01 00:00:00"):
            continue
        amount = quantity * Decimal(order["unit_price"])
        c = per_customer[order["customer_id"]]
        c["orders"] += 1
        c["items"] += quantity
        c["revenue"] += amount
        c["times"].append(order["ordered_at"])
        p = per_product[order["product_id"]]
        p["units"] += quantity
        p["revenue"] += amount
    revenue = [
        ["2026-10", cid, customers[cid]["name"], customers[cid]["email"], customers[cid]["country"],
         str(c["orders"]), str(c["items"]), f"{c['revenue']:.2f}", min(c["times"]), max(c["times"])]
        for cid, c in per_customer.items()
    ]  # fmt: skip
    revenue.sort(key=lambda row: (-Decimal(row[7]), int(row[1])))
    top = [
        ["2026-10", pid, products[pid]["name"], products[pid]["category"], str(p["units"]),
         f"{p['revenue']:.2f}"]
        for pid, p in per_product.items()
    ]  # fmt: skip
    top.sort(key=lambda row: (-Decimal(row[5]), int(row[1])))
    return revenue, top[:10]


@pytest.mark.parametrize("gzipped", [False, True], ids=["csv", "csv.gz"])
@both_paths
def test_example_job_matches_an_independent_computation(
    job: Any, s3: Any, bucket: str, tmp_path: Path, gzipped: bool
) -> None:
    folder = upload_sample(s3, bucket, tmp_path, rows=3000, gzipped=gzipped)
    run = job()
    assert run.returncode == 0, run.logs[-3:]
    revenue, top = expected_reports(folder)
    doc = manifest(s3, bucket)

    header, rows = read_export(
        s3, bucket, [f["key"] for f in doc["exports"]["revenue_per_customer"]["files"]]
    )
    assert header == ["month", "customer_id", "name", "email", "country", "orders", "items",
                      "revenue", "first_order_at", "last_order_at"]  # fmt: skip
    assert rows == revenue
    assert any("\n" in row[2] for row in rows) and any('"' in row[2] for row in rows)
    assert any(row[3] == "" for row in rows)  # NULL email -> empty field

    header, rows = read_export(
        s3, bucket, [f["key"] for f in doc["exports"]["top_products"]["files"]]
    )
    assert header == ["month", "product_id", "name", "category", "units", "revenue"]
    assert rows == top


def test_manifest_describes_the_run_completely(
    job: Any, s3: Any, bucket: str, tmp_path: Path
) -> None:
    upload_sample(s3, bucket, tmp_path, rows=500, gzipped=False)
    run = job(SCHEDULED_TIME="2026-11-01T05:00:00+01:00")  # same instant as 04:00Z
    assert run.returncode == 0
    doc = manifest(s3, bucket)
    assert doc["job"] == "monthly_orders"
    assert doc["scheduled_time"] == "2026-11-01T04:00:00Z"
    assert doc["started_at"] <= doc["finished_at"]
    assert doc["inputs"]["orders"]["rows"] == 500
    assert doc["inputs"]["orders"]["files"] == [
        {"key": "input/orders/part-00000.csv", "rows": 500,
         "bytes": s3.head_object(Bucket=bucket, Key="input/orders/part-00000.csv")["ContentLength"]}
    ]  # fmt: skip
    listed = {SAMPLE_OUT + "_manifest.json"}
    for export in doc["exports"].values():
        assert export["rows"] == sum(f["rows"] for f in export["files"])
        for part in export["files"]:
            body = read_bytes(s3, bucket, part["key"])
            assert (len(body), hashlib.sha256(body).hexdigest()) == (part["bytes"], part["sha256"])
            listed.add(part["key"])
    assert set(keys(s3, bucket, "output/")) == listed
    assert (
        doc["exports"]["top_products"]["files"][0]["key"]
        == SAMPLE_OUT + "top_products/part-00000.csv.gz"
    )


@both_paths
def test_logs_are_json_lines_with_progress(job: Any, s3: Any, bucket: str, tmp_path: Path) -> None:
    upload_sample(s3, bucket, tmp_path, rows=200, gzipped=True)
    run = job(PROGRESS_SECONDS="0")  # a progress line at every step, not every 10 s
    assert run.returncode == 0
    loading = [
        e for e in run.events("load_progress") if e["key"] == "input/orders/part-00000.csv.gz"
    ]
    assert loading and loading[-1]["rows"] == 200 and "elapsed_s" in loading[-1]
    exporting = run.events("export_progress")
    assert {e["export"] for e in exporting} == {"revenue_per_customer", "top_products"}
    assert all("rows" in e and "elapsed_s" in e for e in exporting)
    stages = [line["stage"] for line in run.events("stage_finished")]
    assert stages == ["job_definition", "lock", "connect", "schema", "extract", "load",
                      "transform", "export", "manifest"]  # fmt: skip
    assert {e["table"]: e["rows"] for e in run.events("table_loaded")}["orders"] == 200
    assert all("elapsed_s" in line for line in run.events("stage_finished"))
    assert run.events("run_succeeded")[0]["manifest"].endswith("_manifest.json")
    # CloudWatch Embedded Metric Format: metrics from the log line itself.
    [metrics] = run.events("run_metrics")
    assert metrics["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ScheduledEtl"
    assert metrics["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Job"]]
    names = {m["Name"] for m in metrics["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert names == {"Succeeded", "RowsLoaded", "RowsExported", "DurationSeconds"}
    assert (metrics["Job"], metrics["Succeeded"]) == ("monthly_orders", 1)
    assert metrics["RowsLoaded"] >= 200 and metrics["RowsExported"] > 0


# --- CSV edge cases, through a job folder of the test's own ---------------------------------

EDGE_SCHEMA = """
DROP TABLE IF EXISTS items, empty_table, single;
CREATE TABLE items (
  id INT NOT NULL PRIMARY KEY,
  label TEXT NULL,
  amount DECIMAL(10, 2) NULL,
  seen_at DATETIME NULL,
  note VARCHAR(20) NOT NULL DEFAULT 'none'
);
CREATE TABLE empty_table (id INT NOT NULL PRIMARY KEY, name VARCHAR(10));
CREATE TABLE single (v VARCHAR(20) NULL);
"""


def edge_job(tmp_path: Path, transform: str = "") -> Path:
    folder = tmp_path / "edge_job"
    (folder / "export").mkdir(parents=True)
    (folder / "transform").mkdir()
    (folder / "schema.sql").write_text(EDGE_SCHEMA)
    if transform:
        (folder / "transform" / "10_step.sql").write_text(transform)
    (folder / "export" / "items.sql").write_text(
        "SELECT id, label, amount, seen_at, note FROM items ORDER BY id;"
    )
    (folder / "export" / "empty.sql").write_text("SELECT id, name FROM empty_table ORDER BY id")
    (folder / "export" / "single.sql").write_text(
        "SELECT COUNT(*) AS n, SUM(v IS NULL) AS nulls, MIN(v) AS least FROM single"
    )
    return folder


ITEMS_A = (  # plain, LF endings, columns in another order, a subset of the table
    "label,id,amount,seen_at\n"
    '"comma, inside",1,1.50,2026-10-01 12:00:00\n'
    '"quote ""inside""",2,,2026-10-02 00:00:00\n'
    '"multi\nline",3,3.00,\n'
    "ünïcödé 😀,4,-4.25,2026-10-04 23:59:59\n"
    ",5,0,2026-10-05 01:02:03\n"
    "NULL,6,6,2026-10-06 00:00:00\n"
    "back\\slash \\N\ttab,7,7,2026-10-07 00:00:00\n"
)
ITEMS_B = 'id,label,note\r\n8,"crlf\r\ninside",custom\r\n9,,x\r\n'  # gzip, CRLF endings


def upload_edge_inputs(s3: Any, bucket: str) -> None:
    put_csv(s3, bucket, "input/items/a.csv", ITEMS_A)
    put_csv(s3, bucket, "input/items/nested/b.csv.gz", ITEMS_B, gzipped=True)
    put_csv(s3, bucket, "input/empty_table/header-only.csv", "id,name\n")
    put_csv(s3, bucket, "input/single/one.csv", 'v\nabc\n""\nxyz\n')
    put_csv(s3, bucket, "input/items/_SUCCESS", "")  # not a CSV: ignored


@both_paths
def test_csv_edge_cases_round_trip(job: Any, s3: Any, bucket: str, tmp_path: Path) -> None:
    upload_edge_inputs(s3, bucket)
    run = job(ETL_JOB=str(edge_job(tmp_path)))
    assert run.returncode == 0, run.logs[-2:]
    doc = manifest(s3, bucket)
    assert doc["inputs"]["items"]["rows"] == 9
    assert [f["key"] for f in doc["inputs"]["items"]["files"]] == [
        "input/items/a.csv",
        "input/items/nested/b.csv.gz",
    ]

    body = gzip.decompress(read_bytes(s3, bucket, ROOT_OUT + "items/part-00000.csv.gz"))
    assert body.decode("utf-8") == (
        "id,label,amount,seen_at,note\r\n"
        '1,"comma, inside",1.50,2026-10-01 12:00:00,none\r\n'
        '2,"quote ""inside""",,2026-10-02 00:00:00,none\r\n'
        '3,"multi\nline",3.00,,none\r\n'
        "4,ünïcödé 😀,-4.25,2026-10-04 23:59:59,none\r\n"
        "5,,0.00,2026-10-05 01:02:03,none\r\n"
        "6,NULL,6.00,2026-10-06 00:00:00,none\r\n"
        "7,back\\slash \\N\ttab,7.00,2026-10-07 00:00:00,none\r\n"
        '8,"crlf\r\ninside",,,custom\r\n'
        "9,,,,x\r\n"
    )
    empty = doc["exports"]["empty"]
    assert (empty["rows"], len(empty["files"])) == (0, 1)
    assert gzip.decompress(read_bytes(s3, bucket, empty["files"][0]["key"])) == b"id,name\r\n"
    _, [single] = read_export(s3, bucket, [ROOT_OUT + "single/part-00000.csv.gz"])
    assert single == ["3", "1", "abc"]


@both_paths
def test_large_results_are_split_into_parts(job: Any, s3: Any, bucket: str, tmp_path: Path) -> None:
    upload_edge_inputs(s3, bucket)
    run = job(ETL_JOB=str(edge_job(tmp_path)), EXPORT_PART_ROWS="4")
    assert run.returncode == 0
    files = manifest(s3, bucket)["exports"]["items"]["files"]
    assert [f["rows"] for f in files] == [4, 4, 1]
    assert [f["key"].rsplit("/", 1)[1] for f in files] == [
        "part-00000.csv.gz",
        "part-00001.csv.gz",
        "part-00002.csv.gz",
    ]
    header, rows = read_export(s3, bucket, [f["key"] for f in files])
    assert header[0] == "id" and [r[0] for r in rows] == [str(i) for i in range(1, 10)]


@both_paths
def test_exactly_full_parts_leave_no_empty_trailing_part(
    job: Any, s3: Any, bucket: str, tmp_path: Path
) -> None:
    upload_edge_inputs(s3, bucket)
    assert job(ETL_JOB=str(edge_job(tmp_path)), EXPORT_PART_ROWS="3").returncode == 0
    assert [f["rows"] for f in manifest(s3, bucket)["exports"]["items"]["files"]] == [3, 3, 3]


@both_paths
def test_rerun_replaces_the_run_folder(job: Any, s3: Any, bucket: str, tmp_path: Path) -> None:
    upload_edge_inputs(s3, bucket)
    folder = str(edge_job(tmp_path))
    assert job(ETL_JOB=folder, EXPORT_PART_ROWS="2").returncode == 0
    assert len(keys(s3, bucket, ROOT_OUT + "items/")) == 5
    first = manifest(s3, bucket)

    assert job(ETL_JOB=folder).returncode == 0
    second = manifest(s3, bucket)
    assert keys(s3, bucket, ROOT_OUT + "items/") == [ROOT_OUT + "items/part-00000.csv.gz"]
    assert second["exports"]["items"]["files"][0]["rows"] == 9
    listed = {f["key"] for e in second["exports"].values() for f in e["files"]}
    assert set(keys(s3, bucket, ROOT_OUT)) == listed | {ROOT_OUT + "_manifest.json"}
    assert second["started_at"] >= first["started_at"]


def test_other_scheduled_times_write_other_folders(
    job: Any, s3: Any, bucket: str, tmp_path: Path
) -> None:
    upload_edge_inputs(s3, bucket)
    folder = str(edge_job(tmp_path))
    assert job(ETL_JOB=folder).returncode == 0
    assert job(ETL_JOB=folder, SCHEDULED_TIME="2026-12-01T04:00:00Z").returncode == 0
    assert {k.split("/")[2] for k in keys(s3, bucket, "output/edge_job/")} == {
        "run=20261101T040000Z",
        "run=20261201T040000Z",
    }


# --- failures: exit non-zero, one JSON line naming stage and cause, no manifest ------------


def assert_failed(run: Any, s3: Any, bucket: str, stage: str, *fragments: str) -> None:
    assert run.returncode == 1
    failure = run.failure
    assert failure["level"] == "ERROR" and failure["stage"] == stage, failure
    for fragment in fragments:
        assert fragment in failure["cause"], failure["cause"]
    assert keys(s3, bucket, "output/") == [], "a failed run publishes nothing, keeps no lock"
    if stage != "job_definition":
        assert run.events("run_metrics")[0]["Succeeded"] == 0


@pytest.mark.parametrize(
    ("items_csv", "fragments"),
    [
        ("id,label,amount\n1,a,1\n2,b,2,extra\n",
         ["input/items/a.csv line 3: 4 fields, the header has 3"]),
        ("id,label,amount\n1,a,1\n2,b\n", ["input/items/a.csv line 3: 2 fields, the header has 3"]),
        ('id,label,amount\n1,"two\nlines",1.00\n2,ok,abc\n',
         ["input/items/a.csv line 4, column amount (value 'abc'): not a decimal number"]),
        ("id,seen_at\n1,2026-10-01 00:00:00\n2,2026-13-45 00:00:00\n",
         ["input/items/a.csv line 3, column seen_at (value '2026-13-45 00:00:00'):"]),
        ("id,amount\n1,123456789012.50\n",
         ["input/items/a.csv line 2, column amount (value '123456789012.50'): Out of range"]),
        ("id,amount\n1,1.555\n",
         ["line 2, column amount (value '1.555'): more than 2 decimal places"]),
        ("id,label\nx,1\n", ["input/items/a.csv line 2, column id (value 'x'): not an integer"]),
        ('id,label\n1,"never closed\n', ["input/items/a.csv line 2: malformed CSV"]),
        ("id,colour\n1,red\n", ["'colour' not in the table (columns: id, label, amount"]),
        ("id,id\n1,2\n", ["duplicate column(s) id"]),
        ("id,note\n1,a\n2,\n", ["line 3, column note (value ''):"]),  # NULL into NOT NULL
    ],
)  # fmt: skip
def test_bad_rows_fail_with_file_line_and_column(
    job: Any, s3: Any, bucket: str, tmp_path: Path, items_csv: str, fragments: list[str]
) -> None:
    upload_edge_inputs(s3, bucket)
    s3.delete_object(Bucket=bucket, Key="input/items/nested/b.csv.gz")
    put_csv(s3, bucket, "input/items/a.csv", items_csv)
    assert_failed(job(ETL_JOB=str(edge_job(tmp_path))), s3, bucket, "load", *fragments)


def test_not_utf8_fails(job: Any, s3: Any, bucket: str, tmp_path: Path) -> None:
    upload_edge_inputs(s3, bucket)
    s3.put_object(
        Bucket=bucket, Key="input/items/a.csv", Body="id,label\n1,caf\xe9\n".encode("latin-1")
    )
    run = job(ETL_JOB=str(edge_job(tmp_path)))
    assert_failed(run, s3, bucket, "load", "input/items/a.csv", "not UTF-8")


def test_missing_table_folder_fails(job: Any, s3: Any, bucket: str, tmp_path: Path) -> None:
    upload_edge_inputs(s3, bucket)
    s3.delete_object(Bucket=bucket, Key="input/single/one.csv")
    run = job(ETL_JOB=str(edge_job(tmp_path)))
    assert_failed(
        run, s3, bucket, "extract", f"no input files for table single (s3://{bucket}/input/single/"
    )


def test_unknown_table_folder_fails(job: Any, s3: Any, bucket: str, tmp_path: Path) -> None:
    upload_edge_inputs(s3, bucket)
    put_csv(s3, bucket, "input/itemz/x.csv", "id\n1\n")
    run = job(ETL_JOB=str(edge_job(tmp_path)))
    assert_failed(run, s3, bucket, "extract", "input/itemz/ is not a table of schema.sql")


def test_failing_transform_fails(job: Any, s3: Any, bucket: str, tmp_path: Path) -> None:
    upload_edge_inputs(s3, bucket)
    bad = "UPDATE items SET note = 'ok';\nSELECT nope FROM items;"
    run = job(ETL_JOB=str(edge_job(tmp_path, transform=bad)))
    assert_failed(run, s3, bucket, "transform", "10_step.sql statement 2", "nope")


@both_paths
def test_failed_rerun_keeps_the_last_complete_output(
    job: Any, s3: Any, bucket: str, tmp_path: Path
) -> None:
    upload_edge_inputs(s3, bucket)
    assert job(ETL_JOB=str(edge_job(tmp_path))).returncode == 0
    before = {k: read_bytes(s3, bucket, k) for k in keys(s3, bucket, "output/")}
    failing = edge_job(tmp_path / "v2", transform="SELECT missing FROM items;")
    assert job(ETL_JOB=str(failing)).returncode == 1
    assert {k: read_bytes(s3, bucket, k) for k in keys(s3, bucket, "output/")} == before


def test_inputs_are_never_modified(job: Any, s3: Any, bucket: str, tmp_path: Path) -> None:
    upload_edge_inputs(s3, bucket)
    before = {k: read_bytes(s3, bucket, k) for k in keys(s3, bucket, "input/")}
    assert job(ETL_JOB=str(edge_job(tmp_path))).returncode == 0
    assert {k: read_bytes(s3, bucket, k) for k in keys(s3, bucket, "input/")} == before


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"DB_HOST": ""}, "DB_HOST is required"),
        ({"DATA_BUCKET": ""}, "DATA_BUCKET is required"),
        ({"DB_PORT": "mysql"}, "DB_PORT='mysql' is not a int"),
        ({"SCHEDULED_TIME": "yesterday"}, "SCHEDULED_TIME='yesterday' is not ISO 8601"),
        (
            {"SCHEDULED_TIME": "2026-11-01T04:00:00"},
            "SCHEDULED_TIME='2026-11-01T04:00:00' needs a time zone",
        ),
        ({"INPUT_PREFIX": "input"}, "INPUT_PREFIX='input' must end with '/'"),
        ({"ETL_JOB": "/nowhere"}, "ETL_JOB='/nowhere' is not a job folder"),
        ({"EXPORT_PART_ROWS": "0"}, "EXPORT_PART_ROWS='0' must be at least 1"),
    ],
)
def test_bad_settings_fail_at_start_naming_the_variable(
    job: Any, s3: Any, bucket: str, settings: dict[str, str], fragment: str
) -> None:
    run = job(**settings)
    assert run.returncode == 2
    assert run.failure["stage"] == "settings" and fragment in run.failure["cause"]


# --- the database sidecar may still be starting ---------------------------------------------


def test_waits_for_the_database_to_come_up(
    job: Any, s3: Any, bucket: str, tmp_path: Path, db_server: DbServer
) -> None:
    upload_edge_inputs(s3, bucket)
    port = free_port()
    with DelayedProxy(port, (db_server.host, db_server.port), delay=3.0):
        run = job(ETL_JOB=str(edge_job(tmp_path)), DB_HOST="127.0.0.1", DB_PORT=str(port))
    assert run.returncode == 0, run.logs[-2:]
    waits = run.events("waiting_for_database")
    assert waits and all("Can't connect" in w["cause"] for w in waits)
    assert manifest(s3, bucket)["inputs"]["items"]["rows"] == 9


def test_gives_up_when_the_database_never_comes(job: Any, s3: Any, bucket: str) -> None:
    run = job(DB_HOST="127.0.0.1", DB_PORT=str(free_port()), DB_WAIT_SECONDS="2")
    assert_failed(run, s3, bucket, "connect", "after 2 s (DB_WAIT_SECONDS)")


def test_sample_generator_is_deterministic(tmp_path: Path) -> None:
    one = sample.write(tmp_path / "a", rows=300, seed=5, month="2026-10", gzipped=False)
    two = sample.write(tmp_path / "b", rows=300, seed=5, month="2026-10", gzipped=False)
    assert [p.read_bytes() for p in one] == [p.read_bytes() for p in two]
    other = sample.write(tmp_path / "c", rows=300, seed=6, month="2026-10", gzipped=False)
    assert one[2].read_bytes() != other[2].read_bytes()
    orders = list(csv.reader(io.StringIO(one[2].read_text(), newline="")))
    assert len(orders) == 301
