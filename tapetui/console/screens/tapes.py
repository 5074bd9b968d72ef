"""Tapes: the drive, the library, and load / unload / format / check.

Load, unload, format and check go through the app's control, so with a daemon
the daemon does them. Format and check put the tool's output on the bus as log
lines of no run (nothing else does); the log below shows those as they come,
whichever console started the operation.
A run waiting for an operator ("insert the next cartridge") shows here too.
While a cartridge moves the drive line says so ("loading TPA002L8…") and the
cursor stays on that cartridge's row. The table is read again when a cartridge moves, a run ends (a backup fills a
cartridge and adds sets), and when a format or check says more (a format marks
sets overwritten after it has rewritten the tape).
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from ...engine.control import CartridgeView, Control, DriveStatus
from ...engine.control.text import has_barcode, health_text, shown_id
from ...engine.events import Event, LogLine, OperatorNeeded
from ..context import tapp
from ..dialogs.format import FormatScreen
from ..fmt import Fit, gauge, human_bytes
from ..widgets.log_view import LiveLog
from .base import MainScreen, add_columns, fill_table


class TapesScreen(MainScreen):
    TITLE = "Tapes"
    BINDINGS = [
        Binding("l", "load", "Load", id="tapes.load"),
        Binding("u", "unload", "Unload", id="tapes.unload"),
        Binding("f", "format", "Format", id="tapes.format"),
        Binding("c", "check", "Check", id="tapes.check"),
        Binding("r", "refresh", "Refresh", id="tapes.refresh", show=False),
    ]

    class Loaded(Message):
        def __init__(self, status: DriveStatus, rows: list[CartridgeView]) -> None:
            super().__init__()
            self.status = status
            self.rows = rows

    def body(self) -> ComposeResult:
        with Vertical(id="tapes"):
            yield Static("", id="operator", markup=False)
            yield Static("reading the drive…", id="drive", markup=False)
            yield DataTable(id="library", cursor_type="row", zebra_stripes=True)
            yield LiveLog(id="tape-output", title="tape output")
        self.moving: str | None = None  # "loading TPA002L8…" while the drive works

    def on_mount(self) -> None:
        table = self.query_one("#library", DataTable)
        add_columns(table, Where=6, Barcode=9, Label=11, Status=8, Used=(14, 14, 4), Sets=4)  # 60: "35%"
        live = tapp(self).live
        live.tapes.subscribe(self, lambda _e: self.action_refresh())
        live.runs.subscribe(self, lambda _e: self.action_refresh())
        live.operator.subscribe(self, self._on_operator)
        live.log_lines.subscribe(self, self._on_lines)
        self.query_one("#operator").display = False

    def on_screen_resume(self) -> None:
        """Shown (the first time too): read it again, it may have changed meanwhile."""
        self.action_refresh()

    def _on_operator(self, event: Event) -> None:
        box = self.query_one("#operator", Static)
        box.display = isinstance(event, OperatorNeeded)
        if isinstance(event, OperatorNeeded):
            box.update(f"⚠ {event.message} → {event.action}")

    # -- data ---------------------------------------------------------------------------
    @property
    def ops(self) -> Control:
        return tapp(self).service

    @work(exclusive=True, group="tapes.refresh", exit_on_error=False)
    async def action_refresh(self) -> None:
        ops = self.ops
        self.post_message(self.Loaded(await ops.drive_status(), await ops.cartridges()))

    def on_tapes_screen_loaded(self, message: Loaded) -> None:
        self.query_one("#drive", Static).update(drive_text(message.status))
        cells = [(c.location, barcode_cell(c.barcode), c.label or "-", c.status, gauge(c.used_bytes, c.capacity_bytes),
                  str(c.sets) if c.sets else "-") for c in message.rows]
        # the cursor stays on its cartridge: a load or unload moves that row
        fill_table(self.query_one("#library", DataTable), cells, [c.barcode for c in message.rows],
                   cursor_key=self.selected())
        if self.moving:
            self._show_moving()

    def selected(self) -> str | None:
        table = self.query_one("#library", DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    # -- actions ------------------------------------------------------------------------
    @work(exclusive=True, group="tapes.move", exit_on_error=False)
    async def action_load(self) -> None:
        barcode = self.selected()
        if barcode is not None:
            async with self._moving(f"loading {shown_id(barcode)}…"):
                await tapp(self).service.load(barcode)
            self.notify(f"{shown_id(barcode)} is in the drive")

    @work(exclusive=True, group="tapes.move", exit_on_error=False)
    async def action_unload(self) -> None:
        loaded = (await self.ops.drive_status()).loaded
        if loaded is None:
            self.notify("the drive is empty", severity="warning")
            return
        async with self._moving(f"unloading {shown_id(loaded)}…"):
            barcode = await tapp(self).service.unload()
        self.notify(f"{shown_id(barcode)} is back in its slot" if barcode else "the drive is empty",
                    severity="information" if barcode else "warning")

    @asynccontextmanager
    async def _moving(self, what: str) -> AsyncIterator[None]:
        """The drive line says what is moving for as long as the drive takes (a real
        changer takes a minute), then the table is read again."""
        self.moving = what
        self._show_moving()
        self.notify(what)
        try:
            yield
        finally:
            self.moving = None
            self.action_refresh()

    def _show_moving(self) -> None:
        self.query_one("#drive", Static).update(f"Drive  {self.moving}")

    @work(exclusive=True, group="tapes.format", exit_on_error=False)
    async def action_format(self) -> None:
        ops = self.ops
        status = await ops.drive_status()
        if status.loaded is None:
            self.notify("the drive is empty: select a cartridge and press l to load it first", severity="warning")
            return
        lost, last = await ops.format_loss(status.loaded)
        request = await self.app.push_screen_wait(FormatScreen(status.loaded, status.label, lost, last))
        if request is None:
            return
        name = shown_id(status.loaded)
        self.query_one("#tape-output", LiveLog).replace([], title=f"format {name}")
        done = await tapp(self).service.format(request.label or None, force=True, barcode=request.barcode)
        outcome = done.outcome
        if outcome.ok:
            gone = f"; sets {', '.join(f'#{i}' for i in outcome.overwritten_sets)} overwritten" \
                if outcome.overwritten_sets else ""
            named = f"; the drive now names it {done.named}" if done.named else ""
            self.notify(f"formatted {name} as {outcome.new_label}{named}{gone}")
        else:
            self.notify(f"format of {name} failed: {'; '.join(outcome.warnings)}", severity="error",
                        timeout=10)
        self.action_refresh()  # the TapeChanged of a format comes before its sets are marked overwritten

    @work(exclusive=True, group="tapes.check", exit_on_error=False)
    async def action_check(self) -> None:
        status = await self.ops.drive_status()
        if status.loaded is None:
            self.notify("load a cartridge to check it", severity="warning")
            return
        self.query_one("#tape-output", LiveLog).replace([], title=f"check {status.loaded}")
        result = await tapp(self).service.check()
        self.notify(f"check {status.loaded}: {result.message}", severity="information" if result.success else "error")

    def _on_lines(self, batch: list[LogLine]) -> None:
        """A format's or check's lines (those of no run)."""
        lines = [f"[{x.level}] {x.text}" if x.level in ("warning", "error") else x.text
                 for x in batch if x.run_id is None]
        if lines:
            self.query_one("#tape-output", LiveLog).add_lines(lines)
            self.action_refresh()


def barcode_cell(barcode: str) -> Fit:
    """A cartridge without a barcode is told apart by its medium serial where there is room."""
    return Fit(shown_id(barcode), barcode if has_barcode(barcode) else "(none)")


def drive_text(s: DriveStatus) -> str:
    if not s.drive_present:
        return "Drive  not found"
    if s.loaded is None:
        return "Drive  empty — select a cartridge and press l to load it"
    lines = [
        f"Drive  {shown_id(s.loaded)}  label {s.label or '(none: not formatted)'}  {s.generation or ''}"
        f"  {'mounted' if s.mounted else 'not mounted'}",
        f"Space  {human_bytes(s.remaining_bytes)} free of {human_bytes(s.capacity_bytes)}",
    ]
    if s.health:  # TapeAlert flags by name first, a critical one marked, then counters
        lines.append("Health " + health_text(s.health))
    return "\n".join(lines)
