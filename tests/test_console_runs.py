"""The Runs screen and what watching a run needs (issue 16, items 1-6): stopping
asks first, a run started here is the one shown, the log wraps, goes full screen
and searches, interrupted runs say what ended them, an attached console shows
progress, a running run shows its files and size so far. Pilot at 80x24 on a real
engine (sim library, real files, real SQLite)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from daemon_support import (
    ROOT,
    Daemon,
    atapetui,
    db_rows,
    env,
    make_home,
    tapetui,
    write_tree,
)
from test_console_flows import (
    SIZE,
    new_app,
    settle,
    slow_backup_started,
    source_tree,
    started,
    until,
)

from tapetui.console.app import make_app
from tapetui.console.dialogs.confirm import ConfirmScreen
from tapetui.console.widgets.log_view import LiveLog
from tapetui.console.widgets.status_line import StatusLine
from tapetui.engine import events as ev
from tapetui.engine.paths import Home


def body(app) -> str:  # the running app's dialog
    return str(app.screen.query_one("#confirm-body").render())


# -- item 1: stopping asks first ---------------------------------------------------------
async def test_s_on_schedules_asks_naming_the_run_its_progress_and_the_incomplete_set(tmp_path: Path) -> None:
    big = source_tree(tmp_path / "big", files=8, size=2_000_000)  # 16 MB at 1 MB/s: still running
    async with new_app(tmp_path, throughput_mb_s=1).run_test(size=SIZE) as pilot:
        app = await slow_backup_started(pilot, big)
        await until(pilot, lambda: any(p.bytes_done for p in app.live.state.progress.values()))
        [run] = await app.service.run_list()
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        text = body(app)
        assert f"Stop run #{run.id} of 'slow' (backup" in text
        assert "So far: writing: " in text and " of 16.0 MB (" in text
        [backup_set] = await app.engine.sets.all()
        assert f"Backup set #{backup_set.id} (full) on TPA001L8 stays incomplete" in text
        await pilot.press("enter")  # No has the focus
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        await pilot.pause(0.3)
        assert (await app.service.runs.get(run.id)).status == "running"

        await pilot.press("ctrl+p")  # the palette's Stop asks too
        await pilot.pause()
        await pilot.press(*"Schedules: Stop", "enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert f"Stop run #{run.id}" in body(app)
        await pilot.press("y")
        await until(pilot, lambda: not app.live.state.running)
        assert (await app.service.runs.get(run.id)).status == "cancelled"
        await pilot.press("2")
        await settle(pilot)
        assert app.screen.query_one("#runs").get_row(str(run.id))[-1] == "TPA001L8"  # its set's, stopped or not


async def test_s_on_a_schedule_that_is_not_running_says_so_without_asking(tmp_path: Path) -> None:
    async with new_app(tmp_path).run_test(size=SIZE) as pilot:
        app = await slow_backup_started(pilot, source_tree(tmp_path / "src", files=2))
        await until(pilot, lambda: not app.live.state.running)
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert any("slow: not running" in str(n.message) for n in app._notifications)


# -- item 2: run now, then 2 shows the new run ---------------------------------------------
async def test_runs_opens_on_the_run_just_started_here_not_the_one_shown_before(tmp_path: Path) -> None:
    async with new_app(tmp_path).run_test(size=SIZE) as pilot:
        app = await slow_backup_started(pilot, source_tree(tmp_path / "src", files=2))
        await until(pilot, lambda: not app.live.state.running)
        await app.service.add("other", kind="daily", when="02:00", action="health_check")
        other = await app.service.run_now("other", wait=True)
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("down")  # the operator looks at the older run
        await settle(pilot)
        older = app.screen.shown_run
        assert older != other.id
        await pilot.press("1")
        await settle(pilot)
        table = app.screen.query_one("#schedules")
        table.move_cursor(row=table.get_row_index("other"))
        await pilot.press("r")
        await settle(pilot)
        [new, *_] = await app.service.run_list()
        await pilot.press("2")
        await settle(pilot)
        runs = app.screen
        await until(pilot, lambda: runs.shown_run == new.id)
        assert runs.query_one("#runs").coordinate_to_cell_key((runs.query_one("#runs").cursor_row, 0)).row_key.value \
            == str(new.id)
        await until(pilot, lambda: f"run #{new.id} other" in (runs.query_one(LiveLog).border_title or ""))


# -- item 6: a running run's files and size so far, Took, and an ETA only once the rate is known
async def test_a_running_row_shows_its_files_and_size_so_far_and_took_at_80_columns(tmp_path: Path) -> None:
    big = source_tree(tmp_path / "big", files=8, size=2_000_000)  # 16 MB at 2 MB/s
    async with new_app(tmp_path, throughput_mb_s=2).run_test(size=SIZE) as pilot:
        app = await slow_backup_started(pilot, big)
        await pilot.press("2")
        await settle(pilot)
        table = app.screen.query_one("#runs")
        assert [str(c.label) for c in table.columns.values()] == [
            "#", "Schedule", "Status", "Started", "Took", "Files", "Size", "Cartridge"]
        [run] = await app.service.run_list()

        def cells() -> dict[str, str]:
            return dict(zip((str(k.value) for k in table.columns), map(str, table.get_row(str(run.id)))))
        await until(pilot, lambda: cells()["Size"].endswith("MB") and cells()["Files"] not in ("-", "…"))
        p = app.live.state.progress[run.id]
        assert cells()["Size"] != "-" and p.bytes_done > 0
        assert cells()["Took"].endswith("s") and cells()["Status"] == "running"
        await until(pilot, lambda: not app.live.state.running, timeout=30)
        await until(pilot, lambda: cells()["Status"] == "success")
        assert cells()["Size"] == "16.0MB" and cells()["Files"] == "8"  # narrow: no space


class Collected:
    """A run log that keeps the progress it is given."""

    def __init__(self) -> None:
        self.events: list[dict] = []

    def progress(self, **fields) -> None:
        self.events.append(fields)


async def test_the_first_eta_waits_until_the_rate_is_known() -> None:
    from tapetui.engine.backup.progress import RATE_KNOWN_S, Ticker

    now = [100.0]
    done = [0]
    log = Collected()
    ticker = Ticker(log, "writing", lambda: (0, 10, done[0], 10_000_000, ""), clock=lambda: now[0])
    try:
        for t, moved in ((0, 0), (5, 0), (5.25, 50_000), (6, 1_000_000), (5.25 + RATE_KNOWN_S, 2_000_000)):
            now[0], done[0] = 100 + t, moved
            ticker.publish()
        etas = [e["eta_s"] for e in log.events]
        assert etas[:4] == [None] * 4  # nothing moved yet; a start-up that took 5 s is not the pace
        rate = (2_000_000 - 50_000) / RATE_KNOWN_S
        assert log.events[-1]["rate_bps"] == rate and etas[-1] == (10_000_000 - 2_000_000) / rate
    finally:
        ticker.stop()


# -- item 4: an interrupted run says what ended it ------------------------------------------
def killed_while_writing(home: Path, schedule: str) -> int:
    """`schedule run SCHEDULE --wait`, SIGKILLed once its set is on a cartridge; its pid."""
    child = subprocess.Popen([sys.executable, "-m", "tapetui", "--home", str(home), "schedule", "run", schedule,
                              "--wait"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env(), cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while not db_rows(home, "SELECT 1 FROM set_cartridges"):
            assert time.monotonic() < deadline and child.poll() is None, "the backup never wrote"
            time.sleep(0.1)
    finally:
        child.kill()
        child.wait(timeout=10)
    return child.pid


async def test_a_killed_backup_is_reported_interrupted_with_its_pid_set_and_cartridge(tmp_path: Path) -> None:
    home = make_home(tmp_path)  # 4 MB/s: 20 MB take a while
    src = tmp_path / "src"
    write_tree(src, big_mb=20)
    assert tapetui(home, "schedule", "add", "nightly", "--daily", "23:00", "--action", "backup", "--level", "full",
                   "--source", str(src)).returncode == 0
    pid = killed_while_writing(home, "nightly")
    [(run_id, set_id)] = db_rows(home, "SELECT id, set_id FROM schedule_runs")

    async with make_app(Home.single(home), first_screen="runs").run_test(size=SIZE) as pilot:
        app = await started(pilot)
        table = app.screen.query_one("#runs")
        await until(pilot, lambda: str(run_id) in [str(k.value) for k in table.rows])
        cells = dict(zip((str(k.value) for k in table.columns), map(str, table.get_row(str(run_id)))))
        assert (cells["Status"], cells["Cartridge"]) == ("interrupted", "TPA001L8")
        log = app.screen.query_one(LiveLog)
        await until(pilot, lambda: "interrupted" in (log.border_title or "") and log.lines)
        ended = f"the process running it ended before it finished (pid {pid}, at "
        assert log.lines[-1].startswith(f"[error] {ended}")
        assert log.lines[-1].endswith(f"; set {set_id} left incomplete")
        await pilot.press("1")
        await settle(pilot)
        assert app.screen.query_one("#schedules").get_row("nightly")[2] == "interrupted"
    run = db_rows(home, "SELECT message FROM schedule_runs WHERE id = ?", run_id)[0][0]
    assert run.startswith(ended)


# -- item 5: a console attaching mid-run shows its progress; daemon status counts consoles --
def attached_clients(home: Path) -> int:
    status = tapetui(home, "daemon", "status", "--json")
    assert status.returncode == 0, status.stderr
    return json.loads(status.stdout)["clients"]


async def test_a_console_attaching_mid_run_shows_its_progress_and_status_counts_only_consoles(
        tmp_path: Path) -> None:
    daemon = Daemon(make_home(tmp_path))
    src = tmp_path / "src"
    write_tree(src, big_mb=30)  # 30 MB at 4 MB/s
    try:
        daemon.start()
        home = daemon.home
        assert attached_clients(home) == 0  # the asking command is not a client
        assert (await atapetui(home, "schedule", "add", "nightly", "--daily", "23:00", "--action", "backup",
                               "--level", "full", "--source", str(src))).returncode == 0
        assert (await atapetui(home, "schedule", "run", "nightly")).returncode == 0
        deadline = time.monotonic() + 30
        while not db_rows(home, "SELECT 1 FROM set_cartridges"):  # writing by now
            assert time.monotonic() < deadline, daemon.errors()
            await asyncio.sleep(0.1)
        app = make_app(home)
        async with app.run_test(size=SIZE) as pilot:
            await asyncio.wait_for(app.ready.wait(), 30)
            assert app.session is not None and app.session.mode == "attached"
            line = app.screen.query_one(StatusLine)
            await until(pilot, lambda: re.search(r"▶ nightly writing \d+%", str(line.render())), timeout=30)
            assert await asyncio.to_thread(attached_clients, home) == 1
            await until(pilot, lambda: not app.live.state.running, timeout=60)
            await until(pilot, lambda: "▶" not in str(line.render()))  # its end came live too
    finally:
        daemon.stop()


# -- item 3: the log wraps, goes full screen, and searches ---------------------------------
def on_screen(log: LiveLog) -> str:
    """The log's rows as drawn, each cut of its padding, joined."""
    return "".join("".join(seg.text for seg in log.render_line(y)).rstrip() for y in range(log.size.height))


async def test_the_log_wraps_long_lines_goes_full_screen_and_searches(tmp_path: Path) -> None:
    async with new_app(tmp_path).run_test(size=SIZE) as pilot:
        app = await slow_backup_started(pilot, source_tree(tmp_path / "src", files=2))
        await until(pilot, lambda: not app.live.state.running)
        await pilot.press("2")
        await settle(pilot)
        runs, log = app.screen, app.screen.query_one(LiveLog)
        await until(pilot, lambda: "success" in (log.border_title or ""))
        deep = "/deep" * 30 + "/budget.csv"  # 161 characters: twice the width
        app.engine.bus.publish(ev.LogLine(run_id=runs.shown_run, level="warning", text=f"cannot-read:{deep}"))
        await until(pilot, lambda: log.lines and log.lines[-1].endswith(deep))
        await pilot.pause(0.1)
        # all of it, wrapped (between words: a row's last space is its padding's now)
        assert f"[warning]cannot-read:{deep}" in on_screen(log).replace(" ", "")
        assert log.max_scroll_x == 0 and not log.border_subtitle

        await pilot.press("w")  # as Log shows it: cut, scrolled sideways, and said so
        assert deep not in on_screen(log) and log.max_scroll_x > 0
        assert "not wrapped: w wraps, ←→ scroll" in log.border_subtitle
        await pilot.press("w")
        await pilot.pause()
        assert deep in on_screen(log)

        table = runs.query_one("#runs")
        height = log.size.height
        await pilot.press("z")  # full screen
        await pilot.pause()
        assert not table.display and log.size.height > height + 5 and log.has_focus
        await pilot.press("escape")
        await pilot.pause()
        assert table.display and table.has_focus
        await pilot.press("enter")  # Enter on a run: its log full screen too
        await pilot.pause()
        assert not table.display
        await pilot.press("z")
        await pilot.pause()
        assert table.display

        await pilot.press("slash", *"PRE-FLIGHT", "enter")  # case ignored
        await pilot.pause()
        [at] = [i for i, line in enumerate(log.lines) if line.startswith("pre-flight:")]
        assert log.found == at and "'PRE-FLIGHT' 1 of 1" in log.border_subtitle
        assert not log.auto_scroll  # paused on what was found
        await pilot.press("escape")  # closes the search field
        await pilot.press("n")  # the next one, round the end: the same line
        assert log.found == at
        await pilot.press("slash", "ctrl+u", *"no-such-text", "enter")
        await pilot.pause()
        assert log.found is None and "'no-such-text' is not in this log" in log.border_subtitle
