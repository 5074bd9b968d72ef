"""How the console shows numbers and times: short, fixed-width, local time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..engine.control.text import human_bytes, show

__all__ = ["Fit", "Forms", "Tail", "bar", "barcodes", "count", "duration", "gauge", "human_bytes", "short_level", "show",
           "when", "when_fit"]

SHORT_LEVELS = {"differential": "diff", "incremental": "incr"}


def duration(seconds: float | None) -> str:
    """'42s', '3m05s', '2h07m'; '-' when unknown."""
    if seconds is None or seconds < 0:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def count(n: int) -> Fit:
    """A file count: '12,345', or '1.2M' / '345k' where the column is narrower."""
    full = f"{n:,}"
    if n < 1000:
        return Fit(full, full)
    short = f"{n / 1e6:.1f}M" if n >= 1_000_000 else f"{n // 1000}k"
    return Fit(full, short)


def span(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "-"
    return duration((end - start).total_seconds())


def short_level(level: str) -> str:
    """'diff', 'incr', 'full': backup levels in narrow table columns."""
    return SHORT_LEVELS.get(level, level)


@dataclass(frozen=True)
class Fit:
    """A table cell with a shorter form, for when its column is narrowed (80 columns)."""

    full: str
    short: str

    def within(self, width: int) -> str:
        return self.full if len(self.full) <= width else self.short


@dataclass(frozen=True)
class Forms(Fit):
    """A cell with forms between its full and its short one, tried longest first."""

    between: tuple[str, ...] = ()

    def within(self, width: int) -> str:
        return next((form for form in (self.full, *self.between) if len(form) <= width), self.short)


def barcodes(names: Sequence[str]) -> Fit:
    """'TPA001L8 TPA002L8', or the first ones and how many more ('TPA001L8 +1'), or
    how many ('2 tapes') where the column is narrower: a barcode is never cut."""
    if len(names) < 2:
        return Fit(names[0] if names else "-", names[0] if names else "-")
    more = tuple(" ".join(names[:k]) + f" +{len(names) - k}" for k in range(len(names) - 1, 0, -1))
    return Forms(" ".join(names), f"{len(names)} tapes", more)


@dataclass(frozen=True)
class Tail(Fit):
    """A path cell cut on the left ('…/atlas/budget.csv'): the name is what tells rows apart."""

    short: str = ""

    def within(self, width: int) -> str:
        return self.full if len(self.full) <= width else "…" + self.full[len(self.full) - width + 1:]


def when(dt: datetime | None) -> str:
    return show(dt)


def when_fit(dt: datetime | None) -> Fit:
    """'2026-11-23 22:00', or '11-23 22:00' in a narrow column."""
    full = show(dt)
    return Fit(full, full[5:] if len(full) == len("2026-11-23 22:00") else full)


def gauge(used: int | None, total: int | None, width: int = 8) -> Fit:
    """`bar`, or its percentage alone ('35%') in a narrow column."""
    full = bar(used, total, width)
    return Fit(full, full.split()[-1])


def bar(used: int | None, total: int | None, width: int = 10) -> str:
    """A text gauge that works in 16-colour terminals: '███▌░░░░░░ 35%'."""
    if not total or used is None:
        return "-"
    frac = max(0.0, min(1.0, used / total))
    eighths = round(frac * width * 8)
    full, part = divmod(eighths, 8)
    cells = "█" * full + ("▏▎▍▌▋▊▉"[part - 1] if part else "")
    return f"{cells.ljust(width, '░')} {frac:4.0%}"
