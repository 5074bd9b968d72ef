"""Progress of one running run: a bar, files, bytes, rate, ETA and the current file."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static

from ...engine.events import Progress
from ..fmt import duration, human_bytes


def progress_text(p: Progress) -> str:
    files = f"{p.files_done:,}/{p.files_total:,} files" if p.files_total else f"{p.files_done:,} files"
    size = f"{human_bytes(p.bytes_done)}/{human_bytes(p.bytes_total)}" if p.bytes_total else human_bytes(p.bytes_done)
    rate = f"{human_bytes(int(p.rate_bps))}/s" if p.rate_bps else "-"
    return f"{p.phase} · {files} · {size} · {rate} · ETA {duration(p.eta_s)}"


def percent(p: Progress) -> str:
    """'42%' of the bytes (of the files when the size is unknown); '' when neither is known."""
    done, total = (p.bytes_done, p.bytes_total) if p.bytes_total else (p.files_done, p.files_total)
    return f"{done / total:.0%}" if total else ""


class ProgressPanel(Vertical):
    """Hidden until the run it shows reports progress."""

    def compose(self) -> ComposeResult:
        yield ProgressBar(total=None, show_eta=False, id="progress-bar")
        yield Static("", id="progress-text", markup=False)
        yield Static("", id="progress-current", markup=False)

    def show(self, p: Progress | None) -> None:
        self.display = p is not None
        if p is None:
            return
        total = p.bytes_total or p.files_total or None
        done = p.bytes_done if p.bytes_total else p.files_done
        self.query_one(ProgressBar).update(total=total, progress=done)
        self.query_one("#progress-text", Static).update(progress_text(p))
        self.query_one("#progress-current", Static).update(p.current or "")
