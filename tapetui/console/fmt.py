"""How the console shows numbers and times: short, fixed-width, local time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..engine.units import human_bytes
from ..engine.timeutil import show

__all__ = ["Fit", "Tail", "bar", "count", "duration", "human_bytes", "short_level", "show", "when", "when_fit"]

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


def bar(used: int | None, total: int | None, width: int = 10) -> str:
    """A text gauge that works in 16-colour terminals: '███▌░░░░░░ 35%'."""
    if not total or used is None:
        return "-"
    frac = max(0.0, min(1.0, used / total))
    eighths = round(frac * width * 8)
    full, part = divmod(eighths, 8)
    cells = "█" * full + ("▏▎▍▌▋▊▉"[part - 1] if part else "")
    return f"{cells.ljust(width, '░')} {frac:4.0%}"
