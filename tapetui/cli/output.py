"""Printing for the CLI: aligned tables for people, `--json` for scripts."""

from __future__ import annotations

import json
import sys
from typing import Any, Iterable, Sequence

from ..engine.units import human_bytes

__all__ = ["human_bytes", "print_json", "print_table"]


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
