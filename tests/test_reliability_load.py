"""Load: 200 every-minute schedules fire exactly once per due time through the
real scheduler loop (a no-op action, so what is measured is the scheduler's own
bookkeeping), and a million log lines through RunLog and the bus with a slow
subscriber keep memory bounded. The 1M-row catalog lookups are
tests/test_catalog_scale.py; 10M rows are a benchmark (bench/catalog.py), see
docs/reliability.md for the figures."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from collections import Counter
from datetime import timedelta

import pytest
from test_scheduler import START, Rig, SimClock, open_engine

from tapetui.engine import handlers
from tapetui.engine.handlers.base import Action, Firing, Outcome
from tapetui.engine.timeutil import to_db

FIRED: Counter = Counter()


async def _noop(engine, firing: Firing) -> Outcome:  # noqa: ANN001
    FIRED[(firing.schedule.name, firing.now)] += 1
    return Outcome("success", "")


async def _accept(engine, config, template=None):  # noqa: ANN001, ANN201
    return dict(config)




@pytest.fixture
def noop():  # noqa: ANN201
    FIRED.clear()
    with handlers.registered(Action("noop", _noop, _accept)):
        yield


@pytest.mark.slow
@pytest.mark.usefixtures("noop")
async def test_200_every_minute_schedules_fire_exactly_once_each_for_a_day(home) -> None:  # noqa: ANN001
    """200 schedules x 1440 simulated minutes = 288,000 firings, none lost or doubled,
    each recorded as a successful run; the schedules end idle with the next minute due.

    The time per firing is printed (docs/reliability.md has the figures);
    `TAPETUI_LOAD_MINUTES` shortens the simulated span while working on it."""
    clock = SimClock(START)
    engine = await open_engine(home, clock)
    rig = Rig(engine, clock)
    minutes = int(os.environ.get("TAPETUI_LOAD_MINUTES", 1440))
    try:
        for i in range(200):
            await engine.store.execute(
                "INSERT INTO schedules(name, type, config, action, missed_policy, next_run, created_at, "
                "updated_at) VALUES (?, 'interval', ?, 'noop', 'run_once', ?, ?, ?)",
                (f"s{i:03d}", f'{{"every": 1, "unit": "minutes", "start": "{START.isoformat()}"}}',
                 to_db(START + timedelta(minutes=1)), to_db(START), to_db(START)),
            )
        started, cpu = time.perf_counter(), time.process_time()
        await rig.simulate(START + timedelta(minutes=minutes), limit_s=900)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        firings = 200 * minutes
        print(f"\n{firings:,} firings in {elapsed:.1f} s ({cpu:.1f} s CPU): "
              f"{elapsed / firings * 1000:.3f} ms per firing")
        expected = {(f"s{i:03d}", START + timedelta(minutes=m)) for i in range(200) for m in range(1, minutes + 1)}
        assert set(FIRED) == expected and set(FIRED.values()) == {1}
        rows = await engine.store.fetchall("SELECT status, count(*) FROM schedule_runs GROUP BY status")
        assert [tuple(r) for r in rows] == [("success", firings)]
        after = {(r.status, r.last_result, r.next_run) for r in await rig.service.list()}
        assert after == {("idle", "success", START + timedelta(minutes=minutes + 1))}
    finally:
        await rig.scheduler.close()
        await engine.close()


@pytest.mark.usefixtures("noop")
async def test_more_schedules_due_at_once_than_one_statement_takes(home) -> None:  # noqa: ANN001
    """300 schedules due in the same tick on a SQLite that binds at most 999 values
    per statement (older builds; newer ones take 32,766 or 250,000): claimed and
    started in slices, each fired once."""
    clock = SimClock(START)
    engine = await open_engine(home, clock)
    conn = engine.store.conn
    await conn._execute(conn._conn.setlimit, sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)  # its own thread
    rig = Rig(engine, clock)
    count = 300  # 1,800 values to bind for their runs, 300 to claim them
    try:
        await engine.store.executemany(
            "INSERT INTO schedules(name, type, config, action, missed_policy, next_run, created_at, "
            "updated_at) VALUES (?, 'once', ?, 'noop', 'run_once', ?, ?, ?)",
            [(f"o{i:04d}", f'{{"at": "{(START + timedelta(minutes=1)).isoformat()}"}}',
              to_db(START + timedelta(minutes=1)), to_db(START), to_db(START)) for i in range(count)],
        )
        await rig.simulate(START + timedelta(minutes=2))
        assert len(FIRED) == count and set(FIRED.values()) == {1}
        rows = await engine.store.fetchall("SELECT status, count(*) FROM schedule_runs GROUP BY status")
        assert [tuple(r) for r in rows] == [("success", count)]
    finally:
        await rig.scheduler.close()
        await engine.close()


EMIT = """
import asyncio, resource, sys
from datetime import datetime, timezone
from pathlib import Path
from tapetui.engine.store import open_store
from tapetui.engine.bus import Bus
from tapetui.engine.events import LogLine
from tapetui.engine.runlog import RunLog

async def main(count):
    store = await open_store(Path(sys.argv[2]))
    bus = Bus()
    seen = 0
    async def slow(event):
        nonlocal seen
        seen += 1
        await asyncio.sleep(0.001)
    bus.subscribe(slow, LogLine, maxlen=1000)
    run_id = await store.execute(
        "INSERT INTO schedule_runs(schedule_id, schedule_name, action, trigger, status, started_at) "
        "VALUES (NULL, 'load', 'noop', 'manual', 'running', '2026-11-02T00:30:00+00:00')")
    log = RunLog(store, bus, run_id)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for i in range(count):
        log.tool(f"LTFS11031I line {i:07d} of a tool that talks a lot, with some padding to be realistic")
        if i % 500 == 499:
            await asyncio.sleep(0)  # a tool's output arrives from a pipe: the loop gets turns
    await log.flush()
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    stored = await store.scalar("SELECT count(*) FROM run_log_lines WHERE level = 'tool'")
    for (line,) in await store.fetchall("SELECT line FROM run_log_lines WHERE level = 'warning'"):
        stored += int(line.split()[0])  # "N log line(s) were not stored: ..."
    print(grown, stored, seen)
    bus.close()
    await store.close()

asyncio.run(main(int(sys.argv[1])))
"""


def _emit_lines(tmp_path: Path, count: int) -> tuple[int, int, int]:
    """`count` lines through a stored RunLog with a bus subscriber that sleeps on
    every event, in a fresh interpreter; returns (peak RSS growth in KB, lines
    stored or counted as not stored, events the slow subscriber handled)."""
    db = tmp_path / f"lines-{count}.db"
    done = subprocess.run([sys.executable, "-c", EMIT, str(count), str(db)], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent)))
    assert done.returncode == 0, done.stderr
    grown, stored, seen = map(int, done.stdout.split())
    return grown, stored, seen


@pytest.mark.slow
def test_a_million_log_lines_keep_memory_bounded(tmp_path: Path) -> None:
    """Peak memory for 1,000,000 lines stays within a small factor of that for
    100,000: the slow subscriber loses its oldest events (its queue is bounded),
    one batch at a time goes to the database, and lines beyond runlog.MAX_PENDING
    waiting are counted (and the count stored) instead of kept. Before the fix every 500 lines
    started their own write task, and with the database behind, 1M lines peaked
    at 263 MB (tracemalloc) against 26 MB for 100k."""
    small_kb, small_stored, _ = _emit_lines(tmp_path, 100_000)
    big_kb, big_stored, seen = _emit_lines(tmp_path, 1_000_000)
    print(f"\npeak RSS growth: 100k lines {small_kb / 1000:.1f} MB, 1M lines {big_kb / 1000:.1f} MB; "
          f"the slow subscriber handled {seen:,} of 1M events")
    assert (small_stored, big_stored) == (100_000, 1_000_000)  # every line stored or counted
    assert seen < 1_000_000  # the slow subscriber dropped its oldest (its queue is bounded)
    # The bound is set by constants, not by the line count: MAX_PENDING lines waiting plus
    # one batch being written (~25 MB each) and SQLite's 64 MB page cache.
    assert big_kb < 200_000, (small_kb, big_kb)
