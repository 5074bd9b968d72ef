"""Walking the source folders: what exists, what changed since the base, what was deleted.

Runs in a worker thread; past `Scanner.split_after` entries, a helper process
(`walk.Helper`) lists and lstats every other pending folder on the other core,
and what it found is compared here after. Files to copy are kept as two flat
lists (paths and sizes), not objects, so a million files stay within the memory budget;
folders, symlinks, special files (sockets, FIFOs, devices: type, mode and device
number) and deleted-markers become catalog rows right away (they carry no data),
with their extended attributes. Symlinks are recorded as links, never followed.
A regular file with other names (hard links) is copied under the first name the
walk meets; the others are listed in `links` and recorded as links to it by the
writer. What cannot be read is logged and counted.
"""

from __future__ import annotations

import os
import stat
import threading
from array import array
from dataclasses import dataclass, field
from typing import Callable

from . import xattrs
from .errors import BackupInputError
from .layout import split
from .patterns import compile_patterns
from .signatures import KIND_NAMES, State, signature
from .walk import Helper, Item, Matcher, Unread, observe

#: A catalog row without its set id (the writer adds cartridge and position to files).
Row = tuple

Say = Callable[[str], None]


@dataclass
class ScanResult:
    paths: list[str] = field(default_factory=list)  # regular files to copy, in walk order
    sizes: array = field(default_factory=lambda: array("q"))
    rows: list[Row] = field(default_factory=list)  # folders, symlinks, special files, deleted-markers
    #: (path, first name) of each further name of a file with hard links
    links: list[tuple[str, str]] = field(default_factory=list)
    bytes_total: int = 0
    seen: int = 0
    unchanged: int = 0
    deleted: int = 0
    special: int = 0
    unreadable: int = 0


class Scanner:
    #: Entries seen before every other pending folder goes to a helper process
    #: (`walk.Helper`): a tree smaller than this never starts one.
    split_after = 5_000

    def __init__(
        self,
        sources: list[str],
        includes: list[str],
        excludes: list[str],
        base: State | None,
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
        self._inodes: dict[tuple[int, int], str] = {}  # (device, inode) -> first name, for files with links

    def _matches(self, rx: Matcher, path: str, name: str) -> bool:
        return rx.match(path) is not None or rx.match(name) is not None

    def _changed(self, folder: str, name: str, sig: int) -> bool:
        names = self.base.get(folder) if self.base is not None else None
        if names is not None and names.pop(name, None) == sig:
            self.result.unchanged += 1
            return False
        return True

    def _dir_row(self, folder: str, path: str, item: Item) -> None:
        name, mode, _, mtime_ns, ino, ctime_ns, uid, gid = item[:8]
        if self._changed(folder, name, signature("dir", 0, mtime_ns, ino, ctime_ns)):
            self.result.rows.append((folder, name, "dir", 0, mtime_ns, mode, uid, gid, ino, ctime_ns,
                                     None, None, None, None, 0, self._xattrs(path), None, None))

    def _xattrs(self, path: str) -> str | None:
        return xattrs.read_or_warn(path, self.warn)

    def run(self) -> ScanResult:
        for root in self.sources:
            try:
                st = os.lstat(root)
            except OSError as e:
                raise BackupInputError(f"cannot read source folder {root}: {e.strerror}") from None
            if root != "/":
                folder, name = split(root)
                self._dir_row(folder, root, (name, st.st_mode, 0, st.st_mtime_ns, st.st_ino, st.st_ctime_ns,
                                       st.st_uid, st.st_gid))
            self._walk([root], share=True)
        self._deletions()
        return self.result

    def _walk(self, tops: list[str], *, share: bool) -> None:
        """Depth first from `tops`; past `split_after` entries, every other pending
        folder goes to a helper process, whose findings are compared here after."""
        stack = list(reversed(tops))
        helper: Helper | None = None
        try:
            while stack:
                if self.stop.is_set():
                    return
                folder = stack.pop()
                try:
                    items, unread = observe(folder, self.exclude)
                except OSError as e:
                    self._unlisted(folder, e.strerror or str(e))
                    continue
                self._folder(folder, items, unread, stack)
                if share and len(stack) >= 2 and self.result.seen >= self.split_after:
                    share = False  # one helper per source
                    helper = _start_helper(stack[::2], self.exclude)
                    if helper is not None:
                        del stack[::2]
            if helper is not None:
                self._take(helper)
        finally:
            if helper is not None:
                helper.close()

    def _take(self, helper: Helper) -> None:
        found = helper.found(self.stop)
        if found is None:  # it failed before anything of it was used: walk its part here
            if not self.stop.is_set():
                self._walk(helper.tops, share=False)
            return
        for folder, items, unread, why in found:
            if why is not None:
                self._unlisted(folder, why)
            else:
                self._folder(folder, items, unread, None)

    def _unlisted(self, folder: str, why: str) -> None:
        self.result.unreadable += 1
        self._unreadable_dirs.append(folder)
        self.warn(f"cannot read folder {folder}: {why}")

    def _folder(self, folder: str, items: list[Item], unread: list[Unread], stack: list[str] | None) -> None:
        """One folder's entries: the hot loop of an incremental (every entry of the
        tree), so regular files come first with their signature inlined, and an
        unchanged file costs one hash and one dict pop (no path, no call).
        Subfolders go on `stack` (None: the helper walked them already)."""
        res = self.result
        names = self.base.get(folder) if self.base is not None else None
        prefix = folder.rstrip("/") + "/"
        for name, is_dir, message in unread:  # not seen is not deleted: kept as the base has them
            res.unreadable += 1
            self.warn(message)
            if names:
                names.pop(name, None)
            if is_dir:
                self._unreadable_dirs.append(prefix + name)
        paths, sizes = res.paths, res.sizes
        include = self.include
        pop = names.pop if names else None  # this folder's entries in the base
        unchanged = 0
        for item in items:
            name, mode, size, mtime_ns, ino, ctime_ns, _, _, _, nlink, _ = item
            if mode & _S_IFMT == _S_IFREG:
                if include is not None and not self._matches(include, prefix + name, name):
                    continue
                # signature("file", ...) inlined: the kind code of a file is 0
                if pop is not None and pop(name, None) == hash((size, mtime_ns, ino, ctime_ns, 0)) << 2:
                    unchanged += 1
                elif nlink > 1 and self._further_name(prefix + name, item):
                    continue
                else:
                    paths.append(prefix + name)
                    sizes.append(size)
                    res.bytes_total += size
            else:
                self._other(folder, prefix + name, item, stack)
        res.seen += len(items)
        res.unchanged += unchanged

    def _further_name(self, path: str, item: Item) -> bool:
        """Whether `path` is another name of a file already met (then it goes to `links`)."""
        key = (item[10], item[4])
        first = self._inodes.setdefault(key, path)
        if first == path:
            return False
        self.result.links.append((path, first))
        return True

    def _other(self, folder: str, path: str, item: Item, stack: list[str] | None) -> None:
        """A folder (walked later), a symlink (recorded as a link) or a special file."""
        res = self.result
        name, mode, size, mtime_ns, ino, ctime_ns, uid, gid, link = item[:9]
        if stat.S_ISDIR(mode):
            self._dir_row(folder, path, item)
            if stack is not None:
                stack.append(path)
            return
        if self.include is not None and not self._matches(self.include, path, name):
            return
        if stat.S_ISLNK(mode):
            if self._changed(folder, name, signature("symlink", size, mtime_ns, ino, ctime_ns, link)):
                res.rows.append((folder, name, "symlink", size, mtime_ns, mode, uid, gid, ino, ctime_ns,
                                 None, link, None, None, 0, self._xattrs(path), None, None))
        elif self._changed(folder, name, signature("special", 0, mtime_ns, ino, ctime_ns)):
            try:
                rdev = os.lstat(path).st_rdev
            except OSError as e:
                res.unreadable += 1
                self.warn(f"cannot read {path}: {e.strerror}")
                return
            res.special += 1
            res.rows.append((folder, name, "special", 0, mtime_ns, mode, uid, gid, ino, ctime_ns,
                             None, None, None, None, 0, self._xattrs(path), rdev, None))

    def _deletions(self) -> None:
        """What the base had and the walk did not find (unless its folder was unreadable)."""
        if self.base is None or self.stop.is_set():
            return
        blind = tuple(d.rstrip("/") + "/" for d in self._unreadable_dirs)
        for folder in sorted(self.base):
            if blind and (folder + "/").startswith(blind):
                continue
            names = self.base[folder]
            for name in sorted(names):
                kind = KIND_NAMES[names[name] & 3]
                self.result.rows.append((folder, name, kind, 0, 0, 0, 0, 0, 0, 0, None, None, None, None, 1,
                                         None, None, None))
            self.result.deleted += len(names)
        self.base.clear()


_S_IFMT, _S_IFREG = 0o170000, stat.S_IFREG  # S_ISREG(mode), inlined


def _start_helper(tops: list[str], exclude: Matcher | None) -> Helper | None:
    try:
        return Helper(tops, exclude)
    except OSError:  # no interpreter to start (an embedded Python): walk it all here
        return None

