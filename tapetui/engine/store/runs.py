"""Schedule runs (one record per firing) and their stored log lines.

A run records the process that executes it (`pid`, and beside it `proc_start`,
that process's boot id and start time): when a process dies with runs still
'running', the next one to start marks them 'interrupted', and a stop asked
from another process is a flag that process picks up. The pid alone is not
enough: after a reboot, or in another PID namespace (a container), the same
number soon belongs to some other process.
"""

from __future__ import annotations

import asyncio
import builtins
import functools
import os
from datetime import datetime
from typing import Any, AsyncIterator, Iterable, Sequence

from ..errors import NotFound
from ..timeutil import from_db, show, to_db
from .db import Store, chunks
from .models import LogLine, RunRow, ScheduleRow
from .rows import dumps, load

#: One stored log line (runlog.INSERT_LINES: the store must not import the run log).
INSERT_LINE = "INSERT INTO run_log_lines(run_id, ts, level, line) VALUES (?, ?, ?, ?)"
FINAL = ("success", "warning", "failed", "skipped", "cancelled", "interrupted")


#: Where Linux tells a process's start time (`/proc/PID/stat`) and the boot's id.
PROC = "/proc"


@functools.cache
def _boot_id() -> str | None:
    try:
        with open(f"{PROC}/sys/kernel/random/boot_id", encoding="ascii") as f:
            return f.read().strip() or None
    except OSError:
        return None


def _start_ticks(pid: int) -> str:
    """Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot.
    Raises OSError (FileNotFoundError: no such process)."""
    with open(f"{PROC}/{pid}/stat", "rb") as f:
        stat = f.read()
    # the name (field 2) is in parentheses and may hold spaces or ')': split after the last ')'
    return stat[stat.rindex(b")") + 2:].split()[19].decode("ascii")


def proc_start(pid: int) -> str | None:
    """The identity of process `pid` beside its number: '<boot id>:<start ticks>';
    None where /proc cannot tell (another system; the pid alone is then checked)."""
    boot = _boot_id()
    if boot is None:
        return None
    try:
        return f"{boot}:{_start_ticks(pid)}"
    except (OSError, ValueError, IndexError):
        return None


@functools.cache
def _own_start(pid: int) -> str | None:
    return proc_start(pid)


def own_start() -> str | None:
    """This process's identity, as recorded beside `os.getpid()` (read once per process)."""
    return _own_start(os.getpid())


def pid_alive(pid: int | None, started: str | None = None) -> bool:
    """Whether the process that recorded (`pid`, `started`) still runs: a process with
    that pid exists and, when `started` was recorded, it is the same process (same
    boot, same start time). A row from before start times were kept (None) is
    judged by its pid alone."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if started is None or _boot_id() is None:
        return True
    try:
        return f"{_boot_id()}:{_start_ticks(pid)}" == started
    except FileNotFoundError:  # it ended just now
        return False
    except (OSError, ValueError, IndexError):  # hidden from us (hidepid): the pid is all we know
        return True


def ended(
    run_id: int, *, status: str, message: str, at: datetime, result: dict[str, Any] | None = None,
    backup_run_id: int | None = None, set_id: int | None = None,
) -> tuple:
    """A run's final status as the row `Runs.finish_many` stores; checked here, so a
    bad one fails alone and not the batch it would have joined."""
    if status not in FINAL:
        raise ValueError(f"not a final run status: {status!r}")
    return (status, message, to_db(at), dumps(result or {}), backup_run_id, set_id, run_id)


class Runs:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def start(
        self, *, schedule_id: int | None, schedule_name: str, action: str, trigger: str, at: datetime,
    ) -> int:
        self.store.keep_reserve()  # room to record this run's end on a full disk
        return await self.store.execute(
            "INSERT INTO schedule_runs(schedule_id, schedule_name, action, trigger, status, started_at, pid, "
            "proc_start) VALUES (?, ?, ?, ?, 'running', ?, ?, ?)",
            (schedule_id, schedule_name, action, trigger, to_db(at), os.getpid(), own_start()),
        )

    async def start_many(self, schedules: Sequence[ScheduleRow], *, trigger: str, at: datetime) -> dict[int, int]:
        """One running run for each schedule, in one statement; returns schedule id -> run id."""
        stamp, pid, pid_start = to_db(at), os.getpid(), own_start()
        self.store.keep_reserve()  # room to record their ends on a full disk
        started: dict[int, int] = {}
        async with self.store.transaction() as conn:
            for part in chunks(schedules):
                started.update({r[0]: r[1] for r in await conn.execute_fetchall(
                    "INSERT INTO schedule_runs(schedule_id, schedule_name, action, trigger, status, started_at, "
                    "pid, proc_start) VALUES " + ",".join(["(?, ?, ?, ?, 'running', ?, ?, ?)"] * len(part)) +
                    " RETURNING schedule_id, id",
                    [v for s in part for v in (s.id, s.name, s.action, trigger, stamp, pid, pid_start)],
                )})
        return started

    async def finish(self, run_id: int, **end: Any) -> None:
        """The run's final status; `end` as for `ended`."""
        await self.finish_many([ended(run_id, **end)])

    async def finish_many(self, ends: Iterable[tuple]) -> None:
        """Final statuses, as made by `ended`, in one transaction."""
        await self.store.executemany(
            "UPDATE schedule_runs SET status = ?, message = ?, finished_at = ?, result = ?, "
            "backup_run_id = coalesce(?, backup_run_id), set_id = coalesce(?, set_id) WHERE id = ?", ends,
        )

    async def record(
        self, *, schedule_id: int | None, schedule_name: str, action: str, trigger: str, at: datetime,
        status: str, message: str, result: dict[str, Any] | None = None,
    ) -> int:
        """A firing that ended before it began (skipped): one finished record."""
        async with self.store.transaction():
            run_id = await self.start(
                schedule_id=schedule_id, schedule_name=schedule_name, action=action, trigger=trigger, at=at
            )
            await self.finish(run_id, status=status, message=message, at=at, result=result)
        return run_id

    async def link(self, run_id: int, *, backup_run_id: int | None = None, set_id: int | None = None) -> None:
        """Attach the backup run / set as soon as they exist, so a cancelled run still points at them."""
        await self.store.execute(
            "UPDATE schedule_runs SET backup_run_id = coalesce(?, backup_run_id), set_id = coalesce(?, set_id) "
            "WHERE id = ?", (backup_run_id, set_id, run_id),
        )

    async def get(self, run_id: int) -> RunRow:
        row = await self.store.fetchone("SELECT * FROM schedule_runs WHERE id = ?", (run_id,))
        if row is None:
            raise NotFound(f"no run #{run_id} (see: tapetui runs)")
        return load(RunRow, row)

    async def list(self, *, schedule_id: int | None = None, schedule_name: str | None = None,
                   limit: int = 200) -> builtins.list[RunRow]:
        where: builtins.list[str] = []
        params: builtins.list[Any] = []
        if schedule_id is not None:
            where.append("schedule_id = ?")
            params.append(schedule_id)
        if schedule_name is not None:
            where.append("schedule_name = ?")
            params.append(schedule_name)
        sql = "SELECT * FROM schedule_runs" + (" WHERE " + " AND ".join(where) if where else "")
        rows = await self.store.fetchall(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))
        return [load(RunRow, r) for r in rows]

    async def running(self, *, live: bool | None = None) -> builtins.list[RunRow]:
        """Runs recorded 'running'; with `live`, only those whose process still runs
        (True) or only those whose process is gone (False), as `pid_alive` judges."""
        rows = await self.store.fetchall("SELECT * FROM schedule_runs WHERE status = 'running' ORDER BY id")
        if live is not None:
            rows = [r for r in rows if pid_alive(r["pid"], r["proc_start"]) == live]
        return [load(RunRow, r) for r in rows]

    async def latest(self, schedule_id: int) -> RunRow | None:
        rows = await self.list(schedule_id=schedule_id, limit=1)
        return rows[0] if rows else None

    # -- stop requests across processes ---------------------------------------
    async def request_stop(self, run_id: int) -> None:
        await self.store.execute(
            "UPDATE schedule_runs SET result = json_set(result, '$.stop_requested', 1) "
            "WHERE id = ? AND status = 'running'", (run_id,)
        )

    async def stop_requested(self) -> builtins.list[int]:
        """This process's running runs that another process asked to stop."""
        rows = await self.store.fetchall(
            "SELECT id FROM schedule_runs WHERE status = 'running' AND pid = ? AND proc_start IS ? "
            "AND json_extract(result, '$.stop_requested') = 1", (os.getpid(), own_start())
        )
        return [r[0] for r in rows]

    # -- recovery and pruning ----------------------------------------------------
    async def mark_interrupted(self, at: datetime) -> builtins.list[int]:
        """Runs left 'running' by a process that is gone become 'interrupted', each
        reported as a finished run is: a closing log line and message saying what
        ended it, the cartridges of the set it was writing, its schedule's last result."""
        stale = await self.running(live=False)
        async with self.store.transaction():
            for run in stale:
                await self._close_interrupted(run, at)
        return [r.id for r in stale]

    async def _close_interrupted(self, run: RunRow, at: datetime) -> None:
        last = await self.store.fetchone("SELECT max(ts) FROM run_log_lines WHERE run_id = ?", (run.id,))
        heard = from_db(last[0]) if last and last[0] else run.started_at
        pid = f"pid {run.pid}, " if run.pid else ""
        why = (f"the process running it ended before it finished ({pid}at {show(heard, seconds=True)} "
               "or soon after)")
        cartridges: builtins.list[str] = []
        if run.set_id is not None:
            cartridges = [r[0] for r in await self.store.fetchall(
                "SELECT c.barcode FROM set_cartridges sc JOIN cartridges c ON c.id = sc.cartridge_id "
                "WHERE sc.set_id = ? ORDER BY sc.seq", (run.set_id,))]
            why += f"; set {run.set_id} left incomplete"
        result = dict(run.result, cartridges=cartridges) if cartridges else run.result
        await self.store.execute(INSERT_LINE, (run.id, to_db(at), "error", why))
        await self.store.execute(
            "UPDATE schedule_runs SET status = 'interrupted', finished_at = ?, message = ?, result = ? "
            "WHERE id = ?", (to_db(at), why, dumps(result), run.id))
        await self.store.execute(  # unless a later firing (not one refused) has said more since
            "UPDATE schedules SET last_result = 'interrupted' WHERE id = ? AND NOT EXISTS (SELECT 1 FROM "
            "schedule_runs r WHERE r.schedule_id = ? AND r.id > ? AND r.status != 'skipped')",
            (run.schedule_id, run.schedule_id, run.id))

    async def prune(self, before: datetime) -> tuple[int, int]:
        """Delete finished runs that started before `before`; returns (runs, lines) removed."""
        cutoff = to_db(before)
        async with self.store.transaction() as conn:
            old = "SELECT id FROM schedule_runs WHERE started_at < ? AND status != 'running'"
            [(lines,)] = await conn.execute_fetchall(
                f"SELECT count(*) FROM run_log_lines WHERE run_id IN ({old})", (cutoff,))
            await conn.execute(f"DELETE FROM run_log_lines WHERE run_id IN ({old})", (cutoff,))
            cur = await conn.execute("DELETE FROM schedule_runs WHERE started_at < ? AND status != 'running'",
                                     (cutoff,))
            return cur.rowcount, lines

    # -- log lines -------------------------------------------------------------
    async def lines(self, run_id: int, *, after: int = 0, limit: int = 10_000) -> builtins.list[LogLine]:
        rows = await self.store.fetchall(
            "SELECT * FROM run_log_lines WHERE run_id = ? AND id > ? ORDER BY id LIMIT ?", (run_id, after, limit)
        )
        return [load(LogLine, r) for r in rows]

    async def tail(self, run_id: int, n: int) -> builtins.list[LogLine]:
        """The newest `n` lines, oldest first (what a log view shows of a long run)."""
        rows = await self.store.fetchall(
            "SELECT * FROM (SELECT * FROM run_log_lines WHERE run_id = ? ORDER BY id DESC LIMIT ?) ORDER BY id",
            (run_id, n),
        )
        return [load(LogLine, r) for r in rows]

    async def follow(self, run_id: int, *, poll_s: float = 0.25) -> AsyncIterator[LogLine]:
        """Replay the stored lines, then the new ones as they are stored, until the run ends.

        Reads the database (not the bus), so it follows a run of another process too."""
        last = 0
        while True:
            finished = (await self.get(run_id)).status != "running"
            batch = await self.lines(run_id, after=last)
            for line in batch:
                yield line
            if batch:
                last = batch[-1].id
                continue
            if finished:
                return
            await asyncio.sleep(poll_s)
