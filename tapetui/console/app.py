"""The Textual application: one engine, four screens, a header line, live events.

`make_app` builds it with injectable parts (engine, clock, tape driver, first
screen), so tests and the demo run it on a temporary home with a fixed clock.
The engine is opened in the app's own event loop on mount; the scheduler runs
there too.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, cast

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.dom import DOMNode
from textual.signal import Signal
from textual.worker import Worker

from ..engine.core import Engine
from ..engine.errors import UserError
from ..engine.paths import Home
from ..engine.scheduler import Scheduler
from ..engine.service import Service
from ..engine.tape.base import TapeDriver
from .commands import ScreenCommands
from .errors import report_worker_error
from .keys import SCREENS
from .live import Live
from .widgets.progress_panel import progress_text

CSS_PATH = Path(__file__).resolve().parent.parent / "tapetui.tcss"



@dataclass
class HeaderFacts:
    scheduler: str = "scheduler starting"
    running: str = ""
    drive: str = "drive ?"
    next_name: str = ""
    next_at: datetime | None = None


def _modes() -> dict[str, Callable]:
    from .screens.catalog import CatalogScreen
    from .screens.runs import RunsScreen
    from .screens.schedules import SchedulesScreen
    from .screens.tapes import TapesScreen

    return {"schedules": SchedulesScreen, "runs": RunsScreen, "catalog": CatalogScreen, "tapes": TapesScreen}


class TapetuiApp(App[None]):
    TITLE = "tapetui"
    CSS_PATH = CSS_PATH
    COMMANDS = App.COMMANDS | {ScreenCommands}
    BINDINGS = [
        *(Binding(key, f"show('{mode}')", title, id=f"screen.{mode}", show=False)
          for mode, (key, title) in SCREENS.items()),
        Binding("question_mark", "help", "Help", key_display="?", id="app.help", show=False),
        Binding("q", "quit", "Quit", id="app.quit", show=False),
        Binding("ctrl+p", "command_palette", "Commands", id="app.palette", show=False),
    ]

    def __init__(
        self,
        home: Home,
        *,
        engine: Engine | None = None,
        clock: Callable[[], datetime] | None = None,
        driver: TapeDriver | None = None,
        first_screen: str = "schedules",
        start_scheduler: bool = True,
        debug: bool = False,
    ) -> None:
        super().__init__()
        self.home = home
        self.engine = cast(Engine, engine)  # set on mount when not given
        self._own_engine = engine is None
        self._clock = clock
        self._tape_driver = driver
        self.first_screen = first_screen
        self.start_scheduler = start_scheduler
        self.debug_mode = debug
        self.live = Live(self)
        self.facts = HeaderFacts()
        self.header_changed: Signal[HeaderFacts] = Signal(self, "header")
        self.ready = asyncio.Event()
        self.scheduler: Scheduler
        self.service: Service

    # -- life cycle -------------------------------------------------------------------
    async def on_mount(self) -> None:
        if self._own_engine:
            try:
                self.engine = await Engine.open(
                    self.home, clock=self._clock, driver=self._tape_driver, debug=self.debug_mode
                )
            except UserError as e:
                self.exit(return_code=1, message=f"tapetui: error: {e}")
                return
        self.engine.bus.subscribe(self.live.on_event)
        self.scheduler = Scheduler(self.engine)
        self.service = Service(self.engine, self.scheduler)
        self.facts.scheduler = "scheduler off"
        for mode, screen in _modes().items():
            self.add_mode(mode, screen)
        if self.start_scheduler:
            await self._start_scheduler()
        await self.switch_mode(self.first_screen)
        self.refresh_header()
        self.ready.set()

    async def _start_scheduler(self) -> None:
        await self.scheduler.start()
        self.facts.scheduler = "scheduler on"

    async def on_unmount(self) -> None:
        if self.engine is None:
            return
        await self.scheduler.close("the console was closed")
        if self._own_engine:
            await self.engine.close()

    def now(self) -> datetime:
        return self.engine.clock()

    # -- header ---------------------------------------------------------------------
    def header_facts(self) -> HeaderFacts:
        facts = self.facts
        state = self.live.state
        if state.running:
            run = next(reversed(state.running.values()))
            p = state.progress.get(run.run_id)
            facts.running = f"▶ {run.schedule}" + (f" {progress_text(p).split(' · ETA')[0]}" if p else "")
        else:
            facts.running = ""
        return facts

    @work(exclusive=True, group="header", exit_on_error=False)
    async def refresh_header(self) -> None:
        status = await self.engine.driver.status()
        if not status.drive_present:
            drive = "no drive"
        elif status.loaded is None:
            drive = "drive empty"
        else:
            mounted = " mounted" if status.mounted else ""
            drive = f"drive {status.loaded} {status.label or '(blank)'}{mounted}"
        self.facts.drive = drive
        await self._refresh_next_firing()
        self.header_changed.publish(self.facts)

    async def _refresh_next_firing(self) -> None:
        due = [r for r in await self.service.list() if r.enabled and r.next_run is not None]
        first = min(due, key=lambda r: r.next_run, default=None)  # type: ignore[arg-type, return-value]
        self.facts.next_name = first.name if first else ""
        self.facts.next_at = first.next_run if first else None

    # -- actions --------------------------------------------------------------------
    async def action_show(self, mode: str) -> None:
        if self.current_mode != mode:
            await self.switch_mode(mode)

    def action_help(self) -> None:
        from .dialogs.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_worker_error(self, event)


def make_app(
    home: Home | Path | str,
    *,
    engine: Engine | None = None,
    clock: Callable[[], datetime] | None = None,
    driver: TapeDriver | None = None,
    first_screen: str = "schedules",
    start_scheduler: bool = True,
    debug: bool = False,
) -> TapetuiApp:
    if not isinstance(home, Home):
        home = Home.single(Path(home))
    return TapetuiApp(
        home, engine=engine, clock=clock, driver=driver, first_screen=first_screen,
        start_scheduler=start_scheduler, debug=debug,
    )

