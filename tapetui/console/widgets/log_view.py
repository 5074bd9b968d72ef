"""A bounded, batched live log with a follow mode that pauses when scrolled up,
lines wrapped to its width (or not: `w`) and a search that marks what it found."""

from __future__ import annotations

import bisect
from typing import Any, Iterable

from rich.cells import cell_len, chop_cells
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.strip import Strip
from textual.widgets import Log

MAX_LINES = 5000
FLUSH_S = 0.05


class LiveLog(Log):
    """`Log` keeps only the last `MAX_LINES`; callers hand it whole batches.

    Follow mode sticks to the tail. Scrolling up (keys, wheel) pauses it, so the
    operator can read; scrolling back to the end, or `End`, resumes it. The border
    title says which mode it is in.

    Long lines (a warning naming a deep path) wrap by default: `Log` would cut
    them at the width and scroll sideways. When wrapping, `_rows` maps each row
    on screen to (line number, start, end) in that line; line numbers count from
    the first line ever written, so lines pruned at the top only drop rows.
    """

    DEFAULT_CSS = """
    LiveLog { scrollbar-gutter: stable; overflow-x: hidden; }
    LiveLog.-unwrapped { overflow-x: auto; }
    """
    BINDINGS = [
        Binding("end", "follow", "Follow", id="log.follow"),
        Binding("w", "toggle_wrap", "Wrap", id="log.wrap"),
    ]
    MAX = MAX_LINES

    def __init__(self, *, title: str = "log", max_lines: int = MAX_LINES, wrap: bool = True, **kwargs: Any) -> None:
        self.base_title = title
        self._pending: list[str] = []
        self._flush_scheduled = False
        self.wrap = wrap
        self._rows: list[tuple[int, int, int]] = []
        self._first = 0  # the number of the first line kept
        self._wrapped = 0  # lines before this number have their rows
        self._wrap_width = 0
        self.found: int | None = None  # the number of the line the last search found
        self.search_note = ""  # what the last search found, under the log
        super().__init__(max_lines=max_lines, auto_scroll=True, highlight=False, **kwargs)
        self.set_class(not wrap, "-unwrapped")
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
            keep = self.max_lines or len(self._pending)  # None: the log keeps every line
            batch, self._pending = self._pending[-keep:], []
            self._write(batch)

    def _write(self, lines: list[str]) -> None:
        """`Log` follows only when the view was at the end before the write; once
        the view shrank (see `on_resize`) it would never follow again. Following
        is `auto_scroll` here, nothing else."""
        self.write_lines(lines, scroll_end=False)
        if self.wrap:
            self._wrap_new()
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
        self._rows, self._first, self._wrapped, self.found, self.search_note = [], 0, 0, None, ""
        self.auto_scroll = True
        self._write(list(lines))
        self._update_title()

    def on_resize(self) -> None:
        """Something above took rows (the progress panel): keep the last line in view.
        A new width wraps the lines anew."""
        if self.wrap and self._width_now() != self._wrap_width:
            self._rewrap()
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
        notes = [self.search_note] if self.search_note else []
        if not self.wrap:
            notes.append("not wrapped: w wraps, ←→ scroll")
        self.border_subtitle = " · ".join(notes)

    # -- wrapping ---------------------------------------------------------------------
    def action_toggle_wrap(self) -> None:
        self.wrap = not self.wrap
        self.set_class(not self.wrap, "-unwrapped")
        if self.wrap:
            self._rewrap()
        else:
            self._unwrap()
        self._update_title()
        self._keep_in_view()

    def _width_now(self) -> int:
        return max(1, self.scrollable_content_region.width)

    def _rewrap(self) -> None:
        self._rows, self._wrapped, self._wrap_width = [], self._first, self._width_now()
        self._wrap_new()

    def _unwrap(self) -> None:
        self._rows = []
        self.virtual_size = Size(self._width, len(self._lines))
        self.refresh()

    def _wrap_new(self) -> None:
        """Rows for the lines written since the last call; rows of pruned lines go.
        Not laid out yet: `on_resize` wraps them all once the width is known."""
        if not self.scrollable_content_region.width:
            return
        if self._rows and self._rows[0][0] < self._first:
            del self._rows[:bisect.bisect_left(self._rows, (self._first,))]  # rows sort by line number
        width = self._wrap_width = self._wrap_width or self._width_now()
        for number in range(max(self._wrapped, self._first), self._first + len(self._lines)):
            text = self._process_line(self._lines[number - self._first])
            self._rows.extend((number, start, end) for start, end in pieces(text, width))
        self._wrapped = self._first + len(self._lines)
        self.virtual_size = Size(width, len(self._rows))
        self.refresh()

    def _prune_max_lines(self) -> None:
        before = len(self._lines)
        super()._prune_max_lines()
        self._first += before - len(self._lines)

    def _update_maximum_width(self, updates: int, size: int) -> None:
        super()._update_maximum_width(updates, size)
        if self.wrap:  # `Log` measured the longest line: rows, not lines, say the height here
            self.virtual_size = Size(self._wrap_width, len(self._rows))

    def _render_line(self, y: int, scroll_x: int, width: int) -> Strip:
        if not self.wrap:
            return super()._render_line(y, scroll_x, width)
        rich_style = self.rich_style
        if y >= len(self._rows):
            return Strip.blank(width, rich_style)
        number, start, end = self._rows[y]
        text = self._process_line(self._lines[number - self._first])[start:end]
        return self._strip(text, number, rich_style).crop_extend(0, width, rich_style)

    def _render_line_strip(self, y: int, rich_style: Style) -> Strip:
        """Unwrapped: the line the search found is marked."""
        if y + self._first != self.found:
            return super()._render_line_strip(y, rich_style)
        return self._strip(self._process_line(self._lines[y]), y + self._first, rich_style)

    def _strip(self, text: str, number: int, rich_style: Style) -> Strip:
        line = Text(text, no_wrap=True, style=rich_style)
        if number == self.found:
            line.stylize("reverse")
        return Strip(line.render(self.app.console), cell_len(text))

    # -- search -----------------------------------------------------------------------------
    def find(self, text: str, *, forward: bool = True) -> tuple[int, int] | None:
        """Go to the next line holding `text` (case ignored) after the one found last,
        or before it, round the end; it is marked and follow mode pauses so it stays.
        Returns (its place among the lines found, how many), or None."""
        needle = text.casefold()
        hits = [i for i, line in enumerate(self._lines) if needle in line.casefold()]
        if not needle or not hits:
            self.found = None
            self._note(f"{text!r} is not in this log")
            return None
        here = (self.found - self._first) if self.found is not None else (-1 if forward else len(self._lines))
        after = [i for i in hits if (i > here if forward else i < here)]
        index = (after[0] if forward else after[-1]) if after else (hits[0] if forward else hits[-1])
        self.found = index + self._first
        self._render_line_cache.clear()
        self.auto_scroll = False
        self._keep_in_view()
        place = hits.index(index) + 1, len(hits)
        self._note(f"{text!r} {place[0]} of {place[1]}: n / N next / previous")
        return place

    def _note(self, note: str) -> None:
        self.search_note = note
        self._render_line_cache.clear()
        self._update_title()
        self.refresh()

    def _keep_in_view(self) -> None:
        """The line found (else the tail when following) stays on screen."""
        if self.found is not None and not self.auto_scroll:
            self.scroll_to(y=self._row_of(self.found) - self.scrollable_content_region.height // 2,
                           animate=False, immediate=True)
        elif self.auto_scroll:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()

    def _row_of(self, number: int) -> int:
        if not self.wrap:
            return number - self._first
        return next((y for y, row in enumerate(self._rows) if row[0] == number), 0)


def pieces(text: str, width: int) -> list[tuple[int, int]]:
    """(start, end) of each row `text` takes at `width` cells, broken after the last
    space that fits (a word, a barcode, a size stays whole) or, in a word longer than
    a row, at the row's end; one empty row for ''."""
    ascii_only = text.isascii()
    spans, start, n = [], 0, len(text)
    while start < n:
        end = min(start + width, n) if ascii_only else start + len(chop_cells(text[start:], width)[0])
        if end < n and text[end] != " ":
            space = text.rfind(" ", start, end)
            if space >= start:
                end = space + 1
        spans.append((start, end))
        start = end
    return spans or [(0, 0)]
