"""Tapes: the drive, the library, and load / unload / format / check.

Format and check stream the tool's output into the log below as it comes.
A run waiting for an operator ("insert the next cartridge") shows here too.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from ...engine.events import Event, OperatorNeeded
from ...engine.tape.base import Cartridge, DriveStatus
from ..fmt import bar, human_bytes
from ..context import tapp
from ..widgets.log_view import LiveLog
from .base import MainScreen


@dataclass
class LibraryRow:
    cartridge: Cartridge
    status: str
    sets: list[int]


class TapesScreen(MainScreen):
    TITLE = "Tapes"
    BINDINGS = [
        Binding("l", "load", "Load", id="tapes.load"),
        Binding("u", "unload", "Unload", id="tapes.unload"),
        Binding("f", "format", "Format", id="tapes.format"),
        Binding("c", "check", "Check", id="tapes.check"),
        Binding("r", "refresh", "Refresh", id="tapes.refresh"),
    ]

    class Loaded(Message):
        def __init__(self, status: DriveStatus, rows: list[LibraryRow]) -> None:
            super().__init__()
            self.status = status
            self.rows = rows

    def body(self) -> ComposeResult:
        with Vertical(id="tapes"):
            yield Static("", id="operator", markup=False)
            yield Static("reading the drive…", id="drive", markup=False)
            yield DataTable(id="library", cursor_type="row", zebra_stripes=True)
            yield LiveLog(id="tape-output", title="tape output")

    def on_mount(self) -> None:
        table = self.query_one("#library", DataTable)
        table.add_columns("Slot", "Barcode", "Label", "Status", "Used", "Sets")
        live = tapp(self).live
        live.tapes.subscribe(self, lambda _e: self.action_refresh())
        live.operator.subscribe(self, self._on_operator)
        self.query_one("#operator").display = False
        self.action_refresh()

    def _on_operator(self, event: Event) -> None:
        box = self.query_one("#operator", Static)
        box.display = isinstance(event, OperatorNeeded)
        if isinstance(event, OperatorNeeded):
            box.update(f"⚠ {event.message} → {event.action}")

    # -- data ---------------------------------------------------------------------------
    @work(exclusive=True, group="tapes.refresh", exit_on_error=False)
    async def action_refresh(self) -> None:
        engine = self.engine
        status = await engine.driver.status()
        rows = []
        for c in await engine.driver.inventory():
            record = await engine.cartridges.by_barcode(c.barcode)
            sets = [s.id for s in await engine.sets.on_cartridge(record.id) if s.status != "overwritten"] \
                if record else []
            state = record.status if record else ("formatted" if c.formatted else "blank")
            rows.append(LibraryRow(c, state, sets))
        rows.sort(key=lambda r: (r.cartridge.slot is not None, r.cartridge.slot or 0))
        self.post_message(self.Loaded(status, rows))

    def on_tapes_screen_loaded(self, message: Loaded) -> None:
        self.query_one("#drive", Static).update(drive_text(message.status))
        table = self.query_one("#library", DataTable)
        keep = table.cursor_row
        table.clear()
        for r in message.rows:
            c = r.cartridge
            sets = " ".join(f"#{i}" for i in r.sets[:4]) + (" …" if len(r.sets) > 4 else "")
            table.add_row(
                "drive" if c.in_drive else str(c.slot), c.barcode, c.label or "-", r.status,
                bar(c.used_bytes, c.capacity_bytes, 8), sets or "-", key=c.barcode,
            )
        if table.row_count:
            table.move_cursor(row=min(keep, table.row_count - 1))

    def selected(self) -> str | None:
        table = self.query_one("#library", DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    # -- actions ------------------------------------------------------------------------
    @work(exclusive=True, group="tapes.move", exit_on_error=False)
    async def action_load(self) -> None:
        barcode = self.selected()
        if barcode is None:
            return
        self.notify(f"loading {barcode}…")
        await self.engine.driver.load(barcode)
        self._changed(f"loaded {barcode}")

    @work(exclusive=True, group="tapes.move", exit_on_error=False)
    async def action_unload(self) -> None:
        status = await self.engine.driver.status()
        if status.loaded is None:
            self.notify("the drive is empty", severity="warning")
            return
        await self.engine.driver.unload()
        self._changed(f"unloaded {status.loaded}")

    def _changed(self, what: str) -> None:
        from ...engine.events import TapeChanged

        self.notify(what)
        self.engine.bus.publish(TapeChanged(reason=what))

    def action_format(self) -> None:
        barcode = self.selected()
        if barcode is not None:
            self._ask_format(barcode)

    @work(exclusive=True, group="tapes.format", exit_on_error=False)
    async def _ask_format(self, barcode: str) -> None:
        from ..dialogs.format import FormatRequest, FormatScreen
        from ...engine.tape.ops import TapeOps

        ops = TapeOps(self.engine)
        lost = await ops.would_lose(barcode)
        request: FormatRequest | None = await self.app.push_screen_wait(FormatScreen(barcode, lost, self.app.now()))
        if request is None:
            return
        out = self.query_one("#tape-output", LiveLog)
        out.replace([], title=f"format {barcode}")
        result = await ops.format_flow(barcode, label=request.label, on_line=lambda line: out.add_lines([line]))
        self._report(f"format {barcode}", result)

    @work(exclusive=True, group="tapes.check", exit_on_error=False)
    async def action_check(self) -> None:
        status = await self.engine.driver.status()
        if status.loaded is None:
            self.notify("load a cartridge to check it", severity="warning")
            return
        out = self.query_one("#tape-output", LiveLog)
        out.replace([], title=f"check {status.loaded}")
        result = await self.engine.driver.check(on_line=lambda line: out.add_lines([line]))
        self._report(f"check {status.loaded}", result)

    def _report(self, what: str, result) -> None:
        if result.success:
            self._changed(f"{what}: {result.message}")
        else:
            self.notify(f"{what} failed: {result.message}", severity="error", timeout=10)
            self.action_refresh()


def drive_text(s: DriveStatus) -> str:
    if not s.drive_present:
        return "Drive  not found"
    if s.loaded is None:
        return "Drive  empty — select a cartridge and press l to load it"
    lines = [
        f"Drive  {s.loaded}  label {s.label or '(none: not formatted)'}  {s.generation or ''}"
        f"  {'mounted' if s.mounted else 'not mounted'}",
        f"Space  {human_bytes(s.remaining_bytes)} free of {human_bytes(s.capacity_bytes)}",
    ]
    if s.health:
        lines.append("Health " + " · ".join(f"{k} {v}" for k, v in s.health.items()))
    return "\n".join(lines)
