"""Printing for the CLI: aligned tables for people, `--json` for scripts."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Iterable, Sequence

from ..engine.units import human_bytes

__all__ = ["add_json_flag", "human_bytes", "print_json", "print_table"]


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    """`--json` on every command that lists things."""
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def print_table(rows: Iterable[Sequence[Any]], headers: Sequence[str]) -> None:
    text = [[("-" if v is None else str(v)) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    line = "  ".join(h.upper().ljust(w) for h, w in zip(headers, widths))
    print(line.rstrip())
    for row in text:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    if not text:
        print("(none)")
