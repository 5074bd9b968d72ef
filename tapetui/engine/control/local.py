"""`LocalControl`: every operation of `Control` run in this process.

Every rule about schedules, runs and templates is here, with one-line messages:
names, specs, action settings and templates are validated, changes wake the
scheduler, and "run now", "stop" and "backup now" (a `once` schedule made on
the spot and fired) go through the same scheduler as automatic firings. The
daemon serves exactly this object's `REMOTE_OPS`. The scheduler is built on
first use, so a command that only reads builds none.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable

from .. import handlers
from ..backup.catalog_copy import ImportResult, import_cartridge
from ..backup.restore import RestoreRequest, prepare_restore, run_restore
from ..backup.verify import VerifyResult, run_verify
from ..drive.lock import holder as drive_holder
from ..drive.lock import using_drive
from ..errors import UserError
from ..events import SchedulesChanged
from ..handlers.backup import ADVICE
from ..manual_run import manual_run
from ..runlog import RunLog
from ..schedule import Once, next_run, parse_spec, spec_from_dict, spec_to_dict, spec_type, validate
from ..scheduler import Scheduler
from ..scheduler import recover as recover_ended
from ..store.models import RunRow, ScheduleRow
from ..tape.args import InvalidArgument, validate_barcode, validate_volume_name
from ..tape.base import OpResult
from ..tape.labels import has_barcode, shown_id
from ..timeutil import show
from .api import (
    MISSED_POLICIES,
    RESTORE_RUN,
    ControlStatus,
    DriveBusy,
    FormatRisk,
    Formatted,
    Restored,
    Saved,
    SavedTemplate,
)
from .base import ControlBase

if TYPE_CHECKING:
    from ..core import Engine

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._@+-]{0,63}")
#: How often `wait` looks at a run that another process executes.
WAIT_POLL_S = 0.5


def check_name(name: str, what: str = "schedule") -> str:
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise UserError(f"bad {what} name {name!r}: use 1-64 letters, digits, spaces or . _ @ + -, "
                        "starting with a letter or digit")
    return name


class LocalControl(ControlBase):
    """`Control` in this process: the console's and the daemon's, and the CLI's without a daemon."""

    def __init__(self, engine: Engine, scheduler: Scheduler | None = None) -> None:
        super().__init__(engine)
        #: The console and the daemon pass their running scheduler; otherwise one that
        #: only runs the firings it is asked for is built when first needed.
        self._scheduler = scheduler
        self.started_at = engine.clock()
        self.clients = 0  # the daemon's server keeps this up to date

    @property
    def scheduler(self) -> Scheduler:
        if self._scheduler is None:
            self._scheduler = Scheduler(self.engine)
        return self._scheduler

    @scheduler.setter
    def scheduler(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler

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
        from ..handlers.backup import decide_level, schedule_parameters

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
        barcode = await self.tape.format_target(params.get("cartridge_policy", "auto"))
        lost = await self.tape.would_lose(barcode) if barcode else []
        if not barcode or not lost:
            return None
        return FormatRisk(why, barcode, lost, [x.text() for x in await self.tape.last_states_on(barcode)])

    async def month_risk(self, name: str) -> str | None:
        """Why the month check would refuse running `name` now ("TP20261001 is last
        month's (2026-10); the month check protects it"), None when it would not: for
        the console's question before "run now" (see `TapeOps.month_risk`)."""
        from ..handlers.backup import schedule_parameters

        row = await self.schedules.by_name(name)
        if row.action != "backup":
            return None
        params, _ = await schedule_parameters(self.engine, row)
        return await self.tape.month_risk(params.get("cartridge_policy", "auto"))

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

    async def wait(self, run_id: int) -> RunRow:
        """Until the run has been recorded; a run of another process is watched in the catalog.
        Cancelling the wait leaves the run alone (`stop` stops it)."""
        await asyncio.shield(self.scheduler.wait(run_id))
        while (run := await self.runs.get(run_id)).status == "running":
            await asyncio.sleep(WAIT_POLL_S)
        return run

    # -- templates ---------------------------------------------------------------
    async def save_template(self, name: str, config: dict[str, Any]) -> SavedTemplate:
        """Create or replace a template; the schedules using it follow on their next run."""
        name = check_name(name, "template")
        config = await handlers.get("backup").check(self.engine, config, None)
        await self.engine.templates.save(name, config)
        row = await self.engine.templates.by_name(name)
        users = [s.name for s in await self.schedules.all() if s.template_id == row.id]
        notes = [ADVICE] if config.get("level") == "incremental" else []
        if users:
            notes.append(f"used by {', '.join(users)}: their next runs use these parameters")
        return SavedTemplate(row, notes)

    async def delete_template(self, name: str) -> None:
        await self.engine.templates.delete(name)

    # -- the drive -----------------------------------------------------------------
    async def _drive_free(self) -> None:
        """Refuse to move or rewrite the tape under a running backup, restore or verify
        (of any process: they hold the drive lock; a backup may still be waiting for it)."""
        busy = [r for r in await self.runs.running(live=True) if r.action == "backup"]
        if busy:
            r = busy[0]
            raise DriveBusy(f"the drive is in use by run #{r.id} ({r.schedule_name!r}, started "
                            f"{show(r.started_at)}); wait for it or stop it (tapetui schedule stop {r.schedule_name!r})")
        who = await asyncio.to_thread(drive_holder, self.engine.home.drive_lock_path)
        if who is not None:
            raise DriveBusy(f"the drive is in use by {who}; wait for it to finish")

    async def load(self, barcode: str) -> None:
        await self._drive_free()
        await self.tape.load(barcode)

    async def unload(self) -> str | None:
        """Return the loaded cartridge to its slot; its barcode (None if the drive was empty)."""
        await self._drive_free()
        return await self.tape.unload()

    async def format(self, label: str | None = None, force: bool = False, barcode: str | None = None) -> Formatted:
        """Format the loaded cartridge (a manual format); its output goes on the bus as
        log lines without a run id. Refused if it would destroy catalogued sets, unless forced.

        `barcode`: the one on the sticker of a cartridge the drive cannot name (no barcode
        in its memory); the format writes it to the medium. Refused for a cartridge that
        already has a different one."""
        try:
            if label is not None:
                validate_volume_name(label)
            if barcode is not None:
                validate_barcode(barcode)
        except InvalidArgument as e:
            raise UserError(str(e)) from e
        await self._drive_free()
        status = await self.tape.status()
        if status.loaded is None:
            raise UserError("the drive is empty; load a cartridge first (tapetui tape load BARCODE)")
        if barcode is not None and has_barcode(status.loaded):
            if not _same_barcode(barcode, status.loaded):
                raise UserError(f"the cartridge in the drive already has barcode {status.loaded}; a barcode "
                                f"({barcode}) can only be given to a cartridge without one")
            barcode = None  # already its name: nothing to write
        lost = await self.tape.would_lose(status.loaded)
        if lost and not force:
            listed = ", ".join(f"set {s.id} {s.name!r} ({s.level}, {show(s.started_at)})" for s in lost)
            last = "".join(f"; {x.text()}" for x in await self.tape.last_states_on(status.loaded))
            raise UserError(
                f"{shown_id(status.loaded)} holds catalogued backups that formatting would destroy: {listed}{last}; "
                "add --force to format it anyway"
            )
        log = RunLog(None, self.engine.bus, None)
        outcome = await self.tape.format_flow(scheduled=False, now=self.engine.clock(), log=log, label=label,
                                              force=force, barcode=barcode)
        named = (await self.tape.status()).loaded if barcode is not None and outcome.ok else None
        return Formatted(status.loaded, outcome, named)

    async def check(self) -> OpResult:
        """Consistency check of the loaded cartridge; the tool's lines go on the bus."""
        await self._drive_free()
        log = RunLog(None, self.engine.bus, None)
        return await self.tape.check(on_line=log.tool)

    # -- restores, verifies, imports ---------------------------------------------
    async def restore(self, request: RestoreRequest) -> Restored:
        """Restore files as a manual run, so it shows in Runs with its stored log."""
        await self._drive_free()
        # Bad input (a relative path, an unknown set, a pattern naming nothing) is refused before a run exists.
        prepared = await prepare_restore(self.engine, request)
        async with manual_run(self.engine, RESTORE_RUN) as run:
            result = await run_restore(self.engine, dataclasses.replace(request, schedule_run_id=run.id), run.log,
                                       prepared)
            run.end(result.status, result.message, {
                "restore_job_id": result.job_id, "sets": result.sets, "files": result.files, "bytes": result.bytes,
                "refused": result.refused, "errors": len(result.errors),
            })
        return Restored(**{f.name: getattr(result, f.name) for f in dataclasses.fields(result)}, run_id=run.id)

    async def verify(self, set_id: int) -> VerifyResult:
        """Re-read a set from tape and check every hash, as a manual run (action 'verify')."""
        await self._drive_free()
        return await run_verify(self.engine, set_id)

    async def import_catalog(self) -> ImportResult:
        """Rebuild catalog rows from the loaded cartridge's catalog copies, waiting while a
        backup or restore (any process) uses the drive; its lines go on the bus without a run id."""
        log = RunLog(self.engine.store, self.engine.bus, None)
        async with using_drive(self.engine.home.drive_lock_path, f"tapetui catalog import (pid {os.getpid()})",
                               lambda who: log.info(f"waiting for the drive: {who} is using it")):
            return await import_cartridge(self.engine, log)

    # -- the process and the daemon ------------------------------------------------
    async def recover(self) -> list[str]:
        """Close what a dead process left open (see `scheduler.recover`); a line per thing done.
        Any process may, at start; it builds no scheduler."""
        return await recover_ended(self.engine)

    async def reload(self) -> None:
        """Re-read the schedules now (after an edit made straight in the database)."""
        self.engine.bus.publish(SchedulesChanged())

    async def status(self) -> ControlStatus:
        from ..daemon.protocol import VERSION

        names = {s.id: s.name for s in await self.schedules.all()}
        return ControlStatus(
            pid=os.getpid(), home=str(self.engine.home.data_dir), protocol=VERSION, started_at=self.started_at,
            running={names.get(sid, str(sid)): rid for sid, rid in self.scheduler.running.items()},
            clients=self.clients, on_sigterm=self.engine.config.daemon.on_sigterm,
        )

    def on_detached(self, callback: Callable[[], object]) -> None:
        """Never called: the operations run in this process, which has no daemon to lose."""

    async def close(self, reason: str = "the scheduler was shut down") -> None:
        """Cancel the firings this process runs (recorded as cancelled, saying `reason`)."""
        if self._scheduler is not None:
            await self._scheduler.close(reason)


def _same_barcode(given: str, known: str) -> bool:
    """`ABC123L8` names the cartridge a drive calls `ABC123L8` or, by its volume serial, `ABC123`."""
    return given in (known, known[:6]) or given[:6] == known
