"""python -m tools.task STACK JOB: run a job's task definition on this machine (root, Linux).

    python -m tools.task dev monthly-orders --endpoint-url http://127.0.0.1:5000
    python -m tools.task dev monthly-orders --app-dockerfile examples/own-job-image/Dockerfile

Prints each container's log lines under its awslogs stream name, then what DescribeTasks would
tell (exit codes, health, stop code and reason) and a timeline. Exits with the first non-zero
exit code of an essential container. SIGTERM or Ctrl-C stops the task as StopTask would.
"""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from etl.contract import APP_CONTAINER, variable
from tools.task.definition import TaskSpec, secret_arns, task_spec
from tools.task.images import Image, ImageError, job_image
from tools.task.runner import TaskRun

# What the state machine's container override sets: the run's logical time.
SCHEDULED_TIME = variable("SCHEDULED_TIME").name


def local_secrets(task: TaskSpec) -> dict[str, Any]:
    """Random values for every secret the task reads (the stack generates them the same way)."""
    return {
        arn: {key: secrets.token_urlsafe(24) for key in sorted(keys)}
        for arn, keys in secret_arns(task).items()
    }


def platform_env(endpoint_url: str | None, region: str) -> dict[str, str]:
    """What Fargate gives every container besides its definition: the region and the task
    role's credentials (static stand-ins here), and the endpoint that stands in for AWS."""
    env = {
        # Fargate sets the task metadata endpoint in every container (the job reads it to
        # refuse its local mode); nothing answers there locally.
        "ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/local",
        "AWS_EXECUTION_ENV": "AWS_ECS_FARGATE",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
    }
    if endpoint_url:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    return env


def forwards_for(endpoint_url: str | None) -> dict[int, tuple[str, int]]:
    """The endpoint's port in the task's network reaches the endpoint on this machine."""
    if not endpoint_url:
        return {}
    parts = urlsplit(endpoint_url)
    if parts.hostname not in ("127.0.0.1", "localhost") or not parts.port:
        raise SystemExit(f"--endpoint-url {endpoint_url}: a port on this machine, e.g. "
                         "http://127.0.0.1:5000")  # fmt: skip
    return {parts.port: ("127.0.0.1", parts.port)}


def app_overrides(container: str, scheduled_time: str) -> dict[str, dict[str, Any]]:
    """The schedule's containerOverrides, with the time Scheduler would substitute."""
    return {container: {"environment": [{"name": SCHEDULED_TIME, "value": scheduled_time}]}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.task",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("stack", help="dev, staging, prod")
    parser.add_argument("job", help="a job name of that stack (scheduled-etl:jobs)")
    parser.add_argument("--scheduled-time", default="2026-11-01T04:00:00Z")
    parser.add_argument("--endpoint-url", help="where the task reaches AWS (e.g. moto's server)")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument(
        "--secrets",
        type=Path,
        help="JSON file {secret ARN: SecretString} standing in for Secrets Manager "
        "(default: random values)",
    )
    parser.add_argument(
        "--app-dockerfile",
        type=Path,
        help="the app container runs the image this Dockerfile builds FROM ${RUNTIME_IMAGE} "
        "(a job of your own on the project's runtime; docs/own-image.md) instead of the "
        "project's Dockerfile",
    )
    parser.add_argument(
        "--build-context", type=Path, help="its build context (default: the Dockerfile's folder)"
    )
    parser.add_argument("--json", action="store_true", help="print DescribeTasks-like JSON")
    parser.add_argument("--keep", action="store_true", help="keep the task's folder")
    args = parser.parse_args(argv)

    task = task_spec(args.stack, args.job)
    store = json.loads(args.secrets.read_text()) if args.secrets else local_secrets(task)
    images: dict[str, Image] = {}
    if args.app_dockerfile:
        app = task.container(APP_CONTAINER)
        try:
            images[app.name] = job_image(app.image, args.app_dockerfile, args.build_context)
        except (ImageError, OSError) as exc:
            parser.error(str(exc))
    run = TaskRun(
        task,
        secrets=store,
        overrides=app_overrides(APP_CONTAINER, args.scheduled_time),
        platform_env=platform_env(args.endpoint_url, args.region),
        forwards=forwards_for(args.endpoint_url),
        keep=args.keep,
        images=images,
    )
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: run.stop("Task stopped by user (signal to the runner)"))
    result = run.run()
    if args.json:
        print(json.dumps({**result.describe(), "timeline": result.timeline}, indent=2))
    else:
        print(result.report())
    return result.exit_code()


if __name__ == "__main__":
    sys.exit(main())
