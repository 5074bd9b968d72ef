"""Schedules: the table of every schedule, and new / edit / delete / enable /
run now / stop / open its runs. All rules live behind the engine's `Control`."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Label

from ...engine.control import Saved
from ...engine.schedule import describe, describe_short, describe_words, spec_from_dict
from ...engine.store.models import ScheduleRow
from ..context import tapp
from ..fmt import Forms, short_level, when_fit
from .base import MainScreen, add_columns, fill_table
from .runs import RunsScreen

EMPTY_HINT = "No schedules yet — press n to create one"


def what(row: ScheduleRow, *, short: bool = False) -> str:
    """'backup full', 'backup differential' ('backup diff' when `short`), 'cleanup'..."""
    level = row.action_config.get("level") if row.action == "backup" else None
    if level and short:
        level = short_level(level)
    return f"{row.action} {level}" if level else row.action


def rule(row: ScheduleRow) -> Forms:
    """'on day 2 of every month 04:00', or 'monthly d2 04:00' where that does not fit;
    'cron: 0 3 * * 0 (at 03:00 on Sunday)', or its words alone 'at 03:00 on Sunday',
    or 'cron 0 3 * * 0'."""
    spec = spec_from_dict(row.type, row.config)
    return Forms(describe(spec), describe_short(spec), (describe_words(spec),))


class SchedulesScreen(MainScreen):
    TITLE = "Schedules"
    #: Most used first: at 80 columns the footer is cut on the right (? lists them all).
    BINDINGS = [
        Binding("r", "run_now", "Run", id="schedules.run_now", tooltip="Run the selected schedule now"),
        Binding("s", "stop", "Stop", id="schedules.stop", tooltip="Stop its run (asks first)"),
        Binding("o", "open_runs", "Its runs", id="schedules.runs", tooltip="Show its runs and logs (Runs screen)"),
        Binding("e", "edit", "Edit", id="schedules.edit", tooltip="Change the selected schedule"),
        Binding("n", "new", "New", id="schedules.new", tooltip="Make a new schedule"),
        Binding("space", "toggle_enabled", "On/off", key_display="␣", id="schedules.toggle",
                tooltip="Turn the selected schedule on or off"),
        Binding("d", "delete", "Delete", id="schedules.delete", tooltip="Delete the selected schedule (asks first)"),
    ]

    class Loaded(Message):
        def __init__(self, rows: list[ScheduleRow]) -> None:
            super().__init__()
            self.rows = rows

    def body(self) -> ComposeResult:
        yield DataTable(id="schedules", cursor_type="row", zebra_stripes=True)
        yield Label(EMPTY_HINT, id="no-schedules", classes="hint")
        self.rows: dict[str, ScheduleRow] = {}

    def on_mount(self) -> None:
        # "Last" holds any run status whole ("interrupted"). "When" wants about 28 cells
        # ("on day 2 of every month 04:00"): at 80 columns
        # the next run drops its year to make room, and a rule longer than what is left
        # takes its short form ("monthly d2 04:00"). At 60 columns the rule keeps 16
        # cells (every short form but a long cron's) and Does goes: the name says it.
        add_columns(self.query_one(DataTable), flex="When", Name=12, Next_run=(16, 11), Last=11, Does=(12, 12, 0),
                    When=(28, 19, 16))
        live = tapp(self).live
        live.schedules.subscribe(self, lambda _e: self.reload())
        live.runs.subscribe(self, lambda _e: self.reload())
        self.query_one("#no-schedules").display = False  # until the load says so
        self.reload()

    def on_screen_resume(self) -> None:
        self.reload()

    @work(exclusive=True, group="schedules.load", exit_on_error=False)
    async def reload(self) -> None:
        self.post_message(self.Loaded(await tapp(self).service.list()))

    def on_schedules_screen_loaded(self, message: Loaded) -> None:
        self.rows = {r.name: r for r in message.rows}
        cells = [  # "Next run" says off; "Last" says running
            (r.name, when_fit(r.next_run) if r.enabled else "off",
             "running" if r.status == "running" else (r.last_result or "-"),
             what(r, short=True), rule(r))
            for r in message.rows
        ]
        fill_table(self.query_one(DataTable), cells, [r.name for r in message.rows])
        self.query_one("#no-schedules").display = not message.rows

    def selected(self) -> ScheduleRow | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            self.notify("no schedule yet: press n to make one", severity="warning")
            return None
        return self.rows.get(str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value))

    # -- actions --------------------------------------------------------------------------
    def _reload_after(self, saved: Saved | None) -> None:
        """The form's result: saved or not, the table shows the schedules as they are."""
        self.reload()

    def action_new(self) -> None:
        from ..dialogs.schedule_form import ScheduleForm

        self.app.push_screen(ScheduleForm(None), self._reload_after)

    def action_edit(self) -> None:
        from ..dialogs.schedule_form import ScheduleForm

        row = self.selected()
        if row is not None:
            self.app.push_screen(ScheduleForm(row), self._reload_after)

    @work(group="schedules.delete", exit_on_error=False)
    async def action_delete(self) -> None:
        from ..dialogs.confirm import ConfirmScreen

        row = self.selected()
        if row is None:
            return
        runs = await tapp(self).service.run_list(row.name, limit=10_000)
        body = (f"Delete schedule {row.name!r} ({tapp(self).service.describe(row)}, {what(row)})?\n\n"
                f"It will never fire again. Its {len(runs)} run record(s) and their logs are kept; "
                "backup sets it made stay in the catalog.")
        if await self.app.push_screen_wait(ConfirmScreen("Delete schedule", body, yes="Delete")):
            await tapp(self).service.delete(row.name)
            self.notify(f"deleted schedule {row.name!r}")

    @work(group="schedules.toggle", exit_on_error=False)
    async def action_toggle_enabled(self) -> None:
        row = self.selected()
        if row is not None:
            saved = await tapp(self).service.set_enabled(row.name, not row.enabled)
            self.notify(f"{saved.name}: {'enabled' if saved.enabled else 'disabled'}")

    @work(group="schedules.run", exit_on_error=False)
    async def action_run_now(self) -> None:
        row = self.selected()
        if row is None:
            return
        from ..dialogs.format import month_check_lifted

        lifted = await month_check_lifted(self, row.name)  # None: the operator said no
        go, allowed = await self._full_backup_confirmed(row) if lifted is not None else (False, None)
        if go:
            run = await tapp(self).service.run_now(row.name, allow_format=allowed, skip_month_check=bool(lifted))
            if run.status == "skipped":
                self.notify(f"{row.name}: skipped — {run.message}", severity="warning")
            else:
                tapp(self).run_to_show = run.id
                self.notify(f"{row.name}: run #{run.id} started (2 shows it)")

    async def _full_backup_confirmed(self, row: ScheduleRow) -> tuple[bool, str | None]:
        """A full backup formats its cartridge first (an incremental with no full
        to build on runs as one): say what that destroys, if anything, and above all
        a source's last restorable backup. (Go ahead, the cartridge the yes names.)"""
        from ..dialogs.confirm import ConfirmScreen
        from ..dialogs.format import last_states_text, loss_text

        service = tapp(self).service
        risk = await service.format_risk(row.name)
        while risk is not None:
            why = f"{risk.why[:1].upper()}{risk.why[1:]}.\n" if risk.why else ""
            last = last_states_text(risk.barcode, risk.last_states)
            body = (f"Run {row.name!r} now? {why}A full backup formats its cartridge first: "
                    f"{risk.barcode}.\n\n{loss_text(risk.barcode, risk.sets)}{last}")
            if not await self.app.push_screen_wait(ConfirmScreen("Run a full backup", body, yes="Run")):
                return False, None
            confirmed, risk = risk, await service.format_risk(row.name)
            if risk is not None and (risk.barcode, [s.id for s in risk.sets]) == (
                    confirmed.barcode, [s.id for s in confirmed.sets]):
                return True, risk.barcode  # what was shown is still what is at risk (the tape may have moved)
        return True, None

    @work(group="schedules.stop", exit_on_error=False)
    async def action_stop(self) -> None:
        from ..dialogs.stop import schedule_stop_confirmed

        row = self.selected()
        if row is not None and await schedule_stop_confirmed(self, row.name):
            run = await tapp(self).service.stop(row.name)
            self.notify(f"{row.name}: not running" if run is None else f"{row.name}: run #{run.id} stopped",
                        severity="warning" if run is None else "information")

    async def action_open_runs(self) -> None:
        row = self.selected()
        if row is not None:
            await tapp(self).action_show("runs")
            runs = tapp(self).screen
            if isinstance(runs, RunsScreen):
                runs.filter_schedule(row.name)
