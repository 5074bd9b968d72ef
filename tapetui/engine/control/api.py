"""The front door: `Control`, everything the CLI and the console may ask of the engine.

Two implementations stand side by side: `LocalControl` runs each operation in
this process, `RemoteControl` has the daemon run the ones that change state
(`REMOTE_OPS`) and reads the catalog itself. Callers hold a `Control` and need
not care which. The result types of the operations live here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, List, Protocol

from ..backup.restore import RestoreResult
from ..drive import FormatOutcome
from ..errors import UserError
from ..store.models import ScheduleRow, SetRow, TemplateRow

if TYPE_CHECKING:
    from ..backup.catalog_copy import ImportResult
    from ..backup.restore import RestoreRequest
    from ..backup.verify import VerifyResult
    from ..browse import PointInTime
    from ..bus import Subscription
    from ..drive import CartridgeView
    from ..events import Event
    from ..store.models import Entry, LogLine, RunRow
    from ..tape.base import DriveStatus, OpResult

#: Operations a `RemoteControl` has the daemon run; the daemon serves exactly these.
REMOTE_OPS = (
    "add", "edit", "set_enabled", "delete", "run_now", "stop", "add_once_backup", "wait",
    "load", "unload", "format", "check", "restore", "verify", "import_catalog", "reload", "status",
)
#: The name restores carry in the runs list (they belong to no schedule).
RESTORE_RUN = "restore"
MISSED_POLICIES = ("run_once", "skip")
#: Firings listed per schedule in a preview (an every-minute schedule has 20160 in 14 days).
PREVIEW_CAP = 500
#: The longest preview window (ten years); beyond it dates overflow.
PREVIEW_MAX_DAYS = 3660


@dataclass
class Saved:
    """A schedule as saved, with warnings worth showing its author."""

    schedule: ScheduleRow
    warnings: list[str]


@dataclass
class SavedTemplate:
    """A template as saved, with warnings worth showing its author."""

    template: TemplateRow
    warnings: list[str]


@dataclass
class PreviewItem:
    at: datetime
    schedule: str
    action: str
    rule: str


@dataclass
class Preview:
    """The firings of a window, in time order; `left_out`: per schedule, how many of its
    firings in the window are not listed (over `PREVIEW_CAP`)."""

    items: list[PreviewItem]
    left_out: dict[str, int]


@dataclass
class WhenCheck:
    """What a typed schedule time means: its rule in words, warnings worth showing
    its author, and its next firings from now."""

    rule: str
    notes: list[str]
    times: list[datetime]


@dataclass
class FormatRisk:
    """What running a backup schedule now would destroy: it runs as a full backup
    (asked for, or `why` it becomes one), and a full formats `barcode` first.

    `last_states`: which of `sets` hold a source's last restorable state (one line
    each); the run formats such a cartridge only when the yes names it
    (`run_now(..., allow_format=barcode)`)."""

    why: str
    barcode: str
    sets: list[SetRow]
    last_states: list[str] = field(default_factory=list)


@dataclass
class Formatted:
    barcode: str  # the cartridge that was in the drive
    outcome: FormatOutcome
    named: str | None = None  # what the drive calls it now, when the format gave it a barcode


@dataclass
class Restored(RestoreResult):
    """A restore's result, naming the run that recorded it (Runs shows its log)."""

    run_id: int = 0


@dataclass
class ControlStatus:
    pid: int
    home: str
    protocol: int
    started_at: datetime
    running: dict[str, int] = field(default_factory=dict)  # schedule name -> run id, firings of this process
    clients: int = 0
    on_sigterm: str = "cancel"


class DriveBusy(UserError):
    """A backup or restore is using the drive."""


class Control(Protocol):
    """Everything the CLI and the console may ask of the engine. (`List`: inside this
    class its own `list`, the schedules, hides the builtin from a type checker.)"""

    remote: bool

    @property
    def daemon_pid(self) -> int | None: ...

    # -- schedules -----------------------------------------------------------------
    async def add(self, name: str, *, kind: str, when: str, action: str,
                  action_config: dict[str, Any] | None = None, template: str | None = None,
                  enabled: bool = True, missed_policy: str | None = None) -> Saved: ...
    async def edit(self, name: str, *, kind: str | None = None, when: str | None = None,
                   action: str | None = None, settings: dict[str, Any] | None = None,
                   template: str | None = None, missed_policy: str | None = None,
                   rename: str | None = None) -> Saved: ...
    async def set_enabled(self, name: str, enabled: bool) -> ScheduleRow: ...
    async def delete(self, name: str) -> None: ...
    async def list(self) -> List[ScheduleRow]: ...
    async def get(self, name: str) -> ScheduleRow: ...
    def describe(self, row: ScheduleRow) -> str: ...
    def actions(self) -> List[str]: ...
    def when_of(self, row: ScheduleRow) -> tuple[str, str]: ...
    def check_when(self, kind: str, when: str, count: int = 5) -> WhenCheck: ...
    async def preview(self, days: float = 14, now: datetime | None = None) -> Preview: ...

    # -- runs ----------------------------------------------------------------------
    async def run_now(self, name: str, *, wait: bool = False, allow_format: str | None = None,
                      skip_month_check: bool = False) -> RunRow: ...
    async def stop(self, name: str) -> RunRow | None: ...
    async def add_once_backup(self, *, level: str, sources: List[str], name: str | None = None,
                              excludes: List[str] | None = None, includes: List[str] | None = None,
                              cartridge_policy: str | None = None, verify: bool | None = None) -> ScheduleRow: ...
    async def backup_now(self, *, wait: bool = False, allow_format: str | None = None,
                         skip_month_check: bool = False, **settings: Any) -> RunRow: ...
    async def wait(self, run_id: int) -> RunRow: ...
    async def format_risk(self, name: str) -> FormatRisk | None: ...
    async def month_risk(self, name: str) -> str | None: ...
    async def run_list(self, schedule: str | None = None, limit: int = 200) -> List[RunRow]: ...
    async def runs_of(self, schedule: str, limit: int = 10) -> List[RunRow]: ...
    async def run(self, run_id: int) -> RunRow: ...
    async def latest_run(self, schedule: str) -> RunRow | None: ...
    async def running(self) -> List[RunRow]: ...
    async def run_lines(self, run_id: int, *, after: int = 0) -> List[LogLine]: ...
    async def run_tail(self, run_id: int, n: int) -> List[LogLine]: ...
    def follow(self, run_id: int, *, poll_s: float = 0.25) -> AsyncIterator[LogLine]: ...
    async def writing_to(self, runs: List[RunRow]) -> dict[int, List[str]]: ...

    # -- templates -----------------------------------------------------------------
    async def save_template(self, name: str, config: dict[str, Any]) -> SavedTemplate: ...
    async def templates(self) -> List[TemplateRow]: ...
    async def template(self, name: str) -> TemplateRow: ...
    async def template_by_id(self, template_id: int) -> TemplateRow: ...
    async def delete_template(self, name: str) -> None: ...

    # -- sets and browsing -----------------------------------------------------------
    async def sets(self) -> List[SetRow]: ...
    async def set(self, set_id: int) -> SetRow: ...
    async def list_dir(self, set_id: int, path: str) -> List[Entry]: ...
    async def versions(self, path: str) -> List[Entry]: ...
    async def find(self, pattern: str, limit: int = 1000) -> List[Entry]: ...
    async def point_in_time(self, set_id: int) -> PointInTime: ...
    async def restore(self, request: RestoreRequest) -> Restored: ...
    async def verify(self, set_id: int) -> VerifyResult: ...
    async def import_catalog(self) -> ImportResult: ...

    # -- the tape library ----------------------------------------------------------
    @property
    def driver_name(self) -> str: ...
    @property
    def month_check(self) -> bool: ...
    async def cartridges(self) -> List[CartridgeView]: ...
    async def drive_status(self) -> DriveStatus: ...
    async def format_loss(self, barcode: str) -> tuple[List[SetRow], List[str]]: ...
    async def load(self, barcode: str) -> None: ...
    async def unload(self) -> str | None: ...
    async def format(self, label: str | None = None, force: bool = False,
                     barcode: str | None = None) -> Formatted: ...
    async def check(self) -> OpResult: ...

    # -- events and the daemon -------------------------------------------------------
    def subscribe(self, handler: Callable[[Any], Awaitable[None] | None], *kinds: type[Event]) -> Subscription: ...
    async def drain(self) -> None: ...
    async def recover(self) -> List[str]: ...
    async def reload(self) -> None: ...
    async def status(self) -> ControlStatus: ...
    def on_detached(self, callback: Callable[[], object]) -> None: ...
    async def close(self, reason: str = "the scheduler was shut down") -> None: ...
