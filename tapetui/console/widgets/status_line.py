"""The header line every screen shows: scheduler, the running run, drive, next firing."""

from __future__ import annotations

from textual.widgets import Static

from ...engine.events import Event
from ..context import tapp
from ..fmt import when


class StatusLine(Static):
    """One line, kept current by the app's live bridge and a slow timer.

    The app owns the facts (`header_facts()`); this widget lays them out.
    """

    def on_mount(self) -> None:
        app = tapp(self)
        live = app.live
        for signal in (live.runs, live.tapes, live.schedules, live.operator):
            signal.subscribe(self, self._changed)
        live.progress.subscribe(self, self._changed_quietly)
        app.header_changed.subscribe(self, self._changed_quietly)
        self.set_interval(30, app.refresh_header)
        self.render_facts()

    def _changed(self, _event: Event) -> None:
        tapp(self).refresh_header()

    def _changed_quietly(self, _event: object) -> None:
        self.render_facts()

    def render_facts(self) -> None:
        facts = tapp(self).header_facts()
        parts = [facts.scheduler]
        if facts.running:
            parts.append(facts.running)
        parts.append(facts.drive)
        if facts.next_name:
            parts.append(f"next {facts.next_name} {when(facts.next_at)}")
        self.update(" │ ".join(parts))
