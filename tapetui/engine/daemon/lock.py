"""Who schedules for a home: an `flock` on `home.lock_path`, held for the process lifetime.

The kernel releases the lock when its holder dies (even by SIGKILL), so a stale
lock file never blocks the next start. The holder writes its pid and role into
the file, only so the others can say who holds it.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

#: `holder()` probes hold the lock for an instant; a start retries past them.
PROBE_RETRIES = 3
PROBE_PAUSE_S = 0.05


@dataclass(frozen=True)
class Holder:
    pid: int | None
    role: str  # daemon | console | "" when unknown


class SchedulerLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self, role: str = "daemon") -> bool:
        """Take the lock without waiting; False when another process holds it."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        for attempt in range(PROBE_RETRIES + 1):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == PROBE_RETRIES:
                    os.close(fd)
                    return False
                time.sleep(PROBE_PAUSE_S)  # maybe only a `holder()` probe holding it for an instant
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "role": role}).encode() + b"\n", 0)
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)  # no stale pid for the next reader
        finally:
            os.close(fd)  # closing drops the flock

    def holder(self) -> Holder | None:
        """Who holds the lock now (None: nobody). Probing takes the lock for an
        instant, so use it for messages and status, not to decide who schedules."""
        if self._fd is not None:
            return Holder(os.getpid(), "self")
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return _read_holder(self.path)
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)


def _read_holder(path: Path) -> Holder:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
        pid = data.get("pid")
        return Holder(pid if isinstance(pid, int) else None, str(data.get("role", "")))
    except (OSError, ValueError, AttributeError):
        return Holder(None, "")
