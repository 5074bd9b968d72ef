"""The bridge from the engine's bus to the console's widgets.

The bus calls `on_event` in the app's own event loop. Log lines arrive by the
thousand per second, so they are collected and handed on in batches a few
times a second; everything else is handed on at once. Widgets subscribe to the
`Signal`s they care about; the bridge also keeps the little state the header
line shows (runs in progress and their latest progress), and the last lines
handed on for the latest runs, so a log view opened mid-run can join the
stored lines to the live ones (`join_log`) with no gap: the store lags the bus
by up to a flush.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Protocol, Sequence

from textual.app import App
from textual.signal import Signal

from ..engine import events as ev
from ..engine.store.models import RunRow

FLUSH_S = 0.05
#: Lines kept per run for `join_log` (a log view shows no more), and runs kept.
RECENT_LINES = 5000
RECENT_RUNS = 4
#: Runs whose end was seen, remembered so a late `joined` does not bring them back.
ENDED_KEPT = 100


class StoredLine(Protocol):
    ts: datetime
    level: str
    line: str


def join_log(stored: Sequence[StoredLine], recent: Iterable[ev.LogLine]) -> list[tuple[str, str]]:
    """(level, text) of the stored lines, then the live lines that came after them.

    LogLine events carry no id, but a stored line keeps its event's time, level
    and text: the live lines after the last stored one are the new ones (when
    none matches, the live lines all came after the store's last flush)."""
    lines = [(x.level, x.line) for x in stored]
    recent = list(recent)
    if not stored:
        return lines + [(x.level, x.text) for x in recent]
    last = stored[-1]
    key = (last.ts, last.level, last.line)
    for i in range(len(recent) - 1, -1, -1):
        if (recent[i].at, recent[i].level, recent[i].text) == key:
            return lines + [(x.level, x.text) for x in recent[i + 1:]]
    return lines + [(x.level, x.text) for x in recent if x.at >= last.ts]


def after_shown(batch: list[ev.LogLine], last: tuple[datetime, str, str] | None) -> list[ev.LogLine]:
    """The lines of `batch` that come after `last` (time, level, text of the last
    line the view shows). The stored lines can be newer than the live ones the
    bridge has handed on (it hands them on every `FLUSH_S`): its next batch then
    repeats the newest stored lines, which must not be shown twice."""
    if last is None:
        return batch
    for i in range(len(batch) - 1, -1, -1):
        if (batch[i].at, batch[i].level, batch[i].text) == last:
            return batch[i + 1:]
    return [x for x in batch if x.at >= last[0]]


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
        self._recent: OrderedDict[int, deque[ev.LogLine]] = OrderedDict()
        self._ended: deque[int] = deque(maxlen=ENDED_KEPT)

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
                self._ended.append(event.run_id)
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

    def joined(self, runs: Iterable[RunRow]) -> None:
        """Runs already going when this console attached: their start went by before
        it came, so they are taken from the catalog (their progress and end come live)."""
        for run in runs:
            if run.id not in self._ended and run.id not in self.state.running:
                self.state.running[run.id] = ev.RunStarted(run.id, run.schedule_name, run.action, run.trigger,
                                                           at=run.started_at)

    def recent(self, run_id: int) -> list[ev.LogLine]:
        """The last lines handed on for a run (empty for runs not seen live)."""
        return list(self._recent.get(run_id, ()))

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._pending:
            batch, self._pending = self._pending, []
            for line in batch:
                if line.run_id is not None:
                    self._remember(line.run_id, line)
            self.log_lines.publish(batch)

    def _remember(self, run_id: int, line: ev.LogLine) -> None:
        ring = self._recent.get(run_id)
        if ring is None:
            ring = self._recent[run_id] = deque(maxlen=RECENT_LINES)
            while len(self._recent) > RECENT_RUNS:
                self._recent.popitem(last=False)
        ring.append(line)
