"""The header line every screen shows: scheduler, the running run, drive, next firing."""

from __future__ import annotations

from textual.widgets import Static

from ...engine.events import Event
from ..context import tapp
from ..fmt import when_fit

#: Where the line is too long, parts take their next shorter form in this order
#: (an empty form drops the part): the next firing goes first, the scheduler never.
SHORTEN = ("next", "running", "drive", "next", "next", "running", "drive")


def header_text(forms: dict[str, tuple[str, ...]], width: int) -> str:
    """The parts joined by ' │ ', each in its longest form that lets the line fit
    `width` (shortened in `SHORTEN` order; a line that never fits is cut by the widget)."""
    level = dict.fromkeys(forms, 0)

    def text() -> str:
        return " │ ".join(f for name, options in forms.items() if (f := options[min(level[name], len(options) - 1)]))

    for name in SHORTEN:
        if len(text()) <= width:
            break
        if name in level:
            level[name] += 1
    return text()


class StatusLine(Static):
    """One line, kept current by the app's live bridge and a slow timer.

    The app owns the facts (`header_facts()`); this widget lays them out to fit.
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

    def on_resize(self) -> None:
        self.render_facts()

    def _changed(self, _event: Event) -> None:
        tapp(self).refresh_header()

    def _changed_quietly(self, _event: object) -> None:
        self.render_facts()

    def render_facts(self) -> None:
        facts = tapp(self).header_facts()
        forms: dict[str, tuple[str, ...]] = {"scheduler": (facts.scheduler,), "running": facts.running or ("",),
                                             "drive": facts.drive}
        if facts.next_name:
            at = when_fit(facts.next_at)
            name = f"next {facts.next_name}"
            forms["next"] = (f"{name} {at.full}", f"{name} {at.short}", f"next {at.short}", "")
        self.update(header_text(forms, self.content_region.width or self.app.size.width - 2))
