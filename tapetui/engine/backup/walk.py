"""Listing folders with each entry's lstat, in the scan's thread and in a helper
process that walks part of a big tree beside it.

`lstat` is most of an incremental's time (0.29 of 0.48 s for 100k files) and
holds the GIL between calls, so a second thread only slows the walk; a second
process runs on the other core. Run as a script (`python -I -S walk.py`), this
module reads (folders, exclude pattern) on stdin and writes what it finds under
those folders on stdout, so it imports nothing from tapetui and a bare
interpreter starts in about 15 ms.
"""

from __future__ import annotations

import marshal
import os
import re
import stat
import subprocess
import sys
import tempfile
import threading
from typing import BinaryIO, Iterator, Protocol

#: (name, mode, size, mtime_ns, inode, ctime_ns, uid, gid, symlink target or None, links, device)
Item = tuple
#: An entry that could not be read: (name, is it a folder, message).
Unread = tuple
#: A folder as the helper reports it: (folder, items, unread, None), or
#: (folder, [], [], why) when it could not be listed.
Found = tuple


class Matcher(Protocol):
    """An exclude as the walk uses it: an `re.Pattern`, or the scan's `patterns.Globs`
    (this module imports nothing from tapetui); its `pattern` goes to the helper."""

    @property
    def pattern(self) -> str: ...

    def match(self, text: str, /) -> object: ...


#: Where the OS allows it, a folder is listed through an open descriptor and its
#: entries' lstat() is relative to it: the kernel resolves one name, not the whole
#: path (a fifth of a no-change incremental's scan here).
_BY_FD = os.scandir in os.supports_fd
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_LINK_AT = os.readlink in os.supports_dir_fd
BATCH_ITEMS = 20_000  # per marshal record the helper writes


def observe(folder: str, exclude: Matcher | None) -> tuple[list[Item], list[Unread]]:
    """`folder`'s entries but the excluded ones, each with its lstat (and a symlink's
    target), and the entries that could not be read. Raises OSError when the folder
    itself cannot be listed. An entry gone since the listing is left out."""
    prefix = folder.rstrip("/") + "/"
    fd = os.open(folder, _DIR_FLAGS) if _BY_FD else None
    try:
        with os.scandir(folder if fd is None else fd) as it:
            entries = list(it)
        items: list[Item] = []
        unread: list[Unread] = []
        for entry in entries:
            name = entry.name
            if exclude is not None and (exclude.match(prefix + name) or exclude.match(name)):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            except OSError as e:
                unread.append((name, entry.is_dir(follow_symlinks=False), f"cannot read {prefix + name}: {e.strerror}"))
                continue
            link = None
            if stat.S_ISLNK(st.st_mode):
                try:
                    link = os.readlink(name, dir_fd=fd) if fd is not None and _LINK_AT else os.readlink(prefix + name)
                except OSError as e:
                    unread.append((name, False, f"cannot read symlink {prefix + name}: {e.strerror}"))
                    continue
            items.append((name, st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns,
                          st.st_uid, st.st_gid, link, st.st_nlink, st.st_dev))
        return items, unread
    finally:
        if fd is not None:
            os.close(fd)


def walk_trees(tops: list[str], exclude: Matcher | None, out: BinaryIO) -> None:
    """Every folder under `tops`, depth first, as marshal records of `Found` lists."""
    stack = list(reversed(tops))
    batch: list[Found] = []
    count = 0
    while stack:
        folder = stack.pop()
        try:
            items, unread = observe(folder, exclude)
        except OSError as e:
            batch.append((folder, [], [], e.strerror or str(e)))
            continue
        prefix = folder.rstrip("/") + "/"
        stack.extend(prefix + item[0] for item in reversed(items) if stat.S_ISDIR(item[1]))
        batch.append((folder, items, unread, None))
        count += len(items)
        if count >= BATCH_ITEMS:
            _put(out, batch)
            batch, count = [], 0
    if batch:
        _put(out, batch)


def _put(out: BinaryIO, batch: list[Found]) -> None:
    """One length-prefixed marshal record: `marshal.load` on a file object reads
    object by object (ten times slower than `loads` of the whole record)."""
    data = marshal.dumps(batch)
    out.write(len(data).to_bytes(8, "little"))
    out.write(data)


class Helper:
    """A process walking `tops` beside the scan; what it found is read after it exits."""

    def __init__(self, tops: list[str], exclude: Matcher | None) -> None:
        self.tops = tops
        self._out = tempfile.TemporaryFile()
        try:
            self._proc = subprocess.Popen([sys.executable, "-I", "-S", os.path.abspath(__file__)],
                                          stdin=subprocess.PIPE, stdout=self._out, stderr=subprocess.DEVNULL)
            assert self._proc.stdin is not None
            with self._proc.stdin as pipe:
                pipe.write(marshal.dumps((tops, None if exclude is None else exclude.pattern)))
        except BaseException:
            self.close()
            raise

    def found(self, stop: threading.Event) -> Iterator[Found] | None:
        """Its folders once it has exited; None if it failed (or `stop` was set), and
        then nothing of it has been read: walk its tops in-process instead."""
        while True:
            try:
                code = self._proc.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                if stop.is_set():
                    return None
                continue
            break
        if code != 0:
            return None
        self._out.seek(0)
        return self._records()

    def _records(self) -> Iterator[Found]:
        read = self._out.read
        while size := read(8):
            yield from marshal.loads(read(int.from_bytes(size, "little")))

    def close(self) -> None:
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        self._out.close()


if __name__ == "__main__":
    folders, pattern = marshal.load(sys.stdin.buffer)
    walk_trees(folders, None if pattern is None else re.compile(pattern), sys.stdout.buffer)
    sys.stdout.buffer.flush()
