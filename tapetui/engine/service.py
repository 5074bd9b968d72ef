"""The schedule service: every rule about schedules, runs and templates in one place.

The CLI, the console's screens and the daemon call this facade, so none of
them holds a rule: names, specs, action settings and templates are validated
here with one-line messages, changes wake the scheduler, and "run now", "stop"
and "backup now" (a `once` schedule made on the spot and fired) go through the
same scheduler as automatic firings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import handlers
from .errors import UserError
from .events import SchedulesChanged
from .handlers.backup import ADVICE
from .schedule import Once, describe, next_run, parse_spec, spec_from_dict, spec_to_dict, spec_type, validate
from .schedule.rules import firings_capped
from .scheduler import Scheduler
from .store.models import RunRow, ScheduleRow, SetRow, TemplateRow
from .store.runs import Runs
from .store.schedules import Schedules

if TYPE_CHECKING:
    from .core import Engine

MISSED_POLICIES = ("run_once", "skip")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._@+-]{0,63}")
#: Firings listed per schedule in a preview (an every-minute schedule has 20160 in 14 days).
PREVIEW_CAP = 500
#: The longest preview window (ten years); beyond it dates overflow.
PREVIEW_MAX_DAYS = 3660


@dataclass
class Saved:
    """A schedule (or template) as saved, with warnings worth showing its author."""

    schedule: ScheduleRow | None
    warnings: list[str]
    template: TemplateRow | None = None


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


def check_name(name: str, what: str = "schedule") -> str:
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise UserError(f"bad {what} name {name!r}: use 1-64 letters, digits, spaces or . _ @ + -, "
                        "starting with a letter or digit")
    return name


class Service:
    def __init__(self, engine: Engine, scheduler: Scheduler | None = None) -> None:
        self.engine = engine
        #: The console and the daemon pass their running scheduler; the CLI gets
        #: one that only runs the firings it is asked for.
        self.scheduler = scheduler or Scheduler(engine)
        self.schedules = Schedules(engine.store)
        self.runs = Runs(engine.store)

    def _changed(self) -> None:
        self.engine.bus.publish(SchedulesChanged())

    # -- schedules ---------------------------------------------------------------
    async def _template_id(self, template: str | None) -> tuple[int | None, dict[str, Any] | None]:
        if not template:
            return None, None
        row = await self.engine.templates.by_name(template)
        return row.id, row.config

    async def add(
        self, name: str, *, kind: str, when: str, action: str, action_config: dict[str, Any] | None = None,
        template: str | None = None, enabled: bool = True, missed_policy: str | None = None,
    ) -> Saved:
        name = check_name(name)
        now = self.engine.clock()
        spec = parse_spec(kind, when, now)
        act = handlers.get(action)
        template_id, template_cfg = await self._template_id(template)
        if template_id is not None and action != "backup":
            raise UserError("only backup schedules use templates")
        config = await act.check(self.engine, action_config or {}, template_cfg)
        policy = self._policy(missed_policy)
        row = await self.schedules.create(
            name=name, type=spec_type(spec), config=spec_to_dict(spec), action=action, action_config=config,
            template_id=template_id, enabled=enabled, missed_policy=policy,
            next_run=next_run(spec, now) if enabled else None,
        )
        self._changed()
        return Saved(row, self._warnings(row, now))

    async def edit(
        self, name: str, *, kind: str | None = None, when: str | None = None, action: str | None = None,
        settings: dict[str, Any] | None = None, template: str | None = None, missed_policy: str | None = None,
        rename: str | None = None,
    ) -> Saved:
        """Change what is given; `settings` update the action config key by key
        (a None value removes the key), `template=""` drops the template."""
        row = await self.schedules.by_name(name)
        now = self.engine.clock()
        fields: dict[str, Any] = {}
        if rename is not None:
            fields["name"] = check_name(rename)
        if (kind is None) != (when is None):
            raise UserError("give the schedule kind and its time together (e.g. --daily 02:00)")
        spec = spec_from_dict(row.type, row.config)
        if kind is not None and when is not None:
            spec = parse_spec(kind, when, now)
            fields.update(type=spec_type(spec), config=spec_to_dict(spec))
            fields["next_run"] = next_run(spec, now) if row.enabled else None
        new_action = action or row.action
        if new_action != row.action:
            fields["action"] = new_action
        template_id, template_cfg = row.template_id, None
        if template is not None:
            template_id, template_cfg = await self._template_id(template)
            fields["template_id"] = template_id
        elif template_id is not None:
            template_cfg = (await self.engine.templates.get(template_id)).config
        if template_id is not None and new_action != "backup":
            raise UserError("only backup schedules use templates")
        config = {} if new_action != row.action else dict(row.action_config)
        for key, value in (settings or {}).items():
            if value is None:
                config.pop(key, None)
            else:
                config[key] = value
        if settings or "action" in fields or "template_id" in fields:
            fields["action_config"] = await handlers.get(new_action).check(self.engine, config, template_cfg)
        if missed_policy is not None:
            fields["missed_policy"] = self._policy(missed_policy)
        row = await self.schedules.update(row.id, **fields)
        self._changed()
        return Saved(row, self._warnings(row, now) if "config" in fields else [])

    def _policy(self, policy: str | None) -> str:
        policy = policy or self.engine.config.scheduler.missed_policy
        if policy not in MISSED_POLICIES:
            raise UserError(f"missed policy {policy!r} is not one of {', '.join(MISSED_POLICIES)}")
        return policy

    def _warnings(self, row: ScheduleRow, now: datetime) -> list[str]:
        notes = validate(spec_from_dict(row.type, row.config), now)
        if row.action == "backup" and row.action_config.get("level") == "incremental":
            notes.append(ADVICE)
        return notes

    async def set_enabled(self, name: str, enabled: bool) -> ScheduleRow:
        row = await self.schedules.by_name(name)
        spec = spec_from_dict(row.type, row.config)
        nxt = next_run(spec, self.engine.clock()) if enabled else None
        row = await self.schedules.update(row.id, enabled=enabled, next_run=nxt)
        self._changed()
        return row

    async def delete(self, name: str) -> None:
        row = await self.schedules.by_name(name)
        if row.status == "running":
            raise UserError(f"schedule {name!r} is running; stop it first (tapetui schedule stop {name!r})")
        await self.schedules.delete(row.id)
        self._changed()

    async def list(self) -> list[ScheduleRow]:
        return await self.schedules.all()

    async def get(self, name: str) -> ScheduleRow:
        return await self.schedules.by_name(name)

    @staticmethod
    def describe(row: ScheduleRow) -> str:
        return describe(spec_from_dict(row.type, row.config))

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

    # -- running -----------------------------------------------------------------
    async def run_now(self, name: str, *, wait: bool = False, allow_format: str | None = None,
                      skip_month_check: bool = False) -> RunRow:
        """Fire a schedule by hand (no period check; the running check holds).

        `allow_format`: the operator's yes to a full backup formatting a cartridge that
        holds a source's last restorable state: its barcode (as `format_risk` named
        it), or `ANY_CARTRIDGE` (--force). Without it such a run fails and says why.
        `skip_month_check`: their yes to writing on a cartridge of another month
        (as `month_risk` named it), for this run only."""
        row = await self.schedules.by_name(name)
        run_id = await self.scheduler.run_now(row.id, allow_format=allow_format, skip_month_check=skip_month_check)
        if wait:
            await self.scheduler.wait(run_id)
        return await self.runs.get(run_id)

    async def format_risk(self, name: str) -> FormatRisk | None:
        """The catalogued sets that running `name` now would destroy (None: none).

        For the console's confirmation before "run now": an incremental with no
        usable base runs as a full, and a full formats the cartridge its policy
        picks (a blank one when the library has one; see `TapeOps.choose`), or would
        pick if the operator says yes to destroying a source's last restorable state."""
        from .handlers.backup import decide_level, schedule_parameters
        from .drive.ops import TapeOps

        row = await self.schedules.by_name(name)
        if row.action != "backup":
            return None
        params, _ = await schedule_parameters(self.engine, row)
        try:
            level, why = await decide_level(self.engine, params, self.engine.clock())
        except UserError:  # e.g. a source folder gone: the run itself fails and says so
            return None
        if level != "full":
            return None
        ops = TapeOps(self.engine)
        barcode = await ops.format_target(params.get("cartridge_policy", "auto"))
        lost = await ops.would_lose(barcode) if barcode else []
        if not barcode or not lost:
            return None
        return FormatRisk(why, barcode, lost, [x.text() for x in await ops.last_states_on(barcode)])

    async def month_risk(self, name: str) -> str | None:
        """Why the month check would refuse running `name` now ("TP20261001 is last
        month's (2026-10); the month check protects it"), None when it would not: for
        the console's question before "run now" (see `TapeOps.month_risk`)."""
        from .handlers.backup import schedule_parameters
        from .drive.ops import TapeOps

        row = await self.schedules.by_name(name)
        if row.action != "backup":
            return None
        params, _ = await schedule_parameters(self.engine, row)
        return await TapeOps(self.engine).month_risk(params.get("cartridge_policy", "auto"))

    async def stop(self, name: str) -> RunRow | None:
        row = await self.schedules.by_name(name)
        run_id = await self.scheduler.stop(row.id)
        return None if run_id is None else await self.runs.get(run_id)

    async def add_once_backup(
        self, *, level: str, sources: list[str], name: str | None = None, excludes: list[str] | None = None,
        includes: list[str] | None = None, cartridge_policy: str | None = None, verify: bool | None = None,
    ) -> ScheduleRow:
        """A one-off backup schedule (a `once` at now, so it never fires by itself)."""
        now = self.engine.clock()
        if name:
            name = check_name(name)
        else:  # "backup 2026-11-23 2300", then "... 2300.2" for a second one that minute
            stem = f"backup {now.astimezone():%Y-%m-%d %H%M}"
            name, n = stem, 1
            while await self.schedules.find(name) is not None:
                n += 1
                name = f"{stem}.{n}"
        config: dict[str, Any] = {"sources": sources, "level": level}
        for key, value in (("excludes", excludes), ("includes", includes),
                           ("cartridge_policy", cartridge_policy), ("verify", verify)):
            if value:
                config[key] = value
        config = await handlers.get("backup").check(self.engine, config, None)
        row = await self.schedules.create(
            name=name, type="once", config=spec_to_dict(Once(now)), action="backup", action_config=config,
            template_id=None, enabled=True, missed_policy=self._policy(None), next_run=None,
        )
        self._changed()
        return row

    async def backup_now(self, *, wait: bool = False, allow_format: str | None = None,
                         skip_month_check: bool = False, **settings: Any) -> RunRow:
        """Back up now: a one-off schedule made on the spot and fired (DESIGN: the unified flow)."""
        row = await self.add_once_backup(**settings)
        return await self.run_now(row.name, wait=wait, allow_format=allow_format, skip_month_check=skip_month_check)

    async def run_list(self, schedule: str | None = None, limit: int = 200) -> list[RunRow]:
        if schedule is not None:
            await self.schedules.by_name(schedule)  # a clear error for a typo
        return await self.runs.list(schedule_name=schedule, limit=limit)

    # -- templates ---------------------------------------------------------------
    async def save_template(self, name: str, config: dict[str, Any]) -> Saved:
        """Create or replace a template; the schedules using it follow on their next run."""
        name = check_name(name, "template")
        config = await handlers.get("backup").check(self.engine, config, None)
        await self.engine.templates.save(name, config)
        row = await self.engine.templates.by_name(name)
        users = [s.name for s in await self.schedules.all() if s.template_id == row.id]
        notes = [ADVICE] if config.get("level") == "incremental" else []
        if users:
            notes.append(f"used by {', '.join(users)}: their next runs use these parameters")
        return Saved(None, notes, template=row)

    async def templates(self) -> list[TemplateRow]:
        return await self.engine.templates.all()

    async def template(self, name: str) -> TemplateRow:
        return await self.engine.templates.by_name(name)

    async def delete_template(self, name: str) -> None:
        await self.engine.templates.delete(name)
