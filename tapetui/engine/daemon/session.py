"""Old home of the console's session (now `tapetui.engine.control.session`), kept while callers move."""

from __future__ import annotations

from ..control.session import Session, open_session, take_over

__all__ = ["Session", "open_session", "take_over"]
