"""Engine errors become notifications with their reason, never a traceback."""

from __future__ import annotations

import logging
from typing import Any

from textual.app import App
from textual.widget import Widget
from textual.worker import Worker, WorkerState

from ..engine.control import TapeError
from ..engine.errors import UserError

log = logging.getLogger("tapetui.console")

#: Errors whose message is written for the operator as it is.
OPERATOR_ERRORS: tuple[type[BaseException], ...] = (UserError, TapeError, ValueError, OSError)


def reason(error: BaseException) -> str:
    if isinstance(error, OPERATOR_ERRORS):
        return str(error) or type(error).__name__
    return f"unexpected {type(error).__name__}: {error} (details in the log file)"


def title(worker: Worker) -> str:
    """A failed worker's toast title in words: its name ('action_load' -> 'Load
    failed'); workers whose method name reads badly are given a `name=` in words.
    Never the group: groups are internal ids ('tapes.move')."""
    words = worker.name.removeprefix("action_").strip("_").replace("_", " ") or "operation"
    return f"{words[:1].upper()}{words[1:]} failed"


def report_worker_error(node: App[Any] | Widget, event: Worker.StateChanged) -> None:
    """The one handler for failed workers (screens call it from `on_worker_state_changed`)."""
    if event.state != WorkerState.ERROR:
        return
    error = event.worker.error
    if error is None:
        return
    if not isinstance(error, OPERATOR_ERRORS):
        log.error("worker %s failed", event.worker.name, exc_info=error)
    node.notify(reason(error), title=title(event.worker), severity="error", timeout=10)
