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
    """The screen-switch keys and `?` are repeated here so the footer shows them
    first: at 80 columns a footer is cut on the right, and Help must not be."""

    BINDINGS = [
        *(Binding(key, f"app.show('{mode}')", title, id=f"screen.{mode}.footer")
          for mode, (key, title) in SCREENS.items()),
        Binding("question_mark", "app.help", "Help", key_display="?", id="app.help.footer"),
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

    def on_resize(self) -> None:
        for table in self.query(DataTable):
            if getattr(table, "_tapetui_columns", None) is not None:
                _make_columns(table)


def add_columns(table: DataTable, flex: str | None = None, **widths: int) -> None:
    """Fixed widths ('Next_run' is shown 'Next run'): tables do not jump as rows
    arrive, and screenshots do not depend on when the widths were measured.

    Key columns come first and fit 80 columns; the `flex` column takes what the
    terminal has left (it is re-fitted when the terminal is resized)."""
    table._tapetui_columns = (widths, flex)  # type: ignore[attr-defined]
    _make_columns(table)


def _make_columns(table: DataTable) -> None:
    widths, flex = table._tapetui_columns  # type: ignore[attr-defined]
    if flex is not None:
        spare = table.app.size.width - 2 - sum(w + 2 for w in widths.values())  # 2: scrollbar; 2: cell padding
        widths = {**widths, flex: widths[flex] + max(0, spare)}
    if [c.width for c in table.columns.values()] == list(widths.values()):
        return
    shown = getattr(table, "_tapetui_shown", None)
    table.clear(columns=True)
    table._tapetui_shown = None  # type: ignore[attr-defined]
    for label, width in widths.items():
        table.add_column(label.replace("_", " "), width=width)
    if shown is not None:
        fill_table(table, *shown)


def fill_table(table: DataTable, cells: list[tuple[str, ...]], keys: list[str], cursor_key: str | None = None) -> None:
    """Show these rows, keeping the cursor (on the row `cursor_key` when given);
    unchanged data is not redrawn (several events often ask for the same reload)."""
    shown = (cells, keys)
    if getattr(table, "_tapetui_shown", None) == shown:
        return
    table._tapetui_shown = shown  # type: ignore[attr-defined]
    keep = keys.index(cursor_key) if cursor_key in keys else table.cursor_row
    with table.app.batch_update():
        table.clear()
        for row, key in zip(cells, keys):
            table.add_row(*row, key=key)
        if table.row_count:
            table.move_cursor(row=min(keep, table.row_count - 1))
