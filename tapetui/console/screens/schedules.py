"""Schedules (filled in when the scheduler service lands)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import DataTable

from .base import MainScreen


class SchedulesScreen(MainScreen):
    TITLE = "Schedules"

    def body(self) -> ComposeResult:
        yield DataTable(id="schedules", cursor_type="row")
