"""The typed events the engine publishes on its bus.

The console, the daemon's socket clients and the notifier subscribe to these;
nothing in the engine waits for them to be handled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .timeutil import now


@dataclass(frozen=True)
class Event:
    at: datetime = field(default_factory=now, kw_only=True)


@dataclass(frozen=True)
class LogLine(Event):
    """One line of a run's log (also stored, so it can be replayed)."""

    run_id: int | None
    level: str  # info | warning | error | tool
    text: str


@dataclass(frozen=True)
class RunStarted(Event):
    run_id: int
    schedule: str
    action: str
    trigger: str


@dataclass(frozen=True)
class RunFinished(Event):
    run_id: int
    schedule: str
    status: str
    message: str


@dataclass(frozen=True)
class Progress(Event):
    run_id: int | None
    phase: str  # scanning | writing | verifying | restoring | formatting
    files_done: int = 0
    files_total: int = 0
    bytes_done: int = 0
    bytes_total: int = 0
    current: str = ""
    rate_bps: float = 0.0
    eta_s: float | None = None


@dataclass(frozen=True)
class TapeChanged(Event):
    """The drive or library changed (load, unload, format, mount)."""

    reason: str


@dataclass(frozen=True)
class SchedulesChanged(Event):
    """A schedule was added, edited, enabled, disabled or deleted."""


@dataclass(frozen=True)
class OperatorNeeded(Event):
    """A run waits for a person: change the tape, insert the next cartridge."""

    run_id: int | None
    message: str
    action: str


@dataclass(frozen=True)
class OperatorDone(Event):
    run_id: int | None
