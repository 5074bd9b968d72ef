"""Format confirmation: names the cartridge, the label it will get, and every
catalogued set the format destroys."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ...engine.store.models import SetRow
from ...engine.tape.args import InvalidArgument, validate_volume_name
from ..fmt import human_bytes, when


@dataclass
class FormatRequest:
    label: str


def loss_text(barcode: str, lost: list[SetRow]) -> str:
    if not lost:
        return f"{barcode} holds no catalogued backup set. Everything on it is erased."
    sets = "\n".join(f"  • set #{s.id} {s.level} {when(s.finished_at or s.started_at)} "
                     f"({s.files:,} files, {human_bytes(s.bytes)})" for s in lost[:8])
    more = f"\n  … and {len(lost) - 8} more" if len(lost) > 8 else ""
    return (f"Formatting {barcode} DESTROYS {len(lost)} backup set(s) on it:\n{sets}{more}\n"
            "They will be marked overwritten and can no longer be restored.")


class FormatScreen(ModalScreen[FormatRequest | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="format.cancel")]

    def __init__(self, barcode: str, current_label: str | None, lost: list[SetRow]) -> None:
        super().__init__()
        self.barcode = barcode
        self.current_label = current_label
        self.lost = lost

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="confirm"):
            yield Label(f"Format {self.barcode}", id="dialog-title")
            yield Static(loss_text(self.barcode, self.lost), id="confirm-body", markup=False)
            with Horizontal(classes="field"):
                yield Label("New label ")
                yield Input(self.current_label or "", id="label", compact=True,
                            placeholder="empty: keep the label, or TPyyyymm01 for a blank tape")
            yield Static("", id="form-error", markup=False)
            with Horizontal(id="dialog-buttons"):
                yield Button("Format (enter)", id="yes", variant="error")
                yield Button("Cancel (esc)", id="no")

    def on_mount(self) -> None:
        self.query_one("#label", Input).focus()

    def on_input_submitted(self) -> None:
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "yes":
            self._submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _submit(self) -> None:
        label = self.query_one("#label", Input).value.strip()
        if label:
            try:
                validate_volume_name(label)
            except InvalidArgument as e:
                error = self.query_one("#form-error", Static)
                error.update(f"✗ {e}")
                error.set_class(True, "-error")
                return
        self.dismiss(FormatRequest(label))
