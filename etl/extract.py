"""Extract: find each table's input files under s3://bucket/INPUT_PREFIX<table>/ and open
them as text, streamed (and gunzipped) while they are read."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any, cast

from botocore.exceptions import ClientError

from etl import log
from etl.context import RunContext

SUFFIXES = (".csv", ".csv.gz")  # compared in lower case: .CSV and .csv.GZ are inputs too


class BadInput(Exception):
    """An input file, folder or row does not fit the contract."""


@dataclass
class InputFile:
    key: str
    size: int
    rows: int = 0
    nulls: str = ""  # how its empty fields became NULL: "spelt" by the converter, or "set"


@dataclass
class TableInput:
    table: str
    files: list[InputFile] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)


def discover(s3: Any, bucket: str, prefix: str, tables: list[str]) -> dict[str, TableInput]:
    """Group the input objects by table folder; every table needs at least one file."""
    found = {t: TableInput(t) for t in tables}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            table, _, name = obj["Key"][len(prefix) :].partition("/")
            if obj["Key"].endswith("/"):
                continue  # folder markers
            if not name:  # a file beside the tables' folders: said, never silently ignored
                log.info("input_skipped", key=obj["Key"], bytes=obj["Size"],
                         reason=f"not in a table's folder ({prefix}<table>/)")  # fmt: skip
                continue
            if not name.lower().endswith(SUFFIXES) or obj["Size"] == 0:
                # _SUCCESS files and the like, and empty objects: not a table's file.
                log.info("input_skipped", key=obj["Key"], bytes=obj["Size"],
                         reason="empty" if obj["Size"] == 0 else "not .csv or .csv.gz")  # fmt: skip
                continue
            if table not in found:
                raise BadInput(
                    f"s3://{bucket}/{prefix}{table}/ is not a table of schema.sql "
                    f"(tables: {', '.join(tables)})"
                )
            found[table].files.append(InputFile(obj["Key"], obj["Size"]))
    missing = [t for t, inp in found.items() if not inp.files]
    if missing:
        raise BadInput(
            "no input files for "
            + ", ".join(f"table {t} (s3://{bucket}/{prefix}{t}/*.csv[.gz])" for t in missing)
        )
    return found


@contextmanager
def open_binary(ctx: RunContext, key: str) -> Iterator[IO[bytes]]:
    """An input object's bytes, streamed from S3 (and gunzipped) while they are read."""
    try:
        body = ctx.s3.get_object(Bucket=ctx.bucket, Key=key)["Body"]
    except ClientError as err:
        if str(err.response.get("Error", {}).get("Code")) not in {"NoSuchKey", "404"}:
            raise
        raise BadInput(
            f"s3://{ctx.bucket}/{key} was listed but is gone (deleted or replaced while the run "
            "read its inputs); rerun once the inputs are in place"
        ) from None
    binary = cast(IO[bytes], gzip.GzipFile(fileobj=body) if key.lower().endswith(".gz") else body)
    with binary:
        yield binary


@contextmanager
def open_object(ctx: RunContext, key: str) -> Iterator[IO[str]]:
    """An input object as text, streamed from S3 (and gunzipped) while it is read."""
    # utf-8-sig: tolerate the byte-order mark spreadsheet tools write.
    with (
        open_binary(ctx, key) as binary,
        io.TextIOWrapper(binary, encoding="utf-8-sig", newline="") as text,
    ):
        yield text
