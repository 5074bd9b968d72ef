"""Walking the source folders: what exists, what changed since the base, what was deleted.

Runs in a worker thread. Files to copy are kept as two flat lists (paths and
sizes), not objects, so a million files stay within the memory budget;
folders, symlinks and deleted-markers become catalog rows right away (they carry
no data). Symlinks are recorded as links, never followed; sockets, FIFOs and
devices are skipped with a log line; what cannot be read is logged and counted.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
import threading
from array import array
from dataclasses import dataclass, field
from typing import Callable

from .errors import BackupInputError
from .layout import split
from .state import KIND_NAMES, signature

#: A catalog row without its set id (the writer adds cartridge and position to files).
Row = tuple

Say = Callable[[str], None]


def compile_patterns(patterns: list[str]) -> re.Pattern | None:
    """Globs matched against a whole path or a bare name (`*.tmp`, `/data/cache/*`)."""
    if not patterns:
        return None
    for p in patterns:
        if not p or "\0" in p:
            raise BackupInputError(f"bad glob pattern {p!r}")
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


@dataclass
class ScanResult:
    paths: list[str] = field(default_factory=list)  # regular files to copy, in walk order
    sizes: array = field(default_factory=lambda: array("q"))
    rows: list[Row] = field(default_factory=list)  # folders, symlinks, deleted-markers
    bytes_total: int = 0
    seen: int = 0
    unchanged: int = 0
    deleted: int = 0
    special: int = 0
    unreadable: int = 0


class Scanner:
    def __init__(
        self,
        sources: list[str],
        includes: list[str],
        excludes: list[str],
        base: dict[str, int] | None,
        *,
        info: Say,
        warn: Say,
        stop: threading.Event,
    ) -> None:
        self.sources = sources
        self.include = compile_patterns(includes)
        self.exclude = compile_patterns(excludes)
        self.base = base
        self.info = info
        self.warn = warn
        self.stop = stop
        self.result = ScanResult()
        self._unreadable_dirs: list[str] = []

    def _matches(self, rx: re.Pattern, path: str, name: str) -> bool:
        return rx.match(path) is not None or rx.match(name) is not None

    def _changed(self, path: str, sig: int) -> bool:
        if self.base is None:
            return True
        old = self.base.pop(path, None)
        if old == sig:
            self.result.unchanged += 1
            return False
        return True

    def _dir_row(self, path: str, st: os.stat_result) -> None:
        sig = signature("dir", 0, st.st_mtime_ns, st.st_ino, st.st_ctime_ns, None)
        if self._changed(path, sig):
            folder, name = split(path)
            self.result.rows.append((folder, name, "dir", 0, st.st_mtime_ns, st.st_mode, st.st_uid,
                                     st.st_gid, st.st_ino, st.st_ctime_ns, None, None, None, None, 0))

    def run(self) -> ScanResult:
        for root in self.sources:
            try:
                st = os.lstat(root)
            except OSError as e:
                raise BackupInputError(f"cannot read source folder {root}: {e.strerror}") from None
            if root != "/":
                self._dir_row(root, st)
            self._walk(root)
        self._deletions()
        return self.result

    def _walk(self, top: str) -> None:
        res = self.result
        stack = [top]
        while stack:
            if self.stop.is_set():
                return
            folder = stack.pop()
            try:
                fd, entries = _list(folder)
            except OSError as e:
                res.unreadable += 1
                self._unreadable_dirs.append(folder)
                self.warn(f"cannot read folder {folder}: {e.strerror}")
                continue
            try:
                self._folder(folder, entries, stack)
            finally:
                if fd is not None:
                    os.close(fd)

    def _folder(self, folder: str, entries: list[os.DirEntry], stack: list[str]) -> None:
        """One folder's entries: the hot loop of an incremental (every entry of the
        tree), so plain string joins, a regular file's signature inlined, and no
        call per unchanged file."""
        res = self.result
        paths, sizes, rows = res.paths, res.sizes, res.rows
        include, exclude, base = self.include, self.exclude, self.base
        pop = base.pop if base is not None else None
        S_ISDIR, S_ISREG, S_ISLNK = stat.S_ISDIR, stat.S_ISREG, stat.S_ISLNK  # noqa: N806
        prefix = folder.rstrip("/") + "/"
        seen = unchanged = 0
        for entry in entries:
            name = entry.name
            path = prefix + name
            if exclude is not None and self._matches(exclude, path, name):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # gone since the folder was listed
            except OSError as e:
                res.unreadable += 1
                self.warn(f"cannot read {path}: {e.strerror}")
                continue
            seen += 1
            mode = st.st_mode
            if S_ISDIR(mode):
                self._dir_row(path, st)
                stack.append(path)
                continue
            if include is not None and not self._matches(include, path, name):
                continue
            if S_ISREG(mode):
                size = st.st_size
                # signature("file", ...) inlined: the kind code of a file is 0
                if pop is not None and pop(path, None) == hash((size, st.st_mtime_ns, st.st_ino,
                                                                 st.st_ctime_ns, None)) << 2:
                    unchanged += 1
                else:
                    paths.append(path)
                    sizes.append(size)
                    res.bytes_total += size
            elif S_ISLNK(mode):
                try:
                    link = os.readlink(path)
                except OSError as e:
                    res.unreadable += 1
                    self.warn(f"cannot read symlink {path}: {e.strerror}")
                    continue
                sig = signature("symlink", st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns, link)
                if self._changed(path, sig):
                    rows.append((folder, name, "symlink", st.st_size, st.st_mtime_ns, mode, st.st_uid,
                                 st.st_gid, st.st_ino, st.st_ctime_ns, None, link, None, None, 0))
            else:
                res.special += 1
                self.info(f"skipped special file {path} ({_special_kind(mode)})")
        res.seen += seen
        res.unchanged += unchanged

    def _deletions(self) -> None:
        """What the base had and the walk did not find (unless its folder was unreadable)."""
        if self.base is None or self.stop.is_set():
            return
        blind = tuple(d.rstrip("/") + "/" for d in self._unreadable_dirs)
        for path in sorted(self.base):
            if blind and path.startswith(blind):
                continue
            folder, name = split(path)
            kind = KIND_NAMES[self.base[path] & 3]
            self.result.rows.append((folder, name, kind, 0, 0, 0, 0, 0, 0, 0, None, None, None, None, 1))
            self.result.deleted += 1
        self.base.clear()


#: Where the OS allows it, a folder is listed through an open descriptor and its
#: entries' lstat() is relative to it: the kernel resolves one name, not the whole
#: path (a fifth of a no-change incremental's scan here).
_BY_FD = os.scandir in os.supports_fd
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)


def _list(folder: str) -> tuple[int | None, list[os.DirEntry]]:
    """(descriptor to close after the entries' stat(), or None; the folder's entries)."""
    if not _BY_FD:
        with os.scandir(folder) as it:
            return None, list(it)
    fd = os.open(folder, _DIR_FLAGS)
    try:
        with os.scandir(fd) as it:
            return fd, list(it)
    except BaseException:
        os.close(fd)
        raise


def _special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    return "special file"
