"""`python -m etl run`: run the job once with settings from the environment. The other
commands (validate, runs, show, unlock; `python -m etl --help`) are in etl/cli.py.

Exit status (etl/contract.py ExitCode): 0 success, 1 failure, 2 bad settings or job folder
(before the lock is taken), 3 another run of the job holds its lock, 143 stopped by SIGTERM.
Every outcome ends with one JSON log line; runs that started also write their metrics
(CloudWatch Embedded Metric Format).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from types import FrameType

from etl import cli, log
from etl.contract import ExitCode
from etl.jobdef import JobDefinitionError
from etl.lock import LockHeld
from etl.metrics import run_metrics
from etl.runner import StageFailed, Terminated, run
from etl.settings import SettingsError, from_env


def _terminate(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one stop is enough: now clean up
    raise Terminated("stopped by SIGTERM (the task is stopping)")


def main(argv: list[str] | None = None) -> int:
    args = cli.parse(argv)
    if args.command != "run":
        return cli.tool(args)
    log.configure(fmt="text" if os.environ.get("LOG_FORMAT", "").lower() == "text" else "json")
    try:
        settings = from_env()
    except SettingsError as exc:
        log.error("run_failed", stage="settings", cause=str(exc))
        return ExitCode.SETTINGS
    log.configure(settings.log_level, settings.progress_seconds, settings.log_format)
    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    loaded = exported = 0
    try:
        manifest = run(settings)
        loaded = sum(t["rows"] for t in manifest["inputs"].values())
        exported = sum(e["rows"] for e in manifest["exports"].values())
        code = ExitCode.SUCCEEDED
    except (StageFailed, Terminated) as exc:
        stage, cause = (exc.stage, exc.cause) if isinstance(exc, StageFailed) else ("run", exc)
        if isinstance(cause, LockHeld):
            log.error("run_skipped", stage=stage, cause=str(cause), error="LockHeld")
            return ExitCode.LOCKED  # the run holding the lock reports for this job: no metrics
        log.error("run_failed", stage=stage, cause=str(cause), error=type(cause).__name__)
        code = ExitCode.FAILED
        if isinstance(cause, Terminated):
            code = ExitCode.TERMINATED
        elif isinstance(cause, JobDefinitionError):
            code = ExitCode.SETTINGS  # the job folder is a setting too: fix it, then rerun
    except Exception as exc:  # outside every stage (a bug): still one line and the metrics
        log.error("run_failed", stage="run", cause=str(exc), error=type(exc).__name__)
        code = ExitCode.FAILED
    metrics = run_metrics(
        settings.job_name,
        timestamp_ms=int(time.time() * 1000),
        succeeded=code == 0,
        rows_loaded=loaded,
        rows_exported=exported,
        duration_s=time.monotonic() - started,
    )
    log.info("run_metrics", **metrics)
    return code


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    # Without waiting for worker threads (an upload, a query) that a stop left running.
    os._exit(status)
