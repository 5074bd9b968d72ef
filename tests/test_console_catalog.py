"""The Catalog screen at 80x24: the restore dialog says where files land and how
many items are marked, in human sizes (issue 16 item 8), the arrow keys open and
close folders, a finished restore's log closes, and `v` verifies a set as a run
whose log Runs shows (item 9)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_console_flows import SIZE, backed_up, new_app, settle, source_tree, src, until  # noqa: F401 - src: a fixture
from textual.pilot import Pilot
from textual.widgets import DataTable, Label, Static

from tapetui.console.app import TapetuiApp
from tapetui.console.dialogs.restore import RestoreScreen
from tapetui.console.widgets.catalog_tree import CatalogTree
from tapetui.console.widgets.log_view import LiveLog


async def set_tree(pilot: Pilot, src: Path) -> tuple[TapetuiApp, CatalogTree]:
    """After a full backup of `src`: the Catalog's tree of that set, the source folder open."""
    app = await backed_up(pilot, src)
    await pilot.press("3")
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)
    tree = app.screen.query_one(CatalogTree)
    await until(pilot, lambda: len(tree.root.children) == 1 and len(tree.root.children[0].children) == 2)
    return app, tree


async def test_arrows_open_and_close_folders_and_marks_are_counted(tmp_path: Path, src: Path) -> None:
    async with new_app(tmp_path).run_test(size=SIZE) as pilot:
        app, tree = await set_tree(pilot, src)
        await pilot.press("down", "down")  # the source folder, then docs/
        docs = tree.cursor_node
        assert docs is not None and docs.data.path == f"{src}/docs" and not docs.is_expanded
        await pilot.press("right")  # opens it, as Enter does
        await until(pilot, lambda: len(docs.children) == 6 and docs.children[0].data.kind == "file")
        assert docs.is_expanded
        await pilot.press("right")  # already open: its first entry
        assert tree.cursor_node is docs.children[0]
        await pilot.press("left")  # a file: up to its folder
        assert tree.cursor_node is docs
        await pilot.press("left")  # closes it
        assert not docs.is_expanded
        hint = app.screen.query_one("#marks-hint", Label)
        await pilot.press("space", "down", "space")  # docs/ and photos/
        assert "2 marked" in str(hint.render())
        await pilot.press("question_mark")
        await settle(pilot)
        keys = app.screen.query_one("#help-keys", DataTable)
        does = dict(keys.get_row_at(i) for i in range(keys.row_count))
        assert does["→"].startswith("Open the folder (as Enter does)")


async def test_the_restore_dialog_shows_where_files_land_in_human_units(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    src = source_tree(tmp_path / "src", size=2_500_000)
    async with new_app(tmp_path).run_test(size=SIZE) as pilot:
        app, tree = await set_tree(pilot, src)
        await pilot.press("down", "down", "space")  # docs/
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, RestoreScreen))
        summary = str(app.screen.query_one("#restore-summary").render())
        assert f"Restore {src}/docs as of set #1" in summary and "6 files, 15.0 MB" in summary
        lands = app.screen.query_one("#restore-lands", Static)
        assert str(lands.render()) == f"lands as e.g. FOLDER{src}/docs/file01.txt"
        await pilot.press(*"out")  # the folder as typed, made absolute
        assert str(lands.render()) == f"lands as e.g. {tmp_path}/out{src}/docs/file01.txt"
        await pilot.press("enter")
        log = app.screen.query_one("#restore-log", LiveLog)
        await until(pilot, lambda: not app.screen.restoring and log.display)
        await until(pilot, lambda: any("restoring 6 files (15.0 MB)" in line for line in log.lines))
        assert (tmp_path / "out" / str(src / "docs" / "file01.txt").lstrip("/")).is_file()
        await pilot.press("x")  # the finished restore's log closes
        assert not log.display


async def test_v_verifies_the_selected_set_as_a_run_that_runs_shows(tmp_path: Path, src: Path) -> None:
    async with new_app(tmp_path).run_test(size=SIZE) as pilot:
        app = await backed_up(pilot, src)
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("v")
        await settle(pilot)
        [run] = [r for r in await app.service.run_list() if r.action == "verify"]
        assert (run.status, run.trigger, run.set_id) == ("success", "manual", 1)
        assert run.message == "set 1: 12 files, 24.0 KB checked; every hash matches"
        assert app.screen.query_one("#sets").get_row_at(0)[-1] == "ok"  # the set's Verify column
        assert app.run_to_show == run.id  # 2 opens Runs on it
        lines = [x.line for x in await app.service.runs.lines(run.id)]
        assert any(line.startswith("verifying set 1: 12 files") for line in lines)
