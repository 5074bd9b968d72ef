"""What a restore takes from the catalog: folders and files named exactly, whole-path
globs, and include/exclude patterns.

A glob is matched against a whole path (`*` and `?` cross `/`, as `fnmatch` and
`find`'s patterns do) and, like the backup's patterns, against a bare name
(`*.conf`, `cache`). A folder brings what it holds: a path is taken when it or
a folder above it is named or matches, and dropped when it or a folder above it
matches an exclude. The folders above what is taken come along (their owner,
mode and times are restored too). Paths and globs are in host form
(`names`), so a name that is not UTF-8 is selected by exactly its bytes.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from ..names import shown
from .errors import BackupInputError
from .patterns import Globs, check_glob, globs_of

GLOB_CHARS = frozenset("*?[")

V = TypeVar("V")


def is_glob(text: str) -> bool:
    """Whether a restore PATH is a glob (a literal `[` is written `[[]`)."""
    return not GLOB_CHARS.isdisjoint(text)


def normalize_paths(paths: list[str]) -> list[str]:
    """Absolute catalog paths, normalized; one line naming the first that is not."""
    out = []
    for p in paths:
        if not p.startswith("/"):
            raise BackupInputError(f"restore paths are absolute paths as backed up, not {shown(p)!r}")
        norm = posixpath.normpath(p)
        out.append("/" if norm == "//" else norm)
    return out


def _under(folder: str) -> Callable[[str], bool]:
    stem = folder.rstrip("/") + "/"
    return lambda path: path == folder or path.startswith(stem)


class _Matches:
    """Whether a path, or a folder above it, matches `globs`; folders' answers are kept
    (the paths of a restore share them)."""

    def __init__(self, globs: Globs) -> None:
        self.globs = globs
        self._folders: dict[str, bool] = {}

    def __call__(self, path: str) -> bool:
        return self._hit(path) or self._folder(posixpath.dirname(path))

    def _hit(self, path: str) -> bool:
        return bool(self.globs.match(path) or self.globs.match(path.rpartition("/")[2]))

    def _folder(self, folder: str) -> bool:
        todo = []
        while folder not in self._folders:
            todo.append(folder)
            parent = posixpath.dirname(folder)
            if parent == folder:
                break
            folder = parent
        hit = self._folders.get(folder, False)
        for f in reversed(todo):
            hit = self._folders[f] = hit or self._hit(f)
        return hit


@dataclass
class Selection:
    paths: list[str]  # folders or files, exactly
    globs: list[str]  # whole-path globs naming what to take, as paths do
    include: list[str]  # of what paths and globs take, only what these match
    exclude: list[str]  # ... and not what these match

    @classmethod
    def of(cls, paths: list[str], globs: list[str], include: list[str], exclude: list[str]) -> Selection:
        """Checked: absolute paths, globs that are globs (one line naming what is wrong)."""
        for glob in (*globs, *include, *exclude):
            check_glob(glob)
        return cls(normalize_paths(paths), list(globs), list(include), list(exclude))

    @property
    def named(self) -> list[str]:
        """What the restore was asked for, for its record: paths and globs."""
        return [*self.paths, *self.globs]

    def patterns_text(self) -> str:
        """The patterns in words, for the restore's log ('' when it has none)."""
        parts = [(what, globs) for what, globs in (("matching", self.globs), ("only", self.include),
                                                   ("not", self.exclude)) if globs]
        return "; ".join(f"{what} {', '.join(repr(shown(g)) for g in globs)}" for what, globs in parts)

    def prefixes(self) -> list[str]:
        """The folders to load from the catalog ([]: all): each path, and each glob's
        plain folder (`/data/*/x` -> `/data`; `*.conf` needs every path)."""
        out = list(self.paths)
        for glob in self.globs:
            folder = _plain_folder(glob)
            if folder is None:
                return []
            out.append(folder)
        return out

    def apply(self, state: Mapping[str, V]) -> dict[str, V]:
        """The part of `state` (path -> version, all under `prefixes`) this selection takes.
        Raises when a path or glob names nothing there, or the patterns leave nothing."""
        for p in self.paths:
            if not any(map(_under(p), state)):
                raise BackupInputError(f"nothing under {shown(p)} in the catalog at that point in time")
        for glob in self.globs:
            if not any(map(_Matches(globs_of([glob])), state)):
                raise BackupInputError(f"nothing matches {shown(glob)!r} in the catalog at that point in time")
        tests = self._tests()
        if not (self.globs or self.include or self.exclude):  # folders and files named exactly: as they are
            return {path: v for path, v in state.items() if all(test(path) for test in tests)}
        taken = [path for path in state if all(test(path) for test in tests)]
        if state and not taken:
            raise BackupInputError("the include and exclude patterns leave nothing of the selection to restore")
        return {path: state[path] for path in _with_folders_above(taken, state)}

    def _tests(self) -> list[Callable[[str], bool]]:
        tests: list[Callable[[str], bool]] = []
        named = [_under(p) for p in self.paths]
        if self.globs:
            named.append(_Matches(globs_of(self.globs)))
        if named:
            tests.append(lambda path: any(n(path) for n in named))
        if self.include:
            tests.append(_Matches(globs_of(self.include)))
        if self.exclude:
            excluded = _Matches(globs_of(self.exclude))
            tests.append(lambda path: not excluded(path))
        return tests


def _plain_folder(glob: str) -> str | None:
    """The folder every path a glob matches lies in, if it starts with one."""
    if not glob.startswith("/"):
        return None
    head = glob[:min((glob.find(c) for c in GLOB_CHARS if c in glob), default=len(glob))]
    if len(head) == len(glob):
        return posixpath.normpath(glob)
    return head.rpartition("/")[0] or "/"


def _with_folders_above(taken: list[str], state: Mapping[str, object]) -> list[str]:
    """`taken` and the folders above each that `state` holds, each once."""
    out = dict.fromkeys(taken)
    for path in taken:
        folder = posixpath.dirname(path)
        while folder in state and folder not in out:
            out[folder] = None
            parent = posixpath.dirname(folder)
            if parent == folder:
                break
            folder = parent
    return list(out)
