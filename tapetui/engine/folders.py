"""Files reached a name at a time from open folders, never by a whole path.

A path given whole must fit in PATH_MAX (4096 bytes on Linux), so a source
path of 4,080 bytes cannot be written under a volume's `tapetui/set-7/` or
restored under `/tmp/x`; made a name at a time from an open folder, any depth
the source holds fits. Two more gains: each name on the way is opened with
O_NOFOLLOW, so a symlink met on the way (on a hostile cartridge, or planted in
a restore target) is refused, never followed out; and the kernel resolves one
name per call, with the folder a file goes into opened once for all its files.

Where the OS has no `dir_fd` (Windows), whole paths are used as before.
"""

from __future__ import annotations

import errno
import os
from collections import OrderedDict

BY_FD = os.open in os.supports_dir_fd and os.mkdir in os.supports_dir_fd
_DIR = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
#: A path given whole up to this length is safe to pass to path-only calls.
_SHORT = 3800


class Folders:
    """Open folders under `root`, by relative path ('a/b'; '' is the root itself).

    Keeps the `keep` most recently used open: files come folder by folder, so
    nearly every file finds its folder open. `follow`: names on the way may be
    symlinks (only for a restore to '/', the live system's own layout)."""

    def __init__(self, root: str, *, follow: bool = False, dir_mode: int = 0o777, keep: int = 64) -> None:
        self.root = root.rstrip("/") or "/"
        self._flags = _DIR | (0 if follow else NOFOLLOW)
        self._dir_mode = dir_mode
        self._keep = keep
        self._open: OrderedDict[str, int] = OrderedDict()
        self._root_fd = os.open(self.root, _DIR) if BY_FD else -1

    def path(self, rel: str) -> str:
        return self.root + "/" + rel if self.root != "/" else "/" + rel

    def fd(self, folder: str, *, create: bool = False) -> int:
        """The open folder `folder`, made (mode `dir_mode`) when missing and `create`.
        Raises OSError: ENOTDIR/ELOOP when a name on the way is not a plain folder."""
        if not folder:
            return self._root_fd
        fd = self._open.get(folder)
        if fd is not None:
            self._open.move_to_end(folder)
            return fd
        parts = folder.split("/")
        start = len(parts) - 1  # the deepest open ancestor, then down from it
        while start > 0 and "/".join(parts[:start]) not in self._open:
            start -= 1
        fd = self._open["/".join(parts[:start])] if start else self._root_fd
        for i in range(start, len(parts)):
            fd = self._step(fd, parts[i], create)
            self._remember("/".join(parts[: i + 1]), fd)
        return fd

    def _step(self, parent: int, name: str, create: bool) -> int:
        try:
            return os.open(name, self._flags, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                raise
        try:
            os.mkdir(name, self._dir_mode, dir_fd=parent)
        except FileExistsError:  # made meanwhile, or a dangling symlink: the open says which
            pass
        return os.open(name, self._flags, dir_fd=parent)

    def _remember(self, folder: str, fd: int) -> None:
        self._open[folder] = fd
        while len(self._open) > self._keep:
            _, old = self._open.popitem(last=False)
            os.close(old)

    def parent(self, rel: str, *, create: bool = False) -> tuple[int, str]:
        """(open folder, name) of `rel`, a relative path 'a/b/c'."""
        folder, _, name = rel.rpartition("/")
        return self.fd(folder, create=create), name

    def open(self, rel: str, flags: int, mode: int = 0o666, *, create_dirs: bool = False) -> int:
        """os.open of `rel`, never through a symlink: the last name is opened O_NOFOLLOW too."""
        if not BY_FD:
            if create_dirs:
                os.makedirs(os.path.dirname(self.path(rel)), exist_ok=True)
            return os.open(self.path(rel), flags | NOFOLLOW, mode)
        parent, name = self.parent(rel, create=create_dirs)
        return os.open(name, flags | NOFOLLOW, mode, dir_fd=parent)

    def short_path(self, rel: str) -> str:
        """A path to `rel` for calls that take no folder fd (xattrs): the whole path when
        it is short, else one through the open folder (/proc/self/fd/N/name)."""
        whole = self.path(rel)
        if len(whole.encode("utf-8", "surrogateescape")) < _SHORT or not BY_FD:
            return whole
        parent, name = self.parent(rel)
        return f"/proc/self/fd/{parent}/{name}"

    def forget(self) -> None:
        """Close every folder but the root (after a restore renamed or removed some)."""
        while self._open:
            os.close(self._open.popitem()[1])

    def close(self) -> None:
        self.forget()
        if self._root_fd >= 0:
            os.close(self._root_fd)
            self._root_fd = -1

    def __enter__(self) -> Folders:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def is_in_the_way(e: OSError) -> bool:
    """A name on the way is a symlink or not a folder."""
    return e.errno in (errno.ELOOP, errno.ENOTDIR)
