"""A job's runs as its operators see them: `runs` (the run folders and their state), `show`
(one manifest, readable, optionally verified) and `unlock` (release a stale lock, guarded).

They read the same settings as the job (DATA_BUCKET or DATA_DIR, OUTPUT_PREFIX, JOB_NAME or
ETL_JOB, LOCK_STALE_SECONDS) and need no database.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from etl.manifest import MANIFEST
from etl.settings import StorageSettings

_RUN = re.compile(r"run=(\d{8}T\d{6}Z)")


class ToolError(Exception):
    """A tool refuses or cannot do what was asked; the message says why (exit status 1)."""


def _size(count: int) -> str:
    amount = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    raise AssertionError("unreachable")


def _missing(err: ClientError) -> bool:
    return str(err.response.get("Error", {}).get("Code")) in {"NoSuchKey", "404"}


@dataclass
class RunFolder:
    name: str  # run=YYYYMMDDTHHMMSSZ
    objects: dict[str, int] = field(default_factory=dict)  # key -> bytes
    manifest: dict[str, Any] | None = None
    problem: str = ""  # why the manifest does not match the folder, if it does not

    @property
    def scheduled_time(self) -> str:
        moment = datetime.strptime(self.name, "run=%Y%m%dT%H%M%SZ")
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class LockState:
    key: str
    holder: dict[str, Any]
    etag: str
    age_s: float  # since its last write (a renewal rewrites it)
    stale_after: float

    @property
    def stale(self) -> bool:
        return self.age_s >= self.stale_after

    def describe(self) -> str:
        h = self.holder
        state = "stale" if self.stale else f"stale after {self.stale_after:.0f} s"
        return (
            f"held by run {h.get('owner')} on {h.get('host')} for {h.get('scheduled_time')}, "
            f"taken {h.get('acquired_at')}, last written {self.age_s:.0f} s ago ({state})"
        )


def _read_all(body: Any) -> bytes:
    try:
        return bytes(body.read())
    finally:
        body.close()


def read_lock(store: Any, settings: StorageSettings) -> LockState | None:
    try:
        reply = store.get_object(Bucket=settings.data_bucket, Key=settings.lock_key)
    except ClientError as err:
        if _missing(err):
            return None
        raise
    body = _read_all(reply["Body"])
    try:
        holder = json.loads(body)
    except ValueError:
        holder = None
    if not isinstance(holder, dict):  # not what a run writes: shown, never trusted
        holder = {"owner": None, "unreadable": body[:200].decode("utf-8", "replace")}
    age = (datetime.now(UTC) - reply["LastModified"]).total_seconds()
    return LockState(settings.lock_key, holder, reply["ETag"], age, settings.lock_stale_seconds)


def _read_json(store: Any, settings: StorageSettings, key: str) -> dict[str, Any]:
    body = _read_all(store.get_object(Bucket=settings.data_bucket, Key=key)["Body"])
    document = json.loads(body)
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    return document


def _files_problem(where: str, item: Any, digests: bool) -> str:
    if not isinstance(item, dict) or not isinstance(item.get("files"), list):
        return f"{where} is not an object with a list of files"
    if not isinstance(item.get("rows"), int):
        return f"{where}.rows is not a number"
    for n, part in enumerate(item["files"]):
        fields = {"key": str, "rows": int, "bytes": int, **({"sha256": str} if digests else {})}
        if not isinstance(part, dict) or not all(
            isinstance(part.get(name), kind) for name, kind in fields.items()
        ):
            return f"{where}.files[{n}] lacks one of {', '.join(fields)}"
    return ""


def shape_problem(document: dict[str, Any]) -> str:
    """What makes a manifest unusable ('' when it has the shape the job writes): the tools
    then report that run as damaged and list the others."""
    for part, digests in (("inputs", False), ("exports", True)):
        items = document.get(part)
        if not isinstance(items, dict):
            return f"{part} is not an object"
        for name, item in items.items():
            if problem := _files_problem(f"{part}.{name}", item, digests):
                return problem
            if digests and not isinstance(item.get("columns"), list):
                return f"{part}.{name}.columns is not a list"
    return ""


def _check(folder: RunFolder, output_folder: str) -> str:
    """What is wrong with a manifest and the folder beside it ('' when they match)."""
    assert folder.manifest is not None
    prefix = f"{output_folder}{folder.name}/"
    wrong = []
    for name, export in (folder.manifest.get("exports") or {}).items():
        for item in export.get("files", []):
            key, expected = str(item.get("key")), item.get("bytes")
            found = folder.objects.get(key)
            if found is None:
                wrong.append(f"{name}: {key[len(prefix) :]} missing")
            elif found != expected:
                wrong.append(f"{name}: {key[len(prefix) :]} has {found} bytes, not {expected}")
    return "; ".join(wrong)


def run_folders(store: Any, settings: StorageSettings) -> list[RunFolder]:
    prefix = settings.output_folder
    folders: dict[str, RunFolder] = {}
    pages = store.get_paginator("list_objects_v2").paginate(
        Bucket=settings.data_bucket, Prefix=prefix
    )
    for page in pages:
        for obj in page.get("Contents", []):
            first, _, rest = obj["Key"][len(prefix) :].partition("/")
            if rest and _RUN.fullmatch(first):
                folders.setdefault(first, RunFolder(first)).objects[obj["Key"]] = obj["Size"]
    for folder in folders.values():
        key = f"{prefix}{folder.name}/{MANIFEST}"
        if key not in folder.objects:
            continue
        try:
            folder.manifest = _read_json(store, settings, key)
        except (ValueError, ClientError) as err:
            folder.problem = f"unreadable manifest ({err})"
            continue
        if shape := shape_problem(folder.manifest):
            folder.manifest, folder.problem = None, f"manifest of the wrong shape ({shape})"
            continue
        folder.problem = _check(folder, prefix)
    return [folders[name] for name in sorted(folders)]


def status(folder: RunFolder, lock: LockState | None) -> str:
    if folder.manifest is not None:
        return "damaged" if folder.problem else "complete"
    if folder.problem:
        return "damaged"
    if lock and not lock.stale and lock.holder.get("scheduled_time") == folder.scheduled_time:
        return "running"
    return "incomplete"  # a run still writing, killed, or a rerun replacing the folder


def _totals(manifest: dict[str, Any], part: str) -> tuple[int, int]:
    items = (manifest.get(part) or {}).values()
    return sum(i.get("rows", 0) for i in items), sum(len(i.get("files", [])) for i in items)


def runs_table(
    store: Any, settings: StorageSettings
) -> tuple[list[dict[str, Any]], LockState | None]:
    lock = read_lock(store, settings)
    rows = []
    for folder in run_folders(store, settings):
        manifest = folder.manifest or {}
        rows_in, _ = _totals(manifest, "inputs")
        rows_out, files_out = _totals(manifest, "exports")
        rows.append({
            "run": folder.name, "status": status(folder, lock), "job": manifest.get("job"),
            "scheduled_time": folder.scheduled_time, "finished_at": manifest.get("finished_at"),
            "rows_in": rows_in if manifest else None, "rows_out": rows_out if manifest else None,
            "files": files_out if manifest else len(folder.objects), "problem": folder.problem,
        })  # fmt: skip
    return rows, lock


def format_runs(
    rows: list[dict[str, Any]], lock: LockState | None, settings: StorageSettings
) -> str:
    where = settings.url(settings.output_folder)
    lines = []
    if not rows:
        lines.append(f"no run folders under {where}")
    else:
        header = ("RUN", "STATUS", "JOB", "FINISHED", "ROWS IN", "ROWS OUT", "FILES")
        table = [header] + [
            (
                r["run"], r["status"], r["job"] or "-", r["finished_at"] or "-",
                "-" if r["rows_in"] is None else f"{r['rows_in']:,}",
                "-" if r["rows_out"] is None else f"{r['rows_out']:,}", str(r["files"]),
            )
            for r in rows
        ]  # fmt: skip
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        for row in table:
            lines.append(
                "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            )
        lines += [f"{r['run']}: {r['problem']}" for r in rows if r["problem"]]
    lock_line = lock.describe() if lock else "free"
    lines.append(f"lock {settings.url(settings.lock_key)}: {lock_line}")
    return "\n".join(lines)


def find_run(store: Any, settings: StorageSettings, wanted: str) -> RunFolder:
    """`latest` (the newest run with a manifest), `run=…`, `20261101T040000Z` or an ISO time."""
    folders = run_folders(store, settings)
    if wanted == "latest":
        done = [f for f in folders if f.manifest is not None]
        if not done:
            raise ToolError(f"no run with a manifest under {settings.url(settings.output_folder)}")
        return done[-1]
    name = wanted if wanted.startswith("run=") else f"run={wanted}"
    if not _RUN.fullmatch(name):
        try:
            moment = datetime.fromisoformat(wanted.replace("Z", "+00:00"))
        except ValueError:
            raise ToolError(
                f"{wanted!r} names no run: use latest, run=20261101T040000Z, 20261101T040000Z "
                "or 2026-11-01T04:00:00Z"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        name = f"run={moment.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    for folder in folders:
        if folder.name == name:
            if folder.manifest is None:
                raise ToolError(
                    f"{settings.url(settings.output_folder + name)}/ has no readable manifest: "
                    f"the run is still writing, failed or was killed ({folder.problem or 'no '}"
                    f"{'' if folder.problem else MANIFEST})"
                )
            return folder
    raise ToolError(f"no run folder {settings.url(settings.output_folder + name)}/")


def _columns(columns: list[Any]) -> str:
    """Column names, with their type when the manifest states one."""
    shown = []
    for column in columns:
        if isinstance(column, dict):
            name, kind = column.get("name"), column.get("type")
            shown.append(f"{name} ({kind})" if kind else str(name))
        else:
            shown.append(str(column))
    return ", ".join(shown)


def format_manifest(folder: RunFolder, settings: StorageSettings) -> str:
    m = folder.manifest or {}
    prefix = f"{settings.output_folder}{folder.name}/"
    lines = [
        f"{folder.name}  {settings.url(prefix)}",
        f"  job             {m.get('job')}",
        f"  scheduled time  {m.get('scheduled_time')}",
        f"  started         {m.get('started_at')}",
        f"  finished        {m.get('finished_at')}{_took(m)}",
        "",
        "inputs",
    ]
    for table, item in (m.get("inputs") or {}).items():
        files = item.get("files", [])
        size = sum(f.get("bytes", 0) for f in files)
        lines.append(
            f"  {table}: {item.get('rows', 0):,} rows from {len(files)} file(s), {_size(size)}"
        )
        lines += [f"    {f.get('key')}  {f.get('rows', 0):,} rows" for f in files]
    lines += ["", "exports"]
    for name, item in (m.get("exports") or {}).items():
        files = item.get("files", [])
        size = sum(f.get("bytes", 0) for f in files)
        lines.append(
            f"  {name}: {item.get('rows', 0):,} rows in {len(files)} file(s), {_size(size)}"
        )
        lines.append(f"    columns: {_columns(item.get('columns', []))}")
        for f in files:
            key = str(f.get("key", ""))
            short = key[len(prefix) :] if key.startswith(prefix) else key
            lines.append(
                f"    {short}  {f.get('rows', 0):,} rows  {_size(f.get('bytes', 0))}  "
                f"sha256 {str(f.get('sha256', ''))[:16]}…"
            )
    if folder.problem:
        lines += ["", f"DAMAGED: {folder.problem}"]
    return "\n".join(lines)


def _took(manifest: dict[str, Any]) -> str:
    try:
        started = datetime.fromisoformat(str(manifest["started_at"]).replace("Z", "+00:00"))
        finished = datetime.fromisoformat(str(manifest["finished_at"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return ""
    return f"  ({(finished - started).total_seconds():.0f} s)"


def verify(store: Any, settings: StorageSettings, folder: RunFolder) -> list[str]:
    """Each exported file read back and checked against the manifest's bytes and sha256."""
    wrong = []
    for name, item in ((folder.manifest or {}).get("exports") or {}).items():
        for f in item.get("files", []):
            digest, count = hashlib.sha256(), 0
            try:
                body = store.get_object(Bucket=settings.data_bucket, Key=f["key"])["Body"]
            except ClientError as err:
                wrong.append(f"{name}: {f['key']}: {err}")
                continue
            with body:
                while chunk := body.read(1 << 20):
                    digest.update(chunk)
                    count += len(chunk)
            if (count, digest.hexdigest()) != (f.get("bytes"), f.get("sha256")):
                wrong.append(
                    f"{name}: {f['key']}: {count} bytes, sha256 {digest.hexdigest()}; "
                    f"the manifest says {f.get('bytes')} bytes, sha256 {f.get('sha256')}"
                )
    return wrong


def unlock(store: Any, settings: StorageSettings, *, force: bool, holder: str | None) -> str:
    """Delete the job's lock if it is stale, or if `force` and `holder` names its owner. The
    delete is conditional on the ETag read, so a lock renewed or taken over meanwhile stays."""
    where = settings.url(settings.lock_key)
    lock = read_lock(store, settings)
    if lock is None:
        return f"no lock at {where}: nothing to release"
    owner = lock.holder.get("owner")
    if not lock.stale:
        if not force:
            raise ToolError(
                f"refused: {where} is {lock.describe()}. Its run may still be working. If you "
                f"know it is dead (its task stopped), run: unlock --force --holder {owner}"
            )
        if holder != owner:
            raise ToolError(
                f"refused: --force needs --holder naming the lock's owner {owner!r}"
                + (f", not {holder!r}" if holder else "")
                + f" ({where} is {lock.describe()})"
            )
    try:
        store.delete_object(Bucket=settings.data_bucket, Key=lock.key, IfMatch=lock.etag)
    except ClientError as err:
        if _missing(err) or str(err.response.get("Error", {}).get("Code")) in {
            "PreconditionFailed", "412", "ConditionalRequestConflict", "409"
        }:  # fmt: skip
            raise ToolError(
                f"refused: {where} changed while it was read (renewed, released or taken "
                "over); nothing was deleted. Look again."
            ) from None
        raise
    return f"released {where} ({lock.describe()})"
