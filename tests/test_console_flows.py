"""Keyboard flows through the console, driven by Pilot at 80x24 on a real engine
(sim library, real files, real SQLite)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Callable

import pytest
from textual import events
from textual.pilot import Pilot
from textual.widgets import Input, Select

from ltfs_world import FRESH, FRESH_ID, STATE_ENV, fresh_cartridge_home
from tapetui.console.app import TapetuiApp, make_app
from tapetui.console.dialogs.confirm import ConfirmScreen
from tapetui.console.dialogs.format import FormatScreen
from tapetui.console.dialogs.restore import RestoreScreen
from tapetui.console.dialogs.schedule_form import ScheduleForm
from tapetui.console.widgets.catalog_tree import CatalogTree
from tapetui.console.widgets.log_view import LiveLog
from tapetui.engine import handlers
from tapetui.engine.demo import write_config
from tapetui.engine.paths import Home

SIZE = (80, 24)
KINDS = ["daily", "weekly", "monthly", "yearly", "every", "once", "cron"]  # the form's order


def source_tree(root: Path, files: int = 12, size: int = 2000) -> Path:
    for i in range(files):
        folder = root / ("docs" if i % 2 else "photos")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"file{i:02d}.txt").write_bytes(bytes([65 + i % 26]) * size)
    return root


@pytest.fixture
def src(tmp_path: Path) -> Path:
    return source_tree(tmp_path / "src")


def new_app(tmp_path: Path, **config) -> TapetuiApp:
    home = Home.single(tmp_path / "home")
    write_config(home, **config)
    return make_app(home)


async def until(pilot: Pilot, cond: Callable[[], object], timeout: float = 15) -> None:
    """Let the app run until `cond()` holds (bounded)."""
    async def poll() -> None:
        while not cond():
            await pilot.pause(0.05)
    await asyncio.wait_for(poll(), timeout)


async def settle(pilot: Pilot) -> None:
    await asyncio.wait_for(pilot.app.workers.wait_for_complete(), 15)
    await pilot.pause()


async def started(pilot: Pilot) -> TapetuiApp:
    app = pilot.app
    assert isinstance(app, TapetuiApp)
    await asyncio.wait_for(app.ready.wait(), 15)
    await settle(pilot)
    return app


async def full_backup(app: TapetuiApp, src: Path) -> None:
    """A full backup of `src`, named 'first', run to its end."""
    run = await app.service.backup_now(level="full", sources=[str(src)], name="first", wait=True)
    assert run.status == "success", run.message


async def backed_up(pilot: Pilot, src: Path) -> TapetuiApp:
    """The started app, after `full_backup` of `src`."""
    app = await started(pilot)
    await full_backup(app, src)
    return app


async def first_cartridge_loaded(pilot: Pilot) -> TapetuiApp:
    """The started app on the Tapes screen, the first slot's cartridge loaded with `l`."""
    app = await started(pilot)
    await pilot.press("4")
    await settle(pilot)
    await pilot.press("l")  # the first slot's cartridge
    await until(pilot, lambda: app.screen.query_one("#library").get_row_at(0)[0] == "drive")
    return app


async def every_cartridge_used(pilot: Pilot, tmp_path: Path) -> tuple[TapetuiApp, dict[str, int]]:
    """The started app on the Schedules screen, its cursor on a new full backup schedule
    'd': full backups of a, b and c (their set ids returned) used every blank cartridge
    of the library, c's is in the drive."""
    app = await started(pilot)
    made = {}
    for name in ("a", "b", "c"):
        run = await app.service.backup_now(level="full", sources=[str(source_tree(tmp_path / name, files=2))],
                                           name=name, wait=True)
        made[name] = (await app.service.runs.get(run.id)).set_id
    await app.service.add("d", kind="daily", when="02:00", action="backup",
                          action_config={"level": "full", "sources": [str(source_tree(tmp_path / "d", 2))]})
    await pilot.press("1")
    await settle(pilot)
    table = app.screen.query_one("#schedules")
    table.move_cursor(row=table.get_row_index("d"))
    return app, made


async def slow_backup_started(pilot: Pilot, source: Path) -> TapetuiApp:
    """The started app after `r` on a new full backup schedule 'slow' of `source`
    (the app's drive is slowed by its config, so the run lasts)."""
    app = await started(pilot)
    await app.service.add("slow", kind="daily", when="01:00", action="backup",
                          action_config={"sources": [str(source)], "level": "full"})
    await settle(pilot)
    await pilot.press("r")
    return app


async def paste(pilot: Pilot, text: str) -> None:
    """Text as a terminal hands over a paste: one event (typing key by key is
    covered by the rejected-form test; each press costs a wait for idle)."""
    pilot.app.post_message(events.Paste(text))
    await pilot.pause()


async def fill_form(pilot: Pilot, *, name: str, kind: str, when: str, action: str = "backup",
                    sources: str = "") -> ScheduleForm:
    """Fill the open schedule form the way an operator does: keys to move, text pasted."""
    form = pilot.app.screen
    assert isinstance(form, ScheduleForm)
    await paste(pilot, name)
    await pilot.press("tab", "enter")  # open the "Repeats" list
    steps = KINDS.index(kind) - KINDS.index(str(form.query_one("#kind", Select).value))
    await pilot.press(*(["down"] * steps if steps > 0 else ["up"] * -steps), "enter", "tab")
    await paste(pilot, when)
    if action != "backup":
        actions = handlers.names()  # the form's list, in its order (tests may register more)
        steps = actions.index(action) - actions.index("backup")
        await pilot.press("tab", "enter", *(["down"] * steps if steps > 0 else ["up"] * -steps), "enter")
    elif sources:
        await pilot.press("tab", "tab", "tab")
        await paste(pilot, sources)
    await pilot.pause()
    return form


async def test_create_a_schedule_of_each_type(tmp_path: Path, src: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # so the form can take the short relative "src"
    cases = {
        "daily": ("d1", "02:30", "cleanup"),
        "weekly": ("w1", "sun 03:00", "backup"),
        "monthly": ("m1", "1 01:00", "backup"),
        "yearly": ("y1", "12-31 23:00", "health_check"),
        "every": ("e1", "6h", "health_check"),
        "once": ("o1", "2099-12-01 10:00", "health_check"),
        "cron": ("c1", "0 3 * * 0", "cleanup"),
    }
    async with new_app(tmp_path).run_test(size=SIZE) as pilot:
        app = await started(pilot)
        for kind, (name, when, action) in cases.items():
            await pilot.press("n")
            await settle(pilot)
            await fill_form(pilot, name=name, kind=kind, when=when, action=action, sources="src")
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert not isinstance(app.screen, ScheduleForm), f"{kind} form was not accepted"
        rows = {r.name: r for r in await app.service.list()}
        assert {n: rows[n].type for n, *_ in cases.values()} == {
            name: ("interval" if kind == "every" else kind) for kind, (name, *_) in cases.items()}
        assert rows["w1"].action_config["sources"] == [str(src)]
        assert rows["m1"].action_config["level"] == "full"
        assert rows["d1"].action == "cleanup"
        table = app.screen.query_one("#schedules")
        assert table.row_count == 7
        assert "every Sunday 03:00" in table.get_row("w1")


async def test_a_rejected_form_keeps_what_was_typed(tmp_path: Path) -> None:
    async with new_app(tmp_path).run_test(size=SIZE) as pilot:
        app = await started(pilot)
        await pilot.press("n")
        await settle(pilot)
        form = await fill_form(pilot, name="bad-cron", kind="cron", when="61 3 * * *", action="health_check")
        assert "✗" in str(form.query_one("#form-error").render())  # live validation, before saving
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form
        assert form.query_one("#name", Input).value == "bad-cron"
        assert form.query_one("#when", Input).value == "61 3 * * *"
        assert form.query_one("#kind", Select).value == "cron"
        assert "not saved" in str(form.query_one("#form-error").render())
        assert await app.service.list() == []
        # fixing the one wrong field is enough
        await pilot.press("shift+tab", *["backspace"] * 10, *"1 3 * * *", "ctrl+s")
        await settle(pilot)
        assert [r.name for r in await app.service.list()] == ["bad-cron"]


async def test_enable_disable_and_delete_with_confirm(tmp_path: Path) -> None:
    async with new_app(tmp_path).run_test(size=SIZE) as pilot:
        app = await started(pilot)
        await app.service.add("checks", kind="daily", when="04:00", action="health_check")
        await settle(pilot)
        await pilot.press("space")
        await settle(pilot)
        assert (await app.service.get("checks")).enabled is False
        await pilot.press("space")
        await settle(pilot)
        row = await app.service.get("checks")
        assert row.enabled is True and row.next_run is not None

        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "'checks'" in str(app.screen.query_one("#confirm-body").render())
        await pilot.press("n")
        await settle(pilot)
        assert [r.name for r in await app.service.list()] == ["checks"]
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await settle(pilot)
        assert await app.service.list() == []


async def test_run_now_and_watch_it_finish(tmp_path: Path, src: Path) -> None:
    async with new_app(tmp_path).run_test(size=SIZE) as pilot:
        app = await started(pilot)
        await app.service.add("full", kind="monthly", when="1 01:00", action="backup",
                              action_config={"sources": [str(src)], "level": "full"})
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        await until(pilot, lambda: not app.live.state.running and app.session.control.scheduler.running == {})
        [run] = await app.service.run_list()
        assert run.status == "success", run.message
        await pilot.press("2")
        await settle(pilot)
        await until(pilot, lambda: "success" in (app.screen.query_one(LiveLog).border_title or ""))
        log = app.screen.query_one(LiveLog)
        text = "\n".join(log.lines)
        assert "LTFS15000I" in text  # the format's tool output, replayed from the stored log
        assert "full backup" in text and "12 files" in text


async def test_stop_a_running_backup(tmp_path: Path) -> None:
    big = tmp_path / "big"
    source_tree(big, files=8, size=2_000_000)  # 16 MB at 2 MB/s: long enough to stop
    async with new_app(tmp_path, throughput_mb_s=2).run_test(size=SIZE) as pilot:
        app = await slow_backup_started(pilot, big)
        await until(pilot, lambda: app.live.state.progress)  # bytes are moving
        await pilot.press("2")
        await until(pilot, lambda: app.screen.query_one("#runs").row_count == 1)
        await settle(pilot)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: not app.live.state.running)
        [run] = await app.service.run_list()
        assert run.status == "cancelled"
        [backup_set] = await app.engine.sets.all()
        assert backup_set.status == "incomplete"


async def test_format_a_cartridge_and_see_its_output(tmp_path: Path) -> None:
    async with new_app(tmp_path).run_test(size=SIZE) as pilot:
        app = await first_cartridge_loaded(pilot)
        await settle(pilot)
        await pilot.press("f")
        await until(pilot, lambda: app.screen.query("#label"))
        assert "TPA001L8" in str(app.screen.query_one("#confirm-body").render())
        assert not app.screen.query("#barcode")  # it has one: nothing to ask
        await pilot.press(*"TP20990101", "enter")
        await settle(pilot)
        out = app.screen.query_one("#tape-output", LiveLog)
        await until(pilot, lambda: any("format succeeded" in line for line in out.lines))
        assert any(line.startswith("LTFS15000I Starting mkltfs") for line in out.lines)
        status = await app.engine.driver.status()
        assert (status.loaded, status.label) == ("TPA001L8", "TP20990101")


async def test_give_a_cartridge_without_a_barcode_its_barcode_when_formatting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, state = fresh_cartridge_home(tmp_path)  # a standalone LTFS drive (stand-in tools)
    monkeypatch.setenv(STATE_ENV, str(state))
    async with make_app(home, first_screen="tapes").run_test(size=SIZE) as pilot:
        app = await started(pilot)
        library = app.screen.query_one("#library")
        await until(pilot, lambda: library.row_count == 1)
        assert str(library.coordinate_to_cell_key((0, 0)).row_key.value) == FRESH_ID
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, FormatScreen) and app.screen.query("#barcode"))
        dialog = app.screen
        error = dialog.query_one("#form-error")
        await pilot.press("tab", "n", "e", "w", "minus", "1")
        assert "✗ barcode 'new-1' must be 6 digits or capital letters" in str(error.render())  # as typed
        await pilot.press("enter")
        assert app.screen is dialog and dialog.query_one("#barcode", Input).value == "new-1"  # kept
        await pilot.press(*["backspace"] * 5)
        assert str(error.render()) == ""
        await pilot.press(*FRESH, "enter")
        await until(pilot, lambda: app.screen is not dialog)
        await until(pilot, lambda: "NEW001" in [str(k.value) for k in library.rows])
        assert library.row_count == 1  # renamed, not a second record
        assert "Drive  NEW001 " in str(app.screen.query_one("#drive").render())
        [record] = await app.engine.cartridges.all()
        assert (record.barcode, record.status) == ("NEW001", "active")


async def test_browse_a_set_and_restore_a_folder_elsewhere(tmp_path: Path, src: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the restore folder is typed as the short relative "out"
    async with new_app(tmp_path).run_test(size=SIZE) as pilot:
        app = await backed_up(pilot, src)
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("enter")  # open the newest set
        await settle(pilot)
        tree = app.screen.query_one(CatalogTree)
        await until(pilot, lambda: len(tree.root.children) == 1 and len(tree.root.children[0].children) == 2)
        await pilot.press("down", "down", "space")  # the source folder, then docs/
        assert tree.marked == {f"{src}/docs"}
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, RestoreScreen))
        summary = str(app.screen.query_one("#restore-summary").render())
        assert "6 files" in summary and "TPA001L8" in summary
        await pilot.press(*"out", "enter")
        await settle(pilot)
        restored = tmp_path / "out" / str(src / "docs").lstrip("/")
        await until(pilot, lambda: restored.is_dir() and len(list(restored.iterdir())) == 6)
        for original in (src / "docs").iterdir():
            assert (restored / original.name).read_bytes() == original.read_bytes()
        assert not (tmp_path / "out" / str(src / "photos").lstrip("/")).exists()
