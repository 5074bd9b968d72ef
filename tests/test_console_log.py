"""The Runs screen's log: an old run replays its newest lines; a run opened while
it streams shows every line once, in order (stored lines joined to live ones)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len

from tapetui.console.app import TapetuiApp, make_app
from tapetui.console.live import after_shown, join_log
from tapetui.console.screens.runs import RunsScreen, log_text
from tapetui.console.widgets.log_view import LiveLog, pieces
from tapetui.engine import events as ev
from tapetui.engine import handlers
from tapetui.engine.demo import write_config
from tapetui.engine.handlers import Action, Firing, Outcome
from tapetui.engine.paths import Home
from tapetui.engine.store.models import LogLine

#: Set by a test to let a `wait` chatter run end.
GATE = asyncio.Event()


async def chatter(engine: Any, firing: Firing) -> Outcome:
    """Numbered log lines: `lines` of them at once, or (with `wait`) a steady stream
    of at least `lines` that goes on until GATE is set."""
    cfg = firing.schedule.action_config
    burst, pause = (20, 0.01) if cfg.get("wait") else (1000, 0)
    i = 0
    while i < cfg["lines"] or (cfg.get("wait") and not GATE.is_set() and i < 4800):
        for _ in range(burst):
            firing.log.info(f"line {i}")
            i += 1
        await asyncio.sleep(pause)
    return Outcome("success", f"{i} lines", {"lines": i})


async def _accept(engine: Any, config: dict[str, Any], template: Any = None) -> dict[str, Any]:
    return dict(config)


@pytest.fixture
def chatter_action() -> Iterator[None]:
    """The `chatter` action, for this test only: it must not leak into other modules."""
    with handlers.registered(Action("chatter", chatter, _accept)):
        yield


def test_a_temporary_action_is_gone_after_its_block_and_a_shadowed_one_comes_back() -> None:
    builtin = handlers.get("cleanup")
    with handlers.registered(Action("chatter", chatter, _accept), Action("cleanup", chatter, _accept)):
        assert handlers.get("chatter").run is chatter and handlers.get("cleanup").run is chatter
    assert "chatter" not in handlers.names()
    assert handlers.get("cleanup") is builtin


def expected(n: int) -> list[str]:
    return [f"line {i}" for i in range(n)]


async def start(tmp_path: Path, pilot) -> TapetuiApp:  # noqa: ANN001
    app = pilot.app
    assert isinstance(app, TapetuiApp)
    await asyncio.wait_for(app.ready.wait(), 15)
    return app


async def until(pilot, cond, timeout: float = 20) -> None:  # noqa: ANN001
    async def poll() -> None:
        while not cond():
            await pilot.pause(0.05)
    await asyncio.wait_for(poll(), timeout)


def log_lines(app: TapetuiApp) -> list[str]:
    return [x for x in app.screen.query_one(LiveLog).lines if x.startswith("line ")]


@pytest.mark.usefixtures("chatter_action")
async def test_an_old_run_replays_its_newest_lines(tmp_path: Path) -> None:
    home = Home.single(tmp_path / "home")
    write_config(home)
    async with make_app(home).run_test(size=(80, 24)) as pilot:
        app = await start(tmp_path, pilot)
        await app.service.add("long", kind="daily", when="01:00", action="chatter", action_config={"lines": 6000})
        run = await app.service.run_now("long", wait=True)
        assert run.status == "success"
        await pilot.press("2")
        await until(pilot, lambda: "success" in (app.screen.query_one(LiveLog).border_title or ""))
        everything = await app.service.runs.lines(run.id, limit=10_000)
        assert len(everything) > 6000
        assert app.screen.query_one(LiveLog).lines == [log_text(x.level, x.line) for x in everything[-LiveLog.MAX:]]
        shown = log_lines(app)
        assert shown == expected(6000)[-len(shown):] and len(shown) > 4900  # "line 1001".."line 5999", not "line 0"


@pytest.mark.usefixtures("chatter_action")
async def test_a_streaming_run_shows_every_line_once(tmp_path: Path) -> None:
    GATE.clear()
    home = Home.single(tmp_path / "home")
    write_config(home)
    async with make_app(home).run_test(size=(80, 24)) as pilot:
        app = await start(tmp_path, pilot)
        await app.service.add("stream", kind="daily", when="01:00", action="chatter",
                              action_config={"lines": 300, "wait": True})  # then on until GATE
        seen: list[ev.LogLine] = []
        app.engine.bus.subscribe(seen.append, ev.LogLine)
        await app.service.run_now("stream")
        await until(pilot, lambda: len(seen) > 700)  # some lines stored, some not yet: then open it
        await pilot.press("2")
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        await until(pilot, lambda: screen.log_joined)
        await until(pilot, lambda: len(seen) > len(log_lines(app)) + 100)
        screen.show_run(screen.shown_run)  # opened again mid-stream
        await until(pilot, lambda: screen.log_joined)
        GATE.set()
        await until(pilot, lambda: "success" in (screen.query_one(LiveLog).border_title or ""))
        [run] = await app.service.run_list()
        total = run.result["lines"]
        assert total > 700  # it streamed on while the log was opened, twice
        await until(pilot, lambda: len(log_lines(app)) >= total, timeout=5)
        assert log_lines(app) == expected(total)


T = datetime(2030, 1, 1, tzinfo=timezone.utc)


def stored(i: int, text: str, at: datetime) -> LogLine:
    return LogLine(id=i, run_id=1, ts=at, level="info", line=text)


def live(text: str, at: datetime) -> ev.LogLine:
    return ev.LogLine(run_id=1, level="info", text=text, at=at)


def test_join_log_takes_the_live_lines_after_the_last_stored_one() -> None:
    t = [T + timedelta(microseconds=i) for i in range(6)]
    db = [stored(1, "a", t[0]), stored(2, "b", t[1]), stored(3, "same", t[2])]
    recent = [live("b", t[1]), live("same", t[2]), live("same", t[3]), live("c", t[4])]
    assert [x for _, x in join_log(db, recent)] == ["a", "b", "same", "same", "c"]
    assert [x for _, x in join_log(db, [live("c", t[4])])] == ["a", "b", "same", "c"]  # no overlap
    assert [x for _, x in join_log([], recent)] == ["b", "same", "same", "c"]
    assert [x for _, x in join_log(db, [])] == ["a", "b", "same"]


def test_live_lines_already_stored_are_not_shown_twice() -> None:
    """The stored lines were read before the bridge handed on its newest batch: that
    batch repeats the last stored lines (a run opened mid-stream showed 20 twice)."""
    t = [T + timedelta(microseconds=i) for i in range(6)]
    batch = [live("a", t[0]), live("b", t[1]), live("c", t[2]), live("d", t[3])]
    assert [x.text for x in after_shown(batch, (t[1], "info", "b"))] == ["c", "d"]
    assert [x.text for x in after_shown(batch, (t[3], "info", "d"))] == []
    assert [x.text for x in after_shown(batch, (t[1], "info", "gone"))] == ["b", "c", "d"]  # not in it: by time
    assert after_shown(batch, None) == batch


async def test_follow_mode_keeps_the_tail_in_view_when_the_log_shrinks() -> None:
    """As on the Runs screen: the log is replayed, then the progress panel above it appears."""
    from textual.app import App, ComposeResult
    from textual.widgets import Static

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield Static("progress\n\n", id="panel")
            yield LiveLog(title="t")

        def on_mount(self) -> None:
            self.query_one("#panel").display = False

    async with One().run_test(size=(40, 14)) as pilot:
        log = pilot.app.query_one(LiveLog)
        log.replace([f"stored {i}" for i in range(30)])
        await pilot.pause(0.1)
        assert log.max_scroll_y > 0 and log.scroll_y == log.max_scroll_y
        pilot.app.query_one("#panel").display = True
        await pilot.pause(0.1)
        assert log.auto_scroll and log.scroll_y == log.max_scroll_y  # still showing the last line
        log.add_lines([f"live {i}" for i in range(3)])
        await pilot.pause(0.1)
        assert log.scroll_y == log.max_scroll_y
        log.scroll_to(y=0, animate=False, immediate=True)  # scrolling up pauses following
        log.add_lines(["more"])
        await pilot.pause(0.1)
        assert not log.auto_scroll and log.scroll_y == 0


@settings(deadline=None)  # a loaded CI machine must not fail a pure function on time
@given(st.text(alphabet=st.sampled_from("ab é界 -"), max_size=120), st.integers(4, 40))
def test_log_rows_break_between_words(text: str, width: int) -> None:
    """A wrapped line breaks after a space (a barcode or '500 B' stays whole); only a
    word longer than a row is cut inside. Every character lands in one row, in order."""
    rows = [text[a:b] for a, b in pieces(text, width)]
    assert "".join(rows) == text
    assert all(cell_len(row) <= width for row in rows)
    for row, after in zip(rows, rows[1:]):
        if not row.endswith(" ") and not after.startswith(" "):  # cut inside a word
            assert " " not in row
