"""The engine's front door: the CLI and the console ask everything of a `Control`.

`open_control(engine)` gives the daemon's (`RemoteControl`) when one serves the
home, else one in this process (`LocalControl`); `attach` only the daemon's.
Along with it come the results of its operations and the names a caller needs
to ask (a restore's request, the "any cartridge" yes to a format).
"""

from __future__ import annotations

from ..backup.catalog_copy import ImportResult
from ..backup.restore import CONFLICTS, RestoreRequest, RestoreResult
from ..backup.verify import VerifyResult
from ..backup.verify import summary as verify_summary
from ..browse import PAGE, Page, PointInTime, RestoreSummary
from ..core import Engine
from ..daemon.client import DaemonError, DaemonGone, NoDaemon
from ..drive import ANY_CARTRIDGE, CartridgeView, FormatOutcome
from ..handlers.backup import ADVICE, LEVELS
from ..paths import Home
from ..tape.base import DriveStatus, OpResult, TapeDriver, TapeError
from .api import (
    MISSED_POLICIES,
    PREVIEW_CAP,
    PREVIEW_MAX_DAYS,
    REMOTE_OPS,
    RESTORE_RUN,
    Control,
    ControlStatus,
    DriveBusy,
    FormatRisk,
    Formatted,
    Preview,
    PreviewItem,
    Restored,
    Saved,
    SavedTemplate,
    WhenCheck,
)
from .base import ControlBase
from .local import LocalControl, check_name
from .remote import RemoteControl, attach
from .session import Session, open_session, take_over


async def open_control(engine: Engine) -> Control:
    """The daemon's `RemoteControl` if one listens (its events on `engine.bus`), else a
    `LocalControl` in this process; the caller closes it (a remote one detaches, a local
    one cancels its firings)."""
    return await attach(engine) or LocalControl(engine)


__all__ = [
    "ADVICE", "ANY_CARTRIDGE", "LEVELS", "CONFLICTS", "MISSED_POLICIES", "PAGE", "PREVIEW_CAP", "PREVIEW_MAX_DAYS", "REMOTE_OPS",
    "RESTORE_RUN", "CartridgeView", "Control", "ControlBase", "ControlStatus", "DaemonError", "DaemonGone",
    "DriveBusy", "DriveStatus", "Engine", "FormatOutcome", "FormatRisk", "Formatted", "Home", "ImportResult",
    "LocalControl", "NoDaemon", "OpResult", "Page", "PointInTime", "Preview", "PreviewItem", "RemoteControl",
    "Restored", "RestoreRequest", "RestoreResult", "RestoreSummary", "Saved", "SavedTemplate", "Session", "TapeDriver", "TapeError", "VerifyResult",
    "WhenCheck", "attach", "check_name", "open_control", "open_session", "take_over", "verify_summary",
]
