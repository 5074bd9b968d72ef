"""When schedules fire: ``next_run``, ``firings`` and the period check's ``period_key``.

Wall-clock schedules (daily, weekly, monthly, yearly, cron) are evaluated in
the host's local zone (``local_zone()`` unless a ``tz`` is given) and follow
the DST rules of ``zone.resolve``:

* a wall time inside a spring-forward gap fires at the first valid instant
  after the gap (02:30 on a 02:00->03:00 day fires at 03:00); several wall
  times in one gap fire once, together;
* a wall time that occurs twice on a fall-back day fires once, at its first
  occurrence.

Monthly day 29..31 fires on the last day of shorter months; yearly February
29 fires on February 28 in non-leap years. Interval schedules are real
durations from their start and ignore the wall clock; a ``once`` fires at its
instant.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from itertools import islice, takewhile

from tapetui.engine.schedule.cron import cron_walls
from tapetui.engine.schedule.specs import (
    Cron,
    Daily,
    Interval,
    Monthly,
    Once,
    ScheduleSpec,
    WallSpec,
    Weekly,
    Yearly,
)
from tapetui.engine.schedule.zone import local_zone, require_aware, resolve, wall_of

_EVERY_DAY = frozenset(range(7))


def next_run(spec: ScheduleSpec, after: datetime, tz: tzinfo | None = None) -> datetime | None:
    """The first firing strictly after the aware ``after``, in ``tz``; None if there
    is none (a ``once`` that is not after ``after``)."""
    return next(_instants(spec, after, tz or local_zone()), None)


def firings(
    spec: ScheduleSpec, start: datetime, end: datetime, tz: tzinfo | None = None
) -> list[datetime]:
    """Every firing in ``(start, end]``, in order (for previews)."""
    return list(_window(spec, start, end, tz))


def firings_capped(
    spec: ScheduleSpec, start: datetime, end: datetime, cap: int, tz: tzinfo | None = None
) -> tuple[list[datetime], int]:
    """The first ``cap`` firings in ``(start, end]`` and how many more the window holds
    (an every-minute schedule has 20160 in 14 days: a preview lists some, says the rest)."""
    window = _window(spec, start, end, tz)
    first = list(islice(window, cap))
    return first, sum(1 for _ in window)


def _window(spec: ScheduleSpec, start: datetime, end: datetime, tz: tzinfo | None) -> Iterator[datetime]:
    last = require_aware(end, "end").astimezone(UTC)
    return takewhile(lambda t: t.astimezone(UTC) <= last, _instants(spec, start, tz or local_zone()))


def period_key(spec_type: str, when: datetime, tz: tzinfo | None = None) -> tuple[int, ...] | None:
    """The calendar period ``when`` falls in, for the period check: a daily,
    weekly, monthly or yearly schedule that already succeeded in the current
    day, ISO week, month or year is skipped. None for the other types, which
    have no period."""
    if spec_type not in ("daily", "weekly", "monthly", "yearly"):
        return None
    local = require_aware(when, "time").astimezone(tz or local_zone())
    match spec_type:
        case "daily":
            return (local.year, local.month, local.day)
        case "weekly":
            iso = local.isocalendar()
            return (iso.year, iso.week)
        case "monthly":
            return (local.year, local.month)
        case _:
            return (local.year,)


def _instants(spec: ScheduleSpec, after: datetime, tz: tzinfo) -> Iterator[datetime]:
    """The firings of ``spec`` strictly after ``after``, strictly increasing.

    All arithmetic and comparison is done in UTC: Python compares and subtracts
    datetimes that share a tzinfo by their wall clocks, ignoring DST.
    """
    after = require_aware(after, "time").astimezone(UTC)
    match spec:
        case Once(at):
            if at.astimezone(UTC) > after:
                yield at.astimezone(tz)
        case Interval(start=start):
            start, period = start.astimezone(UTC), spec.period
            k = 0 if after < start else (after - start) // period + 1
            while True:
                yield (start + k * period).astimezone(tz)
                k += 1
        case _:
            # Starting at the wall time ``after`` shows misses nothing: that wall
            # time resolves to ``after`` or (second pass of a repeated hour)
            # earlier, and resolve never maps a later wall time to an earlier instant.
            last = after
            for wall in walls(spec, wall_of(after, tz)):
                instant = resolve(wall, tz).astimezone(UTC)
                if instant > last:  # also drops the duplicates a DST gap makes
                    yield instant.astimezone(tz)
                    last = instant


def walls(spec: WallSpec, after: datetime) -> Iterator[datetime]:
    """The naive wall-clock times ``spec`` names, strictly after naive ``after``."""
    match spec:
        case Cron(expr):
            yield from cron_walls(expr, after)
        case Daily(at):
            yield from _weekday_walls(_EVERY_DAY, at, after)
        case Weekly(days, at):
            yield from _weekday_walls(days, at, after)
        case Monthly(day, at):
            year, month = after.year, after.month
            while True:
                wall = datetime.combine(_clamped(year, month, day), at)
                if wall > after:
                    yield wall
                year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        case Yearly(month, day, at):
            year = after.year
            while True:
                wall = datetime.combine(_clamped(year, month, day), at)
                if wall > after:
                    yield wall
                year += 1


def _weekday_walls(days: frozenset[int], at: time, after: datetime) -> Iterator[datetime]:
    day = after.date()
    while True:
        if day.weekday() in days:
            wall = datetime.combine(day, at)
            if wall > after:
                yield wall
        day += timedelta(days=1)


def _clamped(year: int, month: int, day: int) -> date:
    """``day`` of the month, or the month's last day if it is shorter."""
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))
