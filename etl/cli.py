"""The command line: `python -m etl COMMAND`. `run` is the job (etl/__main__.py); the others
are tools for job authors and operators, which print for people and exit 0 (fine), 1 (a
problem found, or a refusal) or 2 (bad settings or arguments)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from etl import runs, storage, validate
from etl.settings import BUNDLED_JOB, SettingsError, environment_help, storage_from_env

OK, PROBLEM, SETTINGS = 0, 1, 2

DESCRIPTION = """\
The scheduled ETL job and its tools. Settings come from the environment (below).

  run        run the job once: load, transform, export, manifest (JSON logs on stdout)
  validate   check a job folder; --database also runs it on empty tables
  runs       list the run folders and their state, and the lock
  show       one run's manifest, readable; --verify re-reads every exported file
  unlock     release the job's lock when its run is dead

Local mode: DATA_DIR=<folder> instead of DATA_BUCKET reads <folder>/<INPUT_PREFIX>… and writes
<folder>/<OUTPUT_PREFIX><JOB_NAME>/run=…/, the same layout and manifest as in S3, without AWS
keys.
LOG_FORMAT=text prints readable log lines."""


def parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    top = argparse.ArgumentParser(
        prog="python -m etl", description=DESCRIPTION, epilog=environment_help(),
        formatter_class=formatter,
    )  # fmt: skip
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name, help=summary, description=summary, epilog=environment_help(),
            formatter_class=formatter,
        )  # fmt: skip

    command("run", "Run the job once with the settings of the environment.")
    check = command("validate", "Check a job folder: files, statements, exports.")
    check.add_argument(
        "job", nargs="?", type=Path,
        help="the job folder (default: ETL_JOB, else the bundled job)",
    )  # fmt: skip
    check.add_argument(
        "--database", action="store_true",
        help="also run schema, transforms and exports on empty tables, in a throwaway "
        "database on the DB_* server, as a throwaway user limited to it (the account must be "
        "allowed to create databases and users)",
    )  # fmt: skip
    listing = command(
        "runs", "List the job's run folders (OUTPUT_PREFIX<JOB_NAME>/), their state and the lock."
    )
    listing.add_argument("--json", action="store_true", help="one JSON document")
    show = command("show", "Print one run's manifest, readable.")
    show.add_argument(
        "run", nargs="?", default="latest",
        help="latest (default: the newest with a manifest), run=20261101T040000Z, "
        "20261101T040000Z or 2026-11-01T04:00:00Z",
    )  # fmt: skip
    show.add_argument("--json", action="store_true", help="the manifest as stored")
    show.add_argument(
        "--verify", action="store_true",
        help="read every exported file back and check its bytes and sha256",
    )  # fmt: skip
    unlock = command(
        "unlock", "Release the job's lock: when it is stale, or with --force naming its holder."
    )
    unlock.add_argument(
        "--force", action="store_true",
        help="release a lock that is not stale yet (its run must be dead); needs --holder",
    )  # fmt: skip
    unlock.add_argument("--holder", help="the lock's owner, as `runs` or a refusal prints it")
    return top


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    return parser().parse_args(argv)


def tool(args: argparse.Namespace, env: Any = os.environ) -> int:
    """Run a command other than `run`; returns the exit status."""
    try:
        if args.command == "validate":
            return _validate(args, env)
        settings = storage_from_env(env)
        store = storage.open_store(settings.data_dir)
        command = {"runs": _runs, "show": _show, "unlock": _unlock}[args.command]
        return command(args, store, settings)
    except SettingsError as err:
        print(f"bad setting: {err}", file=sys.stderr)
        return SETTINGS
    except runs.ToolError as err:
        print(err, file=sys.stderr)
        return PROBLEM
    except (ClientError, BotoCoreError) as err:  # no such bucket, access denied, no endpoint
        print(f"S3: {err}", file=sys.stderr)
        return PROBLEM


def _runs(args: argparse.Namespace, store: Any, settings: Any) -> int:
    rows, lock = runs.runs_table(store, settings)
    if args.json:
        held = lock and {**lock.holder, "age_s": round(lock.age_s), "stale": lock.stale}
        print(json.dumps({"runs": rows, "lock": held or None}, indent=2))
    else:
        print(runs.format_runs(rows, lock, settings))
    return OK


def _unlock(args: argparse.Namespace, store: Any, settings: Any) -> int:
    print(runs.unlock(store, settings, force=args.force, holder=args.holder))
    return OK


def _show(args: argparse.Namespace, store: Any, settings: Any) -> int:
    folder = runs.find_run(store, settings, args.run)
    if args.json:
        print(json.dumps(folder.manifest, indent=2, ensure_ascii=False))
    else:
        print(runs.format_manifest(folder, settings))
    if args.verify:
        wrong = runs.verify(store, settings, folder)
        for line in wrong:
            print(f"MISMATCH {line}", file=sys.stderr)
        files = sum(len(e.get("files", [])) for e in (folder.manifest or {})["exports"].values())
        if wrong:
            return PROBLEM
        print(f"verified: {files} file(s) match their bytes and sha256")
    return PROBLEM if folder.problem else OK


def _validate(args: argparse.Namespace, env: Any) -> int:
    folder: Path = args.job or Path(env.get("ETL_JOB") or BUNDLED_JOB)
    findings = validate.check_folder(folder)
    errors = [f for f in findings if f.level == "error"]
    columns: dict[str, list[str]] = {}
    if args.database and not errors:
        more, columns = validate.check_database(folder, env)
        findings += more
        errors = [f for f in findings if f.level == "error"]
    for finding in findings:
        print(finding)
    if errors:
        print(f"{folder}: {len(errors)} error(s); the job would fail")
        return PROBLEM
    print(validate.summary(folder, columns, database=args.database))
    return OK
