"""Old name of `LocalControl` (see `tapetui.engine.control`), kept while callers move."""

from __future__ import annotations

from .control.api import MISSED_POLICIES, PREVIEW_CAP, PREVIEW_MAX_DAYS, FormatRisk, Preview, PreviewItem, Saved
from .control.local import LocalControl as Service
from .control.local import check_name

__all__ = ["MISSED_POLICIES", "PREVIEW_CAP", "PREVIEW_MAX_DAYS", "FormatRisk", "Preview", "PreviewItem", "Saved",
           "Service", "check_name"]
