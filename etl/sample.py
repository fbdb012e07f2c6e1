"""Deterministic sample input for the bundled monthly_orders job.

    python -m etl.sample --rows 100000 --seed 7 --month 2026-10 --out .demo/input
    python -m etl.sample --rows 100000 --bucket my-bucket --prefix input/

Writes one folder per table (customers, products, orders), in the layout the job reads.
`--rows` is the number of orders; orders spread over the month before, the month itself and
the month after `--month`, so the job's period filter matters. The same seed gives the same
bytes. Values include commas, quotes, newlines, non-ASCII text and empty (NULL) fields.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import random
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from etl import storage

FIRST = ["Ada", "Grace", "Linus", "Zoë", "Søren", "José", "Mary Ann", "Łukasz", "Aiko", "Noor"]
LAST = ["Lovelace", "Hopper", "O'Brien", "Müller", "García", "Nakamura", 'Smith "Smitty"', "Ng"]
COUNTRIES = ["DE", "FR", "GB", "US", "JP", "BR", "IN", "NL", ""]
CATEGORIES = ["books", "games", "garden", "kitchen", "tools, hardware"]
STATUSES = ["completed"] * 8 + ["cancelled", "pending"]
TABLES = ("customers", "products", "orders")


def customers(rng: random.Random, count: int) -> Iterator[list[str]]:
    yield ["customer_id", "name", "email", "country", "created_at"]
    for cid in range(1, count + 1):
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        if cid % 97 == 0:
            name += ", Jr.\nc/o Accounts"  # a comma and a newline inside a quoted field
        email = "" if cid % 11 == 0 else f"customer{cid}@example.com"
        created = datetime(2020, 1, 1) + timedelta(minutes=rng.randrange(2_000_000))
        yield [str(cid), name, email, rng.choice(COUNTRIES), f"{created:%Y-%m-%d %H:%M:%S}"]


def products(rng: random.Random, count: int) -> Iterator[list[str]]:
    yield ["product_id", "name", "category", "list_price"]
    for pid in range(1, count + 1):
        price = rng.randrange(199, 19999) / 100
        yield [
            str(pid),
            f"Product {pid} \u2013 model {rng.choice('ABCXYZ')}",
            rng.choice(CATEGORIES),
            f"{price:.2f}",
        ]


def orders(
    rng: random.Random, count: int, month: datetime, n_customers: int, n_products: int
) -> Iterator[list[str]]:
    # Columns in a different order from the table, as the contract allows.
    yield [
        "order_id",
        "ordered_at",
        "customer_id",
        "product_id",
        "quantity",
        "unit_price",
        "status",
    ]
    start = (month - timedelta(days=1)).replace(day=1)  # the month before
    span = int(((month + timedelta(days=62)).replace(day=1) - start).total_seconds())
    for oid in range(1, count + 1):
        ordered = start + timedelta(seconds=rng.randrange(span))
        quantity = rng.choice((1, 1, 1, 2, 3, 5, 0))
        yield [
            str(oid),
            f"{ordered:%Y-%m-%d %H:%M:%S}",
            str(rng.randint(1, n_customers)),
            str(rng.randint(1, n_products)),
            str(quantity),
            f"{rng.randrange(199, 19999) / 100:.2f}",
            rng.choice(STATUSES),
        ]


def generate(rows: int, seed: int, month: str) -> dict[str, Iterator[list[str]]]:
    rng = random.Random(seed)
    first = datetime.strptime(month, "%Y-%m")
    n_customers = max(1, rows // 10)
    n_products = max(1, min(500, rows // 20))
    return {
        "customers": customers(rng, n_customers),
        "products": products(rng, n_products),
        "orders": orders(rng, rows, first, n_customers, n_products),
    }


def write(out: Path, rows: int, seed: int, month: str, gzipped: bool) -> list[Path]:
    written = []
    for table, records in generate(rows, seed, month).items():
        path = out / table / ("part-00000.csv.gz" if gzipped else "part-00000.csv")
        path.parent.mkdir(parents=True, exist_ok=True)
        opener = gzip.open if gzipped else open
        with opener(path, "wt", encoding="utf-8", newline="") as handle:
            csv.writer(handle, lineterminator="\r\n").writerows(records)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m etl.sample",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rows", type=int, default=10_000, help="orders to generate")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--month", default="2026-10", help="the reporting month, YYYY-MM")
    parser.add_argument("--gzip", action="store_true", help="write .csv.gz")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", type=Path, help="a local folder")
    target.add_argument("--bucket", help="an S3 bucket (AWS_ENDPOINT_URL_S3 for emulators)")
    parser.add_argument("--prefix", default="input/", help="with --bucket: the input prefix")
    args = parser.parse_args(argv)

    if args.out:
        for path in write(args.out, args.rows, args.seed, args.month, args.gzip):
            print(path)
        return 0
    s3 = storage.client()
    with tempfile.TemporaryDirectory() as tmp:
        for path in write(Path(tmp), args.rows, args.seed, args.month, args.gzip):
            key = f"{args.prefix}{path.parent.name}/{path.name}"
            s3.upload_file(str(path), args.bucket, key, Config=storage.TRANSFER)
            print(f"s3://{args.bucket}/{key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
