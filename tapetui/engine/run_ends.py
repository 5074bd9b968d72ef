"""Recording the ends of firings, many in one transaction.

A firing ends with three writes that must land together: its last log lines,
its run's final status and its schedule's last result (idle again). Firings
that end at about the same moment -- 200 every-minute schedules end within a
few loop turns -- share one transaction: ends that arrive while a batch is
being written form the next batch. The cost is a few statements per batch
instead of per firing, and no end waits for more than the batch before it. A
batch that fails is stored end by end, so an end that cannot be stored (a
locked or full database aside) fails alone; on a full disk an end is stored
without its last log lines rather than not at all (the run must not stay
'running').
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from .runlog import INSERT_LINES, RunLog
from .store import Store
from .store.db import DiskFull
from .store.runs import Runs
from .store.schedules import Released, Schedules

log = logging.getLogger("tapetui.scheduler")


@dataclass
class RunEnd:
    log: RunLog
    run: tuple  # the run's final status, as made by store.runs.ended
    schedule: Released


class EndWriter:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.runs = Runs(store)
        self.schedules = Schedules(store)
        self._waiting: list[tuple[RunEnd, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def write(self, end: RunEnd) -> None:
        """Returns once `end` is committed (raises what the commit raised)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._waiting.append((end, done))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._drain(), name="run-ends")
        await done

    async def _drain(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                await self._commit(batch)
            except BaseException:  # cancelled (the loop is closing): nobody is left waiting
                for _, done in batch + self._waiting:
                    done.cancel()
                raise

    async def _commit(self, batch: list[tuple[RunEnd, asyncio.Future[None]]]) -> None:
        """The batch in one transaction; if that fails, each end in its own, so one
        end that cannot be stored fails alone."""
        parts = []
        for end, done in batch:
            try:
                await end.log.settle()
            except Exception:  # its background write failed (and said why); its end still counts
                log.exception("run %s: storing earlier log lines failed", end.run[-1])
            parts.append((end, end.log.take(), done))
        try:
            await self._store(parts)
        except Exception as e:
            log.warning("storing %d run end(s) failed (%s); storing each alone", len(parts), e)
            for part in parts:
                try:
                    await self._store_alone(part)
                except Exception as one:
                    _settle(part[2], one)
                else:
                    _settle(part[2], None)
        else:
            for _, _, done in parts:
                _settle(done, None)

    async def _store_alone(self, part: tuple[RunEnd, list[tuple], asyncio.Future[None]]) -> None:
        """One end in its own transaction (a full disk has given back its reserve by
        now); if the disk is still too full, the end without its log lines."""
        try:
            await self._store([part])
        except DiskFull:
            end, lines, done = part
            log.warning("run %s: %d log line(s) not stored (no space); storing its end without them",
                        end.run[-1], len(lines))
            await self._store([(end, [], done)])

    async def _store(self, parts: list[tuple[RunEnd, list[tuple], asyncio.Future[None]]]) -> None:
        async with self.store.transaction():
            lines = [line for _, taken, _ in parts for line in taken]
            if lines:
                await self.store.executemany(INSERT_LINES, lines)
            await self.runs.finish_many([end.run for end, _, _ in parts])
            await self.schedules.release([end.schedule for end, _, _ in parts])


def _settle(done: asyncio.Future[None], error: Exception | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
