"""Recording the ends of firings, many in one transaction.

A firing ends with three writes that must land together: its last log lines,
its run's final status and its schedule's last result (idle again). Firings
that end at about the same moment -- 200 every-minute schedules end within a
few loop turns -- share one transaction: ends that arrive while a batch is
being written form the next batch. The cost is a few statements per batch
instead of per firing, and no end waits for more than the batch before it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from .runlog import INSERT_LINES, RunLog
from .store import Store
from .store.runs import Runs
from .store.schedules import Released, Schedules


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
                await self._commit([end for end, _ in batch])
            except Exception as e:  # e.g. the disk is full: every end of the batch says so
                for _, done in batch:
                    if not done.done():
                        done.set_exception(e)
            except BaseException:  # cancelled (the loop is closing): nobody is left waiting
                for _, done in batch + self._waiting:
                    done.cancel()
                raise
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)

    async def _commit(self, ends: list[RunEnd]) -> None:
        for end in ends:
            await end.log.settle()
        async with self.store.transaction():
            lines = [line for end in ends for line in end.log.take()]
            if lines:
                await self.store.executemany(INSERT_LINES, lines)
            await self.runs.finish_many([end.run for end in ends])
            await self.schedules.release([end.schedule for end in ends])
