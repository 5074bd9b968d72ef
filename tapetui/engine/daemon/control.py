"""Old home of `LocalControl` (now `tapetui.engine.control`), kept while callers move."""

from __future__ import annotations

from ..control.api import REMOTE_OPS, RESTORE_RUN, ControlStatus, DriveBusy, Formatted
from ..control.local import WAIT_POLL_S, LocalControl

__all__ = ["REMOTE_OPS", "RESTORE_RUN", "WAIT_POLL_S", "ControlStatus", "DriveBusy", "Formatted", "LocalControl"]
