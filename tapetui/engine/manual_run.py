"""A run no schedule fires (a restore, a verify): recorded like a firing, with its
log, so it shows in Runs and `tapetui log`, and holding the drive while it works."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, AsyncIterator

from .drive.lock import using_drive
from .errors import UserError
from .events import RunFinished, RunStarted
from .runlog import RunLog
from .store.runs import Runs

if TYPE_CHECKING:
    from .core import Engine


@dataclass
class ManualRun:
    """The run being done; the work sets how it ended (`status` stays 'failed' if it raises)."""

    id: int
    log: RunLog
    status: str = "failed"
    message: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    set_id: int | None = None

    def end(self, status: str, message: str, result: dict[str, Any] | None = None) -> None:
        self.status, self.message, self.result = status, message, result or {}


@contextlib.asynccontextmanager
async def manual_run(engine: Engine, action: str, *, set_id: int | None = None) -> AsyncIterator[ManualRun]:
    """Start a manual run named `action`, wait for the drive, and record its end
    however the work ends: a `UserError` is its last log line and its message;
    a cancel records it 'cancelled' (the operator stopped it)."""
    runs = Runs(engine.store)
    run_id = await runs.start(schedule_id=None, schedule_name=action, action=action, trigger="manual",
                              at=engine.clock())
    engine.bus.publish(RunStarted(run_id=run_id, schedule=action, action=action, trigger="manual"))
    run = ManualRun(run_id, RunLog(engine.store, engine.bus, run_id), set_id=set_id)
    try:
        async with using_drive(engine.home.drive_lock_path, f"run #{run_id} ({action})",
                               lambda who: run.log.info(f"waiting for the drive: {who} is using it")):
            yield run
    except asyncio.CancelledError:
        run.end("cancelled", f"{action} stopped by the operator")
        raise
    except UserError as e:
        run.end("failed", str(e))
        run.log.error(run.message)
        raise
    finally:
        await asyncio.shield(_finish(engine, runs, run, action))


async def _finish(engine: Engine, runs: Runs, run: ManualRun, action: str) -> None:
    await run.log.flush()
    await runs.finish(run.id, status=run.status, message=run.message, at=engine.clock(), result=run.result,
                      set_id=run.set_id)
    engine.bus.publish(RunFinished(run_id=run.id, schedule=action, status=run.status, message=run.message))
