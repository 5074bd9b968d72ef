"""Catalog entries as restore, verify and the catalog copy read them, straight from
SQLite in a worker thread with its own read-only connection, so the event loop
(and so the console) never waits on a million-row read. (What a backup compares
against is in `signatures`.)
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple

from ..names import from_catalog, to_catalog
from .layout import file_relpath

#: A catalog entry's whole path, from its folder and name.
PATH_SQL = "CASE WHEN d.path = '/' THEN '/' || e.name ELSE d.path || '/' || e.name END"


def connect(db_path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


class Version(NamedTuple):
    """One path as a restore sees it: what to write, and where on tape it is."""

    path: str
    set_id: int
    kind: str
    size: int
    mtime_ns: int
    mode: int
    uid: int
    gid: int
    inode: int
    ctime_ns: int
    checksum: bytes | None
    link_target: str | None
    cartridge: str | None
    position: int | None
    tape_dir: str
    deleted: bool
    xattrs: str | None = None  # JSON, see `xattrs`
    rdev: int | None = None
    sparse: str | None = None  # JSON data extents, see `sparse`

    @property
    def tape_path(self) -> str:
        """Where its bytes are on the volume (a hardlink's: its first name's)."""
        first = self.link_target if self.kind == "hardlink" and self.link_target is not None else self.path
        return file_relpath(self.tape_dir, to_catalog(first))


_VERSION_SQL = (
    f"SELECT {PATH_SQL}, e.set_id, e.kind, e.size, e.mtime_ns, e.mode, e.uid, e.gid, e.inode, e.ctime_ns, e.checksum, "
    "e.link_target, c.barcode, e.position, coalesce(s.tape_dir, 'tapetui/set-' || s.id), e.deleted, "
    "e.xattrs, e.rdev, e.sparse "
    "FROM entries e JOIN dirs d ON d.id = e.dir_id JOIN backup_sets s ON s.id = e.set_id "
    "LEFT JOIN cartridges c ON c.id = e.cartridge_id WHERE e.set_id = ?"
)


def _version(row: tuple) -> Version:
    """A row of `_VERSION_SQL`, its names in host form."""
    path, link = row[0], row[11]
    return Version._make((from_catalog(path), *row[1:11], None if link is None else from_catalog(link), *row[12:15],
                          bool(row[15]), *row[16:]))


def _wanted(path: str, prefixes: list[str]) -> bool:
    return not prefixes or any(path == p or path.startswith(p.rstrip("/") + "/") for p in prefixes)


def load_versions(db_path: Path, chain: Iterable[int], prefixes: list[str] | None = None) -> dict[str, Version]:
    """path -> newest version in the chain (only under `prefixes` when given); deleted dropped."""
    state: dict[str, Version] = {}
    prefixes = prefixes or []
    conn = connect(db_path)
    try:
        for set_id in chain:
            for row in conn.execute(_VERSION_SQL, (set_id,)):
                v = _version(row)
                if not _wanted(v.path, prefixes):
                    continue
                if v.deleted:
                    state.pop(v.path, None)
                else:
                    state[v.path] = v
    finally:
        conn.close()
    return state


def iter_set(db_path: Path, set_id: int) -> Iterator[Version]:
    """Every entry of one set (deleted-markers included), streamed from the database.

    For the catalog copy of a million-file set: rows are read a batch at a
    time, never all held at once."""
    conn = connect(db_path)
    try:
        cur = conn.execute(_VERSION_SQL, (set_id,))
        while batch := cur.fetchmany(5000):
            for row in batch:
                yield _version(row)
    finally:
        conn.close()


def load_set(db_path: Path, set_id: int) -> list[Version]:
    """Every entry of one set, as verify reads it."""
    return list(iter_set(db_path, set_id))
