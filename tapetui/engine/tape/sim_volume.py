"""The cartridge in the simulated drive, and the LTFS volume it presents when mounted.

The backup writer thread writes through `SimVolume.open_write` while the event loop
reads `Medium.used()` for the status screen, so the counters sit behind a lock. The
per-write cost is one lock, one compare and an add; the throughput limit (when set)
adds a sleep, as a real drive makes the writer wait; a run being stopped cuts it
short (`SimVolume.stop_waits_on`).
"""

from __future__ import annotations

import errno
import io
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..folders import Folders
from .base import TapeError, Volume
from .sim_media import INDEX_FILE, VOLUME_DIR, CartridgeMeta, MediaIndex

if TYPE_CHECKING:
    from typing_extensions import Buffer  # collections.abc.Buffer from Python 3.12

#: LTFS's default block size (mkltfs -b); file start blocks count in these.
BLOCK_SIZE = 524288

_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


class TapeInputError(TapeError, ValueError):
    """Bad input to the simulated library: a volume path or a setting."""


def volume_key(relpath: str) -> str:
    """The normalised volume-relative path, refusing anything that could leave the volume.

    Plain string work: this runs twice per file written."""
    parts = [part for part in relpath.split("/") if part and part != "."]
    if (
        not parts
        or relpath.startswith("/")
        or ".." in parts
        or (os.sep == "\\" and "\\" in relpath)  # a separator on Windows, a name's character here
        or relpath[1:2] == ":"  # a Windows drive (C:...)
    ):
        raise TapeInputError(f"not a relative path inside the volume: {relpath!r}")
    return "/".join(parts)


class Medium:
    """A cartridge while it sits in the drive: its meta, its index and live counters."""

    def __init__(self, directory: Path, meta: CartridgeMeta, throughput_mb_s: float) -> None:
        self.dir = directory
        self.meta = meta
        self.index: MediaIndex | None = None
        self._lock = threading.Lock()
        self._used = 0
        self._next_block = 0
        self._bytes_per_s = throughput_mb_s * 1_000_000
        self._due = 0.0  # monotonic time the throughput limit lets the next write start
        if meta.formatted:
            self.open_index()

    @property
    def volume_dir(self) -> Path:
        return self.dir / VOLUME_DIR

    def open_index(self) -> None:
        self.index = MediaIndex(self.dir / INDEX_FILE)
        self._used, self._next_block = self.index.counters()

    def close_index(self) -> None:
        if self.index is not None:
            self.index.close()
            self.index = None
        self._used = self._next_block = 0

    def used(self) -> int:
        with self._lock:
            return self._used

    def free(self) -> int:
        with self._lock:
            return self.meta.capacity_bytes - self._used

    def reserve(self, n: int) -> int:
        """Count up to `n` bytes against the capacity; return how many fit."""
        with self._lock:
            fits = min(n, self.meta.capacity_bytes - self._used)
            self._used += fits
            return fits

    def pace(self, n: int, stop: threading.Event | None = None) -> None:
        """Wait as long as a drive at the configured rate needs for `n` bytes, or
        until `stop` is set (the drive then owes nothing to the next write)."""
        if not self._bytes_per_s:
            return
        now = time.monotonic()
        self._due = max(self._due, now) + n / self._bytes_per_s
        if self._due <= now:
            return
        if stop is None:
            time.sleep(self._due - now)
        elif stop.wait(self._due - now):
            self._due = time.monotonic()

    def start_file(self) -> int:
        """Reserve the next start block (LTFS ltfs.startblock) for a new file."""
        with self._lock:
            block = self._next_block
            self._next_block += 1
            return block

    def finish_file(self, key: str, block: int, size: int) -> None:
        """Advance past the file's blocks and record it in the index."""
        with self._lock:
            self._next_block += max(0, -(-size // BLOCK_SIZE) - 1)
            used, next_block = self._used, self._next_block
        if self.index is not None:  # None: unmounted/reformatted under an open file
            self.index.record_file(key, block, size, used, next_block)

    def reread(self) -> None:
        """The counters as the index holds them now: another process may have
        written to this cartridge since (call while this process writes nothing)."""
        if self.index is not None:
            used, next_block = self.index.counters()
            with self._lock:
                self._used, self._next_block = used, next_block

    def reconcile(self, used: int, next_block: int) -> None:
        with self._lock:
            self._used, self._next_block = used, next_block
        if self.index is not None:
            self.index.set_counters(used, next_block)

    def counters(self) -> tuple[int, int]:
        with self._lock:
            return self._used, self._next_block


class TapeFile(io.RawIOBase):
    """A file being written to the simulated tape.

    A write that would pass the end of the medium writes what still fits, then raises
    OSError(ENOSPC). What was written stays on the volume, as on a real tape; the
    caller decides what to do with the partial file. Plain `os.write` on a file
    descriptor: a buffered file object costs more system calls per small file
    (fstat, ioctl) and a copy into its buffer.
    """

    def __init__(self, medium: Medium, key: str, fd: int, stop: threading.Event | None = None) -> None:
        super().__init__()
        self._medium = medium
        self._stop = stop
        self._key = key
        self.name = key
        self._fd = fd
        self._block = medium.start_file()
        self._size = 0

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def write(self, data: Buffer, /) -> int:
        view = memoryview(data).cast("B")
        fits = _write_counted(self._medium, self._fd, view, self._stop)
        self._size += fits
        if fits < len(view):
            raise OSError(errno.ENOSPC, "No space left on device", self.name)
        return len(view)

    def close(self) -> None:
        if self.closed:
            return
        try:
            os.close(self._fd)
        finally:
            self._medium.finish_file(self._key, self._block, self._size)
            super().close()


def _write_counted(medium: Medium, fd: int, view: memoryview, stop: threading.Event | None) -> int:
    """Write what still fits on the medium; how many bytes that was."""
    fits = medium.reserve(len(view))
    if fits:
        _write_all(fd, view if fits == len(view) else view[:fits])
        medium.pace(fits, stop)
    return fits


def _identity(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _write_all(fd: int, view: memoryview) -> None:
    done = os.write(fd, view)
    while done < len(view):  # a short write (a signal, a full pipe): finish it
        done += os.write(fd, view[done:])


class SimVolume(Volume):
    """The mounted LTFS file system of the cartridge in the simulated drive.

    The backup writer calls open_write, set_xattr and position once each per file
    with the same path, so the last path's key is remembered, and set_xattr on the
    file just opened skips the existence check (it was created by open_write)."""

    def __init__(self, medium: Medium) -> None:
        self._medium = medium
        self.root = medium.volume_dir
        self.mounted = True
        self._folders: Folders | None = None  # opened at the first write
        self._last: tuple[str | None, str] = (None, "")  # (relpath, key) of the last path seen
        self._opened = ""  # key of the file open_write created last
        self._stop: threading.Event | None = None  # see stop_waits_on

    def _key(self, relpath: str) -> str:
        last_rel, last_key = self._last
        if relpath == last_rel:
            return last_key
        key = volume_key(relpath)
        self._last = (relpath, key)
        return key

    def _index(self) -> MediaIndex:
        if not self.mounted or self._medium.index is None:
            raise TapeError(f"{self._medium.meta.barcode} is not mounted")
        return self._medium.index

    def _at(self) -> Folders:
        if self._folders is None:
            self._folders = Folders(str(self.root), dir_mode=0o700)  # copies of private files
            self._root_id = _identity(os.stat(self.root))
        return self._folders

    def _still_mounted(self) -> None:
        """An open folder outlives its name: a cartridge folder moved away under a
        running backup (the sim's 'unmounted under us') must fail the next file, as a
        vanished mount does."""
        try:
            gone = _identity(os.stat(self.root)) != self._root_id
        except FileNotFoundError:
            gone = True
        if gone:
            raise FileNotFoundError(errno.ENOENT, "the volume is no longer mounted", str(self.root))

    def stop_waits_on(self, stop: threading.Event) -> None:
        self._stop = stop

    def release(self) -> None:
        if self._folders is not None:
            self._folders.close()
            self._folders = None

    def _new_file(self, relpath: str) -> tuple[str, int]:
        """(key, open fd) of a file just created, its folders made."""
        key = self._key(relpath)
        self._index()
        self._opened = ""
        folders = self._at()
        self._still_mounted()
        return key, folders.open(key, _CREATE_FLAGS, 0o600, create_dirs=True)

    def open_write(self, relpath: str) -> TapeFile:
        key, fd = self._new_file(relpath)
        out = TapeFile(self._medium, key, fd, self._stop)
        self._opened = key
        return out

    def write_whole(self, relpath: str, data: bytes) -> None:
        """`open_write` + `write` + `close` without a file object: a third of the
        Python work per small file."""
        key, fd = self._new_file(relpath)
        medium = self._medium
        block = medium.start_file()
        fits = 0
        try:
            fits = _write_counted(medium, fd, memoryview(data), self._stop)
        finally:
            os.close(fd)
            medium.finish_file(key, block, fits)
        self._opened = key
        if fits < len(data):
            raise OSError(errno.ENOSPC, "No space left on device", key)

    def free_bytes(self) -> int:
        return self._medium.free()

    def set_xattr(self, relpath: str, name: str, value: bytes) -> bool:
        """Kept in the cartridge's index (works on any host file system).

        Names are stored without a leading `user.`, so `user.ltfs.hash.sha256` and
        `ltfs.hash.sha256` are the same attribute, as on a mounted LTFS volume."""
        key = self._key(relpath)
        if key != self._opened and not self._exists(key):
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", relpath)
        self._index().set_xattr(key, name.removeprefix("user."), bytes(value))
        return True

    def _exists(self, key: str) -> bool:
        try:
            parent, name = self._at().parent(key)
            os.lstat(name, dir_fd=parent) if parent >= 0 else os.lstat(os.path.join(self.root, key))
        except OSError:
            return False
        return True

    def get_xattr(self, relpath: str, name: str) -> bytes | None:
        return self._index().get_xattr(self._key(relpath), name.removeprefix("user."))

    def position(self, relpath: str) -> int | None:
        return self._index().block_of(self._key(relpath))
