"""What every main screen shares: the header line on top, the footer below,
one error handler for its workers."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer
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
