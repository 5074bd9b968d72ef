"""Schedule rules: typed specs, when they fire, parsing, checking and describing them.

Pure functions over aware datetimes; no database, no asyncio. Wall-clock
schedules follow the host's zone (``local_zone()``) and its DST changes: a time
skipped by the clocks fires at the end of the gap, a time repeated fires once.
"""

from tapetui.engine.schedule.checks import validate
from tapetui.engine.schedule.describe import describe, describe_short, describe_words
from tapetui.engine.schedule.errors import ScheduleError
from tapetui.engine.schedule.parse import KINDS, parse_spec
from tapetui.engine.schedule.rules import firings, next_run, period_key
from tapetui.engine.schedule.specs import (
    SPEC_TYPES,
    Cron,
    Daily,
    Interval,
    Monthly,
    Once,
    ScheduleSpec,
    Weekly,
    Yearly,
    spec_from_dict,
    spec_to_dict,
    spec_type,
)
from tapetui.engine.schedule.zone import local_zone

__all__ = [
    "KINDS",
    "SPEC_TYPES",
    "Cron",
    "Daily",
    "Interval",
    "Monthly",
    "Once",
    "ScheduleError",
    "ScheduleSpec",
    "Weekly",
    "Yearly",
    "describe",
    "describe_short",
    "describe_words",
    "firings",
    "local_zone",
    "next_run",
    "parse_spec",
    "period_key",
    "spec_from_dict",
    "spec_to_dict",
    "spec_type",
    "validate",
]
