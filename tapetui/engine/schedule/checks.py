"""Warnings about a schedule that is valid but may not do what its author expects."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, tzinfo
from itertools import takewhile

from tapetui.engine.schedule.describe import describe
from tapetui.engine.schedule.rules import walls
from tapetui.engine.schedule.specs import Interval, Monthly, Once, ScheduleSpec, WallSpec, Yearly
from tapetui.engine.schedule.zone import (
    exists,
    is_ambiguous,
    local_zone,
    require_aware,
    resolve,
    wall_of,
)

_LISTED = 3  # times named in one DST warning before "..."
_HOUR = timedelta(hours=1)


def validate(spec: ScheduleSpec, now: datetime, tz: tzinfo | None = None) -> list[str]:
    """Warnings for ``spec`` as of ``now``: a ``once`` in the past, a day some
    months (or years) lack, firings the next year's DST changes move or merge
    in ``tz`` (default: the local zone), and whole-day intervals that drift on
    the clock across them. Empty when there is nothing to say."""
    tz = tz or local_zone()
    require_aware(now, "now")
    match spec:
        case Once(at):
            if at.astimezone(UTC) <= now.astimezone(UTC):
                return [
                    f"the time {at.astimezone(tz):%Y-%m-%d %H:%M} is in the past; it will not fire"
                ]
            return []
        case Monthly(day=day) if day > 28:
            notes = [
                f"day {day} is not in every month: in shorter months it fires on the last day"
            ]
        case Yearly(month=2, day=29):
            notes = ["February 29 is only in leap years: in other years it fires on February 28"]
        case Interval() if spec.period % timedelta(days=1) == timedelta(0):
            if any(_changes(now, tz, days=366)):
                return [
                    f"{describe(spec)} counts real hours: after a clock change in {tz} it "
                    "fires an hour earlier or later on the clock (a daily schedule keeps the time)"
                ]
            return []
        case _:
            notes = []
    if isinstance(spec, WallSpec):
        notes += _dst_notes(spec, now, tz)
    return notes


def _before(end: datetime, times: Iterable[datetime]) -> list[datetime]:
    """The `times` (in order, maybe endless) before `end`."""
    return list(takewhile(lambda w: w < end, times))


def _dst_notes(spec: WallSpec, now: datetime, tz: tzinfo) -> list[str]:
    """The first gap and the first repeated hour in the coming year that hit a firing."""
    notes: dict[str, str] = {}
    for start, end in _changes(now, tz, days=366):
        times = _before(end, walls(spec, start))
        gap = [w for w in times if not exists(w, tz)]
        if gap and "gap" not in notes:
            runs_at = resolve(gap[0], tz)
            notes["gap"] = f"on {gap[0]:%Y-%m-%d} clocks in {tz} go forward and " + (
                f"{_times(gap)} does not exist: it fires at {runs_at:%H:%M} instead"
                if len(gap) == 1
                else f"{_times(gap)} do not exist: they fire once, at {runs_at:%H:%M}"
            )
        twice = [w for w in times if is_ambiguous(w, tz)]
        if twice and "twice" not in notes:
            notes["twice"] = f"on {twice[0]:%Y-%m-%d} clocks in {tz} go back and " + (
                f"{_times(twice)} happens twice: it fires only the first time"
                if len(twice) == 1
                else f"{_times(twice)} happen twice: they fire only the first time"
            )
    return list(notes.values())


def _changes(now: datetime, tz: tzinfo, days: int) -> Iterable[tuple[datetime, datetime]]:
    """Naive wall-clock windows around each UTC-offset change in the next ``days`` days."""
    hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    for _ in range(days):
        following = hour + timedelta(days=1)
        if hour.astimezone(tz).utcoffset() != following.astimezone(tz).utcoffset():
            while hour.astimezone(tz).utcoffset() == (hour + _HOUR).astimezone(tz).utcoffset():
                hour += _HOUR
            yield wall_of(hour - 3 * _HOUR, tz), wall_of(hour + 4 * _HOUR, tz)
        hour = following


def _times(times: list[datetime]) -> str:
    shown = ", ".join(f"{t:%H:%M}" for t in times[:_LISTED])
    return shown + (", ..." if len(times) > _LISTED else "")
