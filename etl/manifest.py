"""The manifest: the run folder's index (inputs, exports, their parts), written last.

A reader trusts a run folder only through its manifest, so the run publishes it after every
part is in place, and a rerun withdraws the old one before it touches anything else.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from etl import storage
from etl.export import ExportResult
from etl.extract import TableInput
from etl.settings import Settings

MANIFEST = "_manifest.json"


def iso(moment: datetime) -> str:
    """A moment as the manifest and the logs write it: UTC, to the second, with a Z."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def build(
    settings: Settings,
    job: str,
    started: datetime,
    inputs: dict[str, TableInput],
    exports: list[ExportResult],
) -> dict[str, Any]:
    return {
        "job": job,
        "scheduled_time": iso(settings.scheduled_time),
        "started_at": iso(started),
        "csv_null": settings.csv_null,  # the text of NULL in inputs and exports ("": empty)
        "finished_at": iso(datetime.now(UTC)),
        "inputs": {
            table: {
                "rows": item.rows,
                "files": [{"key": f.key, "rows": f.rows, "bytes": f.size} for f in item.files],
            }
            for table, item in inputs.items()
        },
        "exports": {
            result.name: {
                "columns": result.columns,
                "column_kinds": dict(zip(result.columns, result.kinds, strict=True)),
                "rows": result.rows,
                "files": [
                    {"key": f.key, "rows": f.rows, "bytes": f.bytes, "sha256": f.sha256}
                    for f in result.files
                ],
            }
            for result in exports
        },
    }


def withdraw(s3: Any, bucket: str, root: str) -> None:
    """Remove the run folder's manifest (a rerun's first step there)."""
    s3.delete_object(Bucket=bucket, Key=f"{root}{MANIFEST}")


def publish(s3: Any, bucket: str, root: str, document: dict[str, Any]) -> None:
    storage.put_json(s3, bucket, f"{root}{MANIFEST}", document)
