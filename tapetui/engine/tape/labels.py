"""Label rules for monthly tapes (seed: 计划任务执行细节文档, 2.3 and 4.1).

A scheduled full backup names its cartridge `TP{YYYY}{MM}01`; the month check
reads the month back from such a label, or from the format time when the label
is something else. Months are the operator's calendar months, so every instant
is looked at in the host's local zone (naive datetimes already are local).
"""

from __future__ import annotations

import re
from datetime import datetime

from .base import LabelInfo

#: `TP` + year + month, then anything (`TP20251101`, `TP202511-spare`).
_MONTHLY = re.compile(r"TP(\d{4})(0[1-9]|1[0-2])", re.IGNORECASE)


def _local(dt: datetime) -> datetime:
    return dt if dt.tzinfo is None else dt.astimezone()


def scheduled_label(now: datetime) -> str:
    """The label a scheduled full backup gives its cartridge this month."""
    t = _local(now)
    return f"TP{t.year:04d}{t.month:02d}01"


def label_month(
    label: LabelInfo | str | None, formatted_at: datetime | None = None
) -> tuple[int, int] | None:
    """(year, month) the cartridge belongs to; None when nothing says (blank tape).

    A `TPyyyymm..` label wins; otherwise the format time (from the LabelInfo when
    one is given and `formatted_at` is not)."""
    if isinstance(label, LabelInfo):
        formatted_at = formatted_at or label.formatted_at
        label = label.label
    if label:
        m = _MONTHLY.match(label)
        if m:
            return int(m.group(1)), int(m.group(2))
    if formatted_at is not None:
        t = _local(formatted_at)
        return t.year, t.month
    return None


def is_this_month(
    label: LabelInfo | str | None, now: datetime, formatted_at: datetime | None = None
) -> bool:
    """True when the cartridge's month (see `label_month`) is `now`'s month."""
    t = _local(now)
    return label_month(label, formatted_at) == (t.year, t.month)
