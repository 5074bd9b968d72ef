"""One user of the drive at a time, across every process of a home.

A backup, a restore or a verify holds an `flock` on `home.drive_lock_path` while
it uses the drive: two backups started at once (two schedules, a CLI run beside
a console's) would otherwise both load, format and write the same cartridge,
the second destroying the set the first is writing. The kernel releases the
lock when its holder dies, even by SIGKILL. The holder writes who it is into
the file, only so that the others can say who they wait for.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator, Callable

#: How often a run waiting for the drive tries again.
POLL_S = 0.5
#: A `holder()` probe holds the lock for an instant: retries before a run says it waits.
PROBE_RETRIES, PROBE_PAUSE_S = 3, 0.05


def _try(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _open(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _who(path: Path) -> str:
    try:
        return str(json.loads(path.read_text()).get("who") or "another run")
    except (OSError, ValueError, AttributeError):
        return "another run"


def holder(path: Path) -> str | None:
    """Who uses the drive now ("run #12 'nightly' (backup)"), or None when it is free."""
    fd = _open(path)
    try:
        if _try(fd):
            return None
        return _who(path)
    finally:
        os.close(fd)  # also releases the lock if this probe took it


@asynccontextmanager
async def using_drive(path: Path, who: str, waiting: Callable[[str], None]) -> AsyncIterator[None]:
    """Hold the drive for `who`; while another holds it, wait (cancellable), after
    telling `waiting` once who that is."""
    fd = _open(path)
    try:
        for _ in range(PROBE_RETRIES):
            if _try(fd):
                break
            await asyncio.sleep(PROBE_PAUSE_S)
        else:
            waiting(_who(path))
            while not _try(fd):
                await asyncio.sleep(POLL_S)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "who": who}).encode() + b"\n", 0)
        yield
    finally:
        os.close(fd)
