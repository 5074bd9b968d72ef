"""Typed access to the running app from screens and widgets."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.dom import DOMNode

if TYPE_CHECKING:
    from .app import TapetuiApp


def tapp(node: DOMNode) -> TapetuiApp:
    """The running app, typed (screens and widgets reach the engine through it)."""
    return cast("TapetuiApp", node.app)
