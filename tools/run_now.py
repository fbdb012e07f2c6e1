"""Run a job now, or backfill a range of its slots, through its state machine, as the schedule
does: same timeout, retries, Spot fallback and alerts, one execution per scheduled time.

    python -m tools.run_now monthly-orders --stack prod                # now
    python -m tools.run_now monthly-orders --scheduled-time 2026-11-01T04:00:00Z
    python -m tools.run_now monthly-orders --from 2026-01-01 --to 2026-06-30
    python -m tools.run_now monthly-orders --slots 2026-01-01T04:00:00Z,2026-02-01T04:00:00Z
    python -m tools.run_now monthly-orders --outputs outputs.json ...  # saved stack outputs

A backfill starts one execution per slot of the job's schedule in [--from, --to] (its time
zone; a date alone means the whole day, so --to 2026-03-31 includes that day's slots; rate()
slots are counted from the schedule's startDate, as Scheduler counts them), one at a time: every
run of a job takes the job's one lock (docs/ownership.md), so a second slot at once would only be
skipped. It prints each slot's outcome as it ends (succeeded, skipped, failed, timed-out) with a
link to its run record, and a progress line as it goes. A skipped slot (another run, e.g. the
schedule's, held the lock) did not run: it is listed with the command that reruns it. Exit
status: 0 when every slot succeeded, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import boto3
from pyawscron import AWSCron

from components.specs.state_machine import execution_input, execution_url

_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_ERRORS = {"RunFailed": "failed", "RunTimedOut": "timed-out"}
GOOD = ("succeeded",)  # a skipped slot has no output: not a success


def stack_outputs(stack: str | None, outputs_file: str | None) -> dict[str, Any]:
    if outputs_file:
        with open(outputs_file, encoding="utf-8") as handle:
            return dict(json.load(handle))
    command = ["pulumi", "stack", "output", "--json"] + (["--stack", stack] if stack else [])
    return dict(
        json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    )


def iso(moment: datetime) -> str:
    """Scheduler's `<aws.scheduler.scheduled-time>` form: UTC, seconds, Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _moment(text: str, zone: ZoneInfo) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _exists(moment: datetime, zone: ZoneInfo) -> bool:
    """Whether a local wall-clock time exists (survives a round trip through UTC)."""
    return moment.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == moment.replace(
        tzinfo=None
    )


def _end_of(text: str, zone: ZoneInfo) -> datetime:
    """The last moment `text` names: a date alone is the whole day, up to its last second."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return _moment(text, zone) + timedelta(days=1, seconds=-1)
    return _moment(text, zone)


def slots(
    schedule: str, timezone: str, start: str, end: str, start_date: str | None = None
) -> list[str]:
    """The scheduled times of `schedule` (in `timezone`) from `start` to `end`, inclusive;
    rate() slots fall on `start_date` plus whole rates (the schedule's startDate)."""
    zone = ZoneInfo(timezone)
    first, last = _moment(start, zone), _end_of(end, zone)
    if last < first:
        raise ValueError(f"--to {end} is before --from {start}")
    if cron := re.fullmatch(r"cron\((.*)\)", schedule):
        # pyawscron computes in UTC: give it local wall-clock times, then put the zone back.
        wall = [
            first.astimezone(zone).replace(tzinfo=UTC),
            last.astimezone(zone).replace(tzinfo=UTC),
        ]
        local = AWSCron.get_all_schedule_bw_dates(wall[0], wall[1], cron[1])
        # A local time the clocks jump over does not exist: Scheduler skips it, so does this
        # (docs/schedules.md#daylight-saving). A repeated one is taken once, at its first instant.
        aware = [moment.replace(tzinfo=zone) for moment in local]
        return [iso(moment) for moment in aware if _exists(moment, zone)]
    if rate := re.fullmatch(r"rate\((\d+) (minute|hour|day)s?\)", schedule):
        step = timedelta(seconds=int(rate[1]) * _UNITS[rate[2]])
        if start_date:  # the first slot on the schedule's grid at or after --from
            anchor = _moment(start_date, zone)
            first = anchor + max(0, -((anchor - first) // step)) * step
        found, moment = [], first
        while moment <= last:
            found.append(iso(moment))
            moment += step
        return found
    if at := re.fullmatch(r"at\((.*)\)", schedule):
        moment = _moment(at[1], zone)
        return [iso(moment)] if first <= moment <= last else []
    raise ValueError(f"not a schedule expression: {schedule}")


def latest_slot(schedule: str, timezone: str, now: datetime) -> str | None:
    """The last scheduled time of `schedule` at or before `now`, None when it has none (an
    at() still to come). Looks back a day first, then further, to keep rate() lists short."""
    for days in (1, 32, 367, 3 * 366):
        found = slots(schedule, timezone, iso(now - timedelta(days=days)), iso(now))
        if found:
            return found[-1]
    return None


@dataclass
class Slot:
    scheduled_time: str
    execution_arn: str = ""
    outcome: str = ""
    attempts: int | str = "?"


def outcome_of(described: dict[str, Any]) -> tuple[str, int | str]:
    """A finished execution's outcome and attempts, as the state machine records them."""
    if described["status"] == "SUCCEEDED":
        output = json.loads(described.get("output") or "{}")
        return str(output.get("outcome", "succeeded")), output.get("attempts", "?")
    error = described.get("error", "")
    if error in _ERRORS:
        return _ERRORS[error], "?"
    # Not an outcome the state machine chose: aborted, or an error of its own (say why).
    cause = (described.get("cause") or "")[:300]
    return f"{described['status'].lower()} ({error or 'no error'}: {cause})", "?"


def backfill(
    sfn: Any, machine_arn: str, times: list[str], *, concurrency: int, poll_seconds: float,
    kind: str = "backfill", out: Any = None, progress_seconds: float = 60,
) -> list[Slot]:  # fmt: skip
    """Start one execution per scheduled time, at most `concurrency` at once; print each
    outcome as it ends, and a progress line at least every `progress_seconds`."""
    out = out or sys.stdout
    region = machine_arn.split(":")[3]
    pending = [Slot(t) for t in times]
    running: list[Slot] = []
    done: list[Slot] = []
    started_at = last_progress = time.monotonic()
    while pending or running:
        while pending and len(running) < concurrency:
            slot = pending.pop(0)
            compact = slot.scheduled_time.replace("-", "").replace(":", "")
            slot.execution_arn = sfn.start_execution(
                stateMachineArn=machine_arn,
                name=f"{kind}-{compact}-{uuid.uuid4().hex[:8]}",
                input=json.dumps(execution_input(slot.scheduled_time)),
            )["executionArn"]
            print(f"started  {slot.scheduled_time}  {slot.execution_arn}", file=out, flush=True)
            running.append(slot)
        time.sleep(poll_seconds)
        for slot in list(running):
            described = sfn.describe_execution(executionArn=slot.execution_arn)
            if described["status"] == "RUNNING":
                continue
            slot.outcome, slot.attempts = outcome_of(described)
            running.remove(slot)
            done.append(slot)
            link = execution_url(region).replace("{}", slot.execution_arn)
            print(f"[{len(done)}/{len(times)}] {slot.scheduled_time}  {slot.outcome:<10} "
                  f"attempts {slot.attempts}  {link}", file=out, flush=True)  # fmt: skip
            last_progress = 0.0  # a progress line after each outcome
        if (running or pending) and time.monotonic() - last_progress >= progress_seconds:
            last_progress = time.monotonic()
            minutes = (time.monotonic() - started_at) / 60
            print(f"... {len(done)}/{len(times)} done, {len(running)} running, {len(pending)} "
                  f"waiting ({minutes:.1f} min)", file=out, flush=True)  # fmt: skip
    counts = {o: sum(s.outcome == o for s in done) for o in sorted({s.outcome for s in done})}
    print("outcomes: " + ", ".join(f"{o} {n}" for o, n in counts.items()), file=out, flush=True)
    return done


def rerun_hint(job: str, done: list[Slot]) -> str:
    """The slots that did not succeed, and the command that runs them again ('' if none)."""
    again = sorted(s.scheduled_time for s in done if s.outcome not in GOOD)
    if not again:
        return ""
    skipped = sorted(s.scheduled_time for s in done if s.outcome == "skipped")
    why = f"{len(skipped)} skipped (another run held the job's lock), " if skipped else ""
    return (f"not done: {why}{len(again) - len(skipped)} failed or timed out. Rerun them:\n"
            f"  python -m tools.run_now {job} --slots {','.join(again)}")  # fmt: skip


def job_parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    """The arguments every operator tool takes: a job, and where its stack outputs come from."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("job", help="the job's name in the stack config (scheduled-etl:jobs)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--stack", help="the Pulumi stack (default: the selected one)")
    source.add_argument("--outputs", help="a file with `pulumi stack output --json`")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = job_parser("python -m tools.run_now", __doc__)
    when = parser.add_mutually_exclusive_group()
    when.add_argument("--scheduled-time", help="one slot, ISO 8601 (default: now)")
    when.add_argument("--from", dest="start", help="backfill: first slot (date or date-time)")
    when.add_argument("--slots", help="backfill: a comma-separated list of scheduled times")
    parser.add_argument("--to", dest="end", help="backfill: last slot (with --from)")
    parser.add_argument(
        "--concurrency", type=int, default=1,
        help="runs at once: 1, the only value (slots of one job share its lock)",
    )  # fmt: skip
    parser.add_argument("--poll-seconds", type=float, default=15)
    args = parser.parse_args(argv)
    if (args.start is None) != (args.end is None):
        parser.error("--from and --to go together")
    if args.concurrency != 1:
        parser.error(
            "--concurrency: slots of one job run one at a time; every run takes the job's one "
            "lock, so a second slot at once would be skipped (docs/ownership.md)"
        )

    jobs = stack_outputs(args.stack, args.outputs).get("jobs", {})
    if args.job not in jobs:
        parser.error(f"no job {args.job!r} in the stack outputs; jobs: {', '.join(jobs) or 'none'}")
    job = jobs[args.job]
    if args.start:
        try:
            times = slots(job["schedule"], job["timezone"], args.start, args.end,
                          job.get("start_date"))  # fmt: skip
        except ValueError as err:
            parser.error(str(err))
        kind = "backfill"
    elif args.slots:
        zone = ZoneInfo(job["timezone"])
        times, kind = [iso(_moment(t.strip(), zone)) for t in args.slots.split(",")], "backfill"
    else:
        moment = _moment(args.scheduled_time, ZoneInfo("UTC")) if args.scheduled_time else None
        times = [iso(moment or datetime.now(UTC))]
        kind = "run-now"
    if not times:
        print("no slots of the schedule in that range", file=sys.stderr)
        return 1
    machine = job["state_machine_arn"]
    sfn = boto3.client("stepfunctions", region_name=machine.split(":")[3])
    print(f"{args.job}: {len(times)} slot(s) through {machine}, {args.concurrency} at a time",
          flush=True)  # fmt: skip
    done = backfill(sfn, machine, times, concurrency=args.concurrency,
                    poll_seconds=args.poll_seconds, kind=kind)  # fmt: skip
    if hint := rerun_hint(args.job, done):
        print(hint, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
