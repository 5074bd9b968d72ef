"""The scheduler worker: one asyncio task that fires schedules when they are due.

It sleeps until the earliest `next_run` (never longer than `max_sleep_s`, so a
changed clock or another process's edit is noticed) and wakes at once when
schedules change. Each due schedule fires once; its `next_run` moves past "now"
before the firing starts, so nothing fires twice.

Checks, in the seed's order (计划任务执行细节 §2): the period check (automatic
firings of daily/weekly/monthly/yearly schedules that already succeeded in the
current period are skipped), then the running check (a schedule still running
is skipped, never doubled; manual runs too). A firing more than `grace_s` late
means the scheduler was not running: the schedule's missed policy runs it once
now or skips it, and the run log says which.

Every firing leaves a run record and a stored, streamed log. Stop cancels the
firing's task: subprocesses die through the subprocess manager's cancellation,
and the run is recorded as cancelled. The clock and the sleep are injectable,
so tests drive a simulated day in moments.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Awaitable, Callable, Sequence

from . import handlers
from .errors import NotFound, UserError
from .events import OperatorNeeded, RunFinished, RunStarted, SchedulesChanged
from .handlers.base import Firing, Outcome
from .notify import Notification, Notifier
from .run_ends import EndWriter, RunEnd
from .runlog import RunLog
from .schedule import ScheduleError, ScheduleSpec, next_run, period_key, spec_from_dict
from .store.models import ScheduleRow
from .store.runs import FINAL, Runs, ended
from .store.schedules import Released, Schedules
from .timeutil import show

if TYPE_CHECKING:
    from .bus import Subscription
    from .core import Engine

log = logging.getLogger("tapetui.scheduler")

PERIOD_NAMES = {"daily": "day", "weekly": "week", "monthly": "month", "yearly": "year"}
#: Missed firings are counted up to this many (an every-minute schedule after a year off).
MISSED_COUNT_CAP = 1000
SUCCEEDED = ("success", "warning")


@dataclass
class _Skip:
    """A due firing a check said no to: recorded as a 'skipped' run, saying why."""

    row: ScheduleRow
    message: str
    result: dict[str, object]


@dataclass
class _Active:
    run_id: int
    task: asyncio.Task[None]
    reason: str = ""
    started: bool = False
    #: The action is over and the end is being recorded: a stop now waits for it.
    recording: bool = False


async def recover(engine: Engine) -> list[str]:
    """Close what a dead process left open: its runs are 'interrupted', its sets
    incomplete, its schedules idle. Runs of live processes are left alone, so any
    process may call this at start (no scheduler needed). Returns what it did, a line
    each (also logged)."""
    now = engine.clock()
    stale = await Runs(engine.store).mark_interrupted(now)
    incomplete = await engine.sets.mark_interrupted_runs()
    freed = await Schedules(engine.store).release_orphans()
    done = []
    if incomplete:
        done.append(f"backup set(s) {', '.join(map(str, incomplete))} were left unfinished by a process "
                    "that ended; marked incomplete")
    if stale:
        done.append(f"marked run(s) {', '.join(map(str, stale))} interrupted (their process ended)")
    if freed:
        done.append(f"schedule(s) {', '.join(freed)} were left running by a process that ended; now idle")
    for line in done:
        log.warning(line)
    return done


class Scheduler:
    def __init__(
        self,
        engine: Engine,
        *,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        max_sleep_s: float = 60.0,
        grace_s: float = 60.0,
        stop_poll_s: float = 0.4,  # a stop asked from another process lands within a second
        notifier: Notifier | None = None,
    ) -> None:
        self.engine = engine
        self.schedules = Schedules(engine.store)
        self.runs = Runs(engine.store)
        self._ends = EndWriter(engine.store)
        self.notifier = notifier or Notifier(engine.config.notify)
        self._sleep = sleep
        self.max_sleep_s = max_sleep_s
        self.grace = timedelta(seconds=grace_s)
        self.stop_poll_s = stop_poll_s
        self._wake = asyncio.Event()
        self._active: dict[int, _Active] = {}  # schedule id -> its running firing
        self._loop_task: asyncio.Task[None] | None = None
        self._stop_watch: asyncio.Task[None] | None = None
        self._subs: list[Subscription] = []

    # -- life cycle --------------------------------------------------------------
    async def recover(self) -> list[str]:
        """`recover(engine)`, at the start of the console's or the daemon's scheduling."""
        return await recover(self.engine)

    async def start(self) -> None:
        """Recover, then run the worker loop in the background (console and daemon)."""
        await self.recover()
        self.listen()
        self._loop_task = asyncio.get_running_loop().create_task(self._loop(), name="scheduler")

    def listen(self) -> None:
        """Wake on schedule changes; turn operator-needed events into notifications."""
        if not self._subs:
            bus = self.engine.bus
            self._subs = [bus.subscribe(lambda e: self.wake(), SchedulesChanged),
                          bus.subscribe(self._on_operator, OperatorNeeded)]

    async def close(self, reason: str = "the scheduler was shut down") -> None:
        """Stop the loop, cancel running firings (recorded as cancelled), release the notifier."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
            self._loop_task = None
        await asyncio.gather(*(self._cancel(a, reason) for a in list(self._active.values())))
        if self._stop_watch is not None:
            self._stop_watch.cancel()
            await asyncio.gather(self._stop_watch, return_exceptions=True)
        for sub in self._subs:
            sub.close()
        self._subs = []
        await self.notifier.aclose()

    def wake(self) -> None:
        self._wake.set()

    @property
    def running(self) -> dict[int, int]:
        """schedule id -> run id of the firings running in this process."""
        return {sid: a.run_id for sid, a in self._active.items()}

    # -- the loop ----------------------------------------------------------------
    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.tick(self.engine.clock())
                earliest = await self.schedules.earliest_next_run()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bad row or a locked database must not kill the scheduler
                log.exception("scheduler tick failed; retrying in %ss", self.max_sleep_s)
                earliest = None
            delay = self.max_sleep_s
            if earliest is not None:
                delay = min(delay, (earliest - self.engine.clock()).total_seconds())
            if delay <= 0:
                await asyncio.sleep(0)
                continue
            await self._sleep_or_wake(delay)

    async def _sleep_or_wake(self, delay: float) -> None:
        sleeper = asyncio.ensure_future(self._sleep(delay))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (sleeper, waker):
                t.cancel()
            await asyncio.gather(sleeper, waker, return_exceptions=True)

    async def tick(self, now: datetime) -> list[int]:
        """Fire every schedule due at `now` once; returns the run ids recorded.

        What the tick writes -- the next runs moved past `now`, the claims, the
        runs opened, the skips -- is one transaction, a few statements for any
        number of due schedules: if it fails, nothing moved and the next tick
        retries every firing; once it is committed, every firing started has
        its task before anything else can fail."""
        due, moves = [], []
        for row in await self.schedules.due(now):
            try:
                spec = spec_from_dict(row.type, row.config)
                moves.append((row.id, next_run(spec, now)))
            except ScheduleError as e:  # a stored rule that no longer parses: park it, say why
                moves.append((row.id, None))
                log.error("schedule %r cannot be evaluated and will not fire: %s", row.name, e)
            else:
                due.append((row, spec))
        starting: list[tuple[ScheduleRow, str | None]] = []
        skips: list[_Skip] = []
        for row, spec in due:
            since = row.next_run
            assert since is not None
            if now - since <= self.grace:
                starting.append((row, None))
                continue
            missed = _count_missed(spec, since, now)
            what = f"{missed} firing(s) missed since {show(since)} while the scheduler was not running"
            if row.missed_policy == "skip":
                log.info("schedule %r: %s; skipped", row.name, what)
                skips.append(_Skip(row, f"{what}; skipped (missed policy: skip)",
                                   {"missed": missed, "missed_since": since.isoformat()}))
            else:
                note = f"{what}; running once now (missed policy: run_once)"
                log.info("schedule %r: %s", row.name, note)
                starting.append((row, note))
        return list((await self._launch(starting, "auto", now, moves=moves, skips=skips)).values())

    # -- firing ------------------------------------------------------------------
    async def launch(self, row: ScheduleRow, trigger: str, now: datetime, *, note: str | None = None,
                     allow_format: str | None = None, skip_month_check: bool = False) -> int:
        """Run the checks and start the firing in its own task; returns its run id
        (the id of a 'skipped' record when a check says no)."""
        return (await self._launch([(row, note)], trigger, now, allow_format=allow_format,
                                   skip_month_check=skip_month_check))[row.id]

    async def _launch(self, items: list[tuple[ScheduleRow, str | None]], trigger: str, now: datetime, *,
                      moves: Sequence[tuple[int, datetime | None]] = (), skips: Sequence[_Skip] = (),
                      allow_format: str | None = None, skip_month_check: bool = False) -> dict[int, int]:
        """`launch` for many schedules at once (with the tick's next-run moves and
        skips): one transaction; returns schedule id -> run id (started or skipped)."""
        skips = list(skips)
        checked = []
        for row, note in items:
            done = self._done_this_period(row, trigger, now)
            if done:
                skips.append(_Skip(row, done, {"check": "period"}))
            else:
                checked.append((row, note))
        run_ids: dict[int, int] = {}
        async with self.engine.store.transaction():
            await self.schedules.set_next_runs(moves)
            claimed = await self.schedules.claim([row.id for row, _ in checked])
            started = await self.runs.start_many([row for row, _ in checked if row.id in claimed],
                                                 trigger=trigger, at=now)
            if len(started) < len(checked):
                running = {r.schedule_id: r.id for r in await self.runs.running()}
                for row, _ in checked:
                    if row.id not in started:
                        where = f" (run #{running[row.id]})" if row.id in running else ""
                        skips.append(_Skip(row, f"already running{where}", {"check": "running"}))
            for skip in skips:
                run_ids[skip.row.id] = await self.runs.record(
                    schedule_id=skip.row.id, schedule_name=skip.row.name, action=skip.row.action,
                    trigger=trigger, at=now, status="skipped", message=skip.message, result=skip.result,
                )
                await self.schedules.note_skipped(skip.row.id)
        loop = asyncio.get_running_loop()
        for row, note in checked:
            if row.id in started:
                run_ids[row.id] = run_id = started[row.id]
                task = loop.create_task(self._execute(row, run_id, trigger, now, note, allow_format,
                                                      skip_month_check),
                                        name=f"firing-{row.name}")
                self._active[row.id] = _Active(run_id, task)
        if started:
            self._ensure_stop_watch()
        for skip in skips:
            self.engine.bus.publish(RunFinished(run_id=run_ids[skip.row.id], schedule=skip.row.name,
                                                status="skipped", message=skip.message))
        return run_ids

    def _done_this_period(self, row: ScheduleRow, trigger: str, now: datetime) -> str | None:
        """The period check: why an automatic firing is not needed, or None."""
        if trigger != "auto" or row.last_success is None:
            return None
        kind = _period_type(row)
        key = period_key(kind, now)
        if key is None or key != period_key(kind, row.last_success):
            return None
        return f"already succeeded this {PERIOD_NAMES[kind]} (at {show(row.last_success)})"

    async def _execute(self, row: ScheduleRow, run_id: int, trigger: str, now: datetime, note: str | None,
                       allow_format: str | None = None, skip_month_check: bool = False) -> None:
        active = self._active[row.id]
        active.started = True
        engine = self.engine
        runlog = RunLog(engine.store, engine.bus, run_id)
        engine.bus.publish(RunStarted(run_id=run_id, schedule=row.name, action=row.action, trigger=trigger))
        if note:
            runlog.info(note)
        runlog.info(f"{'manual' if trigger == 'manual' else 'scheduled'} run of {row.name!r} ({row.action})")
        cancelled = False
        try:
            action = handlers.get(row.action)
            outcome = await action.run(engine, Firing(row, run_id, trigger, now, runlog, allow_format,
                                                      skip_month_check))
        except asyncio.CancelledError:
            cancelled = True
            outcome = Outcome("cancelled", active.reason or "stopped")
        except UserError as e:
            outcome = Outcome("failed", str(e))
        except Exception as e:  # the run fails; the scheduler goes on
            log.exception("run %s of %r failed unexpectedly", run_id, row.name)
            outcome = Outcome("failed", f"internal error: {type(e).__name__}: {e}")
        # The bookkeeping must finish even if a second stop arrives meanwhile:
        # `_cancel` no longer cancels this task, it waits for it.
        active.recording = True
        await self._record(row, run_id, now, outcome, runlog)
        if cancelled:
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()

    async def _record(self, row: ScheduleRow, run_id: int, started: datetime, outcome: Outcome,
                      runlog: RunLog) -> None:
        if outcome.status not in FINAL:  # an action's mistake must not leave the run open
            outcome = Outcome("failed", f"internal error: the action ended with status {outcome.status!r}")
        level = {"failed": "error", "cancelled": "warning"}.get(outcome.status, "info")
        runlog.emit(level, f"{outcome.status}: {outcome.message}")
        try:
            await self._ends.write(RunEnd(
                runlog,
                ended(run_id, status=outcome.status, message=outcome.message, at=self.engine.clock(),
                      result=outcome.result, backup_run_id=outcome.backup_run_id, set_id=outcome.set_id),
                Released(row.id, started, outcome.status, outcome.status in SUCCEEDED),
            ))
        finally:
            self._active.pop(row.id, None)
            self.engine.bus.publish(RunFinished(run_id=run_id, schedule=row.name, status=outcome.status,
                                                message=outcome.message))
        note = outcome.notification
        if note is None and outcome.status == "failed":
            note = Notification("failure", f"{row.name}: {row.action} failed", outcome.message,
                                schedule=row.name, error=outcome.message)
        if note is not None:
            for delivery in await self.notifier.send(note):
                if not delivery.ok:
                    runlog.warning(f"{delivery.channel} notification not sent: {delivery.detail}")
            await runlog.flush()

    async def _on_operator(self, event: OperatorNeeded) -> None:
        schedule = None
        if event.run_id is not None:
            try:
                schedule = (await self.runs.get(event.run_id)).schedule_name
            except NotFound:
                pass
        await self.notifier.send(Notification("operator", "Operator needed", event.message,
                                              schedule=schedule, action=event.action))

    # -- manual control ----------------------------------------------------------
    async def run_now(self, schedule_id: int, *, allow_format: str | None = None,
                      skip_month_check: bool = False) -> int:
        """A manual firing: no period check, but the running check holds. `allow_format`:
        the operator's yes to formatting a cartridge holding a source's last restorable state;
        `skip_month_check`: their yes to writing on a cartridge of another month."""
        row = await self.schedules.get(schedule_id)
        return await self.launch(row, "manual", self.engine.clock(), allow_format=allow_format,
                                 skip_month_check=skip_month_check)

    async def wait(self, run_id: int) -> None:
        """Until the firing `run_id` of this process has been recorded (and notified)."""
        task = next((a.task for a in self._active.values() if a.run_id == run_id), None)
        if task is not None:  # a waiter that gives up must not stop the firing: that is `stop`
            await asyncio.shield(task)

    async def idle(self) -> None:
        """Until no firing of this process runs, including firings started meanwhile."""
        while self._active:
            await asyncio.gather(*(a.task for a in list(self._active.values())), return_exceptions=True)

    async def stop(self, schedule_id: int, reason: str = "stopped by the operator") -> int | None:
        """Cancel the schedule's running firing; returns its run id, None if none runs.

        A firing of another process (the daemon, a `schedule run --wait`) gets a
        stop request it acts on within `stop_poll_s`; one whose process is gone
        is marked interrupted."""
        active = self._active.get(schedule_id)
        if active is not None:
            await self._cancel(active, reason)
            return active.run_id
        run = next((r for r in await self.runs.running() if r.schedule_id == schedule_id), None)
        if run is None:
            return None
        if run.pid != os.getpid() and run.id in {r.id for r in await self.runs.running(live=True)}:
            await self.runs.request_stop(run.id)
        else:
            await self.recover()
        return run.id

    async def _cancel(self, active: _Active, reason: str) -> None:
        active.reason = reason
        while not active.started:  # cancelled before its first step, a task would leave no record
            await asyncio.sleep(0)
        if not active.recording:
            active.task.cancel()
        await asyncio.gather(active.task, return_exceptions=True)

    def _ensure_stop_watch(self) -> None:
        if self._stop_watch is None or self._stop_watch.done():
            self._stop_watch = asyncio.get_running_loop().create_task(self._watch_stops(), name="stop-watch")

    async def _watch_stops(self) -> None:
        """Act on stop requests other processes leave in the catalog, while firings run here."""
        while self._active:
            await asyncio.sleep(self.stop_poll_s)
            wanted = set(await self.runs.stop_requested())
            for active in list(self._active.values()):
                if active.run_id in wanted:
                    await self._cancel(active, "stopped by the operator (from another process)")


def _count_missed(spec: ScheduleSpec, due: datetime, now: datetime) -> int:
    """Firings from `due` up to `now` (inclusive), counted up to MISSED_COUNT_CAP."""
    count, at = 1, due
    while count < MISSED_COUNT_CAP:
        following = next_run(spec, at)
        if following is None or following > now:
            break
        count, at = count + 1, following
    return count


def _period_type(row: ScheduleRow) -> str:
    """The period the period check uses: the schedule's own, except that a weekly
    schedule on several weekdays counts by day (else Monday's run would skip Thursday's)."""
    if row.type == "weekly" and len(row.config.get("days", ())) > 1:
        return "daily"
    return row.type
