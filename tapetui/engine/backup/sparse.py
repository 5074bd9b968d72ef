"""Sparse files: the catalog keeps where a file's data is, and restore leaves
its holes as holes (what `rsync -S` and `cp --sparse` do).

On tape a sparse file is written dense (a tape has no holes); its data map,
found with SEEK_DATA/SEEK_HOLE, is stored as JSON [[offset, length], ...].
Restore does not trust the map blindly: it skips only blocks that read back as
zeros, so a stale map can cost disk space, never data.
"""

from __future__ import annotations

import errno
import json
import os

#: Holes are made in blocks of this size (a file system block).
BLOCK = 4096
_ZEROS = bytes(1024 * 1024)


def is_sparse(st: os.stat_result) -> bool:
    """Fewer blocks allocated than the size needs: it has holes."""
    return st.st_size > 0 and getattr(st, "st_blocks", st.st_size) * 512 < st.st_size


def data_map(fd: int, size: int) -> str | None:
    """The data extents of an open file as catalog JSON; None where the OS cannot say."""
    if not hasattr(os, "SEEK_DATA"):
        return None
    extents = []
    pos = 0
    try:
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError as e:
                if e.errno == errno.ENXIO:  # only a hole is left
                    break
                raise
            end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
            if end > start:
                extents.append([start, end - start])
            pos = end
    except OSError:
        return None
    return json.dumps(extents, separators=(",", ":"))


class HoleWriter:
    """A raw-file-like sink for a restore: writes what is not zeros at its offset,
    seeks past zero blocks, and sets the size at the end so a trailing hole stays."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.offset = 0

    def write(self, data: memoryview | bytes) -> int:
        view = memoryview(data).cast("B")
        n = len(view)
        if n > len(_ZEROS) or view != _ZEROS[:n]:
            for start in range(0, n, BLOCK):
                block = view[start : start + BLOCK]
                if block != _ZEROS[: len(block)]:
                    _pwrite_all(self.fd, block, self.offset + start)
        self.offset += n
        return n

    def finish(self) -> None:
        os.ftruncate(self.fd, self.offset)


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    while data:
        done = os.pwrite(fd, data, offset)
        if not done:
            raise OSError(errno.EIO, f"writing made no progress ({len(data)} bytes left)")
        data, offset = data[done:], offset + done
