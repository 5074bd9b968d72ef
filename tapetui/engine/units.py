"""Sizes for people: one way to write a byte count, everywhere it is shown."""

from __future__ import annotations


def human_bytes(n: int | None) -> str:
    """Decimal units, as tape capacities are sold: 1500000000000 -> '1.5 TB'."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(value) < 1000 or unit == "PB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"
