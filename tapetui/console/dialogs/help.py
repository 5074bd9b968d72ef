"""`?`: the keys of the screen underneath (and of its focused widget), then the
keys that work everywhere -- footer or not."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Label


def key_rows(bindings: list[Binding]) -> list[tuple[str, str]]:
    rows = []
    for b in bindings:
        if not b.description:
            continue
        keys = b.key_display or ", ".join(k.replace("question_mark", "?") for k in b.key.split(","))
        rows.append((keys, b.tooltip or b.description))  # the tooltip says it in a sentence
    return rows


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close", id="help.close")]

    def __init__(self, under: Screen) -> None:
        super().__init__()
        self.under = under

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="help"):
            yield Label(f"Keys: {self.under.title or self.under.__class__.__name__}", id="dialog-title")
            yield DataTable(id="help-keys", cursor_type="none", zebra_stripes=True)
            yield Label("Esc closes · Ctrl+P finds any command by name", classes="hint")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("Key", width=10)
        table.add_column("Does", width=50)
        focused = [b for b in getattr(self.under.focused, "BINDINGS", [])
                   if isinstance(b, Binding) and (b.show or b.tooltip)]  # not a widget's stock keys
        own = [*focused, *(b for b in self.under.BINDINGS if isinstance(b, Binding))]
        for key, what in key_rows(own):
            table.add_row(key, what)
        table.add_row("", "")
        for key, what in key_rows([b for b in self.app.BINDINGS if isinstance(b, Binding)]):
            table.add_row(key, what)
