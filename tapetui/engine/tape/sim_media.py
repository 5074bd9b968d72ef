"""On-disk records of the simulated library: JSON state files and each cartridge's index.

Two kinds of storage, each chosen for how often it changes:

- JSON files (`library.json`, a cartridge's `meta.json`) change on load, unload and
  format only; they are rewritten whole and atomically (temp file, fsync, rename),
  so a crash leaves the old or the new version, never half of one.
- A cartridge's `index.sqlite` changes once per file written. It stands in for the
  LTFS index: used bytes, the next free block, each file's start block and the
  files' extended attributes. SQLite (WAL) takes 100k rows quickly and survives a
  crash; a sidecar works on every host file system, unlike real xattrs (tmpfs,
  some network mounts, Windows).
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

META_FILE = "meta.json"
INDEX_FILE = "index.sqlite"
VOLUME_DIR = "volume"


def write_json_atomic(path: Path, data: dict[str, Any], *, durable: bool = True) -> None:
    """Replace `path` with `data` so readers see the old or the new file, never a mix.

    `durable=False` skips the fsyncs, for changes a power cut may lose: on ext4
    (data=ordered) an fsync waits for every dirty page of the file system, which
    right after a backup is the whole backup's data (1.2 s for 3 GB here)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable; not possible (nor needed) on Windows."""
    if os.name == "nt":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_json(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        return json.load(f)


@dataclass
class CartridgeMeta:
    """What a cartridge is (barcode, generation, capacity) and what LTFS put on it."""

    barcode: str
    serial: str
    generation: str
    capacity_bytes: int
    label: str | None = None
    formatted_at: datetime | None = None
    volume_uuid: str | None = None
    load_count: int = 0
    #: TapeAlert flag numbers set on this cartridge (tests and demos set them: `SimDriver.set_tapealert`).
    tapealert: list[int] = field(default_factory=list)

    @property
    def formatted(self) -> bool:
        return self.formatted_at is not None

    def save(self, cartridge_dir: Path) -> None:
        data = asdict(self)
        data["formatted_at"] = self.formatted_at.isoformat() if self.formatted_at else None
        write_json_atomic(cartridge_dir / META_FILE, data)

    @classmethod
    def load(cls, cartridge_dir: Path) -> CartridgeMeta:
        data = read_json(cartridge_dir / META_FILE)
        stamp = data.get("formatted_at")
        data["formatted_at"] = datetime.fromisoformat(stamp) if stamp else None
        return cls(**data)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, block INTEGER NOT NULL, size INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS xattrs (
    path TEXT NOT NULL, name TEXT NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (path, name)) WITHOUT ROWID;
"""


class MediaIndex:
    """A cartridge's index.sqlite. Thread-safe: one connection behind a lock.

    Like LTFS, which writes its index every few minutes (sync_type=time@5), changes
    are written at most once per `sync_interval_s` (or every `FLUSH_ROWS` files) and
    on `sync()`/`close()`. Until then they wait in memory, so a file costs two dict
    stores instead of SQLite statements: one `executemany` per flush writes them all,
    in one transaction. A crash loses the last moments of index, as before;
    `SimDriver.check()` rebuilds what the files on disk show.
    """

    #: Pending files that force a flush before the interval is up (bounds memory).
    FLUSH_ROWS = 20_000

    def __init__(self, path: Path, sync_interval_s: float = 1.0) -> None:
        self._lock = threading.Lock()
        self._interval = sync_interval_s
        self._synced = time.monotonic()
        self._files: dict[str, tuple[int, int]] = {}  # path -> (block, size), not yet written
        self._xattrs: dict[tuple[str, str], bytes] = {}
        self._counters: tuple[int, int] | None = None
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._flush()
            self._db.close()

    def sync(self) -> None:
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        """Write what is pending in one transaction. Call with the lock held."""
        self._synced = time.monotonic()
        if not (self._files or self._xattrs or self._counters):
            return
        db = self._db
        db.execute("BEGIN")
        try:
            if self._files:
                db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?)",
                               [(p, b, s) for p, (b, s) in self._files.items()])
            if self._xattrs:
                db.executemany("INSERT OR REPLACE INTO xattrs VALUES (?, ?, ?)",
                               [(p, n, v) for (p, n), v in self._xattrs.items()])
            if self._counters is not None:
                used, next_block = self._counters
                db.executemany("INSERT OR REPLACE INTO counters VALUES (?, ?)",
                               (("used", used), ("next_block", next_block)))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # SQLite ends it itself on some errors (a full disk)
                db.execute("ROLLBACK")
            raise
        self._files.clear()
        self._xattrs.clear()
        self._counters = None

    def _changed(self) -> None:
        """After a pending change: flush when due. Call with the lock held."""
        if len(self._files) >= self.FLUSH_ROWS or time.monotonic() - self._synced >= self._interval:
            self._flush()

    def counters(self) -> tuple[int, int]:
        """(used bytes, next block)."""
        with self._lock:
            if self._counters is not None:
                return self._counters
            rows = dict(self._db.execute("SELECT name, value FROM counters"))
        return rows.get("used", 0), rows.get("next_block", 0)

    def record_file(self, path: str, block: int, size: int, used: int, next_block: int) -> None:
        """Store a written file's start block and size with the tape's new counters."""
        with self._lock:
            self._files[path] = (block, size)
            self._counters = (used, next_block)
            self._changed()

    def set_counters(self, used: int, next_block: int) -> None:
        with self._lock:
            self._counters = (used, next_block)
            self._changed()

    def block_of(self, path: str) -> int | None:
        with self._lock:
            pending = self._files.get(path)
            if pending is not None:
                return pending[0]
            row = self._db.execute("SELECT block FROM files WHERE path = ?", (path,)).fetchone()
        return row[0] if row else None

    def files(self) -> dict[str, int]:
        """Every recorded file and its size."""
        with self._lock:
            self._flush()
            return dict(self._db.execute("SELECT path, size FROM files"))

    def forget_files(self, paths: list[str]) -> None:
        with self._lock:
            self._flush()
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM files WHERE path = ?", ((p,) for p in paths))
            self._db.executemany("DELETE FROM xattrs WHERE path = ?", ((p,) for p in paths))
            self._db.execute("COMMIT")

    def set_xattr(self, path: str, name: str, value: bytes) -> None:
        with self._lock:
            self._xattrs[(path, name)] = value
            self._changed()

    def get_xattr(self, path: str, name: str) -> bytes | None:
        with self._lock:
            pending = self._xattrs.get((path, name))
            if pending is not None:
                return pending
            row = self._db.execute(
                "SELECT value FROM xattrs WHERE path = ? AND name = ?", (path, name)
            ).fetchone()
        return bytes(row[0]) if row else None


def read_used_bytes(cartridge_dir: Path) -> int:
    """Used bytes of a cartridge that is not in the drive (0 when never written)."""
    path = cartridge_dir / INDEX_FILE
    if not path.exists():
        return 0
    index = MediaIndex(path)
    try:
        return index.counters()[0]
    finally:
        index.close()


def remove_index(cartridge_dir: Path) -> None:
    """Delete the index with its WAL files (format starts a fresh one)."""
    for suffix in ("", "-wal", "-shm"):
        (cartridge_dir / (INDEX_FILE + suffix)).unlink(missing_ok=True)


@dataclass
class LibraryState:
    """Where every cartridge is: `slots[i]` holds slot i+1's barcode (None when empty);
    `drive` the barcode in the drive, `home_slot` where it returns on unload."""

    slots: list[str | None]
    drive: str | None = None
    home_slot: int | None = None
    mounted: bool = False

    def save(self, path: Path, *, durable: bool = True) -> None:
        write_json_atomic(path, asdict(self), durable=durable)

    @classmethod
    def load(cls, path: Path) -> LibraryState:
        return cls(**read_json(path))

    def slot_of(self, barcode: str) -> int | None:
        """1-based slot holding `barcode`, None when not in a slot."""
        try:
            return self.slots.index(barcode) + 1
        except ValueError:
            return None

    def barcodes(self) -> list[str]:
        """Every cartridge in the library, slot order, the drive's last."""
        found = [b for b in self.slots if b is not None]
        return found + ([self.drive] if self.drive else [])
