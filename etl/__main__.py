"""`python -m etl run`: run the job once with settings from the environment."""

from __future__ import annotations

import argparse
import sys

from etl import log
from etl.runner import StageFailed, run
from etl.settings import SettingsError, from_env

EXIT_FAILED = 1
EXIT_SETTINGS = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m etl", description=__doc__)
    parser.add_argument("command", choices=["run"])
    parser.parse_args(argv)
    log.configure()
    try:
        settings = from_env()
    except SettingsError as exc:
        log.error("run_failed", stage="settings", cause=str(exc))
        return EXIT_SETTINGS
    log.configure(settings.log_level)
    try:
        run(settings)
    except StageFailed as exc:
        log.error(
            "run_failed", stage=exc.stage, cause=str(exc.cause), error=type(exc.cause).__name__
        )
        return EXIT_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
