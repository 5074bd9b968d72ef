"""One-line human descriptions of schedules, for lists, previews and confirmations,
and a short form of each for narrow table columns (an 80-column terminal)."""

from __future__ import annotations

import calendar
import re
from datetime import time

from tapetui.engine.schedule.cron import expanded
from tapetui.engine.schedule.specs import (
    Cron,
    Daily,
    Interval,
    Monthly,
    Once,
    ScheduleSpec,
    Weekly,
    Yearly,
)

_SHORT_MONTH_NOTE = "(last day in shorter months)"
_LEAP_NOTE = "(February 28 in non-leap years)"
_SHORT_UNITS = {"minutes": "min", "hours": "h", "days": "days"}


def describe(spec: ScheduleSpec) -> str:
    """E.g. "every Sunday 03:00", "every 6 hours", "cron: 0 3 * * 0 (at 03:00 on Sunday)"."""
    match spec:
        case Once(at):
            return f"once on {at:%Y-%m-%d %H:%M}"
        case Interval(every, unit):
            return f"every {_count(every, unit.removesuffix('s'))}"
        case Daily(at):
            return f"every day {_hhmm(at)}"
        case Weekly(days, at):
            return f"every {weekday_phrase(days)} {_hhmm(at)}"
        case Monthly(day, at):
            note = f" {_SHORT_MONTH_NOTE}" if day > 28 else ""
            return f"on day {day} of every month {_hhmm(at)}{note}"
        case Yearly(month, day, at):
            note = f" {_LEAP_NOTE}" if (month, day) == (2, 29) else ""
            return f"every year on {calendar.month_name[month]} {day} {_hhmm(at)}{note}"
        case Cron(expr):
            human = _humanise_cron(expr)
            return f"cron: {expr} ({human})" if human else f"cron: {expr}"
    raise TypeError(f"not a schedule spec: {spec!r}")


def describe_words(spec: ScheduleSpec) -> str:
    """`describe` in words alone: a cron rule without its expression when words say
    it all ("at 03:00 on Sunday"), else its short form ("cron 0 0 L * *")."""
    if isinstance(spec, Cron):
        return _humanise_cron(spec.expr) or describe_short(spec)
    return describe(spec)


def describe_short(spec: ScheduleSpec) -> str:
    """E.g. "monthly d2 04:00", "Mon,Thu 02:00", "every 15 min", "cron 0 2 * * 1-5".

    Says everything `describe` says but its notes (Interval's start is in neither),
    so two rules read alike in short only if they read alike in full."""
    match spec:
        case Once(at):
            return f"once {at:%Y-%m-%d %H:%M}"
        case Interval(every, unit):
            noun = unit.removesuffix("s")
            return f"every {noun}" if every == 1 else f"every {every} {_SHORT_UNITS[unit]}"
        case Daily(at):
            return f"daily {_hhmm(at)}"
        case Weekly(days, at):
            return f"{'daily' if len(days) == 7 else _weekday_list(days)} {_hhmm(at)}"
        case Monthly(day, at):
            return f"monthly d{day} {_hhmm(at)}"
        case Yearly(month, day, at):
            return f"yearly {calendar.month_abbr[month]} {day} {_hhmm(at)}"
        case Cron(expr):
            return f"cron {expr}"
    raise TypeError(f"not a schedule spec: {spec!r}")


def weekday_phrase(days: frozenset[int]) -> str:
    """'day', 'Sunday', 'Monday and Thursday', 'Monday to Friday' (0 = Monday)."""
    if len(days) == 7:
        return "day"
    parts: list[str] = []
    for run in _weekday_runs(days):
        names = [calendar.day_name[d] for d in run]
        parts += [f"{names[0]} to {names[-1]}"] if len(run) >= 3 else names
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def _weekday_list(days: frozenset[int]) -> str:
    """'Sun', 'Mon,Thu', 'Mon-Fri', 'Fri-Mon' (0 = Monday)."""
    parts: list[str] = []
    for run in _weekday_runs(days):
        names = [calendar.day_abbr[d] for d in run]
        parts += [f"{names[0]}-{names[-1]}"] if len(run) >= 3 else names
    return ",".join(parts)


def _weekday_runs(days: frozenset[int]) -> list[list[int]]:
    """Consecutive weekdays grouped, a run across the week's end kept whole (Fri..Mon)."""
    runs: list[list[int]] = []
    for d in sorted(days):
        if runs and runs[-1][-1] == d - 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    if len(runs) > 1 and runs[0][0] == 0 and runs[-1][-1] == 6:
        runs.append(runs.pop() + runs.pop(0))
    return runs


def _hhmm(at: time) -> str:
    return at.strftime("%H:%M")


def _count(n: int, noun: str) -> str:
    return noun if n == 1 else f"{n} {noun}s"


def _humanise_cron(expr: str) -> str | None:
    """Plain words for the common cron shapes; None for the rest."""
    if re.search(r"[LW#?]", expr, re.IGNORECASE):
        return None
    minute_text, hour_text, *_ = expr.split()
    minute, hour, dom, month, dow = expanded(expr)
    star = ["*"]
    if month != star:
        return None
    if len(minute) == 1 and len(hour) == 1 and star not in (minute, hour):
        at = f"at {hour[0]:02d}:{minute[0]:02d}"
        if dom == star and dow == star:
            return f"{at} every day"
        if dom == star:
            return f"{at} on {weekday_phrase(frozenset((int(d) - 1) % 7 for d in dow))}"
        if dow == star:
            label = "day" if len(dom) == 1 else "days"
            return f"{at} on {label} {', '.join(map(str, dom))} of the month"
        return None
    if (dom, dow) != (star, star):
        return None
    step = re.fullmatch(r"\*/(\d+)", hour_text)
    if len(minute) == 1 and minute != star and step:
        return f"every {_count(int(step[1]), 'hour')}, at minute {minute[0]}"
    if hour != star:
        return None
    step = re.fullmatch(r"\*/(\d+)", minute_text)
    if minute == star or step:
        return f"every {_count(int(step[1]) if step else 1, 'minute')}"
    if len(minute) == 1:
        return f"at minute {minute[0]} of every hour"
    return None
