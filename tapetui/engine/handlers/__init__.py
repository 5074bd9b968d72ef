"""Action handlers behind one small registry: what a schedule does when it fires.

Built in: `backup`, `cleanup`, `health_check`. More can be added with
`register(Action(...))`; the scheduler and the service find them by name.
"""

from __future__ import annotations

from ..errors import UserError
from .base import Action, Check, Firing, Outcome, Run

_ACTIONS: dict[str, Action] = {}


def register(action: Action) -> None:
    _ACTIONS[action.name] = action


def get(name: str) -> Action:
    _builtins()
    if name not in _ACTIONS:
        raise UserError(f"unknown action {name!r}; expected one of {', '.join(names())}")
    return _ACTIONS[name]


def names() -> list[str]:
    _builtins()
    return sorted(_ACTIONS)


def _builtins() -> None:
    if "backup" not in _ACTIONS:
        from . import backup, cleanup, health

        for module in (backup, cleanup, health):
            register(module.ACTION)


__all__ = ["Action", "Check", "Firing", "Outcome", "Run", "get", "names", "register"]
