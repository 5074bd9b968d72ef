"""The Textual application: opens the engine in its own event loop."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import DataTable, Footer, Header, Static

from ..engine.core import Engine
from ..engine.errors import UserError
from ..engine.paths import Home

CSS_PATH = Path(__file__).resolve().parent.parent / "tapetui.tcss"


class TapetuiApp(App[None]):
    TITLE = "tapetui"
    CSS_PATH = CSS_PATH
    BINDINGS = [("q", "quit", "Quit")]

    def __init__(self, home: Home, *, debug: bool = False, engine: Engine | None = None) -> None:
        super().__init__()
        self.home = home
        self.debug_mode = debug
        self.engine = engine

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("opening…", id="status-line")
        yield DataTable(id="cartridges", cursor_type="row")
        yield Footer()

    async def on_mount(self) -> None:
        if self.engine is None:
            try:
                self.engine = await Engine.open(self.home, debug=self.debug_mode)
            except UserError as e:
                self.exit(return_code=1, message=f"tapetui: error: {e}")
                return
        await self.refresh_tapes()

    async def refresh_tapes(self) -> None:
        assert self.engine is not None
        table = self.query_one("#cartridges", DataTable)
        table.clear(columns=True)
        table.add_columns("Barcode", "Slot", "Label", "Formatted")
        for c in await self.engine.driver.inventory():
            table.add_row(c.barcode, "drive" if c.in_drive else str(c.slot), c.label or "-",
                          "yes" if c.formatted else "no")
        status = await self.engine.driver.status()
        self.query_one("#status-line", Static).update(
            f"drive: {status.loaded or 'empty'}  ·  driver: {self.engine.driver.name}"
        )

    async def on_unmount(self) -> None:
        if self.engine is not None:
            await self.engine.close()
