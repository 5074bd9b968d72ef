"""Cron expressions, checked field by field and stepped through in wall-clock time.

croniter does the matching. It is driven with *naive* wall-clock datetimes
only, so its arithmetic never crosses a DST change; the DST rules are applied
afterwards by ``zone.resolve``, the same way as for every other wall-clock
schedule.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from croniter import CroniterBadDateError, CroniterError, croniter

from tapetui.engine.schedule.errors import ScheduleError

FIELDS = ("minute", "hour", "day", "month", "weekday")
_ALLOWED = ("0-59", "0-23", "1-31", "1-12 or jan-dec", "0-7 or sun-sat (0 and 7 are Sunday)")


def check_cron(expr: str) -> None:
    """Raise ``ScheduleError`` naming what is wrong with ``expr``, if anything."""
    fields = expr.split()
    if len(fields) != 5:
        raise ScheduleError(
            f"cron expression {expr!r} must have 5 fields: {' '.join(FIELDS)}"
        )
    for i, text in enumerate(fields):
        alone = " ".join(text if j == i else "*" for j in range(5))
        try:
            croniter(alone)
        except CroniterError:
            raise ScheduleError(
                f"cron expression {expr!r}: {FIELDS[i]} field {text!r} is invalid "
                f"(allowed {_ALLOWED[i]}, with , - and /)"
            ) from None
    try:
        croniter(expr, datetime(2000, 1, 1)).get_next(datetime)
    except CroniterBadDateError:
        raise ScheduleError(f"cron expression {expr!r} never fires") from None
    except CroniterError as e:
        raise ScheduleError(f"cron expression {expr!r} is invalid: {e}") from None


def expanded(expr: str) -> list[list[int | str]]:
    """croniter's expansion of each field: a sorted list of values, or ``['*']``
    (read as numbers whatever type croniter hands them in: its stubs say text)."""
    return [[v if v == "*" else int(v) for v in values] for values in croniter(expr).expanded]


def cron_walls(expr: str, after: datetime) -> Iterator[datetime]:
    """The naive wall-clock times ``expr`` matches, strictly after naive ``after``."""
    it = croniter(expr, after)
    while True:
        yield it.get_next(datetime)
