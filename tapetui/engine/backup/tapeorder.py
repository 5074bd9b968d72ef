"""Reading back from tape: cartridge by cartridge, each in position order, so the
drive never seeks back and forth; and hashing what is read."""

from __future__ import annotations

import errno
import hashlib
import io
import threading
from typing import Iterable

from .state import Version
from .writer import CHUNK, Stopped


def in_tape_order(versions: Iterable[Version], loaded: str | None) -> list[tuple[str | None, list[Version]]]:
    """Group by cartridge (the loaded one first, then by barcode), each by position."""
    groups: dict[str | None, list[Version]] = {}
    for v in versions:
        groups.setdefault(v.cartridge, []).append(v)
    order = sorted(groups, key=lambda b: (b != loaded, b is None, b or ""))
    return [(b, sorted(groups[b], key=lambda v: (v.position is None, v.position or 0, v.path))) for b in order]


class Hasher:
    """Hash (and optionally copy) one file at a time with one reused buffer."""

    def __init__(self, algo: str, stop: threading.Event) -> None:
        self.algo = algo
        self.stop = stop
        self._buf = bytearray(CHUNK)
        self._view = memoryview(self._buf)
        self.bytes_done = 0

    def run(self, source: str, out: io.RawIOBase | None = None) -> tuple[bytes, int]:
        """(digest, size) of `source`, writing its bytes to `out` when given."""
        h = hashlib.new(self.algo)
        size = 0
        buf, view = self._buf, self._view
        with open(source, "rb", buffering=0) as f:
            while True:
                if self.stop.is_set():
                    raise Stopped
                n = f.readinto(buf)
                if not n:
                    return h.digest(), size
                chunk = view[:n]
                h.update(chunk)
                if out is not None:
                    _write_all(out, chunk)
                size += n
                self.bytes_done += n


def _write_all(out: io.RawIOBase, data: memoryview) -> None:
    """A raw write may take only part of `data` (the disk is filling up): write the
    rest, so a full disk raises ENOSPC instead of leaving a silently short file."""
    while data:
        done = out.write(data)
        if not done:
            raise OSError(errno.EIO, f"writing made no progress ({len(data)} bytes left)")
        data = data[done:]
