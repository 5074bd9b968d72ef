"""The scheduler worker on a simulated clock: every schedule type, the period and
running checks, missed firings, stop, recovery after a dead process."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest

from tapetui.engine import handlers, proc
from tapetui.engine.config import Config
from tapetui.engine.core import Engine
from tapetui.engine.paths import Home
from tapetui.engine.handlers.base import Action, Firing, Outcome
from tapetui.engine.schedule import firings, local_zone, spec_from_dict
from tapetui.engine.run_ends import EndWriter, RunEnd
from tapetui.engine.runlog import RunLog
from tapetui.engine.scheduler import Scheduler
from tapetui.engine.control import LocalControl
from tapetui.engine.store.runs import ended, pid_alive
from tapetui.engine.store.schedules import Released
from tapetui.engine.timeutil import to_db

START = datetime(2026, 11, 2, 0, 30, tzinfo=local_zone())  # a Monday


class SimClock:
    """The engine's clock and the scheduler's sleep: sleeping moves time forward,
    after letting the firings of the current instant finish (they take no time)."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.end: datetime | None = None
        self.scheduler: Scheduler | None = None
        self.reached_end = asyncio.Event()

    def __call__(self) -> datetime:
        return self.now

    async def settle(self) -> None:
        if self.scheduler is not None:
            await self.scheduler.idle()

    async def sleep(self, seconds: float) -> None:
        await self.settle()
        target = self.now + timedelta(seconds=seconds)
        if self.end is not None and target > self.end:
            self.reached_end.set()
            await asyncio.Event().wait()  # the simulation is over: wait to be cancelled
        self.now = target
        await asyncio.sleep(0)


class Probe:
    """A test action: records its calls, can block, run a real command, or fail."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, datetime]] = []
        self.gate = asyncio.Event()
        self.pids: list[int] = []

    async def run(self, engine: Engine, firing: Firing) -> Outcome:
        cfg = firing.schedule.action_config
        self.calls.append((firing.schedule.name, firing.trigger, firing.now))
        firing.log.info("probe ran")
        if cfg.get("block"):
            await asyncio.wait_for(self.gate.wait(), 30)
        if cfg.get("command"):
            def seen(stream: str, line: str) -> None:
                if line.startswith("pid "):
                    self.pids.append(int(line.split()[1]))
                firing.log.tool(line)
            await proc.run(cfg["command"], timeout=60, on_line=seen)
        if cfg.get("fail"):
            raise ValueError("probe exploded")
        return Outcome(cfg.get("status", "success"), "probe done", {"probe": True})


async def _accept(engine: Engine, config: dict[str, Any], template: Any = None) -> dict[str, Any]:
    return dict(config)


PROBE = Probe()


class Rig:
    def __init__(self, engine: Engine, clock: SimClock) -> None:
        self.engine = engine
        self.clock = clock
        self.scheduler = Scheduler(engine, sleep=clock.sleep, max_sleep_s=6 * 3600, stop_poll_s=0.05)
        clock.scheduler = self.scheduler
        self.service = LocalControl(engine, self.scheduler)

    async def simulate(self, until: datetime, *, limit_s: float = 60) -> None:
        """Run the real worker loop until the simulated clock reaches `until`."""
        self.clock.end = until
        self.clock.reached_end.clear()
        await self.scheduler.start()
        await asyncio.wait_for(self.clock.reached_end.wait(), limit_s)
        await self.clock.settle()
        await self.scheduler.close()
        self.scheduler = Scheduler(self.engine, sleep=self.clock.sleep, max_sleep_s=self.scheduler.max_sleep_s,
                                   stop_poll_s=0.05)
        self.clock.scheduler = self.service.scheduler = self.scheduler

    async def runs(self, name: str) -> list[Any]:
        return list(reversed(await self.service.runs.list(schedule_name=name, limit=100_000)))


async def open_engine(home: Home, clock: Any) -> Engine:
    home.ensure()
    home.config_file.touch(mode=0o600)
    return await Engine.open(home, clock=clock, config=Config(path=home.config_file))


@pytest.fixture
async def rig(home):
    global PROBE
    PROBE = Probe()
    clock = SimClock(START)
    engine = await open_engine(home, clock)
    r = Rig(engine, clock)
    with handlers.registered(Action("probe", lambda e, f: PROBE.run(e, f), _accept)):
        yield r
        await r.scheduler.close()
    await engine.close()


async def _check_firings(rig: Rig, end: datetime) -> None:
    for row in await rig.service.list():
        spec = spec_from_dict(row.type, row.config)
        runs = await rig.runs(row.name)
        assert [r.started_at for r in runs] == firings(spec, START, end), row.name
        assert {r.status for r in runs} == {"success"}, row.name
        assert all(r.trigger == "auto" for r in runs)


async def test_every_type_fires_exactly_at_its_times(rig: Rig) -> None:
    kinds = {
        "o": ("once", "2026-11-20 13:15"),
        "i": ("every", "7h"),
        "d": ("daily", "02:00"),
        "w": ("weekly", "mon,thu 03:00"),
        "c": ("cron", "30 */8 * * 1-5"),
    }
    for name, (kind, when) in kinds.items():
        await rig.service.add(name, kind=kind, when=when, action="probe")
    end = START + timedelta(days=40)
    await rig.simulate(end)
    await _check_firings(rig, end)
    once = await rig.service.get("o")
    assert once.next_run is None and once.last_result == "success"


async def test_month_ends_and_leap_years(rig: Rig) -> None:
    rig.scheduler.max_sleep_s = 40 * 86400
    await rig.service.add("m", kind="monthly", when="31 04:00", action="probe")
    await rig.service.add("y", kind="yearly", when="02-29 05:00", action="probe")
    end = START + timedelta(days=800)  # takes in a leap day (2028-02-29)
    await rig.simulate(end)
    await _check_firings(rig, end)
    yearly = [r.started_at.astimezone(local_zone()) for r in await rig.runs("y")]
    assert [(t.year, t.month, t.day) for t in yearly] == [(2027, 2, 28), (2028, 2, 29)]
    monthly = [r.started_at.astimezone(local_zone()).day for r in await rig.runs("m")][:4]
    assert monthly == [30, 31, 31, 28]  # Nov, Dec, Jan, Feb: the last day of shorter months


async def test_schedule_rows_keep_their_state(rig: Rig) -> None:
    await rig.service.add("d", kind="daily", when="02:00", action="probe", action_config={"status": "warning"})
    row = await rig.service.get("d")
    assert row.status == "idle" and row.last_run is None
    assert row.next_run == START.replace(hour=2, minute=0)
    await rig.simulate(START + timedelta(hours=3))
    row = await rig.service.get("d")
    assert row.last_run == START.replace(hour=2, minute=0) == row.last_success
    assert row.last_result == "warning" and row.status == "idle"
    assert row.next_run == START.replace(hour=2, minute=0) + timedelta(days=1)
    (run,) = await rig.runs("d")
    assert run.result == {"probe": True} and run.finished_at is not None
    lines = [ln.line for ln in await rig.service.runs.lines(run.id)]
    assert "probe ran" in lines and lines[-1] == "warning: probe done"


async def test_period_check_skips_an_automatic_firing_after_a_manual_success(rig: Rig) -> None:
    await rig.service.add("d", kind="daily", when="02:00", action="probe")
    manual = await rig.service.run_now("d", wait=True)  # 00:30, same day
    assert manual.status == "success" and manual.trigger == "manual"
    await rig.simulate(START + timedelta(days=1, hours=3))
    runs = await rig.runs("d")
    assert [(r.trigger, r.status) for r in runs] == [("manual", "success"), ("auto", "skipped"), ("auto", "success")]
    assert runs[1].message.startswith("already succeeded this day")
    assert len(PROBE.calls) == 2
    assert (await rig.service.get("d")).last_result == "success"


async def test_manual_run_bypasses_the_period_check(rig: Rig) -> None:
    rig.clock.now = START.replace(day=1, hour=0, minute=0)
    await rig.service.add("m", kind="monthly", when="1 00:10", action="probe")
    await rig.simulate(START.replace(day=1, hour=1))
    rig.clock.now = START.replace(day=1, hour=9)
    again = await rig.service.run_now("m", wait=True)
    assert again.status == "success" and [c[1] for c in PROBE.calls] == ["auto", "manual"]


async def test_a_weekly_schedule_on_two_days_runs_on_both(rig: Rig) -> None:
    await rig.service.add("w", kind="weekly", when="mon,thu 03:00", action="probe")
    await rig.simulate(START + timedelta(days=7))
    assert [r.status for r in await rig.runs("w")] == ["success", "success"]


async def test_running_check_skips_automatic_and_manual_firings(rig: Rig) -> None:
    await rig.service.add("slow", kind="every", when="1m", action="probe", action_config={"block": True})
    rig.clock.now += timedelta(minutes=1)
    (first,) = await rig.scheduler.tick(rig.clock.now)
    await asyncio.sleep(0.01)
    rig.clock.now += timedelta(minutes=1)
    (second,) = await rig.scheduler.tick(rig.clock.now)
    manual = await rig.service.run_now("slow")
    skipped = [await rig.service.runs.get(i) for i in (second, manual.id)]
    assert [(r.trigger, r.status) for r in skipped] == [("auto", "skipped"), ("manual", "skipped")]
    assert all(r.message == f"already running (run #{first})" for r in skipped)
    assert (await rig.service.get("slow")).status == "running"
    PROBE.gate.set()
    await rig.scheduler.wait(first)
    assert (await rig.service.runs.get(first)).status == "success"
    assert len(PROBE.calls) == 1
    assert (await rig.service.get("slow")).status == "idle"


@pytest.mark.parametrize("policy", ["run_once", "skip"])
async def test_missed_firings_after_downtime(rig: Rig, policy: str) -> None:
    await rig.service.add("d", kind="daily", when="02:00", action="probe", missed_policy=policy)
    back = START + timedelta(days=3, hours=5)  # the scheduler was off for four 02:00s
    rig.clock.now = back
    await rig.simulate(back + timedelta(minutes=1))
    (run,) = await rig.runs("d")
    assert run.started_at == back
    lines = [ln.line for ln in await rig.service.runs.lines(run.id)]
    if policy == "run_once":
        assert run.status == "success" and len(PROBE.calls) == 1
        assert lines[0].startswith("4 firing(s) missed since") and "running once now" in lines[0]
    else:
        assert run.status == "skipped" and not PROBE.calls
        assert run.message.startswith("4 firing(s) missed since") and "missed policy: skip" in run.message
        assert run.result["missed"] == 4
    row = await rig.service.get("d")
    assert row.next_run == START.replace(hour=2, minute=0) + timedelta(days=4)


async def test_missed_policy_default_comes_from_the_config(rig: Rig) -> None:
    rig.engine.config.scheduler.missed_policy = "skip"
    saved = await rig.service.add("d", kind="daily", when="02:00", action="probe")
    assert saved.schedule.missed_policy == "skip"


async def test_stop_kills_the_running_command_and_records_cancelled(rig: Rig) -> None:
    script = "import os, time; print('pid', os.getpid(), flush=True); time.sleep(60)"
    await rig.service.add("s", kind="daily", when="23:00", action="probe",
                          action_config={"command": [sys.executable, "-c", script]})
    run = await rig.service.run_now("s")
    for _ in range(500):
        if PROBE.pids:
            break
        await asyncio.sleep(0.01)
    (pid,) = PROBE.pids
    assert pid_alive(pid)
    stopped = await rig.service.stop("s")
    assert stopped.id == run.id and stopped.status == "cancelled"
    assert stopped.message == "stopped by the operator"
    assert not pid_alive(pid)
    row = await rig.service.get("s")
    assert row.status == "idle" and row.last_result == "cancelled" and row.last_success is None
    lines = [ln.line for ln in await rig.service.runs.lines(run.id)]
    assert f"pid {pid}" in lines and lines[-1] == "cancelled: stopped by the operator"
    assert await rig.service.stop("s") is None  # nothing runs now


async def test_a_stop_while_the_end_is_being_recorded_waits_for_it(rig: Rig) -> None:
    """Once the action is over, a stop must not cut the bookkeeping short: the run
    keeps its real outcome, and the stop returns when the end is stored."""
    await rig.service.add("s", kind="daily", when="23:00", action="probe")
    row = await rig.service.get("s")
    async with rig.engine.store.transaction():  # hold the database: the end cannot be stored yet
        run_id = await rig.scheduler.run_now(row.id)
        while not PROBE.calls:
            await asyncio.sleep(0.01)
        stopping = asyncio.ensure_future(rig.scheduler.stop(row.id))
        await asyncio.sleep(0.05)
        assert not stopping.done()  # waiting for the end, not cancelling it
    assert await asyncio.wait_for(stopping, 10) == run_id
    run = await rig.service.runs.get(run_id)
    assert (run.status, run.message) == ("success", "probe done")
    assert (await rig.service.get("s")).status == "idle"


async def test_a_stop_request_from_another_process_is_honoured(rig: Rig) -> None:
    await rig.service.add("b", kind="daily", when="23:00", action="probe", action_config={"block": True})
    run = await rig.service.run_now("b")
    await rig.service.runs.request_stop(run.id)  # what `schedule stop` in another process leaves
    await asyncio.wait_for(rig.scheduler.wait(run.id), 10)
    done = await rig.service.runs.get(run.id)
    assert done.status == "cancelled" and "another process" in done.message


async def test_a_failing_handler_fails_the_run_not_the_scheduler(rig: Rig) -> None:
    await rig.service.add("f", kind="every", when="1h", action="probe", action_config={"fail": True})
    await rig.simulate(START + timedelta(hours=2, minutes=30))
    runs = await rig.runs("f")
    assert [r.status for r in runs] == ["failed", "failed"]
    assert runs[0].message == "internal error: ValueError: probe exploded"


async def test_runs_left_by_a_dead_process_become_interrupted(rig: Rig) -> None:
    saved = await rig.service.add("d", kind="daily", when="02:00", action="probe")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    await rig.scheduler.schedules.claim([saved.schedule.id])
    run_id = await rig.engine.store.execute(
        "INSERT INTO schedule_runs(schedule_id, schedule_name, action, trigger, status, started_at, pid) "
        "VALUES (?, 'd', 'probe', 'auto', 'running', ?, ?)", (saved.schedule.id, to_db(START), dead.pid))
    mine = await rig.engine.store.execute(
        "INSERT INTO schedule_runs(schedule_id, schedule_name, action, trigger, status, started_at, pid) "
        "VALUES (NULL, 'x', 'probe', 'auto', 'running', ?, ?)", (to_db(START), os.getpid()))
    await rig.scheduler.recover()
    assert (await rig.service.runs.get(run_id)).status == "interrupted"
    assert (await rig.service.runs.get(mine)).status == "running"  # a live process keeps its run
    assert (await rig.service.get("d")).status == "idle"


async def test_changes_wake_the_sleeping_worker(rig: Rig) -> None:
    real = Scheduler(rig.engine, max_sleep_s=3600)  # real sleep: only a wake can make it fire
    await real.start()
    try:
        await asyncio.sleep(0.05)
        rig.clock.now += timedelta(minutes=1)
        await rig.service.add("soon", kind="once", when=f"{START + timedelta(minutes=2):%Y-%m-%d %H:%M}",
                              action="probe")
        await asyncio.sleep(0.2)  # the worker has seen it: not due for a (real) minute, it sleeps
        assert not PROBE.calls
        rig.clock.now += timedelta(minutes=5)  # due now, but nothing tells the sleeping worker ...
        await asyncio.sleep(0.2)
        assert not PROBE.calls
        await rig.service.add("later", kind="once", when=f"{START + timedelta(days=1):%Y-%m-%d %H:%M}",
                              action="probe")  # ... until any change publishes SchedulesChanged
        for _ in range(500):
            if PROBE.calls:
                break
            await asyncio.sleep(0.01)
        assert [c[0] for c in PROBE.calls] == ["soon"]
    finally:
        await real.close()


async def test_many_schedules_fire_exactly_once_per_due_time(rig: Rig) -> None:
    """200 every-minute schedules through simulated minutes: no firing lost or doubled.

    (Five minutes, not a day: each firing costs a few catalog writes, and 288,000
    of them would take minutes of real time.)"""
    for i in range(200):
        await rig.engine.store.execute(
            "INSERT INTO schedules(name, type, config, action, missed_policy, next_run, created_at, updated_at) "
            "VALUES (?, 'interval', ?, 'probe', 'run_once', ?, ?, ?)",
            (f"s{i:03d}", f'{{"every": 1, "unit": "minutes", "start": "{START.isoformat()}"}}',
             to_db(START + timedelta(minutes=1)), to_db(START), to_db(START)),
        )
    end = START + timedelta(minutes=5)
    await rig.simulate(end)
    counts = Counter((name, when) for name, _, when in PROBE.calls)
    assert len(counts) == 200 * 5 and set(counts.values()) == {1}
    statuses = await rig.engine.store.fetchall("SELECT status, count(*) FROM schedule_runs GROUP BY status")
    assert [tuple(r) for r in statuses] == [("success", 1000)]


# --- the tick's and the ends' writes fail as a whole, never half ----------------------


async def test_a_tick_that_cannot_be_written_moves_nothing_and_the_next_fires_all(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in "xyz":
        await rig.service.add(name, kind="daily", when="23:00", action="probe")
    await rig.engine.store.execute("UPDATE schedules SET next_run = ?", (to_db(START),))

    async def locked(ids: Any) -> set[int]:
        raise sqlite3.OperationalError("database is locked")

    with monkeypatch.context() as m:  # the database is busy for this one tick
        m.setattr(rig.scheduler.schedules, "claim", locked)
        with pytest.raises(sqlite3.OperationalError):
            await rig.scheduler.tick(START + timedelta(seconds=5))
    assert {r.next_run for r in await rig.service.list()} == {START}  # nothing moved
    assert len(await rig.scheduler.tick(START + timedelta(seconds=65))) == 3
    await rig.scheduler.idle()
    for name in "xyz":
        assert [r.status for r in await rig.runs(name)] == ["success"]
        assert (await rig.service.get(name)).status == "idle"


async def test_an_end_that_cannot_be_stored_fails_alone(rig: Rig) -> None:
    """Ends written together fall back to one transaction each when the batch fails."""
    writer, runs = EndWriter(rig.engine.store), rig.scheduler.runs
    names = ("a", "b", "c")
    for name in names:
        await rig.service.add(name, kind="daily", when="23:00", action="probe")
    rows = [await rig.service.get(name) for name in names]
    async with rig.engine.store.transaction():
        await rig.scheduler.schedules.claim([r.id for r in rows])
        started = await runs.start_many(rows, trigger="manual", at=START)
    ends = []
    for row in rows:
        run_id = started[row.id]
        log = RunLog(rig.engine.store, rig.engine.bus, run_id)
        log.info(f"end of {row.name}")
        end = ended(run_id, status="success", message="done", at=START)
        if row.name == "b":  # a value SQLite cannot bind
            end = (end[0], object(), *end[2:])
        ends.append(RunEnd(log, end, Released(row.id, START, "success", True)))
    results = await asyncio.wait_for(asyncio.gather(*(writer.write(e) for e in ends), return_exceptions=True), 10)
    assert results[0] is None and results[2] is None and isinstance(results[1], sqlite3.Error)
    for row, name in zip(rows, names):
        run = await runs.get(started[row.id])
        lines = [ln.line for ln in await runs.lines(run.id)]
        if name == "b":
            assert (run.status, lines) == ("running", [])
        else:
            assert (run.status, lines) == ("success", [f"end of {name}"])
            assert (await rig.service.get(name)).status == "idle"


async def test_a_line_with_an_undecodable_file_name_is_stored_escaped(rig: Rig) -> None:
    async def odd(engine: Engine, firing: Firing) -> Outcome:
        firing.log.warning("skipped special file /data/caf\udce9")  # os.fsdecode(b"/data/caf\xe9")
        return Outcome("success", "ok")

    with handlers.registered(Action("odd", odd, _accept)):
        await rig.service.add("o", kind="daily", when="23:00", action="odd")
        run_id = await rig.scheduler.run_now((await rig.service.get("o")).id)
        await rig.scheduler.idle()
    run = await rig.service.runs.get(run_id)
    assert run.status == "success"
    # the byte as people read it (names.shown), as `ls`, the console and the tape's name say it
    assert "skipped special file /data/caf\\xe9" in [ln.line for ln in await rig.service.runs.lines(run_id)]


async def test_an_action_ending_with_an_unknown_status_is_recorded_failed(rig: Rig) -> None:
    await rig.service.add("w", kind="daily", when="23:00", action="probe", action_config={"status": "weird"})
    run_id = await rig.scheduler.run_now((await rig.service.get("w")).id)
    await rig.scheduler.idle()
    run = await rig.service.runs.get(run_id)
    assert (run.status, run.message) == ("failed", "internal error: the action ended with status 'weird'")
    assert (await rig.service.get("w")).status == "idle"


async def test_a_waiter_that_gives_up_does_not_stop_the_firing(rig: Rig) -> None:
    await rig.service.add("b", kind="daily", when="23:00", action="probe", action_config={"block": True})
    run_id = await rig.scheduler.run_now((await rig.service.get("b")).id)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(rig.scheduler.wait(run_id), 0.05)
    assert (await rig.service.runs.get(run_id)).status == "running"
    PROBE.gate.set()
    await asyncio.wait_for(rig.scheduler.wait(run_id), 10)
    assert (await rig.service.runs.get(run_id)).status == "success"


async def test_a_refused_second_firing_does_not_hide_the_running_one(rig: Rig) -> None:
    """Issue 16 item 12: 'skipped' (the running check) is not the last result of a
    schedule still running; the run's own end is."""
    await rig.service.add("slow", kind="every", when="1m", action="probe", action_config={"block": True})
    first = await rig.service.run_now("slow")
    assert (await rig.service.run_now("slow")).status == "skipped"
    row = await rig.service.get("slow")
    assert (row.status, row.last_result) == ("running", None)
    PROBE.gate.set()
    await rig.scheduler.wait(first.id)
    assert (await rig.service.get("slow")).last_result == "success"
    rig.clock.now += timedelta(days=1)  # a skip of an idle schedule is still its last result
    await rig.service.schedules.note_skipped(row.id)
    assert (await rig.service.get("slow")).last_result == "skipped"
