"""A bounded, batched live log with a follow mode that pauses when scrolled up."""

from __future__ import annotations

from typing import Iterable

from textual.binding import Binding
from textual.widgets import Log

MAX_LINES = 5000
FLUSH_S = 0.05


class LiveLog(Log):
    """`Log` keeps only the last `MAX_LINES`; callers hand it whole batches.

    Follow mode sticks to the tail. Scrolling up (keys, wheel) pauses it, so the
    operator can read; scrolling back to the end, or `End`, resumes it. The border
    title says which mode it is in.
    """

    BINDINGS = [Binding("end", "follow", "Follow", id="log.follow")]
    MAX = MAX_LINES

    def __init__(self, *, title: str = "log", max_lines: int = MAX_LINES, **kwargs) -> None:
        self.base_title = title
        self._pending: list[str] = []
        self._flush_scheduled = False
        super().__init__(max_lines=max_lines, auto_scroll=True, highlight=False, **kwargs)
        self._update_title()

    def add_lines(self, lines: Iterable[str]) -> None:
        """Queue lines; they are written together at most every `FLUSH_S`."""
        self._pending.extend(lines)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.set_timer(FLUSH_S, self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._pending:
            batch, self._pending = self._pending[-self.max_lines:], []
            self._write(batch)

    def _write(self, lines: list[str]) -> None:
        """`Log` follows only when the view was at the end before the write; once
        the view shrank (see `on_resize`) it would never follow again. Following
        is `auto_scroll` here, nothing else."""
        self.write_lines(lines, scroll_end=False)
        if self.auto_scroll:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def set_title(self, title: str) -> None:
        self.base_title = title
        self._update_title()

    def replace(self, lines: Iterable[str], title: str | None = None) -> None:
        """Show another log (a stored one replayed, or another run)."""
        if title is not None:
            self.base_title = title
        self.clear()
        self._pending = []
        self.auto_scroll = True
        self._write(list(lines))
        self._update_title()

    def on_resize(self) -> None:
        """Something above took rows (the progress panel): keep the last line in view."""
        if self.auto_scroll:
            self.call_after_refresh(self.scroll_end, animate=False, immediate=True, x_axis=False)

    def action_follow(self) -> None:
        self.auto_scroll = True
        self.scroll_end(animate=False)

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        at_end = new >= self.max_scroll_y
        if new < old and not at_end:
            self.auto_scroll = False
        elif at_end:
            self.auto_scroll = True

    def watch_auto_scroll(self) -> None:
        self._update_title()

    def _update_title(self) -> None:
        mode = "following" if self.auto_scroll else "paused · End to follow"
        self.border_title = f"{self.base_title} · {mode}"
