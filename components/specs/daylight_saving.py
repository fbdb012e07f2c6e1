"""Local times a schedule names that a time zone's clock changes skip or repeat (pure).

EventBridge Scheduler evaluates cron() and at() in the schedule's time zone. When the clocks go
forward it skips an invocation whose local time does not exist that day; when they go back it
runs a repeated local time once:
https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#daylist-savings-time
https://repost.aws/knowledge-center/eventbridge-scheduler-adjust-dst
A job at 02:30 Europe/Berlin therefore silently skips one night a year, and the watchdog, on
the same expression, skips with it. `clock_change_slots` finds such slots ahead of time.

Cron expressions are expanded by pyawscron (AWS's six-field dialect with `?`, L, W and #) in
local wall-clock time; zoneinfo gives the clock changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from pyawscron import AWSCron

GAP, OVERLAP = "skipped", "repeated"


@dataclass(frozen=True)
class ClockChange:
    """One change of a zone's UTC offset: wall times in [start, end) are skipped (a gap, the
    clocks go forward) or happen twice (an overlap, the clocks go back)."""

    kind: str  # GAP or OVERLAP
    start: datetime  # naive local wall time
    end: datetime


@dataclass(frozen=True)
class AffectedSlot:
    kind: str  # GAP: Scheduler skips it; OVERLAP: the time happens twice, Scheduler runs once
    local: datetime  # naive local wall time
    change: ClockChange


def clock_changes(zone: ZoneInfo, start: datetime, end: datetime) -> list[ClockChange]:
    """Every change of `zone`'s UTC offset between the aware datetimes `start` and `end`.
    A day's step finds each change (zones change at most twice a year), bisection its second."""
    changes = []
    moment = start.astimezone(UTC)
    while moment < end:
        step = min(moment + timedelta(days=1), end.astimezone(UTC))
        before, after = _offset(zone, moment), _offset(zone, step)
        if before != after:
            low, high = int(moment.timestamp()), int(step.timestamp())  # whole seconds
            while high - low > 1:
                middle = (low + high) // 2
                at = datetime.fromtimestamp(middle, UTC)
                low, high = (middle, high) if _offset(zone, at) == before else (low, middle)
            change = datetime.fromtimestamp(high, UTC)
            wall_before = (change + before).replace(tzinfo=None)
            wall_after = (change + after).replace(tzinfo=None)
            changes.append(
                ClockChange(GAP, wall_before, wall_after)
                if after > before
                else ClockChange(OVERLAP, wall_after, wall_before)
            )
        moment = step
    return changes


def _offset(zone: ZoneInfo, moment: datetime) -> timedelta:
    return moment.astimezone(zone).utcoffset() or timedelta(0)


def wall_times(expression: str, start: datetime, end: datetime) -> list[datetime]:
    """The naive local times in [start, end) that a cron() or at() expression names."""
    if cron := re.fullmatch(r"cron\((.*)\)", expression):
        # pyawscron computes in UTC: give it wall-clock times and read them back as such.
        found = AWSCron.get_all_schedule_bw_dates(
            start.replace(tzinfo=UTC), end.replace(tzinfo=UTC), cron[1]
        )
        return [t.replace(tzinfo=None) for t in found if t.replace(tzinfo=None) < end]
    if at := re.fullmatch(r"at\((.*)\)", expression):
        moment = datetime.fromisoformat(at[1])
        return [moment] if start <= moment < end else []
    return []  # rate(): fixed intervals, not wall-clock times


def clock_change_slots(
    expression: str, timezone: str, start: datetime, end: datetime
) -> list[AffectedSlot]:
    """The slots of `expression` between the aware datetimes `start` and `end` whose local time
    in `timezone` is skipped or repeated by a clock change."""
    return [
        AffectedSlot(change.kind, local, change)
        for change in clock_changes(ZoneInfo(timezone), start, end)
        for local in wall_times(expression, change.start, change.end)
    ]
