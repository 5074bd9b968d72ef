"""Format confirmation: names the cartridge, the label it will get, and every
catalogued set the format destroys. A cartridge the drive cannot name (no barcode
in its memory) can be given the barcode on its sticker here."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ...engine.store.models import SetRow
from ...engine.tape.args import InvalidArgument, validate_barcode, validate_volume_name
from ...engine.tape.labels import has_barcode, shown_id
from ..fmt import human_bytes, when


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


class FormatScreen(ModalScreen[FormatRequest | None]):
    DEFAULT_CSS = "FormatScreen .field { height: auto; }"  # one line per field, not a share of the room
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="format.cancel")]

    def __init__(self, barcode: str, current_label: str | None, lost: list[SetRow]) -> None:
        super().__init__()
        self.barcode = barcode
        self.current_label = current_label
        self.lost = lost
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
            with Horizontal(id="dialog-buttons"):
                yield Button("Format (enter)", id="yes", variant="error")
                yield Button("Cancel (esc)", id="no")

    def on_mount(self) -> None:
        self.query_one("#label", Input).focus()

    def on_input_changed(self) -> None:
        self._show_error(self._problem())

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
            self.dismiss(FormatRequest(label, barcode or None))
