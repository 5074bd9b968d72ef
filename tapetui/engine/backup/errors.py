"""Errors of backup and restore runs, each one line for the operator."""

from __future__ import annotations

from ..errors import UserError


class BackupInputError(UserError, ValueError):
    """A request that cannot run: bad level, missing source, bad pattern, bad time."""


class RunFailed(Exception):
    """The run started but cannot go on (tape trouble, a file larger than a cartridge)."""
