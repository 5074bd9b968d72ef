"""Runs (filled in when the scheduler service lands)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import DataTable

from .base import MainScreen


class RunsScreen(MainScreen):
    TITLE = "Runs"

    def body(self) -> ComposeResult:
        yield DataTable(id="runs", cursor_type="row")
