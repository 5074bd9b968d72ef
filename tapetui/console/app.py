"""The Textual application: one engine, four screens, a header line, live events.

`make_app` builds it with injectable parts (engine, clock, tape driver, first
screen), so tests and the demo run it on a temporary home with a fixed clock.
The engine is opened in the app's own event loop on mount. If a daemon serves
the home the console attaches to it (its runs' events arrive on the engine's
bus); otherwise it schedules in its own loop, as before. When the daemon goes
away the console says so at once and offers to take over.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Callable, cast

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.signal import Signal
from textual.worker import Worker

from ..engine.control import Control, Engine, Home, LocalControl, Session, TapeDriver, open_session, take_over
from ..engine.control.text import shown_id
from ..engine.errors import UserError
from .commands import ScreenCommands
from .errors import report_worker_error
from .keys import SCREENS
from .live import Live
from .widgets.progress_panel import percent, progress_text

if TYPE_CHECKING:
    from .screens.base import MainScreen

CSS_PATH = Path(__file__).resolve().parent.parent / "tapetui.tcss"
QUIT_TITLE = "Quit and cancel runs?"


@dataclass
class HeaderFacts:
    """What the header line says; `running` and `drive` longest form first (the
    status line takes shorter ones where the terminal is narrow)."""

    scheduler: str = "scheduler starting"
    running: tuple[str, ...] = ()
    drive: tuple[str, ...] = ("drive ?",)
    next_name: str = ""
    next_at: datetime | None = None


def screen_classes() -> dict[str, type[MainScreen]]:
    """mode -> its screen class (imported on first use)."""
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
        *(Binding(key, f"show('{mode}')", title, id=f"screen.{mode}", show=False,
                  tooltip=f"Go to the {title} screen")
          for mode, (key, title) in SCREENS.items()),
        Binding("question_mark", "help", "Help", key_display="?", id="app.help", show=False,
                tooltip="List the keys of this screen"),
        Binding("q", "quit", "Quit", id="app.quit", show=False, tooltip="Quit (asks first while work runs here)"),
        Binding("ctrl+p", "command_palette", "Commands", id="app.palette", show=False,
                tooltip="Find any command by name"),
        # no description: only when the daemon went away (the notification names the key)
        Binding("T", "take_over", "", id="app.take_over", show=False),
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
        self.run_to_show: int | None = None  # a run started here: Runs selects it when it opens
        self.session: Session | None = None  # None when started without a scheduler
        self.service: Control
        self.daemon_gone = False
        self._closing = False

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
        for mode, screen in screen_classes().items():
            self.add_mode(mode, screen)
        if self.start_scheduler:
            try:
                self._use(await open_session(self.engine))
            except UserError as e:  # a daemon that does not answer, or speaks another version
                self.service = LocalControl(self.engine)
                self.exit(return_code=1, message=f"tapetui: error: {e}")
                return
        else:
            self.service = LocalControl(self.engine)
            self.facts.scheduler = "scheduler off"
        await self.switch_mode(self.first_screen)
        self.refresh_header()
        self.ready.set()

    def _use(self, session: Session) -> None:
        self.session = session
        self.service = session.control
        self.daemon_gone = False
        self.facts.scheduler = session_text(session)
        if session.mode == "attached":
            session.control.on_detached(self._on_daemon_gone)
            self._join_running()

    @work(exclusive=True, group="join-runs", exit_on_error=False)
    async def _join_running(self) -> None:
        """Attached mid-run: the header shows the daemon's runs as the starting console's does."""
        self.live.joined(await self.service.running())
        self.header_changed.publish(self.facts)

    async def on_unmount(self) -> None:
        if self.engine is None:
            return
        self._closing = True
        if self.session is None or self.session.mode == "scheduling":
            await self.service.close("the console was closed")
        if self.session is not None:
            await self.session.close()
        if self._own_engine:
            await self.engine.close()

    # -- the daemon went away -------------------------------------------------------
    def _on_daemon_gone(self) -> None:
        if self._closing or self.session is None or self.session.mode != "attached":
            return
        self.daemon_gone = True
        self.live.state.running.clear()  # the daemon's runs will never report their end here
        self.live.state.progress.clear()
        self.facts.scheduler = "daemon gone"
        self.header_changed.publish(self.facts)
        pid = self.service.daemon_pid
        self.notify(f"the tapetui daemon (pid {pid}) went away: nothing schedules backups now.\n"
                    "Press T to take over scheduling in this console.", title="Daemon gone",
                    severity="error", timeout=30)
        self.action_take_over()

    @work(exclusive=True, group="take-over", exit_on_error=False)
    async def action_take_over(self) -> None:
        """Confirm, then schedule here (or attach to a daemon started meanwhile)."""
        from .dialogs.confirm import ConfirmScreen

        if not self.daemon_gone or self.session is None:
            return
        body = ("The daemon that scheduled this home's backups went away.\n\n"
                "Take over scheduling in this console? Backups then run only while it stays open.")
        if not await self.push_screen_wait(ConfirmScreen("Daemon gone", body, yes="Take over", danger=False)):
            return
        await self.session.close()
        session = await take_over(self.engine)
        if session.mode == "unscheduled":  # another console was quicker, or a daemon started
            await session.close()
            session = await open_session(self.engine)
        self._use(session)
        self.refresh_header()
        self.notify(f"this console {session_text(session)}")

    def now(self) -> datetime:
        return self.engine.clock()

    # -- header ---------------------------------------------------------------------
    def header_facts(self) -> HeaderFacts:
        facts = self.facts
        state = self.live.state
        if state.running:
            run = next(reversed(state.running.values()))
            p = state.progress.get(run.run_id)
            name = f"▶ {run.schedule}"
            facts.running = (f"{name} {progress_text(p).split(' · ETA')[0]}", f"{name} {p.phase} {percent(p)}",
                             name) if p else (name,)
        else:
            facts.running = ()
        return facts

    @work(exclusive=True, group="header", name="Read the drive", exit_on_error=False)
    async def refresh_header(self) -> None:
        status = await self.service.drive_status()
        if not status.drive_present:
            drive: tuple[str, ...] = ("no drive",)
        elif status.loaded is None:
            drive = ("drive empty",)
        else:
            mounted = " mounted" if status.mounted else ""
            name = shown_id(status.loaded)
            drive = (f"drive {name} {status.label or '(blank)'}{mounted}", f"drive {name}{mounted}", name)
        self.facts.drive = drive
        await self._refresh_next_firing()
        self.header_changed.publish(self.facts)

    async def _refresh_next_firing(self) -> None:
        due = [(r.next_run, r.name) for r in await self.service.list() if r.enabled and r.next_run is not None]
        first = min(due, key=lambda d: d[0], default=None)
        self.facts.next_at, self.facts.next_name = first if first else (None, "")

    # -- actions --------------------------------------------------------------------
    def runs_here(self) -> list[str]:
        """The runs this process executes ("#12 nightly (backup)"), which quitting cancels.
        Empty while attached: the daemon runs them (its events come on our bus too)."""
        if self.session is not None and self.session.mode == "attached":
            return []
        return [f"#{r.run_id} {r.schedule} ({r.action})" for r in self.live.state.running.values()]

    async def action_quit(self) -> None:
        """Quit; when this console runs backups or restores itself, only after a yes."""
        from .dialogs.confirm import ConfirmScreen

        runs = self.runs_here()
        if not runs:
            self.exit()
            return
        if isinstance(self.screen, ConfirmScreen) and self.screen.title_text == QUIT_TITLE:
            return  # already asking
        body = (f"{len(runs)} run(s) are running in this console; quitting cancels them:\n"
                + "\n".join(f"  • {r}" for r in runs)
                + "\n\nTo keep backups running without a console, start `tapetui daemon`: "
                "consoles then attach to it.")
        self.push_screen(ConfirmScreen(QUIT_TITLE, body, yes="Quit, cancel them"),
                         lambda yes: self.exit() if yes else None)

    async def action_show(self, mode: str) -> None:
        if self.current_mode != mode:
            await self.switch_mode(mode)

    def action_help(self) -> None:
        from .dialogs.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_worker_error(self, event)


def session_text(session: Session) -> str:
    """The header's first part: who schedules this home's backups."""
    if session.mode == "scheduling":
        return "scheduler on"
    if session.mode == "attached":
        return f"attached to daemon pid {session.control.daemon_pid}"
    holder = session.holder
    if holder is None or holder.pid is None:
        return "scheduled elsewhere"
    return f"scheduled by {holder.role or 'another process'} pid {holder.pid}"


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

