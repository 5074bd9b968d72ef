"""Run records and their log lines: live follow, replay, skipped records, pruning."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tapetui.engine.events import LogLine as LogEvent
from tapetui.engine.runlog import RunLog
from test_scheduler import START, Rig, rig  # noqa: F401 - the fixture


async def test_follow_replays_then_streams_until_the_run_ends(rig: Rig) -> None:  # noqa: F811
    runs = rig.service.runs
    run_id = await runs.start(schedule_id=None, schedule_name="x", action="probe", trigger="manual", at=START)
    live: list[str] = []
    sub = rig.engine.bus.subscribe(lambda e: live.append(e.text), LogEvent)
    log = RunLog(rig.engine.store, rig.engine.bus, run_id)
    log.info("before")
    await log.flush()
    seen: list[str] = []

    async def follow() -> None:
        async for line in runs.follow(run_id, poll_s=0.01):
            seen.append(line.line)

    task = asyncio.ensure_future(follow())
    await asyncio.sleep(0.05)
    log.info("during")
    log.warning("careful")
    await log.flush()
    await asyncio.sleep(0.05)
    await runs.finish(run_id, status="success", message="done", at=START + timedelta(seconds=5))
    await asyncio.wait_for(task, 5)
    await rig.engine.bus.drain()
    sub.close()
    assert seen == ["before", "during", "careful"] == live
    assert [ln.level for ln in await runs.lines(run_id)] == ["info", "info", "warning"]
    assert (await runs.get(run_id)).finished_at == START + timedelta(seconds=5)


async def test_a_skipped_firing_is_one_finished_record(rig: Rig) -> None:  # noqa: F811
    run_id = await rig.service.runs.record(schedule_id=None, schedule_name="x", action="probe", trigger="auto",
                                           at=START, status="skipped", message="already running (run #1)")
    run = await rig.service.runs.get(run_id)
    assert (run.status, run.started_at, run.finished_at, run.message) == (
        "skipped", START, START, "already running (run #1)")


async def test_prune_keeps_running_and_recent_runs(rig: Rig) -> None:  # noqa: F811
    runs = rig.service.runs
    old_done = await runs.record(schedule_id=None, schedule_name="a", action="probe", trigger="auto",
                                 at=START - timedelta(days=90), status="success", message="")
    old_running = await runs.start(schedule_id=None, schedule_name="b", action="probe", trigger="auto",
                                   at=START - timedelta(days=90))
    recent = await runs.record(schedule_id=None, schedule_name="c", action="probe", trigger="auto",
                               at=START, status="success", message="")
    assert await runs.prune(START - timedelta(days=30)) == (1, 0)
    assert [r.id for r in await runs.list()] == [recent, old_running]
    assert old_done not in [r.id for r in await runs.list()]
