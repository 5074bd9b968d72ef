"""The demo: its history is placed relative to "now", so opening it fires nothing."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from hypothesis import given, strategies as st
from textual.widgets import DataTable

from tapetui.console.app import TapetuiApp, make_app
from tapetui.console.dialogs.confirm import ConfirmScreen
from tapetui.console.fmt import when_fit
from tapetui.engine.demo import WATCHABLE, history, seed_demo
from tapetui.engine.paths import Home

ZONES = st.sampled_from([timezone.utc, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5))])


@given(st.datetimes(datetime(2001, 1, 1), datetime(2090, 12, 31)), ZONES)
def test_history_is_the_last_two_months_up_to_last_night(naive: datetime, zone: timezone) -> None:
    now = naive.replace(tzinfo=zone)
    fired = history(now)
    times = [at for at, _ in fired]
    assert [name for _, name in fired] == ["monthly-full", "weekly-diff"] * 2 + ["nightly-incr"] * 2
    assert times == sorted(set(times)) and times[-1] < now
    assert now - times[0] <= timedelta(days=75)
    assert times[-1].date() == (now - timedelta(days=1)).date() and times[-1].hour == 22
    for full, diff in (fired[0:2], fired[2:4]):
        assert (full[0].day, full[0].hour) == (1, 1)
        assert diff[0].weekday() == 6 and diff[0] - full[0] < timedelta(days=9)
    assert (times[2].year * 12 + times[2].month) - (times[0].year * 12 + times[0].month) == 1


async def until(pilot, cond, timeout: float = 15) -> None:  # noqa: ANN001
    async def poll() -> None:
        while not cond():
            await pilot.pause(0.05)
    await asyncio.wait_for(poll(), timeout)


class Ticking:
    """A clock that starts at a fixed moment and runs at real speed."""

    def __init__(self, start: datetime) -> None:
        self.start, self.t0 = start, time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.t0)


async def test_opening_the_demo_fires_nothing_and_shows_the_history(tmp_path: Path) -> None:
    now = datetime(2031, 3, 15, 14, 0, tzinfo=timezone.utc)  # far from DEMO_NOW: nothing is fixed to it
    home = Home.single(tmp_path / "home")
    await seed_demo(home, tmp_path / "data", now=now, watchable=True, mail_files=20)
    assert all(f"{key} = {value}" in home.config_file.read_text() for key, value in WATCHABLE.items())
    clock = Ticking(now + timedelta(seconds=5))  # opened a few seconds after seeding
    app = make_app(home, clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        assert isinstance(app, TapetuiApp)
        await asyncio.wait_for(app.ready.wait(), 15)
        await pilot.pause(1.0)  # the scheduler's first tick has run
        assert await app.session.control.scheduler.tick(clock()) == []
        assert not app.live.state.running
        runs = await app.service.run_list()
        assert len(runs) == 6 and {r.status for r in runs} <= {"success", "warning"}
        assert all(r.next_run is None or r.next_run > clock() for r in await app.service.list())

        await pilot.press("2")
        await asyncio.wait_for(app.workers.wait_for_complete(), 15)
        await pilot.pause()
        table = app.screen.query_one("#runs", DataTable)
        assert table.row_count == 6
        last_night = when_fit(datetime(2031, 3, 14, 22, 0, tzinfo=timezone.utc)).short  # 80 columns: no year
        assert last_night in table.get_row_at(0)  # the newest: last night's incremental
        await pilot.press("3")
        await asyncio.wait_for(app.workers.wait_for_complete(), 15)
        await pilot.pause()
        assert app.screen.query_one("#sets", DataTable).row_count == 6

        # run now of a full backup: the library's blank cartridge takes it, so nothing is
        # at risk; on the loaded cartridge (policy 'loaded') the console says which sets
        # its format would destroy, and "no" runs nothing
        assert await app.service.format_risk("monthly-full") is None
        await app.service.edit("monthly-full", settings={"cartridge_policy": "loaded"})
        await pilot.press("1")
        await asyncio.wait_for(app.workers.wait_for_complete(), 15)
        table = app.screen.query_one("#schedules", DataTable)
        table.move_cursor(row=table.get_row_index("monthly-full"))
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        body = str(app.screen.query_one("#confirm-body").render())
        assert "DESTROYS 4 backup set(s)" in body and "TPA002L8" in body
        await pilot.press("n")
        await asyncio.wait_for(app.workers.wait_for_complete(), 15)
        assert len(await app.service.run_list()) == 6

        # the columns fit 80 columns (the next run without its year); a wider terminal
        # shows it whole and gives the rest to the last column
        table = app.screen.query_one("#schedules", DataTable)
        narrow = [c.width for c in table.columns.values()]
        assert sum(w + 2 for w in narrow) == 80 - 2
        await pilot.resize_terminal(120, 30)
        await pilot.pause()
        wide = [c.width for c in table.columns.values()]
        assert sum(w + 2 for w in wide) == 120 - 2 and wide[1] == len("2031-03-15 03:00") > narrow[1]
        assert table.row_count == 5 and "every Sunday 03:00" in table.get_row("weekly-diff")
