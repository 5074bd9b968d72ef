"""Two consoles (Pilot) attached to a real `tapetui daemon` process: a run started
from one streams its log into both; when the daemon is SIGKILLed the consoles
say so at once, and the one that takes over schedules itself."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Callable

import pytest
from daemon_support import Daemon, atapetui, make_home, write_tree
from textual.pilot import Pilot

from tapetui.console.app import TapetuiApp, make_app
from tapetui.console.dialogs.confirm import ConfirmScreen
from tapetui.console.widgets.status_line import StatusLine
from tapetui.engine.events import Event, LogLine, RunFinished

WAIT = 30  # seconds: the bound on every wait


@pytest.fixture
def daemon(tmp_path: Path):
    d = Daemon(make_home(tmp_path))
    yield d
    d.stop()


async def until(pilot: Pilot, cond: Callable[[], object], timeout: float = WAIT) -> None:
    async def poll() -> None:
        while not cond():
            await pilot.pause(0.05)
    await asyncio.wait_for(poll(), timeout)


def header(app: TapetuiApp) -> str:
    """The header line of the screen on top (under any dialog)."""
    screen = next(s for s in reversed(app.screen_stack) if s.query(StatusLine))
    return str(screen.query_one(StatusLine).render())


async def test_two_consoles_attach_see_the_same_run_and_one_takes_over(daemon: Daemon, tmp_path: Path) -> None:
    home, src = daemon.home, tmp_path / "src"
    write_tree(src)
    daemon.start()
    add = await atapetui(home, "schedule", "add", "nightly", "--action", "backup", "--level", "full",
                         "--source", str(src), "--daily", "02:00")
    assert add.returncode == 0, add.stderr

    a, b = make_app(home), make_app(home)
    async with a.run_test(size=(100, 24)) as pa, b.run_test(size=(100, 24)) as pb:
        await asyncio.wait_for(asyncio.gather(a.ready.wait(), b.ready.wait()), WAIT)
        for app, pilot in ((a, pa), (b, pb)):
            assert app.session is not None and app.session.mode == "attached"
            assert app.service.remote
            await until(pilot, lambda app=app: f"attached to daemon pid {daemon.pid}" in header(app))
        seen: dict[str, list[Event]] = {"a": [], "b": []}
        a.engine.bus.subscribe(seen["a"].append)
        b.engine.bus.subscribe(seen["b"].append)

        run = await a.service.run_now("nightly")
        assert run.status == "running" and run.pid == daemon.pid  # the daemon runs it, not console a

        def finished(events: list[Event]) -> bool:
            return any(isinstance(e, RunFinished) and e.run_id == run.id for e in events)

        await until(pa, lambda: finished(seen["a"]) and finished(seen["b"]))
        texts = {k: [e.text for e in v if isinstance(e, LogLine) and e.run_id == run.id] for k, v in seen.items()}
        assert texts["a"] == texts["b"]  # both consoles saw the same live log
        assert any("format succeeded" in t for t in texts["a"]) and texts["a"][-1].startswith("success:")
        assert [r.status for r in await b.service.run_list("nightly")] == ["success"]

        daemon.signal(signal.SIGKILL)
        await asyncio.to_thread(daemon.wait, WAIT)
        for app, pilot in ((a, pa), (b, pb)):
            await until(pilot, lambda app=app: isinstance(app.screen, ConfirmScreen))  # take over?
            assert header(app).startswith("daemon gone")
            assert any(f"daemon (pid {daemon.pid}) went away" in n.message for n in app._notifications)
        await pa.press("y")
        await until(pa, lambda: a.session is not None and a.session.mode == "scheduling")
        await until(pa, lambda: header(a).startswith("scheduler on"))
        again = await a.service.run_now("nightly")
        assert again.pid == os.getpid()  # console a runs it itself now
        await until(pa, lambda: any(isinstance(e, RunFinished) and e.run_id == again.id for e in seen["a"]))
        done = await a.service.runs.get(again.id)
        assert done.status == "success", "\n".join(ln.line for ln in await a.service.runs.lines(again.id))

        await pb.press("y")  # too late: console a schedules, so b says who does
        await until(pb, lambda: b.session is not None and b.session.mode == "unscheduled")
        await until(pb, lambda: header(b).startswith(f"scheduled by console pid {os.getpid()}"))
