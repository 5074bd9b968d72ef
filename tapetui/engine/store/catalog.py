"""Catalog entries: one row per file per set, and the lookups the product needs.

The three lookups designed for 10 million rows:
  * list a folder of a set        -> primary key (set_id, dir_id, name)
  * find a path across sets       -> index entries_path (dir_id, name)
  * newest version at a time      -> entries_path, then the few sets it names
"""

from __future__ import annotations

import posixpath
import sqlite3
from datetime import datetime
from typing import Iterable, Sequence

from ..names import from_catalog, to_catalog
from ..timeutil import to_db
from .db import Store
from .models import Entry

ENTRY_COLUMNS = (
    "set_id, dir_id, name, kind, size, mtime_ns, mode, uid, gid, inode, ctime_ns, "
    "checksum, link_target, cartridge_id, position, deleted, xattrs, rdev, sparse"
)
_INSERT = f"INSERT OR REPLACE INTO entries({ENTRY_COLUMNS}) VALUES ({','.join('?' * 19)})"
_SELECT = (
    "SELECT e.set_id, d.path AS dir, e.name, e.kind, e.size, e.mtime_ns, e.mode, e.uid, e.gid, "
    "e.inode, e.ctime_ns, e.checksum, e.link_target, e.cartridge_id, e.position, e.deleted, "
    "c.barcode, e.xattrs, e.rdev, e.sparse FROM entries e JOIN dirs d ON d.id = e.dir_id "
    "LEFT JOIN cartridges c ON c.id = e.cartridge_id "
)


ROW_FIELDS = 18


def split(path: str) -> tuple[str, str]:
    """'/a/b/c' -> ('/a/b', 'c'); paths are absolute and '/'-separated."""
    if not path.startswith("/") or path == "/":
        raise ValueError(f"catalog paths are absolute file paths, not {path!r}")
    head, tail = posixpath.split(path.rstrip("/"))
    return head, tail


def _entry(row: sqlite3.Row) -> Entry:
    return Entry(
        set_id=row[0],
        path=from_catalog(posixpath.join(row[1], row[2])),
        kind=row[3],
        size=row[4],
        mtime_ns=row[5],
        mode=row[6],
        uid=row[7],
        gid=row[8],
        inode=row[9],
        ctime_ns=row[10],
        checksum=row[11],
        link_target=None if row[12] is None else from_catalog(row[12]),
        cartridge_id=row[13],
        position=row[14],
        deleted=bool(row[15]),
        cartridge=row[16],
        xattrs=row[17],
        rdev=row[18],
        sparse=row[19],
    )


class Catalog:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._dir_cache: dict[str, int] = {}
        self._cache_rollbacks = store.rollbacks

    async def dir_ids(self, paths: Iterable[str]) -> dict[str, int]:
        """Ids of folders, creating the missing ones (call inside a transaction)."""
        if self._cache_rollbacks != self.store.rollbacks:  # ids may have been rolled back
            self._dir_cache.clear()
            self._cache_rollbacks = self.store.rollbacks
        wanted = {p for p in paths if p not in self._dir_cache}
        if wanted:
            conn = self.store.conn
            await conn.executemany("INSERT OR IGNORE INTO dirs(path) VALUES (?)", [(p,) for p in wanted])
            todo = list(wanted)
            for i in range(0, len(todo), 500):
                chunk = todo[i : i + 500]
                marks = ",".join("?" * len(chunk))
                found = await conn.execute_fetchall(f"SELECT path, id FROM dirs WHERE path IN ({marks})", chunk)
                for path, id_ in found:
                    self._dir_cache[path] = id_
        return self._dir_cache

    async def add(self, entries: Sequence[Entry]) -> None:
        """Insert a batch of entries in one transaction (or the caller's).

        For entries of any sets (imports, tests); a backup uses `add_rows`."""
        pairs = []
        for e in entries:
            folder, _, name = to_catalog(e.path).rstrip("/").rpartition("/")
            if not e.path.startswith("/") or not name:
                raise ValueError(f"catalog paths are absolute file paths, not {e.path!r}")
            pairs.append((folder or "/", name))
        async with self.store.transaction() as conn:
            ids = await self.dir_ids({d for d, _ in pairs})
            await conn.executemany(
                _INSERT,
                [
                    (
                        e.set_id, ids[d], n, e.kind, e.size, e.mtime_ns, e.mode, e.uid, e.gid,
                        e.inode, e.ctime_ns, e.checksum,
                        None if e.link_target is None else to_catalog(e.link_target), e.cartridge_id,
                        e.position, int(e.deleted), e.xattrs, e.rdev, e.sparse,
                    )
                    for e, (d, n) in zip(entries, pairs, strict=True)
                ],
            )

    async def _dir_id(self, path: str) -> int | None:
        return await self.store.scalar("SELECT id FROM dirs WHERE path = ?", (to_catalog(path.rstrip("/") or "/"),))

    async def list_dir(self, set_id: int, folder: str, *, limit: int | None = None, after: str = "") -> list[Entry]:
        """The entries directly inside `folder` in one set, by name (paged by `after`)."""
        dir_id = await self._dir_id(folder)
        if dir_id is None:
            return []
        sql = _SELECT + "WHERE e.set_id = ? AND e.dir_id = ? AND e.name > ? ORDER BY e.name"
        params: list = [set_id, dir_id, to_catalog(after)]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_entry(r) for r in await self.store.fetchall(sql, params)]

    async def versions(self, path: str) -> list[Entry]:
        """Every catalogued version of one path across sets, oldest set first."""
        folder, name = split(path)
        dir_id = await self._dir_id(folder)
        if dir_id is None:
            return []
        rows = await self.store.fetchall(
            _SELECT + "WHERE e.dir_id = ? AND e.name = ? ORDER BY e.set_id", (dir_id, to_catalog(name))
        )
        return [_entry(r) for r in rows]

    async def newest_at(self, path: str, at: datetime) -> Entry | None:
        """The newest version of a path in a complete set finished by `at`.

        A deleted-marker is returned as such (the path did not exist then)."""
        folder, name = split(path)
        dir_id = await self._dir_id(folder)
        if dir_id is None:
            return None
        row = await self.store.fetchone(
            _SELECT
            + "JOIN backup_sets s ON s.id = e.set_id WHERE e.dir_id = ? AND e.name = ? "
            "AND s.status = 'complete' AND s.finished_at <= ? ORDER BY s.finished_at DESC LIMIT 1",
            (dir_id, to_catalog(name), to_db(at)),
        )
        return None if row is None else _entry(row)

    async def find(self, pattern: str, *, limit: int = 1000) -> list[Entry]:
        """Entries whose name (or, with a '/', whole path) matches a glob, newest set first."""
        if "/" in pattern:
            folder, name = posixpath.split(pattern)
            where = "d.path GLOB ? AND e.name GLOB ?"
            params: list = [to_catalog(folder or "/"), to_catalog(name)]
        else:
            where = "e.name GLOB ?"
            params = [to_catalog(pattern)]
        rows = await self.store.fetchall(
            _SELECT + f"WHERE {where} AND e.deleted = 0 ORDER BY e.set_id DESC, d.path, e.name LIMIT ?",
            (*params, limit),
        )
        return [_entry(r) for r in rows]

    async def count(self, set_id: int) -> int:
        return int(await self.store.scalar("SELECT count(*) FROM entries WHERE set_id = ?", (set_id,)))

    async def add_rows(self, set_id: int, rows: Sequence[tuple]) -> None:
        """The backup writer's fast path: plain tuples, one transaction per batch.

        Each row is (folder, name, kind, size, mtime_ns, mode, uid, gid, inode,
        ctime_ns, checksum, link_target, cartridge_id, position, deleted, xattrs,
        rdev, sparse), names in host form (`names`)."""
        rows = [_catalog_row(r) for r in rows]
        async with self.store.transaction() as conn:
            ids = await self.dir_ids({r[0] for r in rows})
            await conn.executemany(
                _INSERT,
                [(set_id, ids[r[0]], *r[1:]) for r in rows],
            )


def _catalog_row(r: tuple) -> tuple:
    """A writer's row with its folder, name and link target in catalog form (a row
    without the last three fields, xattrs, rdev and sparse, has none of them)."""
    if len(r) < ROW_FIELDS:
        r = (*r, *(None,) * (ROW_FIELDS - len(r)))
    folder, name, link = r[0], r[1], r[11]
    if folder.isascii() and name.isascii() and (link is None or link.isascii()):
        return r
    return (to_catalog(folder), to_catalog(name), *r[2:11], None if link is None else to_catalog(link), *r[12:])
