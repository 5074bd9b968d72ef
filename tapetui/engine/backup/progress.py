"""Progress events at a bounded rate: a ticker on the event loop samples counters
that worker threads update, so the copy loop never crosses threads per file."""

from __future__ import annotations

import asyncio
import time
from typing import Callable

from ..runlog import RunLog

#: Events per second at most (the console redraws no faster than this anyway).
RATE_HZ = 4

#: Seconds of moving bytes before the rate (and so an ETA) is told: the first
#: moments (opening the first files, the drive getting up to speed) are not the pace.
RATE_KNOWN_S = 2.0

#: (files_done, files_total, bytes_done, bytes_total, current)
Sample = Callable[[], tuple[int, int, int, int, str]]


class Ticker:
    def __init__(self, log: RunLog, phase: str, sample: Sample,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.log = log
        self.phase = phase
        self.sample = sample
        self.clock = clock
        self._moving: tuple[float, int] | None = None  # (when, bytes done) first seen moving
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"progress-{phase}")

    def publish(self) -> None:
        files_done, files_total, bytes_done, bytes_total, current = self.sample()
        rate = self._rate(bytes_done)
        eta = (bytes_total - bytes_done) / rate if rate > 0 and bytes_total >= bytes_done else None
        self.log.progress(phase=self.phase, files_done=files_done, files_total=files_total, bytes_done=bytes_done,
                          bytes_total=bytes_total, current=current, rate_bps=rate, eta_s=eta)

    def _rate(self, bytes_done: int) -> float:
        """Bytes per second since bytes first moved; 0 (unknown) for `RATE_KNOWN_S`."""
        now = self.clock()
        if self._moving is None:
            if bytes_done:
                self._moving = (now, bytes_done)
            return 0.0
        since, base = self._moving
        return (bytes_done - base) / (now - since) if now - since >= RATE_KNOWN_S else 0.0

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(1 / RATE_HZ)
            self.publish()

    def stop(self) -> None:
        """Stop ticking, with one last event showing where it ended."""
        self._task.cancel()
        self.publish()
