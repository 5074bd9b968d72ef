"""What every main screen shares: the header line on top, the footer below,
one error handler for its workers."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer
from textual.worker import Worker

from ..context import tapp
from ..keys import SCREENS
from ..errors import report_worker_error
from ..widgets.status_line import StatusLine


class MainScreen(Screen[None]):
    """The screen-switch keys are repeated here so the footer shows them first."""

    BINDINGS = [
        Binding(key, f"app.show('{mode}')", title, id=f"screen.{mode}.footer")
        for mode, (key, title) in SCREENS.items()
    ]

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status-line", markup=False)
        yield from self.body()
        yield Footer(compact=True, show_command_palette=False)

    def body(self) -> ComposeResult:
        raise NotImplementedError

    @property
    def engine(self):
        return tapp(self).engine

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_worker_error(self, event)


def add_columns(table: DataTable, **widths: int) -> None:
    """Fixed widths ('Next_run' is shown 'Next run'): tables do not jump as rows
    arrive, and screenshots do not depend on when the widths were measured."""
    for label, width in widths.items():
        table.add_column(label.replace("_", " "), width=width)


def fill_table(table: DataTable, cells: list[tuple[str, ...]], keys: list[str]) -> None:
    """Show these rows, keeping the cursor; unchanged data is not redrawn
    (several events often ask for the same reload)."""
    shown = (cells, keys)
    if getattr(table, "_tapetui_shown", None) == shown:
        return
    table._tapetui_shown = shown  # type: ignore[attr-defined]
    keep = table.cursor_row
    table.clear()
    for row, key in zip(cells, keys):
        table.add_row(*row, key=key)
    if table.row_count:
        table.move_cursor(row=min(keep, table.row_count - 1))
