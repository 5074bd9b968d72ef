"""Reading back from tape: cartridge by cartridge, each in position order, so the
drive never seeks back and forth; and hashing what is read.

A cartridge is foreign input: a file on it is opened a name at a time with
O_NOFOLLOW (a symlink to /dev/zero or to a host file is refused, not read),
O_NONBLOCK (a FIFO cannot hang the read), must be a regular file, and is read
to at most one byte past the catalogued size (more is a mismatch, never a
flood)."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
import threading
from typing import Iterable, Protocol

from ..folders import Folders
from .state import Version
from .writer import CHUNK, Stopped

_READ = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def open_regular(folders: Folders, relpath: str) -> int:
    """An fd of the regular file `relpath` under `folders` (no symlink followed on the
    way or at the end, no blocking open); OSError(EINVAL) when it is not a regular file."""
    fd = folders.open(relpath, _READ)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", relpath)
    except BaseException:
        os.close(fd)
        raise
    return fd


def in_tape_order(versions: Iterable[Version], loaded: str | None) -> list[tuple[str | None, list[Version]]]:
    """Group by cartridge (the loaded one first, then by barcode), each by position
    (a hard link right after the name whose bytes it shares)."""
    groups: dict[str | None, list[Version]] = {}
    for v in versions:
        groups.setdefault(v.cartridge, []).append(v)
    order = sorted(groups, key=lambda b: (b != loaded, b is None, b or ""))
    return [(b, sorted(groups[b], key=lambda v: (v.position is None, v.position or 0, v.kind == "hardlink", v.path)))
            for b in order]


class Sink(Protocol):
    """Where a restored file's bytes go: a raw file, or `sparse.HoleWriter`."""

    def write(self, data: memoryview, /) -> int | None: ...


class Hasher:
    """Hash (and optionally copy) one file at a time with one reused buffer."""

    def __init__(self, algo: str, stop: threading.Event) -> None:
        self.algo = algo
        self.stop = stop
        self._buf = bytearray(CHUNK)
        self._view = memoryview(self._buf)
        self.bytes_done = 0

    def run(self, fd: int, out: Sink | None = None, limit: int | None = None) -> tuple[bytes, int]:
        """(digest, size) of the open file `fd` (closed here), writing its bytes to `out`
        when given. With `limit`, reading stops one byte past it: a size over
        `limit` means "longer than that", whatever its length."""
        h = hashlib.new(self.algo)
        size = 0
        buf, view = self._buf, self._view
        left = -1 if limit is None else limit + 1
        with io.FileIO(fd, "rb") as f:
            while left:
                if self.stop.is_set():
                    raise Stopped
                n = f.readinto(buf if left < 0 or left >= len(buf) else view[:left])
                if not n:
                    break
                chunk = view[:n]
                h.update(chunk)
                if out is not None:
                    _write_all(out, chunk)
                size += n
                left -= n if left > 0 else 0
                self.bytes_done += n
        return h.digest(), size


def _write_all(out: Sink, data: memoryview) -> None:
    """A raw write may take only part of `data` (the disk is filling up): write the
    rest, so a full disk raises ENOSPC instead of leaving a silently short file."""
    while data:
        done = out.write(data)
        if not done:
            raise OSError(errno.EIO, f"writing made no progress ({len(data)} bytes left)")
        data = data[done:]
