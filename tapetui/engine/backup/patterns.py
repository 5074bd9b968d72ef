"""Include and exclude globs: checked, then compiled once into a matcher that
stays fast with tens of thousands of them.

A glob is matched against a whole path and against a bare name (`*.tmp`,
`/data/cache/*`), as fnmatch does it: `*` and `?` cross `/`. One regular
expression alternating 50,000 globs takes seconds and hundreds of MB to compile
and then tries them one by one for every path. Most globs are a plain name or
path, a plain prefix then `*`, or `*` then a plain suffix: sets answer those in
a few lookups. Only the rest become one expression, compiled on first use, so
checking a schedule's settings compiles nothing.
"""

from __future__ import annotations

import fnmatch
import re
import threading
from collections.abc import Sequence
from functools import lru_cache

from .errors import BackupInputError

#: Longer than any path may be (PATH_MAX), so a longer glob can only be a mistake.
MAX_GLOB = 4096
_META = frozenset("*?[")


def check_glob(glob: str) -> None:
    """One line naming what is wrong with a glob (a long one shown cut short)."""
    shown = repr(glob if len(glob) <= 60 else glob[:60] + "…")
    if not glob:
        raise BackupInputError("a glob pattern cannot be empty")
    if "\0" in glob:
        raise BackupInputError(f"bad glob pattern {shown}: it holds a NUL byte")
    if len(glob) > MAX_GLOB:
        raise BackupInputError(f"glob pattern {shown} is {len(glob)} characters long; at most {MAX_GLOB}")


class Globs:
    """Whether a path or a name matches any of `globs`.

    `match` answers as a compiled expression's `match` would (something or None)
    and `pattern` is the one expression for them all, so a scan and its helper
    process (which gets `pattern`) take this where they took an `re.Pattern`."""

    def __init__(self, globs: tuple[str, ...]) -> None:
        self.globs = globs
        self._any = False
        self._exact: set[str] = set()
        self._heads = _Lookup()  # `prefix*`
        self._tails = _Lookup()  # `*suffix`
        # Other globs, filed under a plain part (`_file_by_plain_part`): only those
        # whose part a text has are tried on it, each as its own expression.
        self._by_head = _Lookup()
        self._by_tail = _Lookup()
        self._by_run = _Lookup()
        self._loose: list[str] = []  # no plain part of 3+: one expression, made on first use
        self._rx: dict[str, re.Pattern] = {}
        self._lock = threading.Lock()
        for glob in globs:
            self._add(glob)

    def _add(self, glob: str) -> None:
        prefix, suffix = glob.rstrip("*"), glob.lstrip("*")
        if not prefix:
            self._any = True
        elif not _META.intersection(glob):
            self._exact.add(glob)
        elif not _META.intersection(prefix):
            self._heads.add(prefix)
        elif not _META.intersection(suffix):
            self._tails.add(suffix)
        else:
            self._file_by_plain_part(glob)

    def _file_by_plain_part(self, glob: str) -> None:
        """Under its longest plain part: its start, its end or a run inside it,
        which every text it matches must have there."""
        head = _HEAD_END.split(glob, maxsplit=1)[0]
        tail = _META_RUNS.split(glob)[-1]
        run = max(_META_RUNS.split(_BRACKETS.sub("*", glob)), key=len)
        longest = max(len(head), len(tail), len(run))
        if longest < 3:
            self._loose.append(glob)
        elif len(head) == longest:
            self._by_head.add(head, glob)
        elif len(tail) == longest:
            self._by_tail.add(tail, glob)
        else:
            self._by_run.add(run, glob)

    def match(self, text: str) -> bool | None:
        """True if a glob matches all of `text`, else None."""
        if self._any or text in self._exact or self._heads.head_of(text) or self._tails.tail_of(text):
            return True
        for glob in (*self._by_head.head_of(text), *self._by_tail.tail_of(text), *self._by_run.inside(text)):
            if self._compiled(glob, (glob,)).match(text) is not None:
                return True
        if self._loose and self._compiled("", self._loose).match(text) is not None:
            return True
        return None

    def _compiled(self, key: str, globs: list[str] | tuple[str, ...]) -> re.Pattern:
        rx = self._rx.get(key)
        if rx is None:
            with self._lock:
                rx = self._rx[key] = re.compile(_alternation(globs))
        return rx

    @property
    def pattern(self) -> str:
        """The expression matching what `match` does, for the walk's helper process."""
        return _alternation(self.globs)


_HEAD_END = re.compile(r"[*?\[]")  # a `]` before the first `[` is plain
_BRACKETS = re.compile(r"\[!?\]?[^\]]*\]")  # fnmatch's [abc], [!abc], []abc]
_META_RUNS = re.compile(r"[*?\[\]]+")


class _Lookup:
    """Plain texts by length, each with what it stands for: which of them a text
    starts or ends with takes one lookup per length, however many there are
    (which it holds, one per length and place)."""

    def __init__(self) -> None:
        self._by_len: dict[int, dict[str, list[str]]] = {}

    def add(self, plain: str, item: str = "") -> None:
        self._by_len.setdefault(len(plain), {}).setdefault(plain, []).append(item)

    def head_of(self, text: str) -> list[str]:
        return [i for n, found in self._by_len.items() for i in found.get(text[:n], ())]

    def tail_of(self, text: str) -> list[str]:
        return [i for n, found in self._by_len.items() for i in found.get(text[-n:], ())]

    def inside(self, text: str) -> list[str]:
        return [i for n, found in self._by_len.items() for k in range(len(text) - n + 1)
                for i in found.get(text[k:k + n], ())]


def _alternation(globs: list[str] | tuple[str, ...]) -> str:
    return "|".join(f"(?:{fnmatch.translate(g)})" for g in globs)


def compile_patterns(patterns: list[str]) -> Globs | None:
    """The matcher for `patterns` (None for none), checked and built once per list."""
    return globs_of(patterns) if patterns else None


def globs_of(patterns: Sequence[str]) -> Globs:
    """The matcher for a non-empty `patterns`, checked and built once per list."""
    return _compiled(tuple(patterns))


@lru_cache(maxsize=16)
def _compiled(globs: tuple[str, ...]) -> Globs:
    for glob in globs:
        check_glob(glob)
    return Globs(globs)
