"""What the console tells the operator: search results that restore what was found,
form errors that go once fixed, a palette that reaches every screen's commands,
toasts titled in words, a hint on an empty Schedules screen, and a catalog tree
that shows each entry's time (a symlink's target) and the highlighted entry's details,
a drive line that says what is loading while the cursor stays on that cartridge,
and a running backup's cartridge in the Runs table while it writes.
Driven by Pilot at 80x24 on a real engine (sim library, real files, real SQLite)."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from textual.command import CommandList, CommandPalette

from tapetui.console.dialogs.restore import RestoreScreen
from tapetui.console.dialogs.schedule_form import ScheduleForm
from tapetui.console.fmt import show
from tapetui.console.widgets.catalog_tree import CatalogTree
from test_console_flows import (
    SIZE, backed_up, first_cartridge_loaded, full_backup, new_app, paste, settle, slow_backup_started, source_tree,
    started, until,
)


def error_line(app) -> str:  # noqa: ANN001 - the running app
    return str(app.screen.query_one("#form-error").render())


async def test_a_search_result_restores_that_file_and_says_when_its_set_is_gone(tmp_path: Path) -> None:
    src = source_tree(tmp_path / "src", files=4)
    async with new_app(tmp_path).run_test(size=SIZE) as pilot:
        app = await backed_up(pilot, src)
        await pilot.press("3", "slash")
        await paste(pilot, "file0*.txt")
        await pilot.press("enter")
        found = app.screen.query_one("#found")
        await until(pilot, lambda: found.row_count == 4)
        await pilot.press("down", "R")  # the second result
        await until(pilot, lambda: isinstance(app.screen, RestoreScreen))
        summary = str(app.screen.query_one("#restore-summary").render())
        path = str(found.get_row_at(1)[0]).lstrip("…")  # cut on the left where it is long
        assert path.endswith(".txt") and f"{path} as of set #" in summary and "Restore /" in summary
        assert "1 files" in summary
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, RestoreScreen))
        await pilot.press("enter")  # Enter offers the same
        await until(pilot, lambda: isinstance(app.screen, RestoreScreen))
        assert f"{path} as of set #" in str(app.screen.query_one("#restore-summary").render())
        await pilot.press("escape")
        await settle(pilot)
        assert [str(c) for c in found.get_row_at(1)][-1] == ""

        done = await app.service.format(None, force=True)  # its set is gone from tape
        assert done.outcome.ok
        await pilot.press("slash", "enter")  # the same search again
        await until(pilot, lambda: str(found.get_row_at(1)[-1]) == "overwritten")


async def test_form_errors_go_once_the_operator_edits(tmp_path: Path) -> None:
    src = source_tree(tmp_path / "src", files=2)
    async with new_app(tmp_path).run_test(size=SIZE) as pilot:
        app = await started(pilot)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, ScheduleForm))
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "not saved" in error_line(app))
        await paste(pilot, "nightly")  # the name field
        assert "not saved" not in error_line(app) and "✗" not in error_line(app)
        await pilot.press("escape")
        await settle(pilot)

        await full_backup(app, src)
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, RestoreScreen))
        await pilot.press("ctrl+s")
        assert "✗ type the folder" in error_line(app)
        await pilot.press("o")
        assert error_line(app) == ""


async def test_the_palette_finds_another_screens_command(tmp_path: Path) -> None:
    async with new_app(tmp_path).run_test(size=SIZE) as pilot:
        app = await started(pilot)
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await paste(pilot, "schedules: new")
        commands = app.screen.query_one(CommandList)
        await until(pilot, lambda: commands.option_count > 0 and commands.highlighted is not None
                    and "Schedules: New" in str(commands.get_option_at_index(0).prompt))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ScheduleForm))
        assert app.current_mode == "schedules"


async def test_an_error_toast_is_titled_in_words(tmp_path: Path) -> None:
    async with new_app(tmp_path).run_test(size=SIZE) as pilot:
        app = await first_cartridge_loaded(pilot)
        library = app.screen.query_one("#library")
        await settle(pilot)
        await pilot.press("down", "l")  # another one, while the drive holds the first
        await until(pilot, lambda: any(n.severity == "error" for n in app._notifications))
        [error] = [n for n in app._notifications if n.severity == "error"]
        assert "unload it before loading" in error.message
        assert error.title == "Load failed"


async def test_an_empty_schedules_screen_says_how_to_start(tmp_path: Path) -> None:
    async with new_app(tmp_path).run_test(size=SIZE) as pilot:
        app = await started(pilot)
        hint = app.screen.query_one("#no-schedules")
        assert hint.display and "press n to create one" in str(hint.render())
        await app.service.add("checks", kind="daily", when="04:00", action="health_check")
        await until(pilot, lambda: not hint.display)


async def test_the_catalog_tree_shows_times_link_targets_and_the_highlighted_entry(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "budget.csv").write_bytes(b"x" * 1500)
    os.utime(src / "budget.csv", ns=(0, MTIME_NS))
    (src / "dangling").symlink_to("/nowhere/at/all")
    (src / "docs").mkdir()
    os.utime(src / "docs", ns=(0, MTIME_NS))
    stamp = show(datetime.fromtimestamp(MTIME_NS / 1e9, timezone.utc))
    async with new_app(tmp_path).run_test(size=SIZE) as pilot:
        app = await backed_up(pilot, src)
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("enter")  # open the set
        tree = await until_tree(pilot, app)
        labels = [str(n.label) for n in tree.root.children[0].children]
        assert labels[0] == f"[ ] budget.csv  1.5 KB  {stamp}"
        assert labels[1].startswith("[ ] dangling  → /nowhere/at/all  ")
        assert labels[2] == f"[ ] docs/  {stamp}"
        await pilot.press("down", "down")  # the source folder, then budget.csv
        detail = str(app.screen.query_one("#entry-detail").render())
        assert detail.startswith(f"{src}/budget.csv · 1.5 KB · {stamp} · -rw-")
        assert " · TPA001L8 · hash " in detail
        await pilot.press("down")
        detail = str(app.screen.query_one("#entry-detail").render())
        assert detail.startswith(f"{src}/dangling · → /nowhere/at/all · ") and "lrwx" in detail


MTIME_NS = 1_700_000_000_123_456_789


async def until_tree(pilot, app):  # noqa: ANN001, ANN201 - the running app; its CatalogTree
    """The opened set's tree, once its one source folder has loaded."""
    await until(pilot, lambda: app.screen.query(CatalogTree))
    tree = app.screen.query_one(CatalogTree)
    await until(pilot, lambda: len(tree.root.children) == 1 and tree.root.children[0].data.loaded
                and all(n.data.kind != "placeholder" for n in tree.root.children[0].children))
    return tree


async def test_load_and_unload_say_what_moves_and_the_cursor_stays_on_it(tmp_path: Path) -> None:
    async with new_app(tmp_path, load_delay_s=0.3).run_test(size=SIZE) as pilot:
        app = await started(pilot)
        await pilot.press("4")
        table = app.screen.query_one("#library")
        await until(pilot, lambda: table.row_count > 2)
        drive = app.screen.query_one("#drive")
        await pilot.press("down", "down")
        barcode = app.screen.selected()
        assert str(table.get_row(barcode)[0]) != "drive"
        await pilot.press("l")
        await until(pilot, lambda: f"loading {barcode}…" in str(drive.render()))
        await until(pilot, lambda: str(drive.render()).startswith(f"Drive  {barcode}"))
        await until(pilot, lambda: str(table.get_row(barcode)[0]) == "drive")
        assert app.screen.selected() == barcode  # the row moved; the cursor went with it
        await pilot.press("u")
        await until(pilot, lambda: f"unloading {barcode}…" in str(drive.render()))
        await until(pilot, lambda: "empty" in str(drive.render()))
        await until(pilot, lambda: str(table.get_row(barcode)[0]) != "drive")
        assert app.screen.selected() == barcode


async def test_a_running_backup_shows_its_cartridge_while_it_writes(tmp_path: Path) -> None:
    big = source_tree(tmp_path / "big", files=4, size=1_000_000)  # 4 MB at 2 MB/s
    async with new_app(tmp_path, throughput_mb_s=2).run_test(size=SIZE) as pilot:
        app = await slow_backup_started(pilot, big)
        await until(pilot, lambda: app.live.state.running)
        await pilot.press("2")
        table = app.screen.query_one("#runs")
        await until(pilot, lambda: table.row_count == 1)
        await until(pilot, lambda: any(p.phase == "writing" for p in app.live.state.progress.values()))
        await until(pilot, lambda: str(table.get_row_at(0)[-1]) == "TPA001L8")
        assert str(table.get_row_at(0)[2]) == "running"
        await pilot.press("s", "y")  # no need to wait for the end
        await until(pilot, lambda: not app.live.state.running)
