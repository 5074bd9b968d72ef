"""What both `Control` implementations do alike: the reads (straight from this
process's catalog, daemon or not), the schedule-time checks, and the events on
this process's bus (a `RemoteControl` forwards the daemon's there)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, List

from .. import handlers
from ..backup.catalog_copy import ImportResult  # noqa: F401 - hints of `import_catalog`, read by the wire
from ..browse import PointInTime
from ..drive import CartridgeView, TapeOps
from ..errors import UserError
from ..schedule import describe, next_run, parse_spec, spec_from_dict, validate
from ..schedule.rules import firings_capped
from ..store.models import Entry, LogLine, RunRow, ScheduleRow, SetRow, TemplateRow
from ..store.runs import Runs
from ..store.schedules import Schedules
from ..tape.base import DriveStatus
from .api import PREVIEW_CAP, PREVIEW_MAX_DAYS, Preview, PreviewItem, WhenCheck

if TYPE_CHECKING:
    from ..bus import Subscription
    from ..core import Engine
    from ..events import Event


class ControlBase(ABC):
    """The reads and the composed operations of a `Control` on `engine`. (`List`: inside
    this class its own `list`, the schedules, hides the builtin from a type checker.)"""

    remote = False

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.schedules = Schedules(engine.store)
        self.runs = Runs(engine.store)
        self.tape = TapeOps(engine)

    @property
    def daemon_pid(self) -> int | None:
        """The pid of the daemon that runs the operations; None: they run in this process."""
        return None

    # -- schedules ---------------------------------------------------------------
    async def list(self) -> List[ScheduleRow]:
        return await self.schedules.all()

    async def get(self, name: str) -> ScheduleRow:
        return await self.schedules.by_name(name)

    @staticmethod
    def describe(row: ScheduleRow) -> str:
        return describe(spec_from_dict(row.type, row.config))

    @staticmethod
    def actions() -> List[str]:
        """What a schedule may do (the registered action handlers)."""
        return handlers.names()

    @staticmethod
    def when_of(row: ScheduleRow) -> tuple[str, str]:
        """The (kind, text) a stored schedule would be typed as (the form's fields)."""
        c = row.config
        match row.type:
            case "once":
                return "once", f"{datetime.fromisoformat(c['at']).astimezone():%Y-%m-%d %H:%M}"
            case "interval":
                return "every", f"{c['every']}{c['unit'][0]}"
            case "daily":
                return "daily", c["at"]
            case "weekly":
                return "weekly", f"{','.join(c['days'])} {c['at']}"
            case "monthly":
                return "monthly", f"{c['day']} {c['at']}"
            case "yearly":
                return "yearly", f"{c['month']:02d}-{c['day']:02d} {c['at']}"
        return "cron", c["expr"]

    def check_when(self, kind: str, when: str, count: int = 5) -> WhenCheck:
        """What `when` typed as `kind` means now; a `ScheduleError` says why it means nothing."""
        now = self.engine.clock()
        spec = parse_spec(kind, when, now)
        times: List[datetime] = []
        while len(times) < count and (t := next_run(spec, times[-1] if times else now)) is not None:
            times.append(t)
        return WhenCheck(describe(spec), validate(spec, now), times)

    async def preview(self, days: float = 14, now: datetime | None = None) -> Preview:
        """Every firing of every enabled schedule in the next `days` days, up to
        `PREVIEW_CAP` per schedule (the rest counted)."""
        if not 0 < days <= PREVIEW_MAX_DAYS:  # also refuses nan
            raise UserError(f"the preview window must be more than 0 and at most {PREVIEW_MAX_DAYS} days")
        now = now or self.engine.clock()
        items, left_out = [], {}
        for row in await self.schedules.all():
            if not row.enabled:
                continue
            spec = spec_from_dict(row.type, row.config)
            rule = describe(spec)
            listed, more = firings_capped(spec, now, now + timedelta(days=days), PREVIEW_CAP)
            items += [PreviewItem(at, row.name, row.action, rule) for at in listed]
            if more:
                left_out[row.name] = more
        return Preview(sorted(items, key=lambda i: (i.at, i.schedule)), left_out)

    # -- runs --------------------------------------------------------------------
    async def backup_now(self, *, wait: bool = False, allow_format: str | None = None,
                         skip_month_check: bool = False, **settings: Any) -> RunRow:
        """Back up now: a one-off schedule made on the spot and fired (the unified flow)."""
        row = await self.add_once_backup(**settings)
        return await self.run_now(row.name, wait=wait, allow_format=allow_format, skip_month_check=skip_month_check)

    @abstractmethod
    async def add_once_backup(self, *, level: str, sources: List[str], name: str | None = None,
                              excludes: List[str] | None = None, includes: List[str] | None = None,
                              cartridge_policy: str | None = None, verify: bool | None = None) -> ScheduleRow:
        """A one-off backup schedule (a `once` at now, so it never fires by itself)."""

    @abstractmethod
    async def run_now(self, name: str, *, wait: bool = False, allow_format: str | None = None,
                      skip_month_check: bool = False) -> RunRow:
        """Fire a schedule by hand (no period check; the running check holds)."""

    async def run_list(self, schedule: str | None = None, limit: int = 200) -> List[RunRow]:
        if schedule is not None:
            await self.schedules.by_name(schedule)  # a clear error for a typo
        return await self.runs.list(schedule_name=schedule, limit=limit)

    async def runs_of(self, schedule: str, limit: int = 10) -> List[RunRow]:
        """The newest runs of this schedule (by its id: its runs under an older name too)."""
        return await self.runs.list(schedule_id=(await self.schedules.by_name(schedule)).id, limit=limit)

    async def run(self, run_id: int) -> RunRow:
        return await self.runs.get(run_id)

    async def latest_run(self, schedule: str) -> RunRow | None:
        return await self.runs.latest((await self.schedules.by_name(schedule)).id)

    async def running(self) -> List[RunRow]:
        """The runs of live processes (this one's, the daemon's, another console's)."""
        return await self.runs.running(live=True)

    async def run_lines(self, run_id: int, *, after: int = 0) -> List[LogLine]:
        return await self.runs.lines(run_id, after=after)

    async def run_tail(self, run_id: int, n: int) -> List[LogLine]:
        """The run's last `n` stored lines."""
        return await self.runs.tail(run_id, n)

    def follow(self, run_id: int, *, poll_s: float = 0.25) -> AsyncIterator[LogLine]:
        """The run's stored lines, then each new one, until it has ended."""
        return self.runs.follow(run_id, poll_s=poll_s)

    async def writing_to(self, runs: List[RunRow]) -> dict[int, List[str]]:
        """run id -> the cartridges of its set, for runs whose result does not name them: a
        run's result names them only at its end, and a stopped run's never; its set names
        them as soon as it writes."""
        wanted = [run for run in runs if run.set_id is not None and "cartridges" not in run.result]
        if not wanted:
            return {}
        sets = {s.id: s for s in await self.engine.sets.all()}  # one query, not one per run (a pruned set is absent)
        return {run.id: sets[run.set_id].cartridges for run in wanted
                if run.set_id in sets and sets[run.set_id].cartridges}

    # -- templates ---------------------------------------------------------------
    async def templates(self) -> List[TemplateRow]:
        return await self.engine.templates.all()

    async def template(self, name: str) -> TemplateRow:
        return await self.engine.templates.by_name(name)

    async def template_by_id(self, template_id: int) -> TemplateRow:
        return await self.engine.templates.get(template_id)

    # -- sets and browsing -------------------------------------------------------
    async def sets(self) -> List[SetRow]:
        return await self.engine.sets.all()

    async def set(self, set_id: int) -> SetRow:
        return await self.engine.sets.get(set_id)

    async def list_dir(self, set_id: int, path: str) -> List[Entry]:
        return await self.engine.catalog.list_dir(set_id, path)

    async def versions(self, path: str) -> List[Entry]:
        return await self.engine.catalog.versions(path)

    async def find(self, pattern: str, limit: int = 1000) -> List[Entry]:
        return await self.engine.catalog.find(pattern, limit=limit)

    async def point_in_time(self, set_id: int) -> PointInTime:
        """The files as of set `set_id` (its restore chain), paged for browsing."""
        return await PointInTime.of(self.engine, set_id)

    # -- the tape library --------------------------------------------------------
    @property
    def driver_name(self) -> str:
        return self.engine.driver.name

    @property
    def month_check(self) -> bool:
        """Whether runs refuse a cartridge labelled for another month (the config's `tape.month_check`)."""
        return self.engine.config.tape.month_check

    async def cartridges(self) -> List[CartridgeView]:
        return await self.tape.overview()

    async def drive_status(self) -> DriveStatus:
        return await self.tape.status()

    async def format_loss(self, barcode: str) -> tuple[List[SetRow], List[str]]:
        """What formatting `barcode` would destroy: its catalogued sets, and a line for
        each source whose last restorable state it holds (the format dialog's warning)."""
        lost = await self.tape.would_lose(barcode)
        return lost, [x.text() for x in await self.tape.last_states_on(barcode)]

    # -- events ------------------------------------------------------------------
    def subscribe(self, handler: Callable[[Any], Awaitable[None] | None], *kinds: type[Event]) -> Subscription:
        """Call `handler` for every event on this process's bus (or only those of `kinds`)."""
        return self.engine.bus.subscribe(handler, *kinds)

    async def drain(self) -> None:
        """Until every subscriber has handled the events published so far (bounded)."""
        await self.engine.bus.drain()
