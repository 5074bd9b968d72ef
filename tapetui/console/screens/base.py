"""What every main screen shares: the header line on top, the footer below,
one error handler for its workers."""

from __future__ import annotations

from typing import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer
from textual.worker import Worker

from ..errors import report_worker_error
from ..fmt import Fit
from ..keys import SCREENS
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

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_worker_error(self, event)

    def on_resize(self) -> None:
        for table in self.query(DataTable):
            if getattr(table, "_tapetui_columns", None) is not None:
                _make_columns(table)


#: A column's width, or its widths from wide to narrow ((width, 80 columns, 60 columns));
#: a width of 0 drops the column.
Width = int | tuple[int, ...]
#: What a column costs on screen besides its width: one cell of padding each side.
PADDING = 2
#: The vertical scrollbar's width, kept free so a long table never scrolls sideways.
SCROLLBAR = 2


def add_columns(table: DataTable, flex: str | None = None, **widths: Width) -> None:
    """Fixed widths ('Next_run' is shown 'Next run'): tables do not jump as rows
    arrive, and screenshots do not depend on when the widths were measured.

    When the widths do not fit the terminal, every column takes its next narrower
    width (a tuple: wide, narrow, narrower; 0 drops the column; a column keeps its
    last width), until they fit: an 80- or a 60-column terminal sees every column it
    keeps without scrolling sideways. The `flex` column then takes what is left
    (re-fitted when the terminal is resized)."""
    table._tapetui_columns = (widths, flex)  # type: ignore[attr-defined]
    _make_columns(table)


def column_widths(widths: dict[str, Width], flex: str | None, room: int) -> dict[str, int]:
    """The columns shown in `room` cells and their widths, in order: the widest
    level that fits, else the narrowest."""
    levels = max((len(w) for w in widths.values() if isinstance(w, tuple)), default=1)
    at_levels = [{k: w for k, w in ((k, _at(w, level)) for k, w in widths.items()) if w > 0}
                 for level in range(levels)]
    chosen = next((c for c in at_levels if _cost(c) <= room), at_levels[-1])
    if flex in chosen:
        chosen[flex] += max(0, room - _cost(chosen))
    return chosen


def _at(width: Width, level: int) -> int:
    return width if isinstance(width, int) else width[min(level, len(width) - 1)]


def _cost(widths: dict[str, int]) -> int:
    return sum(w + PADDING for w in widths.values())


def _make_columns(table: DataTable) -> None:
    widths, flex = table._tapetui_columns  # type: ignore[attr-defined]
    chosen = column_widths(widths, flex, table.app.size.width - SCROLLBAR)
    if {str(k.value): c.width for k, c in table.columns.items()} == chosen:
        return
    shown = getattr(table, "_tapetui_shown", None)
    table.clear(columns=True)
    table._tapetui_shown = None  # type: ignore[attr-defined]
    for name, width in chosen.items():
        table.add_column(name.replace("_", " "), width=width, key=name)
    if shown is not None:
        fill_table(table, *shown)


def _visible(table: DataTable, row: Sequence[str | Fit]) -> list[str]:
    """The cells of the columns shown, each in the form its column's width takes."""
    spec = getattr(table, "_tapetui_columns", None)
    names = list(spec[0]) if spec else [str(k.value) for k in table.columns]
    by_name = dict(zip(names, row, strict=True))
    cells = []
    for key, column in table.columns.items():
        cell = by_name[str(key.value)]
        cells.append(cell.within(column.width) if isinstance(cell, Fit) else cell)
    return cells


def fill_table(
    table: DataTable, cells: Sequence[Sequence[str | Fit]], keys: list[str], cursor_key: str | None = None
) -> None:
    """Show these rows (one cell per column given to `add_columns`, shown or not),
    keeping the cursor (on the row `cursor_key` when given); unchanged data is not
    redrawn (several events often ask for the same reload)."""
    shown = (cells, keys)
    if getattr(table, "_tapetui_shown", None) == shown:
        return
    table._tapetui_shown = shown  # type: ignore[attr-defined]
    keep = keys.index(cursor_key) if cursor_key in keys else table.cursor_row
    with table.app.batch_update():
        table.clear()
        for row, key in zip(cells, keys, strict=True):
            table.add_row(*_visible(table, row), key=key)
        if table.row_count:
            table.move_cursor(row=min(keep, table.row_count - 1))
