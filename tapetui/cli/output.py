"""Printing for the CLI: aligned tables for people, `--json` for scripts."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Iterable, Sequence

from ..engine.control.text import human_bytes, json_dumps

__all__ = ["add_json_flag", "human_bytes", "print_json", "print_table"]


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    """`--json` on every command that lists things."""
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def print_json(data: Any) -> None:
    """A name that is not UTF-8 is written as its `\\udcXX` escape (`names.json_dumps`):
    the output stays UTF-8, and `restore --from-json` reads back exactly the name."""
    sys.stdout.write(json_dumps(data, indent=2, default=str) + "\n")


def print_table(rows: Iterable[Sequence[Any]], headers: Sequence[str]) -> None:
    text = [[("-" if v is None else str(v)) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    line = "  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line.rstrip())
    for row in text:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    if not text:
        print("(none)")
