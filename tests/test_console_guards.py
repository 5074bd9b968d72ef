"""Keys that destroy or cancel something ask first, and say what: one Enter in the
format dialog never destroys a backup set; quitting a console that runs backups
itself asks before cancelling them; restoring over live files in their original
place asks before starting. Driven by Pilot at 80x24 on a real engine."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import RadioSet

from tapetui.console.dialogs.confirm import ConfirmScreen
from tapetui.console.dialogs.format import FormatScreen
from tapetui.console.dialogs.restore import RestoreScreen
from tapetui.engine.core import Engine
from tapetui.engine.paths import Home
from tapetui.engine.control import LocalControl
from test_console_flows import (
    SIZE, backed_up, every_cartridge_used, first_cartridge_loaded, new_app, paste, settle, slow_backup_started,
    source_tree, started, until,
)


def sets_cell(app) -> str:  # noqa: ANN001 - the running app
    """The drive row's Sets cell on the Tapes screen."""
    row = app.screen.query_one("#library").get_row_at(0)
    assert row[0] == "drive"
    return str(row[-1])


async def test_one_enter_never_formats_away_sets_and_the_count_follows(tmp_path: Path) -> None:
    src = source_tree(tmp_path / "src", files=4)
    async with new_app(tmp_path).run_test(size=SIZE) as pilot:
        app = await backed_up(pilot, src)
        [backup_set] = await app.engine.sets.all()
        await pilot.press("4")
        await until(pilot, lambda: sets_cell(app) == "1")
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, FormatScreen))
        dialog = app.screen
        await pilot.press("enter")  # the label field, as it is
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        body = str(app.screen.query_one("#confirm-body").render())
        assert f"destroy backup set(s) #{backup_set.id}?" in body
        # the yes names the last restorable state it gives up (the only full of its source)
        assert f"holds set {backup_set.id} (full), the last restorable backup of {src}" in body
        assert "after this format nothing restores that state" in body
        await pilot.press("enter")  # No has the focus
        await until(pilot, lambda: app.screen is dialog)  # back in the form, nothing done
        await pilot.pause(0.2)
        assert (await app.engine.sets.get(backup_set.id)).status == "complete"

        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: not isinstance(app.screen, (ConfirmScreen, FormatScreen)))
        await until(pilot, lambda: sets_cell(app) == "-")  # no r pressed
        assert (await app.engine.sets.get(backup_set.id)).status == "overwritten"


async def test_format_warns_of_a_label_the_month_check_refuses(tmp_path: Path) -> None:
    async with new_app(tmp_path).run_test(size=SIZE) as pilot:
        app = await first_cartridge_loaded(pilot)
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, FormatScreen))
        note = app.screen.query_one("#form-note")
        now = app.now()
        other = f"TP{now.year - 1}{now.month:02d}01"
        await paste(pilot, other)
        assert f"backups of {now:%Y-%m} refuse this tape" in str(note.render()) and note.display
        await pilot.press("ctrl+u")
        await paste(pilot, f"TP{now:%Y%m}01")
        assert not note.display
        await pilot.press("ctrl+u")
        await paste(pilot, "bad label!!")
        assert "is not of the form" in str(note.render()) and note.display
        await pilot.press("enter")  # no set at risk: one Enter formats
        await until(pilot, lambda: not isinstance(app.screen, FormatScreen))
        await until(pilot, lambda: app.screen.query_one("#library").get_row_at(0)[2] == "bad label!!")


async def test_quit_asks_while_this_console_runs_a_backup(tmp_path: Path) -> None:
    big = source_tree(tmp_path / "big", files=8, size=2_000_000)  # 16 MB at 2 MB/s: still running
    app = new_app(tmp_path, throughput_mb_s=2)
    async with app.run_test(size=SIZE) as pilot:
        await slow_backup_started(pilot, big)
        await until(pilot, lambda: app.live.state.progress)
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        body = str(app.screen.query_one("#confirm-body").render())
        assert "1 run(s) are running in this console; quitting cancels them" in body
        assert "tapetui daemon" in body and "slow" in body
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert app.is_running and app.live.state.running  # still going
        await pilot.press("q", "y")
        await until(pilot, lambda: not app.is_running)
    engine = await Engine.open(Home.single(tmp_path / "home"))
    try:
        [run] = await LocalControl(engine).run_list()
        assert run.status == "cancelled"
    finally:
        await engine.close()


async def test_quit_with_nothing_running_is_immediate(tmp_path: Path) -> None:
    app = new_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running)


async def test_restoring_over_live_files_in_place_asks_first(tmp_path: Path) -> None:
    src = source_tree(tmp_path / "src", files=4)
    async with new_app(tmp_path).run_test(size=SIZE) as pilot:
        app = await backed_up(pilot, src)
        changed = next((src / "docs").iterdir())
        changed.write_bytes(b"edited after the backup")
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("R")  # the whole set
        await until(pilot, lambda: isinstance(app.screen, RestoreScreen))
        form = app.screen
        await pilot.press("shift+tab", "down", "down", "enter")  # existing: overwrite
        await pilot.press("shift+tab", "down", "enter")  # to the original place
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        body = str(app.screen.query_one("#confirm-body").render())
        assert "Up to 4 files" in body and "overwritten in place" in body
        await pilot.press("enter")  # No has the focus
        await until(pilot, lambda: app.screen is form)  # the form as it was typed
        assert form.query_one("#where", RadioSet).pressed_button.id == "original"
        assert form.query_one("#conflict", RadioSet).pressed_button.id == "overwrite"
        await pilot.pause(0.2)  # (the restore's worker waits for the form: no settle)
        assert changed.read_bytes() == b"edited after the backup"  # nothing started

        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: changed.read_bytes() != b"edited after the backup")
        assert not isinstance(app.screen, (ConfirmScreen, RestoreScreen))


async def test_run_now_asks_again_when_the_cartridge_at_risk_changed_meanwhile(tmp_path: Path) -> None:
    """The confirmation names the cartridge and sets a full's format destroys; if the
    tape was changed while it was open (the CLI, another console), a yes to it is
    not a yes to destroying other sets: it asks again, naming those."""
    async with new_app(tmp_path).run_test(size=SIZE) as pilot:
        app, made = await every_cartridge_used(pilot, tmp_path)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        first = app.screen
        assert f"set #{made['c']}" in str(first.query_one("#confirm-body").render())
        inventory = await app.engine.driver.inventory()
        other = next(c.barcode for c in inventory if not c.in_drive and c.label)
        await app.engine.driver.unload()  # meanwhile, elsewhere: another cartridge goes in
        await app.engine.driver.load(other)
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen is not first)
        body = str(app.screen.query_one("#confirm-body").render())
        assert other in body and f"set #{made['c']}" not in body
        await pilot.press("n")
        await settle(pilot)
        assert [r.schedule_name for r in await app.service.run_list()].count("d") == 0
