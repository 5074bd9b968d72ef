"""Action handlers behind one small registry: what a schedule does when it fires.

Built in: `backup`, `cleanup`, `health_check`. More can be added with
`register(Action(...))`; the scheduler and the service find them by name.
`registered(...)` adds some for a `with` block only, so a test's actions do not
leak into the rest of the process.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import UserError
from .base import Action, Check, Firing, Outcome, Run

_ACTIONS: dict[str, Action] = {}


def register(action: Action) -> None:
    _ACTIONS[action.name] = action


@contextmanager
def registered(*actions: Action) -> Iterator[None]:
    """Register `actions` for the block, then put back what each name meant before
    (nothing, or the action it shadowed)."""
    _builtins()
    before = {a.name: _ACTIONS.get(a.name) for a in actions}
    for action in actions:
        register(action)
    try:
        yield
    finally:
        for name, old in before.items():
            if old is None:
                _ACTIONS.pop(name, None)
            else:
                _ACTIONS[name] = old


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


__all__ = ["Action", "Check", "Firing", "Outcome", "Run", "get", "names", "register", "registered"]
