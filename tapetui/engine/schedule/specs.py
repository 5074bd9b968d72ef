"""Typed schedule specifications and their JSON form for the database.

One frozen dataclass per schedule type. Constructing one checks its fields, so
a spec that exists is well-formed; rules that depend on "now" (a ``once`` in
the past) are checked when a schedule is made (``parse_spec``) and reported by
``validate``.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Literal

from tapetui.engine.schedule.cron import check_cron
from tapetui.engine.schedule.errors import ScheduleError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Short weekday names, indexed like ``datetime.weekday()`` (0 = Monday)."""

IntervalUnit = Literal["minutes", "hours", "days"]
_UNIT_SECONDS = {"minutes": 60, "hours": 3600, "days": 86400}
_MAX_INTERVAL_S = 36500 * 86400  # far beyond any real use, far below datetime's limits


def _check_time(at: time) -> None:
    if at.tzinfo is not None or at.second or at.microsecond:
        raise ScheduleError(f"time of day must be a plain HH:MM, got {at.isoformat()}")


@dataclass(frozen=True)
class Once:
    """Fires once, at ``at`` (timezone-aware)."""

    at: datetime

    def __post_init__(self) -> None:
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ScheduleError(f"once: the time {self.at:%Y-%m-%d %H:%M} has no time zone")


@dataclass(frozen=True)
class Interval:
    """Fires at ``start`` and every ``every`` ``unit`` after it, as real elapsed
    time: "every 6 hours" is 6 hours apart even across a DST change, and a day
    is 24 hours."""

    every: int
    unit: IntervalUnit
    start: datetime

    def __post_init__(self) -> None:
        if self.unit not in _UNIT_SECONDS:
            raise ScheduleError(
                f"interval unit must be minutes, hours or days, got {self.unit!r}"
            )
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every <= 0:
            raise ScheduleError(f"interval must be a whole number above 0, got {self.every!r}")
        if self.every * _UNIT_SECONDS[self.unit] > _MAX_INTERVAL_S:
            raise ScheduleError(f"interval must be at most 100 years (36500 days), got {self.every} {self.unit}")
        if self.start.tzinfo is None or self.start.utcoffset() is None:
            raise ScheduleError("interval: the start time has no time zone")

    @property
    def period(self) -> timedelta:
        return timedelta(seconds=self.every * _UNIT_SECONDS[self.unit])


@dataclass(frozen=True)
class Daily:
    """Fires every day at wall-clock time ``at``."""

    at: time

    def __post_init__(self) -> None:
        _check_time(self.at)


@dataclass(frozen=True)
class Weekly:
    """Fires on each of ``days`` (0 = Monday .. 6 = Sunday) at ``at``."""

    days: frozenset[int]
    at: time

    def __post_init__(self) -> None:
        object.__setattr__(self, "days", frozenset(self.days))
        if not self.days:
            raise ScheduleError("weekly: choose at least one weekday")
        bad = sorted(d for d in self.days if not (isinstance(d, int) and 0 <= d <= 6))
        if bad:
            raise ScheduleError(f"weekly: weekdays are 0 (Monday) to 6 (Sunday), got {bad}")
        _check_time(self.at)


@dataclass(frozen=True)
class Monthly:
    """Fires on day ``day`` of every month at ``at``.

    A day the month does not have (31 in April, 30 in February) fires on that
    month's last day instead, so no month is skipped.
    """

    day: int
    at: time

    def __post_init__(self) -> None:
        if not (isinstance(self.day, int) and 1 <= self.day <= 31):
            raise ScheduleError(f"monthly: day of month must be 1 to 31, got {self.day!r}")
        _check_time(self.at)


@dataclass(frozen=True)
class Yearly:
    """Fires every year on ``month``-``day`` at ``at``; February 29 fires on
    February 28 in non-leap years."""

    month: int
    day: int
    at: time

    def __post_init__(self) -> None:
        if not (isinstance(self.month, int) and 1 <= self.month <= 12):
            raise ScheduleError(f"yearly: month must be 1 to 12, got {self.month!r}")
        longest = calendar.monthrange(2000, self.month)[1]  # 2000 is a leap year
        if not (isinstance(self.day, int) and 1 <= self.day <= longest):
            raise ScheduleError(
                f"yearly: {calendar.month_name[self.month]} has days 1 to {longest}, "
                f"got {self.day!r}"
            )
        _check_time(self.at)


@dataclass(frozen=True)
class Cron:
    """Fires at the wall-clock times a 5-field cron expression matches
    (minute hour day month weekday; day and weekday combine with OR, as in cron)."""

    expr: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "expr", " ".join(self.expr.split()))
        check_cron(self.expr)


ScheduleSpec = Once | Interval | Daily | Weekly | Monthly | Yearly | Cron
WallSpec = Daily | Weekly | Monthly | Yearly | Cron
"""The specs whose firings are wall-clock times (subject to the DST rules)."""

SPEC_TYPES: dict[str, type] = {
    "once": Once,
    "interval": Interval,
    "daily": Daily,
    "weekly": Weekly,
    "monthly": Monthly,
    "yearly": Yearly,
    "cron": Cron,
}
_TYPE_NAMES = {cls: name for name, cls in SPEC_TYPES.items()}


def spec_type(spec: ScheduleSpec) -> str:
    """The stored type string of ``spec`` ("once", "interval", ... "cron")."""
    return _TYPE_NAMES[type(spec)]


def _hhmm(at: time) -> str:
    return at.strftime("%H:%M")


def spec_to_dict(spec: ScheduleSpec) -> dict[str, Any]:
    """The JSON-ready config of ``spec`` (its type is stored beside it)."""
    match spec:
        case Once(at):
            return {"at": at.isoformat()}
        case Interval(every, unit, start):
            return {"every": every, "unit": unit, "start": start.isoformat()}
        case Daily(at):
            return {"at": _hhmm(at)}
        case Weekly(days, at):
            return {"days": [WEEKDAYS[d] for d in sorted(days)], "at": _hhmm(at)}
        case Monthly(day, at):
            return {"day": day, "at": _hhmm(at)}
        case Yearly(month, day, at):
            return {"month": month, "day": day, "at": _hhmm(at)}
        case Cron(expr):
            return {"expr": expr}
    raise TypeError(f"not a schedule spec: {spec!r}")


def spec_from_dict(type: str, config: dict[str, Any]) -> ScheduleSpec:
    """Rebuild a spec from its stored type string and config (``spec_to_dict``'s output)."""
    if type not in SPEC_TYPES:
        raise ScheduleError(
            f"unknown schedule type {type!r}; expected one of {', '.join(SPEC_TYPES)}"
        )
    try:
        match type:
            case "once":
                return Once(datetime.fromisoformat(config["at"]))
            case "interval":
                return Interval(
                    config["every"], config["unit"], datetime.fromisoformat(config["start"])
                )
            case "daily":
                return Daily(time.fromisoformat(config["at"]))
            case "weekly":
                return Weekly(
                    frozenset(WEEKDAYS.index(d) for d in config["days"]),
                    time.fromisoformat(config["at"]),
                )
            case "monthly":
                return Monthly(config["day"], time.fromisoformat(config["at"]))
            case "yearly":
                return Yearly(config["month"], config["day"], time.fromisoformat(config["at"]))
            case _:
                return Cron(config["expr"])
    except ScheduleError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ScheduleError(f"stored {type} schedule {config!r} is malformed: {e}") from e
