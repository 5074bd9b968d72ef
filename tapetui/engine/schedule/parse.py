"""Parsing the schedule syntax shared by the command line and the console's forms.

    once     "YYYY-MM-DD HH:MM"       a local date and time, not in the past
    every    30m | 6h | 2d            an interval, counted from now (to the minute)
    daily    HH:MM
    weekly   mon,thu HH:MM            names (mon or monday), ranges (mon-fri)
    monthly  DAY HH:MM                day 1..31
    yearly   MM-DD HH:MM
    cron     "m h dom mon dow"
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, time, tzinfo

from tapetui.engine.schedule.errors import ScheduleError
from tapetui.engine.schedule.specs import (
    WEEKDAYS,
    Cron,
    Daily,
    Interval,
    IntervalUnit,
    Monthly,
    Once,
    ScheduleSpec,
    Weekly,
    Yearly,
)
from tapetui.engine.schedule.zone import local_zone, require_aware, resolve

KINDS = ("once", "every", "daily", "weekly", "monthly", "yearly", "cron")
"""The schedule kinds ``parse_spec`` accepts ("interval" is taken for "every")."""

_UNITS: dict[IntervalUnit, tuple[str, ...]] = {
    "minutes": ("m", "min", "mins", "minute", "minutes"),
    "hours": ("h", "hr", "hrs", "hour", "hours"),
    "days": ("d", "day", "days"),
}
_UNIT_OF = {alias: unit for unit, aliases in _UNITS.items() for alias in aliases}
_DAY_OF = {name: i for i, name in enumerate(WEEKDAYS)} | {
    calendar.day_name[i].lower(): i for i in range(7)
}
_TIME = re.compile(r"(\d{1,2}):(\d{2})")
_FORMS = {
    "once": "'YYYY-MM-DD HH:MM', e.g. '2026-12-01 10:00'",
    "every": "a number and a unit m, h or d, e.g. 30m, 6h, 2d",
    "daily": "HH:MM, e.g. 02:30",
    "weekly": "weekdays and HH:MM, e.g. 'mon,thu 03:00' or 'mon-fri 22:00'",
    "monthly": "a day of month 1-31 and HH:MM, e.g. '1 01:00'",
    "yearly": "MM-DD HH:MM, e.g. '12-31 23:00'",
    "cron": "a 5-field cron expression, e.g. '0 3 * * 0'",
}


class _Malformed(ScheduleError):
    """Text not in the kind's form; the message gets the form appended."""


def parse_spec(kind: str, text: str, now: datetime, tz: tzinfo | None = None) -> ScheduleSpec:
    """Build the spec that ``--<kind> "<text>"`` asks for.

    ``now`` (aware) anchors ``every`` and rules out a ``once`` in the past;
    ``once`` text is a wall time in ``tz`` (default: the local zone), placed by
    the DST rules of ``zone.resolve``.
    """
    require_aware(now, "now")
    tz = tz or local_zone()
    kind = "every" if kind == "interval" else kind
    if kind not in KINDS:
        raise ScheduleError(f"unknown schedule kind {kind!r}; use one of {', '.join(KINDS)}")
    text = " ".join(text.split())
    try:
        match kind:
            case "once":
                return _once(text, now, tz)
            case "every":
                return _every(text, now)
            case "daily":
                return Daily(_time(text))
            case "weekly":
                days, _, at = text.rpartition(" ")
                return Weekly(_weekdays(days), _time(at))
            case "monthly":
                day, _, at = text.partition(" ")
                return Monthly(_number(day, "day of month"), _time(at))
            case "yearly":
                month_day, _, at = text.partition(" ")
                month, sep, day = month_day.partition("-")
                if not sep:
                    raise _Malformed(f"{month_day!r} is not MM-DD")
                return Yearly(_number(month, "month"), _number(day, "day"), _time(at))
            case _:
                return Cron(text)
    except _Malformed as e:
        raise ScheduleError(f"{kind}: {e}; expected {_FORMS[kind]}") from None
    except ScheduleError as e:
        if str(e).startswith(f"{kind}:") or kind == "cron":
            raise
        raise ScheduleError(f"{kind}: {e}") from None


def _time(text: str) -> time:
    m = _TIME.fullmatch(text)
    if not m:
        raise _Malformed(f"{text!r} is not a time HH:MM")
    hour, minute = int(m[1]), int(m[2])
    if hour > 23:
        raise ScheduleError(f"hour {hour} is out of range 0-23")
    if minute > 59:
        raise ScheduleError(f"minute {minute} is out of range 0-59")
    return time(hour, minute)


def _number(text: str, what: str) -> int:
    if not text.isdigit():
        raise _Malformed(f"{what} {text!r} is not a number")
    return int(text)


def _once(text: str, now: datetime, tz: tzinfo) -> Once:
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2})[ T](\S+)", text)
    if not m:
        raise _Malformed(f"{text!r} is not a date and time")
    try:
        day = date.fromisoformat(m[1])
    except ValueError as e:
        raise _Malformed(f"{m[1]!r} is not a date ({e})") from None
    when = datetime.combine(day, _time(m[2]))
    instant = resolve(when, tz)
    if instant.astimezone(UTC) <= now.astimezone(UTC):
        raise ScheduleError(f"the time {when:%Y-%m-%d %H:%M} is in the past")
    return Once(instant)


def _every(text: str, now: datetime) -> Interval:
    m = re.fullmatch(r"(\d+) ?([a-z]+)", text.lower())
    if not m or m[2] not in _UNIT_OF:
        raise _Malformed(f"{text!r} is not an interval")
    start = now.replace(second=0, microsecond=0)  # firings on whole minutes
    return Interval(int(m[1]), _UNIT_OF[m[2]], start)


def _weekdays(text: str) -> frozenset[int]:
    """Weekdays from 'mon,thu', 'monday, thursday' or ranges 'mon-fri' ('fri-mon' wraps)."""
    days: set[int] = set()
    for item in filter(None, (part.strip() for part in text.lower().split(","))):
        first, sep, last = item.partition("-")
        lo, hi = _weekday(first), _weekday(last) if sep else None
        days.update([lo] if hi is None else ((lo + i) % 7 for i in range((hi - lo) % 7 + 1)))
    if not days:
        raise _Malformed("no weekday given")
    return frozenset(days)


def _weekday(name: str) -> int:
    name = name.strip()
    if name not in _DAY_OF:
        raise _Malformed(f"{name!r} is not a weekday")
    return _DAY_OF[name]
