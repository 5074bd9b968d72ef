"""Restore: where to (original place or another folder), what to do with files
that exist, and a summary (files, bytes, cartridges needed in order) before it starts.
Overwriting live files in their original place asks a second yes (No by default);
a No leaves the form as it was typed."""

from __future__ import annotations

import os
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static

from ...engine.control import RestoreSummary
from ...engine.control.text import shown
from ...engine.store.models import SetRow
from ..fmt import human_bytes, when
from .confirm import ConfirmScreen

ORIGINAL = "/"


@dataclass
class RestoreChoice:
    target: str  # absolute; "/" = the original place
    conflict: str  # skip | overwrite | rename


def summary_text(s: SetRow, paths: list[str], summary: RestoreSummary) -> str:
    what = ("the whole set" if not paths else shown(paths[0]) if len(paths) == 1 else f"{len(paths)} marked items")
    carts = " → ".join(summary.cartridges) or "none"
    return (f"Restore {what} as of set #{s.id} ({s.level}, {when(s.finished_at or s.started_at)}):\n"
            f"{summary.files:,} files, {human_bytes(summary.bytes)}; cartridges in order: {carts}")


def absolute(target: str) -> str:
    """The folder as typed, made absolute here (a daemon's working folder is not ours)."""
    return os.path.abspath(os.path.expanduser(target))


def lands_text(summary: RestoreSummary, target: str) -> str:
    """Where one restored file is written, for the target as typed so far."""
    if summary.example is None:
        return ""
    where = shown(summary.lands_at(absolute(target)) or "") if target else f"FOLDER{shown(summary.example)}"
    return f"lands as e.g. {where}"


def overwrite_text(summary: RestoreSummary) -> str:
    return (f"Up to {summary.files:,} files ({human_bytes(summary.bytes)}) may be overwritten in place: "
            "each file that exists at its original path is replaced by its backed-up copy, and changes "
            "made since the backup are lost.\n\nOverwrite them?")


class RestoreScreen(ModalScreen[RestoreChoice | None]):
    BINDINGS = [
        Binding("ctrl+s", "start", "Start", id="restore.start"),
        Binding("escape", "cancel", "Cancel", id="restore.cancel"),
    ]

    def __init__(self, s: SetRow, paths: list[str], summary: RestoreSummary) -> None:
        super().__init__()
        self.set = s
        self.paths = paths
        self.summary = summary

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="restore"):
            yield Label("Restore", id="dialog-title")
            yield Static(summary_text(self.set, self.paths, self.summary), id="restore-summary", markup=False)
            with Horizontal(classes="choices"):
                with RadioSet(id="where", compact=True):
                    yield RadioButton("to another folder", value=True, id="other")
                    yield RadioButton("to the original place", id="original")
                with RadioSet(id="conflict", compact=True):
                    yield RadioButton("existing: skip", value=True, id="skip")
                    yield RadioButton("existing: rename copy", id="rename")
                    yield RadioButton("existing: overwrite", id="overwrite")
            yield Input(id="target", placeholder="folder; each file keeps its full path under it", compact=True)
            yield Static(lands_text(self.summary, ""), id="restore-lands", markup=False)
            yield Static("", id="form-error", markup=False)
            with Horizontal(id="dialog-buttons"):
                yield Button("Start (ctrl+s)", id="start", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#target", Input).focus()

    @on(RadioSet.Changed, "#where")
    def _where(self, event: RadioSet.Changed) -> None:
        self.query_one("#target", Input).display = event.pressed.id == "other"

    @on(Input.Changed)
    @on(RadioSet.Changed)
    def _edited(self) -> None:
        """An edit answers the last complaint: it goes (Start checks again); the
        example follows the folder."""
        self._show_error(None)
        self.query_one("#restore-lands", Static).update(lands_text(self.summary, self._target()))

    def _pressed(self, selector: str) -> str | None:
        """The id of the button pressed in this radio set (each starts with one pressed)."""
        button = self.query_one(selector, RadioSet).pressed_button
        return button.id if button is not None else None

    def _target(self) -> str:
        """The folder chosen: '/' for the original place, else as typed ('' if nothing yet)."""
        if self._pressed("#where") == "original":
            return ORIGINAL
        return self.query_one("#target", Input).value.strip()

    def _show_error(self, problem: str | None) -> None:
        error = self.query_one("#form-error", Static)
        error.update(f"✗ {problem}" if problem else "")
        error.set_class(problem is not None, "-error")

    def on_input_submitted(self) -> None:
        self.action_start()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self.action_start()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_start(self) -> None:
        target = self._target()
        if not target:
            self._show_error("type the folder to restore into (or choose the original place)")
            return
        choice = RestoreChoice(absolute(target), str(self._pressed("#conflict")))
        if choice.target == ORIGINAL and choice.conflict == "overwrite":
            def confirmed(yes: bool | None) -> None:
                if yes:
                    self.dismiss(choice)

            self.app.push_screen(ConfirmScreen("Overwrite files in place?", overwrite_text(self.summary),
                                               yes="Overwrite"), confirmed)
            return
        self.dismiss(choice)
