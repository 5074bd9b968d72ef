"""The Schedules screen at 80x24 (issue 16 item 7): every rule in words, the keys
that matter in the footer, help that says what each key does; its form's template
picker and saving the form as a template (item 9)."""

from __future__ import annotations

from pathlib import Path

from test_console_flows import SIZE, fill_form, new_app, paste, settle, src, started, until  # noqa: F401 - src: a fixture
from textual.widgets import DataTable, Select
from textual.widgets._footer import FooterKey

from tapetui.console.dialogs.help import HelpScreen
from tapetui.console.dialogs.schedule_form import TemplateName


async def test_a_cron_rule_reads_in_words_at_80_columns(tmp_path: Path) -> None:
    async with new_app(tmp_path).run_test(size=SIZE) as pilot:
        app = await started(pilot)
        await app.service.add("sunday", kind="cron", when="0 3 * * 0", action="cleanup")
        await app.service.add("odd", kind="cron", when="0 0 L * *", action="cleanup")  # no words for it
        await settle(pilot)
        table = app.screen.query_one("#schedules", DataTable)
        await settle(pilot)
        assert table.get_row("sunday")[-1] == "at 03:00 on Sunday"
        assert table.get_row("odd")[-1] == "cron: 0 0 L * *"


async def test_the_footer_keeps_stop_and_its_runs_at_80_columns(tmp_path: Path) -> None:
    async with new_app(tmp_path).run_test(size=SIZE) as pilot:
        app = await started(pilot)
        shown = [k.description for k in app.screen.query(FooterKey) if k.region.right <= SIZE[0]
                 and k.region.width > 0]
        assert {"Run", "Stop", "Its runs"} <= set(shown), shown


async def test_help_says_what_each_key_does_in_a_sentence(tmp_path: Path) -> None:
    async with new_app(tmp_path).run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(pilot.app.screen, HelpScreen)
        table = pilot.app.screen.query_one("#help-keys", DataTable)
        does = dict(table.get_row_at(i) for i in range(table.row_count))
        assert does["s"] == "Stop its run (asks first)"
        assert does["o"] == "Show its runs and logs (Runs screen)"
        assert does["2"] == "Go to the Runs screen"
        assert all(" " in text for text in does.values() if text), does  # no one-word lines


async def test_the_form_lists_templates_and_saves_itself_as_one(tmp_path: Path, src: Path) -> None:
    async with new_app(tmp_path).run_test(size=SIZE) as pilot:
        app = await started(pilot)
        await app.service.save_template("photos", {"level": "full", "sources": [str(src / "photos")]})
        await pilot.press("n")
        await settle(pilot)
        form = await fill_form(pilot, name="docs-weekly", kind="weekly", when="sun 03:00", sources=str(src / "docs"))
        picker = form.query_one("#template", Select)
        assert [str(label) for label, _ in picker._options] == ["(none)", f"photos: full of {src}/photos"]
        await pilot.press("ctrl+t")
        await until(pilot, lambda: isinstance(app.screen, TemplateName))
        await paste(pilot, "docs")
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is form and picker.value == "docs")
        assert (await app.service.template("docs")).config == {"level": "full", "sources": [str(src / "docs")]}
        assert f"docs: full of {src}/docs" in [str(label) for label, _ in picker._options]
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen is not form)
        row = await app.service.get("docs-weekly")
        assert row.template_id == (await app.service.template("docs")).id


async def test_space_turns_a_schedule_off_and_o_opens_its_runs(tmp_path: Path) -> None:
    """The screen's own actions by key: space (toggle_enabled, which must not shadow
    Textual's action_toggle) and o (the Runs screen, filtered to that schedule)."""
    from tapetui.console.screens.runs import RunsScreen

    async with new_app(tmp_path).run_test(size=SIZE) as pilot:
        app = await started(pilot)
        await app.service.add("sunday", kind="cron", when="0 3 * * 0", action="cleanup")
        await settle(pilot)
        await pilot.press("space")
        await until(pilot, lambda: not app.screen.rows["sunday"].enabled)
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, RunsScreen))
        assert app.screen.schedule_filter == "sunday"
