"""A run's log: every line goes live on the bus and is stored for replay.

Lines are stored in batches (a flush every `FLUSH_EVERY_S` or `FLUSH_LINES`
lines), so a tool printing thousands of lines a second costs a few inserts, not
thousands. One batch is written at a time and the next takes everything that
arrived meanwhile, so a tool faster than the database cannot pile up writes;
past `MAX_PENDING` waiting lines, lines are counted instead of kept (memory
stays bounded) and the log says how many were lost. Usable from the event loop (`info`, `warning`, ...) and from worker
threads (`*_threadsafe` via `emit_threadsafe`).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import Any

from .bus import Bus
from .events import LogLine, Progress
from .names import shown
from .store import Store
from .timeutil import to_db

FLUSH_EVERY_S = 0.5
FLUSH_LINES = 500
MAX_PENDING = 100_000
INSERT_LINES = "INSERT INTO run_log_lines(run_id, ts, level, line) VALUES (?, ?, ?, ?)"
log = logging.getLogger("tapetui.run")


class RunLog:
    def __init__(self, store: Store | None, bus: Bus, run_id: int | None) -> None:
        self.store = store
        self.bus = bus
        self.run_id = run_id
        self._pending: list[tuple] = []
        self._flusher: asyncio.TimerHandle | None = None
        self._writing: asyncio.Task[None] | None = None
        self._loop = asyncio.get_running_loop()
        self.warnings = 0
        self.dropped = 0  # lines not stored since the last batch (the database fell behind)

    def emit(self, level: str, text: str) -> None:
        """Event-loop thread only."""
        for line in text.splitlines() or [""]:
            line = shown(line)  # a name's bytes that are not UTF-8 cannot be stored as text: \xff
            event = LogLine(run_id=self.run_id, level=level, text=line)
            self.bus.publish(event)
            if level in ("warning", "error"):
                log.log(logging.WARNING if level == "warning" else logging.ERROR, "run %s: %s", self.run_id, line)
            if self.store is not None and self.run_id is not None:
                if len(self._pending) < MAX_PENDING:
                    self._pending.append((self.run_id, to_db(event.at), level, line))
                else:
                    self.dropped += 1
        if level == "warning":
            self.warnings += 1
        if len(self._pending) >= FLUSH_LINES:
            self._kick()
        elif self._pending and self._flusher is None:
            self._flusher = self._loop.call_later(FLUSH_EVERY_S, self._kick)

    def emit_threadsafe(self, level: str, text: str) -> None:
        self._loop.call_soon_threadsafe(self.emit, level, text)

    def info(self, text: str) -> None:
        self.emit("info", text)

    def warning(self, text: str) -> None:
        self.emit("warning", text)

    def error(self, text: str) -> None:
        self.emit("error", text)

    def tool(self, text: str) -> None:
        """A line printed by a tape tool (mkltfs, ltfsck...), shown verbatim."""
        self.emit("tool", text)

    def progress(self, **fields: Any) -> None:
        self.bus.publish(Progress(run_id=self.run_id, **fields))

    def progress_threadsafe(self, **fields: Any) -> None:
        self.bus.publish_threadsafe(Progress(run_id=self.run_id, **fields))

    def _kick(self) -> None:
        """Start the background writer unless it runs (it takes what arrives meanwhile)."""
        self._flusher = None
        if self._writing is None or self._writing.done():
            self._writing = self._loop.create_task(self._write_all())

    async def _write_all(self) -> None:
        while self._pending and await self._write():
            pass

    def take(self) -> list[tuple]:
        """Hand over the lines not stored yet, as rows for `INSERT_LINES` (the writer
        below, or a run's end, which stores them in its own transaction)."""
        batch, self._pending = self._pending, []
        if self.dropped and batch:
            batch.append((self.run_id, batch[-1][1], "warning",
                          f"{self.dropped} log line(s) were not stored: they came faster than the catalog "
                          "database could keep them"))
            self.dropped = 0
        return batch

    async def _write(self) -> bool:
        """Store the pending lines. If that fails (a full disk) they stay pending, for a
        later try or the run's end, and False says so: a log line never fails a run,
        and the background writer is a task nobody awaits."""
        batch = self.take()
        if not batch or self.store is None:
            return True
        try:
            await self.store.executemany(INSERT_LINES, batch)
        except sqlite3.Error as e:
            self._pending[:0] = batch
            log.warning("run %s: %d log line(s) not stored yet: %s", self.run_id, len(batch), e)
            return False
        return True

    async def settle(self) -> None:
        """Wait for the background writer, so lines taken next follow the ones it stores."""
        if self._flusher is not None:
            self._flusher.cancel()
            self._flusher = None
        writing = self._writing
        # Waiting for the background writer inside our own transaction would deadlock
        # (it waits for that transaction); its lines then land just after ours.
        if writing is not None and not writing.done() and self.store is not None \
                and not self.store.owns_transaction():
            await asyncio.shield(writing)

    async def flush(self) -> None:
        """Store every line emitted so far."""
        await self.settle()
        await self._write()
