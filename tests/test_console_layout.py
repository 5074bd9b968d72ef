"""Tables fit the terminal: at 80x24 (an operator's SSH window) and at 60x20 no
table scrolls sideways and no column clips its cells (a narrow column takes a
shorter form: rules in short, barcodes whole); at 120 columns every column is there.
Status words are never cut, the header line fits during a run, and the schedule
form's next firings never break inside a date and time."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from textual import events
from textual.widgets import DataTable

from tapetui.console.app import TapetuiApp, make_app
from tapetui.console.dialogs.schedule_form import ScheduleForm
from tapetui.console.fmt import Fit, barcodes
from tapetui.console.keys import SCREENS
from tapetui.console.screens.base import PADDING, column_widths
from tapetui.console.widgets.status_line import StatusLine
from tapetui.engine import events as ev
from tapetui.engine.demo import DEMO_NOW, seed_demo
from tapetui.engine.paths import Home
from tapetui.engine.store.runs import FINAL


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("layout")
    asyncio.run(seed_demo(Home.single(root / "home"), root / "data", now=DEMO_NOW, mail_files=5))
    return root / "home"


def declared(table: DataTable) -> tuple[dict, str | None]:
    return table._tapetui_columns  # type: ignore[attr-defined]


async def shown_tables(pilot, mode: str) -> list[DataTable]:  # noqa: ANN001
    app = pilot.app
    await pilot.press(SCREENS[mode][0])
    await asyncio.wait_for(app.workers.wait_for_complete(), 15)
    await pilot.pause()
    tables = [t for t in app.screen.query(DataTable) if t.region.area and hasattr(t, "_tapetui_columns")]
    assert tables, f"no table shown on {mode}"
    return tables


@pytest.mark.parametrize("size", [(60, 20), (80, 24), (120, 36)], ids=["60x20", "80x24", "120x36"])
async def test_no_table_scrolls_sideways_or_clips_a_column(demo_home: Path, tmp_path: Path, size) -> None:
    home = tmp_path / "home"
    shutil.copytree(demo_home, home, ignore=shutil.ignore_patterns("*.sock", "*.lock"))
    app = make_app(Home.single(home), clock=lambda: DEMO_NOW)
    async with app.run_test(size=size) as pilot:
        assert isinstance(app, TapetuiApp)
        await asyncio.wait_for(app.ready.wait(), 15)
        for mode in SCREENS:
            for table in await shown_tables(pilot, mode):
                where = f"{mode} #{table.id}"
                assert table.virtual_size.width <= table.scrollable_content_region.width, where
                assert table.max_scroll_x == 0, where
                assert table.row_count, where  # the demo fills every table: cells are checked
                widths, _flex = declared(table)
                if size[0] >= 120:
                    assert [str(k.value) for k in table.columns] == list(widths), where
                for key, column in table.columns.items():
                    assert len(str(column.label)) <= column.width, (where, "header", key.value)
                    for cell in table.get_column(key):
                        assert len(str(cell)) <= column.width, (where, key.value, cell)


async def test_resizing_to_80_columns_narrows_the_runs_table_and_back(demo_home: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(demo_home, home, ignore=shutil.ignore_patterns("*.sock", "*.lock"))
    app = make_app(Home.single(home), clock=lambda: DEMO_NOW, first_screen="runs")
    async with app.run_test(size=(120, 36)) as pilot:
        await asyncio.wait_for(app.ready.wait(), 15)
        [table] = await shown_tables(pilot, "runs")
        started = list(table.get_column("Started"))
        assert "Trigger" in [k.value for k in table.columns] and all(len(c) == 16 for c in started)
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert "Trigger" not in [k.value for k in table.columns]
        assert all(len(c) == 11 for c in table.get_column("Started"))  # "11-23 22:00"
        assert table.virtual_size.width <= table.scrollable_content_region.width
        await pilot.resize_terminal(120, 36)
        await pilot.pause()
        assert list(table.get_column("Started")) == list(started)


async def test_schedule_rules_take_their_short_form_only_where_they_do_not_fit(
    demo_home: Path, tmp_path: Path
) -> None:
    """At 60 columns too ("monthly d2 04:00", not "month"): Does makes room, barcodes
    stay whole and the gauge keeps its percentage."""
    home = tmp_path / "home"
    shutil.copytree(demo_home, home, ignore=shutil.ignore_patterns("*.sock", "*.lock"))
    app = make_app(Home.single(home), clock=lambda: DEMO_NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await asyncio.wait_for(app.ready.wait(), 15)
        [table] = await shown_tables(pilot, "schedules")
        rules = {str(row.value): str(table.get_cell(row, "When")) for row in table.rows}
        width = table.columns["When"].width
        assert all(len(text) <= width for text in rules.values()), (width, rules)
        assert rules["cleanup"] == "monthly d2 04:00"  # "on day 2 of every month 04:00" is too long
        assert rules["weekly-diff"] == "every Sunday 03:00"  # fits: kept in full
        await pilot.resize_terminal(120, 36)
        await pilot.pause()
        assert table.get_cell("cleanup", "When") == "on day 2 of every month 04:00"
        await pilot.resize_terminal(60, 20)
        await pilot.pause()
        assert [str(k.value) for k in table.columns] == ["Name", "Next_run", "Last", "When"]  # the name says what
        assert table.get_cell("cleanup", "When") == "monthly d2 04:00"
        assert table.get_cell("weekly-diff", "When") == "Sun 03:00"
        [tapes] = await shown_tables(pilot, "tapes")
        assert all(re.fullmatch(r"\d+%", str(c)) for c in tapes.get_column("Used"))
        known = {str(c) for c in tapes.get_column("Barcode")}
        [sets] = await shown_tables(pilot, "catalog")
        assert {str(c) for c in sets.get_column("Cartridges")} <= known


@given(st.lists(st.from_regex(r"[A-Z]{3}\d{3}L[5-9]", fullmatch=True), min_size=1, max_size=5, unique=True),
       st.integers(1, 60))
def test_barcodes_are_never_cut_in_a_narrow_column(names: list[str], width: int) -> None:
    shown = barcodes(names).within(width)
    if len(names) == 1:
        assert shown == names[0]
        return
    *kept, more = shown.split(" ")
    if shown == " ".join(names):
        return
    assert len(shown) <= width or shown == f"{len(names)} tapes", shown
    if more != "tapes":
        assert kept == names[:len(kept)] and more == f"+{len(names) - len(kept)}", shown


#: A column's width, or its widths from wide to narrow (0 drops it).
WIDTH = st.integers(1, 20) | st.lists(st.integers(0, 20), min_size=1, max_size=3).map(tuple)
WIDTHS = st.dictionaries(st.sampled_from("ABCDEFG"), WIDTH, min_size=1)


def _cost(widths: dict) -> int:
    return sum(w + PADDING for w in widths.values() if w)


@given(WIDTHS, st.integers(20, 200), st.booleans())
def test_columns_fit_whenever_their_narrowest_widths_do(widths: dict, room: int, with_flex: bool) -> None:
    flex = next(iter(widths)) if with_flex else None
    chosen = column_widths(widths, flex, room)
    widest = {k: w if isinstance(w, int) else w[0] for k, w in widths.items()}
    narrowest = {k: w if isinstance(w, int) else w[-1] for k, w in widths.items()}
    if _cost(narrowest) <= room:
        assert _cost(chosen) <= room
    if _cost(widest) <= room:  # the widest level is kept wherever it fits
        assert {k: w for k, w in chosen.items() if k != flex} == {k: w for k, w in widest.items() if w and k != flex}
    assert list(chosen) == [k for k in widths if k in chosen]  # order kept
    if flex in chosen and _cost(chosen) < room:
        pytest.fail("the flex column leaves room unused")


@given(st.text(max_size=30), st.text(max_size=30), st.integers(0, 40))
def test_a_fit_cell_shows_its_full_form_only_where_it_fits(full: str, short: str, width: int) -> None:
    shown = Fit(full, short).within(width)
    assert shown == (full if len(full) <= width else short)


#: Every status word a column shows (run statuses; set statuses), whole at any size.
RUN_WORDS = ("running", *FINAL)
SET_WORDS = ("running", "complete", "incomplete", "overwritten", "expired")
WORD_COLUMNS = {"schedules": {"Last": RUN_WORDS}, "runs": {"Status": RUN_WORDS}, "catalog": {"State": SET_WORDS}}


@pytest.mark.parametrize("size", [(80, 24), (120, 36)], ids=["80x24", "120x36"])
async def test_status_words_fit_whole_and_file_counts_stay(demo_home: Path, tmp_path: Path, size) -> None:
    home = tmp_path / "home"
    shutil.copytree(demo_home, home, ignore=shutil.ignore_patterns("*.sock", "*.lock"))
    app = make_app(Home.single(home), clock=lambda: DEMO_NOW)
    async with app.run_test(size=size) as pilot:
        await asyncio.wait_for(app.ready.wait(), 15)
        for mode, columns in WORD_COLUMNS.items():
            [table] = await shown_tables(pilot, mode)
            shown = {str(k.value): c.width for k, c in table.columns.items()}
            for name, words in columns.items():
                assert shown[name] >= max(map(len, words)), (mode, name, shown[name])
            if mode != "schedules":
                assert "Files" in shown, mode


async def test_the_header_fits_80_columns_during_a_run(demo_home: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(demo_home, home, ignore=shutil.ignore_patterns("*.sock", "*.lock"))
    app = make_app(Home.single(home), clock=lambda: DEMO_NOW, start_scheduler=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await asyncio.wait_for(app.ready.wait(), 15)
        await asyncio.wait_for(app.workers.wait_for_complete(), 15)
        line = app.screen.query_one(StatusLine)
        bus = app.engine.bus
        bus.publish(ev.RunStarted(run_id=99, schedule="nightly-incr", action="backup", trigger="manual"))
        bus.publish(ev.Progress(run_id=99, phase="writing", files_done=12, files_total=50,
                                bytes_done=1_200_000, bytes_total=5_000_000, rate_bps=3e6))
        await pilot.pause()
        text = str(line.render())
        assert "▶ nightly-incr writing 24%" in text and "drive TPA002L8" in text, text
        assert len(text) <= line.content_region.width, text  # nothing cut off with "…"
        await pilot.resize_terminal(120, 36)
        await pilot.pause()
        text = str(line.render())
        assert "drive TPA002L8 TP20250601 │ next drive-check 06-20 13:00" in text, text
        assert len(text) <= line.content_region.width, text


@pytest.mark.parametrize("size", [(60, 20), (80, 24)], ids=["60x20", "80x24"])
async def test_the_next_firings_break_between_times_never_inside_one(tmp_path: Path, size) -> None:  # noqa: ANN001
    async with make_app(Home.single(tmp_path / "home")).run_test(size=size) as pilot:
        await asyncio.wait_for(pilot.app.ready.wait(), 15)
        await pilot.press("n")
        await pilot.pause()
        form = pilot.app.screen
        assert isinstance(form, ScheduleForm)
        await pilot.press("tab", "tab")  # name, Repeats (weekly): to When
        pilot.app.post_message(events.Paste("sun 03:00"))
        await pilot.pause()
        preview = form.query_one("#form-preview")
        lines = str(preview.render()).splitlines()
        assert len(lines) > 1 and all(len(x) <= preview.content_region.width for x in lines), lines
        assert all(re.fullmatch(r"(Next:|\s+)( +\d{4}-\d\d-\d\d \d\d:\d\d)+", x) for x in lines), lines
