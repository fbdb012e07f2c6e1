"""Load and export throughput of the ETL job vs the MySQL client, and the job's peak memory.

    venv/bin/python -m bench --rows 1000000 --repeat 3 --memory-rows 5000000
    venv/bin/python -m bench --rows 100000   # a few minutes on a busy 2-core machine

The server: BENCH_DB_HOST, BENCH_DB_PORT, BENCH_DB_USER, BENCH_DB_PASSWORD (127.0.0.1:3306,
root, no password; the client gets it in MYSQL_PWD, never on its command line); the database
BENCH_DB_DATABASE (etl_bench), created if missing and kept, whose table t is dropped and created
again for each shape and holds the job's last load afterwards; no other database is touched. The
user needs every privilege on that database, RELOAD (`FLUSH TABLES t FOR EXPORT` after each
load) and, for the shared path, FILE (`SELECT … INTO OUTFILE`) and a server on this machine (it
writes into this run's temporary directory).
`stream-tcp` runs on a server of its own (below), not on these settings.

On the same generated CSV and the same server, prints side by side:
  load:   the job's load stage (S3 download, CSV checks, LOAD DATA LOCAL) vs
          `mysql --local-infile -e "LOAD DATA LOCAL INFILE …"` of the uncompressed CSV
          (`ref`: straight into the columns, the issue's reference; `same`: the same NULLs as
          the job, each nullable column's empty fields through a variable and a SET, the
          job's own form for a table with long text; elsewhere its converter spells them NULL);
  export: the job's export stage of `SELECT * FROM t` (--ordered: `… ORDER BY 1`, the key) to
          gzip CSV parts in S3 vs `mysql --quick --batch -e "<the same>" | gzip -1 > file`;
the whole job process (start to exit) vs each load reference plus the export's, and the job
process's peak RSS (medians of --repeat runs, references and job runs interleaved), for each
shape (--shapes): `orders` (6 columns, short values), `text` (7 columns, mostly quoted text with
commas, quotes and line breaks, decimals, datetimes, NULLs), `wide` (40 columns), `heldout`
(the issue-20 orders table the job was not tuned on), `longtext` (1-5 KB bodies) and `small`
(two small integers). Paths (--paths): `shared` (DB_SHARED_DIR: the server reads/writes
files the job shares with it), `stream` (no shared filesystem) against the same server, and
`stream-tcp`: the stream path against a second MariaDB this benchmark starts on its own TCP
port (bench/second_server.py), the database outside the task; its references run against
that server too.

Ratios are C client time / job time (1.00x: as fast as the C client). The goal, >= 0.80x, is
judged against `ref` (the issue's reference); `same` shows how much of a shortfall is the
server's cost of the job's NULLs. The whole job's time holds the job's fixed start (~0.5 s):
at small --rows, where the references take a fraction of a second, its ratios are mostly that.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import boto3

from bench import second_server
from tools.s3_emulator import free_port

ROOT = Path(__file__).resolve().parent.parent
# The job under test: this checkout, or another one (--job-root) for before/after figures.
JOB_ROOT = [ROOT]
# Another checkout whose job runs interleaved with it (--compare-root): before/after figures
# from the same minutes of a busy machine, printed as the paths' `<path>@before` rows.
BEFORE = "@before"
COMPARE_ROOT: list[Path] = []
EXPORT_SQL = ["SELECT * FROM t"]  # --ordered: "SELECT * FROM t ORDER BY 1" (each shape's key)
DATABASE = "etl_bench"
BUCKET = "etl-bench"
NOTES = ["", "ok", "gift, wrapped", 'said "hi"', "two\nlines", "ünïcödé", "plain text here"]
WORDS = ["alpha", "beta", "gamma, delta", 'the "quoted" one', "line\nbreak", "ümlaut", "x" * 40]


@dataclass(frozen=True)
class Shape:
    """A table to load and export: its DDL, CSV header and a row generator."""

    table_sql: str
    header: list[str]
    row: Callable[[random.Random, int], list[object]]
    scale: float = 1.0  # rows = --rows x scale (fewer for wide or long rows)


def _orders_row(rng: random.Random, i: int) -> list[object]:
    return [
        i, rng.randrange(1, 100_000), f"{rng.randrange(0, 10_000_000) / 100:.2f}",
        rng.choice(("completed", "pending", "cancelled")), _datetime(rng), rng.choice(NOTES),
    ]  # fmt: skip


def _datetime(rng: random.Random) -> str:
    return (f"2026-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d} "
            f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}")  # fmt: skip


def _text_row(rng: random.Random, i: int) -> list[object]:
    """Quoted text, decimals, datetimes and NULLs (the issue's held-out shape)."""

    def text(low: int, high: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randrange(low, high)))

    return [
        i, text(1, 4), text(5, 20) if rng.random() < 0.9 else "",
        f"{rng.randrange(-10**9, 10**9) / 10**4:.4f}", _datetime(rng),
        _datetime(rng) if rng.random() < 0.5 else "", text(0, 3) or "",
    ]  # fmt: skip


WIDE_COLUMNS = 40


def _wide_row(rng: random.Random, i: int) -> list[object]:
    values: list[object] = [i]
    for c in range(1, WIDE_COLUMNS):
        kind = c % 4
        if rng.random() < 0.1:
            values.append("")
        elif kind == 0:
            values.append(rng.randrange(-(10**6), 10**6))
        elif kind == 1:
            values.append(f"{rng.randrange(0, 10**7) / 100:.2f}")
        elif kind == 2:
            values.append(_datetime(rng))
        else:
            values.append(rng.choice(WORDS))
    return values


def _wide_sql() -> str:
    kinds = ["INT", "DECIMAL(12, 2)", "DATETIME", "VARCHAR(64)"]
    columns = [f"c{c:02d} {kinds[c % 4]} NULL" for c in range(1, WIDE_COLUMNS)]
    return (f"DROP TABLE IF EXISTS t;\nCREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY, "
            f"{', '.join(columns)}) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;\n")  # fmt: skip


HELDOUT_NOTES = [
    None,
    None,
    "",
    "leave at door",
    "gift, wrapped",
    'call "Sam" first',
    'ring twice, then "knock"',
    "fragile",
    "ünïcödé, ok",
]


def _heldout_row(rng: random.Random, i: int) -> list[object]:
    note = rng.choice(HELDOUT_NOTES)
    return [
        i, rng.randrange(1, 2_000_000), rng.choice(("new", "paid", "shipped", "returned")),
        rng.randrange(1, 50), f"{rng.randrange(1, 10**8) / 100:.2f}", _datetime(rng),
        note or "",  # an empty field: NULL on load (the job's CSV_NULL default)
    ]  # fmt: skip


def _longtext_row(rng: random.Random, i: int) -> list[object]:
    words = [rng.choice(WORDS) for _ in range(rng.randrange(150, 600))]
    return [i, " ".join(words[:5]), " ".join(words)]


SHAPES = {
    # 6 columns, about 52 bytes a row: 1M rows make the 52 MB file of the first benchmark.
    "orders": Shape(
        """
DROP TABLE IF EXISTS t;
CREATE TABLE t (
  id BIGINT NOT NULL PRIMARY KEY,
  customer_id INT NOT NULL,
  amount DECIMAL(12, 2) NULL,
  status VARCHAR(16) NOT NULL,
  created_at DATETIME NOT NULL,
  note VARCHAR(64) NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
""",
        ["id", "customer_id", "amount", "status", "created_at", "note"],
        _orders_row,
    ),
    # 7 columns, text-heavy: about 170 bytes a row, most of it quoted text.
    "text": Shape(
        """
DROP TABLE IF EXISTS t;
CREATE TABLE t (
  id BIGINT NOT NULL PRIMARY KEY,
  title VARCHAR(255) NOT NULL,
  body TEXT NULL,
  amount DECIMAL(18, 4) NULL,
  created_at DATETIME NOT NULL,
  updated_at DATETIME NULL,
  tags VARCHAR(255) NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
""",
        ["id", "title", "body", "amount", "created_at", "updated_at", "tags"],
        _text_row,
    ),
    # 40 columns of numbers, decimals, datetimes and short text, 10 % NULL.
    "wide": Shape(
        _wide_sql(), ["id"] + [f"c{c:02d}" for c in range(1, WIDE_COLUMNS)], _wide_row, 0.2
    ),
    # The issue's held-out orders table: a shape the job was not tuned on.
    "heldout": Shape(
        """
DROP TABLE IF EXISTS t;
CREATE TABLE t (
  order_id BIGINT NOT NULL PRIMARY KEY,
  customer_id INT NOT NULL,
  status VARCHAR(12) NOT NULL,
  quantity INT NOT NULL,
  amount DECIMAL(10, 2) NOT NULL,
  ordered_at DATETIME NOT NULL,
  note VARCHAR(64) NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
""",
        ["order_id", "customer_id", "status", "quantity", "amount", "ordered_at", "note"],
        _heldout_row,
    ),
    # A 1-5 KB text body a row: few rows, many bytes, each one quoted.
    "longtext": Shape(
        """
DROP TABLE IF EXISTS t;
CREATE TABLE t (
  id BIGINT NOT NULL PRIMARY KEY,
  title VARCHAR(255) NOT NULL,
  body MEDIUMTEXT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
""",
        ["id", "title", "body"],
        _longtext_row,
        0.02,
    ),
    # Many tiny rows (about 12 bytes each): per-row costs dominate.
    "small": Shape(
        """
DROP TABLE IF EXISTS t;
CREATE TABLE t (id INT NOT NULL PRIMARY KEY, v SMALLINT NOT NULL) ENGINE = InnoDB;
""",
        ["id", "v"],
        lambda rng, i: [i, rng.randrange(-32768, 32768)],
        4.0,
    ),
}


def make_csv(path: Path, shape: Shape, rows: int, seed: int = 1) -> int:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(shape.header)
        for i in range(1, rows + 1):
            writer.writerow(shape.row(rng, i))
    return path.stat().st_size


@dataclass(frozen=True)
class Db:
    host: str
    port: int
    user: str
    password: str
    database: str = DATABASE  # BENCH_DB_DATABASE: its table t is dropped and loaded

    def mysql(self, *args: str) -> list[str]:
        """The client's command. The password goes in its environment (env), never in its
        arguments, which `ps` and a failed command's error print."""
        return ["mysql", f"--host={self.host}", f"--port={self.port}", f"--user={self.user}",
                *args]  # fmt: skip

    def env(self) -> dict[str, str]:
        env = {name: value for name, value in os.environ.items() if name != "MYSQL_PWD"}
        return env | ({"MYSQL_PWD": self.password} if self.password else {})

    def run(self, *args: str) -> str:
        """Run the client; its output."""
        return subprocess.run(self.mysql(*args), env=self.env(), check=True,
                              stdout=subprocess.PIPE, text=True).stdout  # fmt: skip


def timed(command: str, db: Db) -> float:
    started = time.monotonic()
    subprocess.run(["bash", "-o", "pipefail", "-c", command], env=db.env(), check=True)
    return time.monotonic() - started


def settle(db: Db) -> None:
    """Write the table's loaded pages to disk before the next measured run, outside its time:
    InnoDB flushes a load's pages in the background for seconds after it, and the run that came
    next paid for them (the first job run after the references loaded ~30 % slower than the
    same run placed second)."""
    db.run(db.database, "-e", "FLUSH TABLES t FOR EXPORT; UNLOCK TABLES")


def _timed_load(db: Db, csv_path: Path, clauses: str) -> float:
    """`mysql` loading the CSV into an empty t; `clauses`: the statement's FIELDS onwards."""
    db.run(db.database, "-e", "TRUNCATE TABLE t")
    sql = f"LOAD DATA LOCAL INFILE '{csv_path}' INTO TABLE t CHARACTER SET utf8mb4 {clauses}"
    return timed(shlex.join(db.mysql("--local-infile=1", db.database, "-e", sql)), db)


def reference_load(db: Db, csv_path: Path) -> float:
    return _timed_load(db, csv_path, "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' "
                       "LINES TERMINATED BY '\\r\\n' IGNORE 1 LINES")  # fmt: skip


def same_result_load(db: Db, csv_path: Path) -> float:
    """The C client loading the benchmark's CSV into the values the job loads (for SHAPES:
    tests/etl/test_bench_references.py compares the tables): an empty field is NULL in a
    nullable column (through a variable and a SET, as the job's LOAD does for a table with long
    text; for the others its converter spells an empty field NULL instead), and the fields are
    RFC 4180's (ESCAPED BY ''). reference_load, the issue's reference, loads them straight:
    0, '' or a zero date with a warning instead of NULL, and no SET to pay for.
    Not the job's result for any CSV: the job also loads BIT and binary columns through a SET
    (values.py), maps fields by the header (here: the table's column order), keeps empty fields
    with CSV_NULL, loads an unquoted NULL as the text NULL (the server: NULL), turns a time with
    an offset into UTC, and refuses what the server takes with a warning (a bad value, an empty
    field of a NOT NULL column)."""
    listing = db.run(
        "--batch", "--skip-column-names", "-e",
        "SELECT column_name, is_nullable FROM information_schema.columns WHERE "
        f"table_schema = '{db.database}' AND table_name = 't' ORDER BY ordinal_position",
    )  # fmt: skip
    targets, sets = [], []
    for line in listing.splitlines():
        name, nullable = line.split("\t")
        if nullable == "YES":
            targets.append(f"@{name}")
            sets.append(f"`{name}` = IF(LENGTH(@{name}) = 0, NULL, @{name})")
        else:
            targets.append(f"`{name}`")
    clauses = ("FIELDS TERMINATED BY ',' ENCLOSED BY '\"' ESCAPED BY '' "
               f"LINES TERMINATED BY '\\r\\n' IGNORE 1 LINES ({', '.join(targets)})"
               + (f" SET {', '.join(sets)}" if sets else ""))  # fmt: skip
    return _timed_load(db, csv_path, clauses)


def reference_export(db: Db, out: Path) -> float:
    command = shlex.join(db.mysql("--quick", "--batch", db.database, "-e", EXPORT_SQL[0]))
    return timed(f"{command} | gzip -1 > {shlex.quote(str(out))}", db)


@dataclass
class JobRun:
    load_s: float
    export_s: float
    total_s: float  # the whole job process, start to exit
    peak_rss_mb: float


def run_job(
    db: Db, endpoint: str, job_dir: Path, shared_dir: Path | None, root: Path | None = None
) -> JobRun:
    root = root or JOB_ROOT[0]
    env = {
        "PATH": os.environ["PATH"], "PYTHONPATH": str(root),
        "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": endpoint,
        "DB_HOST": db.host, "DB_PORT": str(db.port), "DB_DATABASE": db.database,
        "DB_USERNAME": db.user, "DB_PASSWORD": db.password, "DATA_BUCKET": BUCKET,
        "ETL_JOB": str(job_dir), "SCHEDULED_TIME": "2026-11-01T04:00:00Z",
    }  # fmt: skip
    if shared_dir is not None:
        env["DB_SHARED_DIR"] = str(shared_dir)
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "etl", "run"], env=env, cwd=root,
                               stdout=subprocess.PIPE, text=True)  # fmt: skip
    stdout = process.stdout.read() if process.stdout else ""
    if process.wait() != 0:
        sys.exit(f"the job failed:\n{stdout[-3000:]}")
    total = time.monotonic() - started
    stages, peak = {}, 0.0
    for line in stdout.splitlines():
        event = json.loads(line)
        if event["event"] == "stage_finished":
            stages[event["stage"]] = event["elapsed_s"]
            peak = max(peak, event["peak_rss_mb"])  # the job's own VmHWM
    return JobRun(stages["load"], stages["export"], total, peak)


def _wait_for_port(port: int) -> None:
    for _ in range(200):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    sys.exit(f"the S3 emulator did not start on port {port}")


def median(values: list[float]) -> float:
    return statistics.median(values)


PATHS = ("shared", "stream", "stream-tcp")


@dataclass
class Reference:
    loads: list[float]
    exports: list[float]
    same: list[float]  # same_result_load


def _start_s3() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    # S3 emulator in a process of its own, off the measured processes.
    emulator = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    _wait_for_port(port)
    return emulator, f"http://127.0.0.1:{port}"


def measure(  # noqa: PLR0917
    name: str, rows: int, repeat: int, paths: list[str], dbs: dict[str, Db], work: Path,
    endpoint: str, s3: object, shared: Path,
) -> tuple[dict[str, Reference], dict[str, list[JobRun]]]:  # fmt: skip
    """References and job runs, interleaved run by run (the machine's load drifts)."""
    shape = SHAPES[name]
    job_dir = work / name
    (job_dir / "export").mkdir(parents=True, exist_ok=True)
    (job_dir / "schema.sql").write_text(shape.table_sql)
    (job_dir / "export" / "t.sql").write_text(EXPORT_SQL[0])
    servers = sorted({"tcp" if p == "stream-tcp" else "local" for p in paths})
    for server in servers:
        db = dbs[server]
        db.run(db.database, "-e", shape.table_sql)
    csv_path = work / "t.csv"
    size = make_csv(csv_path, shape, rows)
    s3.upload_file(str(csv_path), BUCKET, "input/t/t.csv")  # type: ignore[attr-defined]
    print(f"\n{name}: {rows:,} rows, {size / 1e6:.0f} MB CSV", flush=True)
    refs = {server: Reference([], [], []) for server in servers}
    keys = [key for path in paths for key in ([path + BEFORE] if COMPARE_ROOT else []) + [path]]
    runs: dict[str, list[JobRun]] = {key: [] for key in keys}
    for _ in range(repeat):
        for server in servers:
            refs[server].loads.append(reference_load(dbs[server], csv_path))
            settle(dbs[server])
            refs[server].same.append(same_result_load(dbs[server], csv_path))
            settle(dbs[server])
            refs[server].exports.append(reference_export(dbs[server], work / "ref.csv.gz"))
        for path in paths:
            db = dbs["tcp" if path == "stream-tcp" else "local"]
            directory = shared if path == "shared" else None
            for root, key in [(COMPARE_ROOT[0], path + BEFORE)] if COMPARE_ROOT else []:
                runs[key].append(run_job(db, endpoint, job_dir, directory, root))
                settle(db)
            runs[path].append(run_job(db, endpoint, job_dir, directory))
            settle(db)
    return refs, runs


def _ratio(reference: float, job: float) -> str:
    return f"{reference / job:5.2f}x"


def report(results: list[tuple[str, int, str, Reference, list[JobRun]]], repeat: int) -> None:
    print(f"\nmedians of {repeat} interleaved runs; ratio = C client time / job time "
          "(1.00x: as fast as the C client; goal >= 0.80x); load `same`: the C client loading "
          "the same NULLs as the job (empty fields of nullable columns through a SET); the "
          "whole job's refs: each load reference plus the export's")  # fmt: skip
    print(f"{'shape':>8} {'rows':>9} {'path':>17} | {'load s':>6} {'ref':>6} {'ratio':>6} "
          f"{'same':>6} {'ratio':>6} | {'export':>6} {'ref':>6} {'ratio':>6} | "
          f"{'job s':>6} {'ref':>6} {'ratio':>6} {'same':>6} {'ratio':>6} | "
          f"{'RSS MB':>6}")  # fmt: skip
    for name, rows, path, ref, runs in results:
        ref_load, ref_export = median(ref.loads), median(ref.exports)
        ref_same = median(ref.same)
        # The whole job process against the C client doing both stages.
        ref_total = median([a + b for a, b in zip(ref.loads, ref.exports, strict=True)])
        same_total = median([a + b for a, b in zip(ref.same, ref.exports, strict=True)])
        load = median([r.load_s for r in runs])
        export = median([r.export_s for r in runs])
        total = median([r.total_s for r in runs])
        rss = max(r.peak_rss_mb for r in runs)
        print(
            f"{name:>8} {rows:>9,} {path:>17} | {load:6.2f} {ref_load:6.2f} "
            f"{_ratio(ref_load, load)} {ref_same:6.2f} {_ratio(ref_same, load)} | "
            f"{export:6.2f} {ref_export:6.2f} {_ratio(ref_export, export)} | "
            f"{total:6.2f} {ref_total:6.2f} {_ratio(ref_total, total)} {same_total:6.2f} "
            f"{_ratio(same_total, total)} | {rss:6.0f}",
            flush=True,
        )
    if repeat > 1:
        _spread(results)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def _spread(results: list[tuple[str, int, str, Reference, list[JobRun]]]) -> None:
    """Each run's own ratios (its references against its job run, interleaved), lowest to
    highest: on a busy machine a median of 0.78x may hold runs on both sides of 0.80x."""
    print("\neach run's ratio, lowest-highest (its own references / its job run)")
    print(f"{'shape':>8} {'rows':>9} {'path':>17} | {'load ref':>9} {'load same':>9} | "
          f"{'export':>9} | {'job ref':>9} {'job same':>9}")  # fmt: skip
    for name, rows, path, ref, runs in results:
        each = [
            (load / run.load_s, same / run.load_s, export / run.export_s,
             (load + export) / run.total_s, (same + export) / run.total_s)
            for load, same, export, run in zip(ref.loads, ref.same, ref.exports, runs, strict=True)
        ]  # fmt: skip
        low_high = [f"{min(cell):.2f}-{max(cell):.2f}" for cell in zip(*each, strict=True)]
        print(f"{name:>8} {rows:>9,} {path:>17} | {low_high[0]:>9} {low_high[1]:>9} | "
              f"{low_high[2]:>9} | {low_high[3]:>9} {low_high[4]:>9}", flush=True)  # fmt: skip


def _names(known: Iterable[str]) -> Callable[[str], list[str]]:
    """An option's comma-separated names, each one of `known`: a misspelt one stops the
    benchmark before it measures anything (it ran a path named `shraed` as the stream path,
    and a shape of that kind crashed after the others had run, without a report)."""
    allowed = list(known)

    def parse(value: str) -> list[str]:
        names = value.split(",")
        unknown = [name for name in names if name not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(
                f"{', '.join(map(repr, unknown))}: not among {', '.join(allowed)}"
            )
        return names

    return parse


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="rows of a 1.0-scale shape (wide 0.2x, longtext 0.02x, small 4x); "
                        "100000 runs in a few minutes")  # fmt: skip
    parser.add_argument(
        "--memory-rows", type=int, default=0,
        help="a second, larger size of `orders` for the memory figure, one run, when orders is "
        "among --shapes (0: skip)",
    )  # fmt: skip
    parser.add_argument(
        "--repeat", type=int, default=3,
        help="runs of each reference and job, interleaved; the report prints their medians",
    )  # fmt: skip
    parser.add_argument(
        "--ordered", action="store_true",
        help="export `SELECT * FROM t ORDER BY 1` (each shape's primary key) in the job and the "
        "reference, instead of `SELECT * FROM t`",
    )  # fmt: skip
    parser.add_argument("--paths", default=",".join(PATHS), type=_names(PATHS),
                        help=", ".join(PATHS))  # fmt: skip
    parser.add_argument(
        "--shapes", default=",".join(SHAPES), type=_names(SHAPES),
        help=f"{', '.join(SHAPES)}: generated tables, the only ones the benchmark knows; no option "
        "takes a CSV or table of your own (one more shape: a Shape in SHAPES, bench/__main__.py)",
    )  # fmt: skip
    parser.add_argument(
        "--job-root", type=Path, default=ROOT,
        help="the checkout whose job runs (e.g. a worktree of main: the figures before)",
    )  # fmt: skip
    parser.add_argument(
        "--compare-root", type=Path,
        help="a second checkout whose job runs interleaved with --job-root's, run by run "
        "(e.g. a worktree of main): rows `<path>@before`",
    )  # fmt: skip
    args = parser.parse_args()
    JOB_ROOT[0] = args.job_root.resolve()
    if args.compare_root:
        COMPARE_ROOT.append(args.compare_root.resolve())
    if args.ordered:
        EXPORT_SQL[0] = "SELECT * FROM t ORDER BY 1"
    env = os.environ.get
    local = Db(env("BENCH_DB_HOST", "127.0.0.1"), int(env("BENCH_DB_PORT", "3306")),
               env("BENCH_DB_USER", "root"), env("BENCH_DB_PASSWORD", ""),
               env("BENCH_DB_DATABASE", DATABASE))  # fmt: skip
    if not shutil.which("mysql"):
        sys.exit(
            "the reference needs the mysql command-line client (apt-get install mariadb-client)"
        )
    paths: list[str] = args.paths
    if "stream-tcp" in paths and not second_server.available():
        sys.exit(
            "stream-tcp needs mariadbd and mariadb-install-db (apt-get install mariadb-server)"
        )
    emulator, endpoint = _start_s3()
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="bench", aws_secret_access_key="bench")  # fmt: skip
    s3.create_bucket(Bucket=BUCKET)
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="etl-bench-") as tmp:
        stack.callback(emulator.wait)
        stack.callback(emulator.terminate)
        dbs = {"local": local}
        if "stream-tcp" in paths:
            port = stack.enter_context(second_server.second_server())
            dbs["tcp"] = Db("127.0.0.1", port, "root", "")
        for db in dbs.values():
            db.run("-e", f"CREATE DATABASE IF NOT EXISTS `{db.database}`")
        work = Path(tmp)
        work.chmod(0o755)  # the server's user must reach the shared directory...
        shared = work / "exchange"
        shared.mkdir()
        shared.chmod(0o777)  # ...and write into it
        results = []
        for name in args.shapes:
            sizes = [max(1, round(args.rows * SHAPES[name].scale))]
            if name == "orders" and args.memory_rows:
                sizes.append(args.memory_rows)
            for rows in sizes:
                repeat = args.repeat if rows == sizes[0] else 1
                refs, runs = measure(name, rows, repeat, paths, dbs, work, endpoint, s3, shared)
                for path in runs:
                    server = "tcp" if path.startswith("stream-tcp") else "local"
                    results.append((name, rows, path, refs[server], runs[path]))
        report(results, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
