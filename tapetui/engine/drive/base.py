"""What every part of the drive policy shares: where an operation reports, and how
a driver's error reaches the operator (one line, a `UserError`)."""

from __future__ import annotations

import contextlib
import logging
from typing import Iterator, Protocol

from ..errors import UserError
from ..tape.args import InvalidArgument
from ..tape.base import TapeError

logger = logging.getLogger("tapetui.tape")


class OpLog(Protocol):
    """Where an operation reports: a run's `RunLog`, or anything shaped like it."""

    def info(self, text: str) -> None: ...
    def warning(self, text: str) -> None: ...
    def tool(self, text: str) -> None: ...


class ModuleLog:
    """The fallback `OpLog` when the caller has no run log: the log file."""

    def info(self, text: str) -> None:
        logger.info(text)

    def warning(self, text: str) -> None:
        logger.warning(text)

    def tool(self, text: str) -> None:
        logger.info("tool: %s", text)


class TapeOpFailed(UserError):
    """The driver refused or failed an operation; the message says why."""


@contextlib.contextmanager
def driver_errors(doing: str | None = None) -> Iterator[None]:
    """Turn a driver's TapeError, refused argument or device OSError into a
    one-line UserError."""
    try:
        yield
    except UserError:
        raise
    except (TapeError, InvalidArgument, OSError) as e:
        raise TapeOpFailed(f"{doing}: {e}" if doing else str(e)) from e
