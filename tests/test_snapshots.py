"""Snapshot tests of every screen and dialog at 80x24, 120x36 and 60x20, and at
80x24 as a 16-colour terminal (TERM=xterm) shows them.

Deterministic: the demo home is seeded once per session by the real engine at a
fixed path (the source paths it records are on screen) with a fixed clock
(`DEMO_NOW`), its files' times fixed in the catalog, TZ is UTC, and every app runs on its own copy of that home. Two
pytest runs at once take turns at the fixed path (a lock held while seeding and
copying the home out). Accept changes with `--snapshot-update`, then LOOK at
the SVGs in `snapshots/test_snapshots/`.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import shutil
import sqlite3
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Callable

import pytest
from rich.color import Color, ColorSystem
from rich.segment import Segment
from rich.style import Style
from rich.terminal_theme import TerminalTheme
from textual.filter import LineFilter
from textual.pilot import Pilot
from textual.widgets import Input

from ltfs_world import STATE_ENV, fresh_cartridge_driver
from tapetui.console.app import TapetuiApp, make_app
from tapetui.engine.demo import DEMO_NOW, seed_demo
from tapetui.engine.paths import Home

SIZES = {"80x24": (80, 24), "120x36": (120, 36), "60x20": (60, 20)}
#: Fixed, so the source paths shown in the catalog tree and logs are the same on every run.
SEED_ROOT = Path(tempfile.gettempdir()) / "tapetui-snapshot-seed"
#: Enough mail to fill the tree on screen; paging itself is tested elsewhere.
MAIL_FILES = 60

def _utc() -> None:
    os.environ["TZ"] = "UTC"
    time.tzset()


@pytest.fixture(scope="session")
def seeded_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _utc()
    mine = tmp_path_factory.mktemp("seeded") / "home"
    with open(f"{SEED_ROOT}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run seeding now: wait for it
        shutil.rmtree(SEED_ROOT, ignore_errors=True)
        asyncio.run(seed_demo(Home.single(SEED_ROOT / "home"), SEED_ROOT / "data", now=DEMO_NOW,
                              mail_files=MAIL_FILES))
        shutil.copytree(SEED_ROOT / "home", mine, ignore=shutil.ignore_patterns("*.sock", "*.lock"))
    with sqlite3.connect(Home.single(mine).db_path) as db:  # the seed's files carry the seeding's time
        db.execute("UPDATE entries SET mtime_ns = ?", (int((DEMO_NOW - timedelta(days=3)).timestamp()) * 10**9,))
    return mine


@pytest.fixture
def demo_app(seeded_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], TapetuiApp]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()

    def build(first_screen: str = "schedules", **parts) -> TapetuiApp:  # noqa: ANN003 - make_app's
        home = tmp_path / "home"
        shutil.copytree(seeded_home, home, ignore=shutil.ignore_patterns("*.sock", "*.lock"))
        return make_app(Home.single(home), clock=lambda: DEMO_NOW, first_screen=first_screen, **parts)

    return build


class SixteenColours(LineFilter):
    """What a 16-colour terminal shows: every colour taken to the nearest of the
    16 ANSI ones as Textual does for TERM=xterm (rich's `downgrade`), drawn in the
    app's ANSI theme so the SVG shows what such a terminal paints."""

    def __init__(self, theme: TerminalTheme) -> None:
        super().__init__()
        self.theme = theme
        self.styles: dict[Style, Style] = {}

    def apply(self, segments: list[Segment], background: object) -> list[Segment]:  # noqa: ARG002 - the API's
        return [Segment(text, style and self._style(style), control) for text, style, control in segments]

    def _style(self, style: Style) -> Style:
        if style not in self.styles:
            fg, bg = (self._colour(c, fore) for c, fore in ((style.color, True), (style.bgcolor, False)))
            self.styles[style] = style + Style.from_color(fg, bg)
        return self.styles[style]

    def _colour(self, colour: Color | None, foreground: bool) -> Color | None:
        if colour is None or colour.is_default:
            return colour
        return Color.from_triplet(colour.downgrade(ColorSystem.STANDARD).get_truecolor(self.theme, foreground))


def in_16_colours(app: TapetuiApp) -> TapetuiApp:
    """The app, its output passed through `SixteenColours` after Textual's own filters."""
    filters = app.get_line_filters
    downgrade = SixteenColours(app.ansi_theme)
    app.get_line_filters = lambda: [*filters(), downgrade]  # type: ignore[method-assign]
    return app


def steps(*keys: str, wait_for: str | None = None) -> Callable[[Pilot], object]:
    """Wait for the app and its loads, press keys, wait again."""
    async def run(pilot: Pilot) -> None:
        app = pilot.app
        assert isinstance(app, TapetuiApp)
        await asyncio.wait_for(app.ready.wait(), 15)
        for _ in range(2):  # the first loads can trigger a second (signals, screen resume)
            await asyncio.wait_for(app.workers.wait_for_complete(), 15)
            await pilot.pause()
        for key in keys:
            await pilot.press(key)
            if wait_for is None:  # a dialog's worker waits for its answer: do not wait for it
                await asyncio.wait_for(app.workers.wait_for_complete(), 15)
            await pilot.pause()
        if wait_for is not None:
            async def poll() -> None:
                while not app.screen.query(wait_for):
                    await pilot.pause(0.05)
            await asyncio.wait_for(poll(), 15)
        else:
            await asyncio.wait_for(app.workers.wait_for_complete(), 15)
        await pilot.pause(0.1)  # batched log writes (every 0.05 s)
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        # a blinking cursor would be caught on or off depending on the machine's load
        for field in app.screen.query(Input):
            field.cursor_blink = False
        await pilot.pause()
    return run


CASES: dict[str, tuple[str, tuple[str, ...], str | None]] = {
    "schedules": ("schedules", (), None),
    "runs": ("runs", (), None),
    "catalog_sets": ("catalog", (), None),
    "catalog_tree": ("catalog", ("enter", "down", "down", "enter", "down", "enter"), None),
    "tapes": ("tapes", (), None),
    "help": ("schedules", ("question_mark",), "#help-keys"),
    "schedule_form_new": ("schedules", ("n",), "#form-grid"),
    "schedule_form_edit": ("schedules", ("down", "e"), "#form-grid"),
    "confirm_delete": ("schedules", ("d",), "#confirm-body"),
    "format_dialog": ("tapes", ("f",), "#label"),
    "format_confirm_sets": ("tapes", ("f", "enter"), "#confirm-body"),
    "catalog_search": ("catalog", ("slash", *"budget.csv", "enter"), None),
    "restore_dialog": ("catalog", ("R",), "#restore-summary"),
}
#: Where the focus cue must show without colour: on a Select, on a button.
FOCUS_CASES = {
    "schedule_form_select_focused": ("schedules", ("n", "tab"), "#form-grid"),
    "schedule_form_button_focused": ("schedules", ("n", "shift+tab", "shift+tab"), "#form-grid"),  # name, form, Cancel
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("case", CASES)
def test_snapshot(case: str, size: str, snap_compare, demo_app) -> None:  # noqa: ANN001
    screen, keys, wait_for = CASES[case]
    assert snap_compare(demo_app(screen), terminal_size=SIZES[size], run_before=steps(*keys, wait_for=wait_for))


@pytest.mark.parametrize("case", {**CASES, **FOCUS_CASES})
def test_snapshot_16_colours(case: str, snap_compare, demo_app) -> None:  # noqa: ANN001
    screen, keys, wait_for = {**CASES, **FOCUS_CASES}[case]
    app = in_16_colours(demo_app(screen))
    assert snap_compare(app, terminal_size=SIZES["80x24"], run_before=steps(*keys, wait_for=wait_for))


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_format_dialog_asks_a_barcode(size: str, snap_compare, demo_app, tmp_path: Path,  # noqa: ANN001
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's catalog, with a standalone LTFS drive holding a cartridge without a barcode."""
    driver, state = fresh_cartridge_driver(tmp_path)
    monkeypatch.setenv(STATE_ENV, str(state))
    app = demo_app("tapes", driver=driver)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=steps("f", wait_for="#barcode"))
