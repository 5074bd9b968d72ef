"""How an interactive process (the console) finds its place: attached to the daemon,
scheduling itself, or -- when another console already schedules -- neither.

Whoever schedules holds the home's lock, so a daemon started later refuses to
run alongside, and a console that loses its daemon can take over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..daemon.lock import Holder, SchedulerLock
from ..scheduler import Scheduler
from .local import LocalControl
from .remote import attach

if TYPE_CHECKING:
    from ..core import Engine
    from .api import Control


@dataclass
class Session:
    control: Control  # a RemoteControl when attached, else a LocalControl
    mode: str  # attached | scheduling | unscheduled
    lock: SchedulerLock | None = None  # held while scheduling
    holder: Holder | None = None  # who schedules, when unscheduled

    async def close(self) -> None:
        """Detach, or stop scheduling (firings of this process are cancelled) and free the lock."""
        try:
            await self.control.close()
        finally:
            if self.lock is not None:
                self.lock.release()


async def open_session(engine: Engine, *, role: str = "console") -> Session:
    """Attach to a running daemon (its events published on `engine.bus`); else schedule here."""
    remote = await attach(engine)
    if remote is not None:
        return Session(remote, "attached")
    return await take_over(engine, role=role)


async def take_over(engine: Engine, *, role: str = "console") -> Session:
    """Schedule in this process if nobody else does (after the daemon went away, too)."""
    lock = SchedulerLock(engine.home.lock_path)
    if not lock.try_acquire(role):
        return Session(LocalControl(engine), "unscheduled", holder=lock.holder())
    scheduler = Scheduler(engine)
    try:
        await scheduler.start()
    except BaseException:
        lock.release()
        raise
    return Session(LocalControl(engine, scheduler), "scheduling", lock=lock)

