"""The operations that change state, run in this process: the `Service` plus the drive and restores.

The daemon serves exactly these over its socket (`REMOTE_OPS`), and
`client.RemoteControl` offers the same methods by calling the daemon, so the
CLI and the console hold one kind of object and need not care where the
scheduler runs. Reads (lists, the catalog) stay `Service` methods that go
straight to SQLite either way.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from dataclasses import dataclass, field
from datetime import datetime

from ..backup.restore import RestoreRequest, RestoreResult, prepare_restore, run_restore
from ..backup.verify import VerifyResult, run_verify
from ..drive.lock import holder as drive_holder
from ..drive.ops import FormatOutcome, TapeOps
from ..errors import UserError
from ..events import SchedulesChanged
from ..manual_run import manual_run
from ..runlog import RunLog
from ..scheduler import Scheduler
from ..service import Service
from ..store.models import RunRow
from ..tape.args import InvalidArgument, validate_barcode, validate_volume_name
from ..tape.base import OpResult
from ..tape.labels import has_barcode, shown_id
from ..timeutil import show
from .protocol import VERSION

#: Methods a `RemoteControl` forwards to the daemon; everything else runs locally
#: (`backup_now` too: it is `add_once_backup` then `run_now`, both forwarded).
REMOTE_OPS = (
    "add", "edit", "set_enabled", "delete", "run_now", "stop", "add_once_backup", "wait",
    "load", "unload", "format", "check", "restore", "verify", "reload", "status",
)
#: The name restores carry in the runs list (they belong to no schedule).
RESTORE_RUN = "restore"
#: How often `wait` looks at a run that another process executes.
WAIT_POLL_S = 0.5


@dataclass
class ControlStatus:
    pid: int
    home: str
    protocol: int
    started_at: datetime
    running: dict[str, int] = field(default_factory=dict)  # schedule name -> run id, firings of this process
    clients: int = 0
    on_sigterm: str = "cancel"


@dataclass
class Formatted:
    barcode: str  # the cartridge that was in the drive
    outcome: FormatOutcome
    named: str | None = None  # what the drive calls it now, when the format gave it a barcode


class DriveBusy(UserError):
    """A backup or restore is using the drive."""


class LocalControl(Service):
    """`Service` with the drive operations, restores and the daemon's status."""

    remote = False

    def __init__(self, engine, scheduler: Scheduler | None = None) -> None:  # noqa: ANN001 - Engine
        super().__init__(engine, scheduler)
        self.tape = TapeOps(engine)
        self.started_at = engine.clock()
        self.clients = 0  # the server keeps this up to date

    async def wait(self, run_id: int) -> RunRow:
        """Until the run has been recorded; a run of another process is watched in the catalog.
        Cancelling the wait leaves the run alone (`stop` stops it)."""
        await asyncio.shield(self.scheduler.wait(run_id))
        while (run := await self.runs.get(run_id)).status == "running":
            await asyncio.sleep(WAIT_POLL_S)
        return run

    async def close(self) -> None:
        """Cancel the firings this process runs (recorded as cancelled)."""
        await self.scheduler.close()

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

    async def restore(self, request: RestoreRequest) -> RestoreResult:
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
        return result

    async def verify(self, set_id: int) -> VerifyResult:
        """Re-read a set from tape and check every hash, as a manual run (action 'verify')."""
        await self._drive_free()
        return await run_verify(self.engine, set_id)

    # -- the daemon ----------------------------------------------------------------
    async def reload(self) -> None:
        """Re-read the schedules now (after an edit made straight in the database)."""
        self.engine.bus.publish(SchedulesChanged())

    async def status(self) -> ControlStatus:
        names = {s.id: s.name for s in await self.schedules.all()}
        return ControlStatus(
            pid=os.getpid(), home=str(self.engine.home.data_dir), protocol=VERSION, started_at=self.started_at,
            running={names.get(sid, str(sid)): rid for sid, rid in self.scheduler.running.items()},
            clients=self.clients, on_sigterm=self.engine.config.daemon.on_sigterm,
        )


def _same_barcode(given: str, known: str) -> bool:
    """`ABC123L8` names the cartridge a drive calls `ABC123L8` or, by its volume serial, `ABC123`."""
    return given in (known, known[:6]) or given[:6] == known
