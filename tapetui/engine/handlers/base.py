"""What an action handler is given and what it gives back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from ..notify import Notification
from ..runlog import RunLog
from ..store.models import ScheduleRow

if TYPE_CHECKING:
    from ..core import Engine


@dataclass
class Firing:
    """One firing of a schedule, as the handler sees it."""

    schedule: ScheduleRow
    run_id: int
    trigger: str  # auto | manual
    now: datetime
    log: RunLog
    #: The cartridge an operator agreed a full backup may format though it holds a
    #: source's last restorable state (a barcode, or drive.ANY_CARTRIDGE for --force).
    allow_format: str | None = None
    #: A manual run's one-off yes to writing on a cartridge the month check protects.
    skip_month_check: bool = False

    @property
    def automatic(self) -> bool:
        return self.trigger == "auto"


@dataclass
class Outcome:
    """A handler's result: stored in the run record and the schedule's last result.

    `status` is success, warning, failed or skipped. `notification`, when set, is
    sent after the run is recorded (a failed run without one gets a generic one)."""

    status: str
    message: str
    result: dict[str, Any] = field(default_factory=dict)
    backup_run_id: int | None = None
    set_id: int | None = None
    notification: Notification | None = None


Run = Callable[["Engine", Firing], Awaitable[Outcome]]
#: Checks and normalises a schedule's own action config when it is saved (the
#: template's parameters, if it uses one, come second); raises UserError.
Check = Callable[["Engine", dict[str, Any], "dict[str, Any] | None"], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Action:
    name: str
    run: Run
    check: Check
    summary: str = ""
