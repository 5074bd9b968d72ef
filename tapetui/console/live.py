"""The bridge from the engine's bus to the console's widgets.

The bus calls `on_event` in the app's own event loop. Log lines arrive by the
thousand per second, so they are collected and handed on in batches a few
times a second; everything else is handed on at once. Widgets subscribe to the
`Signal`s they care about; the bridge also keeps the little state the header
line shows (runs in progress and their latest progress).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.app import App
from textual.signal import Signal

from ..engine import events as ev

FLUSH_S = 0.05


@dataclass
class LiveState:
    """What is going on right now, for the header line."""

    running: dict[int, ev.RunStarted] = field(default_factory=dict)
    progress: dict[int, ev.Progress] = field(default_factory=dict)
    operator: ev.OperatorNeeded | None = None


class Live:
    def __init__(self, app: App) -> None:
        self.app = app
        self.state = LiveState()
        self.log_lines: Signal[list[ev.LogLine]] = Signal(app, "log-lines")
        self.progress: Signal[ev.Progress] = Signal(app, "progress")
        self.runs: Signal[ev.Event] = Signal(app, "runs")  # RunStarted | RunFinished
        self.tapes: Signal[ev.TapeChanged] = Signal(app, "tapes")
        self.schedules: Signal[ev.SchedulesChanged] = Signal(app, "schedules")
        self.operator: Signal[ev.Event] = Signal(app, "operator")  # OperatorNeeded | OperatorDone
        self._pending: list[ev.LogLine] = []
        self._flush_scheduled = False

    def on_event(self, event: ev.Event) -> None:
        state = self.state
        match event:
            case ev.LogLine():
                self._pending.append(event)
                if not self._flush_scheduled:
                    self._flush_scheduled = True
                    self.app.set_timer(FLUSH_S, self._flush)
            case ev.Progress():
                if event.run_id is not None:
                    state.progress[event.run_id] = event
                self.progress.publish(event)
            case ev.RunStarted():
                state.running[event.run_id] = event
                self.runs.publish(event)
            case ev.RunFinished():
                self._flush()  # the last lines before the verdict
                state.running.pop(event.run_id, None)
                state.progress.pop(event.run_id, None)
                self.runs.publish(event)
            case ev.TapeChanged():
                self.tapes.publish(event)
            case ev.SchedulesChanged():
                self.schedules.publish(event)
            case ev.OperatorNeeded():
                state.operator = event
                self.operator.publish(event)
                self.app.notify(f"{event.message}\n→ {event.action}", title="Operator needed",
                                severity="warning", timeout=30)
            case ev.OperatorDone():
                state.operator = None
                self.operator.publish(event)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._pending:
            batch, self._pending = self._pending, []
            self.log_lines.publish(batch)
