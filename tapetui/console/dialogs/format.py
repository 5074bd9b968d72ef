"""Format confirmation: names the cartridge, the label it will get, and every
catalogued set the format destroys. A cartridge the drive cannot name (no barcode
in its memory) can be given the barcode on its sticker here.

One Enter never destroys a set: when the cartridge holds catalogued sets, a
second yes/no naming them (No by default) comes before the format. A label the
month check will read as another month's is warned about as it is typed.

Run now asks first when the month check would refuse the cartridge the run writes
on, naming it: a yes lifts the check for that run only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input, Label, Static

from ...engine.control.text import (
    InvalidArgument,
    has_barcode,
    label_month,
    shown_id,
    validate_barcode,
    validate_volume_name,
)
from ...engine.store.models import SetRow
from ..context import tapp
from ..fmt import human_bytes, when
from .confirm import ConfirmScreen


@dataclass
class FormatRequest:
    label: str
    barcode: str | None = None  # for a cartridge without one: written to the tape


def loss_text(barcode: str, lost: list[SetRow]) -> str:
    if not lost:
        return f"{barcode} holds no catalogued backup set. Everything on it is erased."
    sets = "\n".join(f"  • set #{s.id} {s.level} {when(s.finished_at or s.started_at)} "
                     f"({s.files:,} files, {human_bytes(s.bytes)})" for s in lost[:8])
    more = f"\n  … and {len(lost) - 8} more" if len(lost) > 8 else ""
    return (f"Formatting {barcode} DESTROYS {len(lost)} backup set(s) on it:\n{sets}{more}\n"
            "They will be marked overwritten and can no longer be restored.")


def month_note(label: str, now: datetime) -> str | None:
    """What the month check of backups will make of `label` (typed), or None.

    A `TPyyyymm..` label names its month, and every backup onto tape refuses a tape
    of another month; any other label leaves the month to the format date."""
    if not label:
        return None
    month = label_month(label)
    if month is None:
        return (f"! {label!r} is not of the form TP{now:%Y%m}01: backups read "
                "the tape's month from its format date")
    if month != (now.year, now.month):
        return (f"! {label!r} names the month {month[0]}-{month[1]:02d}: backups of "
                f"{now:%Y-%m} refuse this tape (month check)")
    return None


async def month_check_lifted(screen: Screen, name: str) -> bool | None:
    """Before running schedule `name` by hand: when the month check would refuse the
    cartridge it writes on, a second question naming it (No by default).
    True: lift the check for this run; False: nothing to lift; None: do not run."""
    why = await tapp(screen).service.month_risk(name)
    if why is None:
        return False
    body = (f"Run {name!r} now? {why}.\n\nWrite on it anyway, this run only? The month check "
            "keeps last month's archive from being written over; the run log will say it was lifted.")
    lifted = await screen.app.push_screen_wait(ConfirmScreen("Lift the month check?", body, yes="Write on it"))
    return True if lifted else None


def last_states_text(barcode: str, states: list[str]) -> str:
    """The lines that name each source's last restorable backup a format of `barcode`
    destroys (a yes to such a format must name it)."""
    return "".join(f"\n! {barcode} holds {t}: after this format nothing restores that state." for t in states)


def sets_named(lost: list[SetRow]) -> str:
    """'#3, #5 and #6' (the first eight, then how many more)."""
    ids = [f"#{s.id}" for s in lost[:8]] + ([f"{len(lost) - 8} more"] if len(lost) > 8 else [])
    return ids[0] if len(ids) == 1 else f"{', '.join(ids[:-1])} and {ids[-1]}"


class FormatScreen(ModalScreen[FormatRequest | None]):
    DEFAULT_CSS = """
    FormatScreen .field { height: auto; }  /* one line per field, not a share of the room */
    FormatScreen #form-note { height: auto; color: $warning; display: none; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="format.cancel")]

    def __init__(self, barcode: str, current_label: str | None, lost: list[SetRow],
                 last_states: list[str] | None = None) -> None:
        super().__init__()
        self.barcode = barcode
        self.current_label = current_label
        self.lost = lost
        self.last_states = last_states or []
        self.asks_barcode = not has_barcode(barcode)

    def compose(self) -> ComposeResult:
        name = shown_id(self.barcode)
        with Vertical(id="dialog", classes="confirm"):
            yield Label(f"Format {name}", id="dialog-title")
            yield Static(loss_text(name, self.lost), id="confirm-body", markup=False)
            with Horizontal(classes="field"):
                yield Label("New label ")
                yield Input(self.current_label or "", id="label", compact=True,
                            placeholder="empty: keep the label, or TPyyyymm01 for a blank tape")
            if self.asks_barcode:
                with Horizontal(classes="field"):
                    yield Label("Barcode   ")
                    yield Input("", id="barcode", compact=True,
                                placeholder="the sticker's, e.g. ABC123L8 (empty: leave it unnamed)")
            yield Static("", id="form-error", markup=False)
            yield Static("", id="form-note", markup=False)
            with Horizontal(id="dialog-buttons"):
                yield Button("Format… (enter)" if self.lost else "Format (enter)", id="yes", variant="error")
                yield Button("Cancel (esc)", id="no")

    def on_mount(self) -> None:
        self.query_one("#label", Input).focus()

    def on_input_changed(self) -> None:
        self._show_error(self._problem())
        note = None
        if tapp(self).service.month_check:
            note = month_note(self._values()[0] or self.current_label or "", tapp(self).now())
        shown = self.query_one("#form-note", Static)
        shown.update(note or "")
        shown.display = note is not None

    def on_input_submitted(self) -> None:
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "yes":
            self._submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _values(self) -> tuple[str, str]:
        label = self.query_one("#label", Input).value.strip()
        barcode = self.query_one("#barcode", Input).value.strip() if self.asks_barcode else ""
        return label, barcode

    def _problem(self) -> str | None:
        """What is wrong with the form as typed (checked as it is typed), or None."""
        label, barcode = self._values()
        try:
            if label:
                validate_volume_name(label)
            if barcode:
                validate_barcode(barcode)
        except InvalidArgument as e:
            return str(e)
        return None

    def _show_error(self, problem: str | None) -> None:
        error = self.query_one("#form-error", Static)
        error.update(f"✗ {problem}" if problem else "")
        error.set_class(problem is not None, "-error")

    def _submit(self) -> None:
        problem = self._problem()
        self._show_error(problem)
        if problem is None:
            label, barcode = self._values()
            request = FormatRequest(label, barcode or None)
            if not self.lost:
                self.dismiss(request)
                return
            name = shown_id(self.barcode)
            body = (f"Format {name} and destroy backup set(s) {sets_named(self.lost)}?\n\n"
                    f"{len(self.lost)} catalogued set(s) on it will be marked overwritten and can no "
                    "longer be restored. This cannot be undone."
                    + last_states_text(name, self.last_states))

            def answered(yes: bool | None) -> None:  # returns nothing: a returned dismiss would be awaited
                if yes:
                    self.dismiss(request)

            self.app.push_screen(ConfirmScreen(f"Destroy {len(self.lost)} backup set(s)?", body, yes="Format"),
                                 answered)
