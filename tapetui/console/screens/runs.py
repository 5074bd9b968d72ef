"""Runs: newest first; the selected run's log below it.

A running run shows a progress bar and its log streams live (batched by the
live bridge); an old run replays the newest lines of its stored log. A run
writing shows its cartridge as soon as its set names one (its result names it
only at the end). A run opened mid-stream shows its stored lines joined to the
live ones, with no gap and no line twice: live lines for it are held back while the stored ones load,
then the bridge's recent lines after the last stored one follow. Follow mode
sticks to the tail; scrolling up pauses it (End resumes).
"""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Input

from ...engine import events as ev
from ...engine.store.models import RunRow
from ..context import tapp
from ..fmt import Fit, barcodes, count, human_bytes, span, when_fit
from ..live import StoredLine, after_shown, join_log
from ..widgets.log_view import LiveLog
from ..widgets.progress_panel import ProgressPanel
from .base import MainScreen, add_columns, fill_table

RUNS_SHOWN = 500


def took_fit(start: datetime, end: datetime | None) -> Fit:
    """'3m05s', or '3m' / '2h07' in a narrow column; '-' until it ends (a run never
    started shows no duration)."""
    full = span(start, end)
    seconds = (end - start).total_seconds() if end is not None else -1
    if seconds < 60:
        return Fit(full, full)
    minutes = int(seconds // 60)
    short = f"{minutes}m" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}" if minutes < 600 \
        else f"{minutes // 60}h"
    return Fit(full, short)


def size_fit(n: int) -> Fit:
    """'16.0 MB', or '16.0MB' / '123MB' (no tenths from 100 on) in a narrow column."""
    full = human_bytes(n)
    number, unit = full.split(" ")
    return Fit(full, (number if float(number) < 100 else number.split(".")[0]) + unit)


def log_text(level: str, text: str) -> str:
    return text if level in ("info", "tool") else f"[{level}] {text}"


def log_title(run: RunRow) -> str:
    return f"run #{run.id} {run.schedule_name} · {run.status}"


class RunsScreen(MainScreen):
    """The log goes full screen with `z` (or Enter on a run), wraps or not with `w`,
    and `/` searches it (`n` / `N`: the next or previous line found)."""

    TITLE = "Runs"
    DEFAULT_CSS = """
    RunsScreen.-log-full #runs { display: none; }
    #log-search { dock: bottom; display: none; }
    #log-search.-open { display: block; }
    """
    BINDINGS = [
        Binding("s", "stop", "Stop", id="runs.stop"),
        Binding("z", "full_log", "Full log", id="runs.full_log"),
        Binding("slash", "search", "Search log", key_display="/", id="runs.search"),
        Binding("a", "all", "All runs", id="runs.all"),
        Binding("l", "focus_log", "Log", id="runs.log"),
        Binding("w", "wrap", "Wrap log lines", id="runs.wrap", show=False),
        Binding("n", "find(True)", "Next found", id="runs.find_next", show=False),
        Binding("N", "find(False)", "Previous found", id="runs.find_previous", show=False),
        Binding("escape", "back", "Close the search, then the full log", id="runs.back", show=False),
        Binding("r", "refresh", "Refresh", id="runs.refresh", show=False),
    ]

    class Loaded(Message):
        def __init__(self, rows: list[RunRow], writing: dict[int, list[str]]) -> None:
            super().__init__()
            self.rows = rows
            self.writing = writing  # run -> the cartridges its set is written to (so far), where its result is silent

    class LogLoaded(Message):
        def __init__(self, run: RunRow, lines: Sequence[StoredLine]) -> None:
            super().__init__()
            self.run = run
            self.lines = lines

    def body(self) -> ComposeResult:
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield ProgressPanel(id="progress")
        yield LiveLog(id="run-log", title="log")
        yield Input(id="log-search", placeholder="search the log: Enter finds, n / N the next / previous, Esc closes")
        self.rows: dict[int, RunRow] = {}
        self.schedule_filter: str | None = None
        self.shown_run: int | None = None
        self.log_joined = False  # the shown run's stored lines are in: live ones may follow
        self._last_stored: tuple[datetime, str, str] | None = None  # until live lines pass it (after_shown)
        self.writing: dict[int, list[str]] = {}
        self._asked: set[int] = set()  # running runs whose cartridge was looked up since the last tape change

    def on_mount(self) -> None:
        # Status holds any run status whole ("interrupted"). At 80 columns: the start
        # without its year, no trigger, Took in minutes ("3m", "2h07") and Size without
        # its space ("16.0MB", "123MB"). At 60: no Took, Files nor Size (the log says them).
        add_columns(self.query_one("#runs", DataTable), flex="Cartridge", **{"#": 4}, Schedule=12, Status=11,
                    Started=(16, 11), Took=(6, 4, 0), Files=(7, 5, 0), Size=(9, 6, 0), Trigger=(7, 0), Cartridge=9)
        self.query_one(ProgressPanel).display = False
        live = tapp(self).live
        live.runs.subscribe(self, lambda _e: self.action_refresh())
        live.log_lines.subscribe(self, self._on_lines)
        live.progress.subscribe(self, self._on_progress)
        live.tapes.subscribe(self, lambda _e: self._on_tape_changed())
        self.action_refresh()

    def on_screen_resume(self) -> None:
        if tapp(self).run_to_show is not None and self.schedule_filter:
            self.filter_schedule(None)  # the run started here may be another schedule's
        else:
            self.action_refresh()

    def filter_schedule(self, name: str | None) -> None:
        self.schedule_filter = name
        self.sub_title = name or ""
        self.action_refresh()

    def action_all(self) -> None:
        self.filter_schedule(None)

    def action_focus_log(self) -> None:
        self.query_one(LiveLog).focus()

    # -- the log: full screen, wrap, search -----------------------------------------------------
    def action_full_log(self) -> None:
        if self.toggle_class("-log-full").has_class("-log-full"):
            self.query_one(LiveLog).focus()
        else:
            self.query_one("#runs", DataTable).focus()

    def action_back(self) -> None:
        field = self.query_one("#log-search", Input)
        if field.has_class("-open"):
            field.remove_class("-open")
            self.query_one(LiveLog).focus()
        elif self.has_class("-log-full"):
            self.action_full_log()

    def on_data_table_row_selected(self, _event: DataTable.RowSelected) -> None:
        self.action_full_log()  # Enter on a run: its log, full screen

    def action_wrap(self) -> None:
        self.query_one(LiveLog).action_toggle_wrap()

    def action_search(self) -> None:
        field = self.query_one("#log-search", Input)
        field.add_class("-open")
        field.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "log-search":
            self.action_find(True)

    def action_find(self, forward: bool) -> None:
        text = self.query_one("#log-search", Input).value
        if not text:
            self.action_search()
            return
        self.query_one(LiveLog).find(text, forward=forward)

    # -- the table ------------------------------------------------------------------------
    @work(exclusive=True, group="runs.load", exit_on_error=False)
    async def action_refresh(self) -> None:
        rows = await tapp(self).service.run_list(self.schedule_filter, limit=RUNS_SHOWN)
        self.post_message(self.Loaded(rows, await tapp(self).service.writing_to(rows)))

    def on_runs_screen_loaded(self, message: Loaded) -> None:
        self.rows = {r.id: r for r in message.rows}
        started_here = tapp(self).run_to_show
        if started_here in self.rows:  # run now, then 2: the new run, not the one shown before
            tapp(self).run_to_show = None
            self.show_run(started_here)
        self.writing = message.writing
        cells = [
            (str(r.id), r.schedule_name, r.status, when_fit(r.started_at), *self._so_far(r),
             r.trigger, barcodes(r.result.get("cartridges", message.writing.get(r.id, []))))
            for r in message.rows
        ]
        fill_table(self.query_one("#runs", DataTable), cells, [str(r.id) for r in message.rows],
                   cursor_key=str(self.shown_run))
        if self.shown_run is None and message.rows:
            self.show_run(message.rows[0].id)
        elif self.shown_run in self.rows:
            self._show_progress()
            if self.log_joined:  # a run that ended while shown
                self.query_one(LiveLog).set_title(log_title(self.rows[self.shown_run]))
        if self.schedule_filter:
            self.query_one("#runs", DataTable).border_title = f"runs of {self.schedule_filter} · a shows all"

    def _so_far(self, run: RunRow) -> tuple[Fit, str | Fit, str | Fit]:
        """Took, Files and Size: a finished run's result, a running run's progress so far."""
        if run.status == "running":
            p = tapp(self).live.state.progress.get(run.id)
            took = took_fit(run.started_at, tapp(self).now())
            return (took, count(p.files_done), size_fit(p.bytes_done)) if p else (took, "…", "…")
        return (took_fit(run.started_at, run.finished_at),
                count(run.result["files"]) if "files" in run.result else "-",
                size_fit(run.result["bytes"]) if "bytes" in run.result else "-")

    def _show_so_far(self, run: RunRow) -> None:
        """A running row's Took, Files and Size, as its progress comes (only those cells)."""
        table = self.query_one("#runs", DataTable)
        key = str(run.id)
        if key not in table.rows:
            return
        for column, cell in zip(("Took", "Files", "Size"), self._so_far(run), strict=True):
            if column in table.columns:
                table.update_cell(key, column, cell.within(table.columns[column].width)  # type: ignore[index]
                                  if isinstance(cell, Fit) else cell)

    def _on_tape_changed(self) -> None:
        """A run that fills a cartridge goes on to the next: its next write looks again."""
        self._asked.clear()
        self.writing = {}

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            run_id = int(event.row_key.value)
            if run_id != self.shown_run:
                self.show_run(run_id)

    def selected(self) -> RunRow | None:
        return self.rows.get(self.shown_run) if self.shown_run is not None else None

    # -- the log --------------------------------------------------------------------------
    def show_run(self, run_id: int) -> None:
        self.shown_run = run_id
        self.log_joined = False
        self._last_stored = None
        self._load_log(run_id)

    @work(exclusive=True, group="runs.log", name="Show run log", exit_on_error=False)
    async def _load_log(self, run_id: int) -> None:
        control = tapp(self).service
        run = await control.run(run_id)
        self.post_message(self.LogLoaded(run, await control.run_tail(run_id, LiveLog.MAX)))

    def on_runs_screen_log_loaded(self, message: LogLoaded) -> None:
        run = message.run
        if run.id != self.shown_run or self.log_joined:
            return
        lines = join_log(message.lines, tapp(self).live.recent(run.id))
        self.query_one(LiveLog).replace([log_text(level, text) for level, text in lines[-LiveLog.MAX:]],
                                        title=log_title(run))
        self.log_joined = True
        if message.lines:
            last = message.lines[-1]
            self._last_stored = (last.ts, last.level, last.line)
        self._show_progress()

    def _show_progress(self) -> None:
        running = self.shown_run in tapp(self).live.state.running
        panel = self.query_one(ProgressPanel)
        shown = self.shown_run if running else None
        panel.show(tapp(self).live.state.progress.get(shown) if shown is not None else None)

    def _on_lines(self, batch: list[ev.LogLine]) -> None:
        if not self.log_joined:  # held back: the bridge's recent lines bring them in
            return
        mine = [x for x in batch if x.run_id == self.shown_run]
        if mine and self._last_stored is not None:
            mine = after_shown(mine, self._last_stored)
            if mine:  # live lines have passed the stored ones
                self._last_stored = None
        if mine:
            self.query_one(LiveLog).add_lines([log_text(x.level, x.text) for x in mine])

    def _on_progress(self, p: ev.Progress) -> None:
        if p.run_id == self.shown_run:
            self.query_one(ProgressPanel).show(p)
        run = self.rows.get(p.run_id) if p.run_id is not None else None
        if run is not None and run.status == "running":
            self._show_so_far(run)
        if (p.phase == "writing" and run is not None and run.status == "running"
                and run.id not in self.writing and run.id not in self._asked):
            self._asked.add(run.id)  # once per cartridge: a change of cartridge asks again
            self.action_refresh()

    # -- stop -------------------------------------------------------------------------------
    @work(group="runs.stop", exit_on_error=False)
    async def action_stop(self) -> None:
        run = self.selected()
        if run is None or run.status != "running":
            self.notify("the selected run is not running", severity="warning")
            return
        from ..dialogs.stop import stop_confirmed

        if await stop_confirmed(self, run):
            await tapp(self).service.stop(run.schedule_name)
            self.notify(f"run #{run.id} stopped")
