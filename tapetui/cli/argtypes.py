"""Argument types for numbers that reach SQLite: out-of-range input is a usage
error, not an OverflowError from the database (SQLite integers are 64-bit).
And options repeated thousands of times, folded into one before argparse."""

from __future__ import annotations

import argparse

from ..engine.backup.errors import BackupInputError
from ..engine.control.text import check_glob

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


def glob(text: str) -> str:
    """A path glob, no longer than a path may be (SQLite refuses a 50,000-byte GLOB)."""
    try:
        check_glob(text)
    except BackupInputError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


#: Options given once per value, perhaps tens of thousands of times (globs, folders).
FOLDED = ("--exclude", "--include", "--source")


def fold_repeated(argv: list[str]) -> list[str]:
    """Each of `FOLDED`'s values joined into one option, with NUL (no argument holds
    one), where the option first appears: argparse's time grows with the square of
    the options on a line (93 s for 51,000 `--exclude`). `AppendEach` splits them."""
    out: list[str | list[str]] = []
    first: dict[str, list[str]] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            out += argv[i:]
            break
        name, eq, value = arg.partition("=")
        if name in FOLDED and (eq or i + 1 < len(argv)):
            if not eq:
                i += 1
                value = argv[i]
            if name not in first:
                first[name] = [name]
                out.append(first[name])
            first[name].append(value)
        else:
            out.append(arg)
        i += 1
    return [a if isinstance(a, str) else f"{a[0]}=" + "\0".join(a[1:]) for a in out]


class AppendEach(argparse.Action):
    """`action="append"` for an option `fold_repeated` gathered."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        assert isinstance(values, str)
        setattr(namespace, self.dest, [*(getattr(namespace, self.dest) or []), *values.split("\0")])
