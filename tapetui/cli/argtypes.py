"""Argument types for numbers that reach SQLite: out-of-range input is a usage
error, not an OverflowError from the database (SQLite integers are 64-bit)."""

from __future__ import annotations

import argparse

INT64_MAX = 2**63 - 1


def _int(text: str, low: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not low <= value <= INT64_MAX:
        raise argparse.ArgumentTypeError(f"{what} must be between {low} and {INT64_MAX}, got {text}")
    return value


def row_id(text: str) -> int:
    """A run, set or record id (1 or more)."""
    return _int(text, 1, "an id")


def count(text: str) -> int:
    """A limit on how many rows to show (0 or more)."""
    return _int(text, 0, "a count")
