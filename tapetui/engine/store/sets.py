"""Backup runs and backup sets, and which cartridges hold each set."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from ..errors import NotFound
from ..names import to_catalog
from ..timeutil import now, to_db
from .db import Store
from .models import BackupRunRow, RestoreJobRow, SetRow
from .rows import dumps, load
from .runs import own_start, pid_alive

_SET_SELECT = (
    "SELECT s.*, (SELECT group_concat(c.barcode, ' ') FROM "
    "(SELECT sc.cartridge_id, sc.seq FROM set_cartridges sc WHERE sc.set_id = s.id ORDER BY sc.seq) x "
    "JOIN cartridges c ON c.id = x.cartridge_id) AS barcodes FROM backup_sets s "
)


def _set(row: Any) -> SetRow:
    return load(SetRow, row, cartridges=(row["barcodes"] or "").split())


class Sets:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- backup runs ---------------------------------------------------------
    async def start_run(
        self, *, requested_level: str, level: str, sources: list[str], options: dict[str, Any],
        schedule_run_id: int | None = None,
    ) -> int:
        return await self.store.execute(
            "INSERT INTO backup_runs(schedule_run_id, requested_level, level, sources, options, status, started_at, pid, "
            "proc_start) VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?)",
            (schedule_run_id, requested_level, level, dumps(sources), dumps(options), to_db(now()), os.getpid(),
             own_start()),
        )

    async def finish_run(
        self, run_id: int, *, status: str, files: int, bytes_: int, warnings: int, error: str | None = None,
        level: str | None = None,
    ) -> None:
        await self.store.execute(
            "UPDATE backup_runs SET status = ?, finished_at = ?, files = ?, bytes = ?, warnings = ?, error = ?, "
            "level = coalesce(?, level) WHERE id = ?",
            (status, to_db(now()), files, bytes_, warnings, error, level, run_id),
        )

    async def get_run(self, run_id: int) -> BackupRunRow:
        row = await self.store.fetchone("SELECT * FROM backup_runs WHERE id = ?", (run_id,))
        if row is None:
            raise NotFound(f"no backup run {run_id}")
        return load(BackupRunRow, row)

    # -- sets ----------------------------------------------------------------
    async def create(
        self, *, backup_run_id: int | None, source_key: str, name: str, level: str,
        base_set_id: int | None, hash_algo: str, started_at: datetime | None = None,
    ) -> int:
        """A new set starts as 'running'; only `complete()` makes it complete."""
        return await self.store.execute(
            "INSERT INTO backup_sets(backup_run_id, source_key, name, level, base_set_id, status, started_at, hash_algo) "
            "VALUES (?, ?, ?, ?, ?, 'running', ?, ?)",
            (backup_run_id, source_key, name, level, base_set_id, to_db(started_at or now()), hash_algo),
        )

    async def add_cartridge(self, set_id: int, cartridge_id: int) -> None:
        async with self.store.transaction() as conn:
            await conn.execute(
                "INSERT OR IGNORE INTO set_cartridges(set_id, cartridge_id, seq) VALUES (?, ?, "
                "(SELECT coalesce(max(seq), 0) + 1 FROM set_cartridges WHERE set_id = ?))",
                (set_id, cartridge_id, set_id),
            )

    async def complete(self, set_id: int, *, files: int, bytes_: int, finished_at: datetime | None = None) -> None:
        await self.store.execute(
            "UPDATE backup_sets SET status = 'complete', files = ?, bytes = ?, finished_at = ? WHERE id = ?",
            (files, bytes_, to_db(finished_at or now()), set_id),
        )

    async def mark_incomplete(self, set_id: int, *, files: int | None = None, bytes_: int | None = None) -> None:
        await self.store.execute(
            "UPDATE backup_sets SET status = 'incomplete', finished_at = coalesce(finished_at, ?), "
            "files = coalesce(?, files), bytes = coalesce(?, bytes) WHERE id = ? AND status = 'running'",
            (to_db(now()), files, bytes_, set_id),
        )

    async def mark_interrupted_runs(self) -> list[int]:
        """After a crash: the sets of backup runs whose process is gone become 'incomplete'.

        Runs of live processes (a backup another process is making right now)
        are left alone. Returns the ids of the sets marked."""
        runs = await self.store.fetchall("SELECT id, pid, proc_start FROM backup_runs WHERE status = 'running'")
        dead = [r["id"] for r in runs if not pid_alive(r["pid"], r["proc_start"])]
        orphans = await self.store.fetchall(
            "SELECT id FROM backup_sets WHERE status = 'running' AND (backup_run_id IS NULL OR backup_run_id IN "
            "(SELECT value FROM json_each(?)))", (dumps(dead),)
        )
        ids = [r[0] for r in orphans]
        stamp = to_db(now())
        async with self.store.transaction() as conn:
            for sid in ids:
                await conn.execute(
                    "UPDATE backup_sets SET status = 'incomplete', finished_at = coalesce(finished_at, ?) "
                    "WHERE id = ?", (stamp, sid))
            for rid in dead:
                await conn.execute(
                    "UPDATE backup_runs SET status = 'interrupted', finished_at = coalesce(finished_at, ?) "
                    "WHERE id = ?", (stamp, rid))
        return ids

    async def mark_overwritten(self, cartridge_id: int) -> list[int]:
        """Formatting a cartridge destroys the sets on it (all of each set is lost)."""
        rows = await self.store.fetchall(
            "SELECT set_id FROM set_cartridges WHERE cartridge_id = ?", (cartridge_id,)
        )
        ids = [r[0] for r in rows]
        if ids:
            marks = ",".join("?" * len(ids))
            await self.store.execute(
                f"UPDATE backup_sets SET status = 'overwritten', overwritten_at = ? WHERE id IN ({marks}) "
                "AND status != 'overwritten'",
                (to_db(now()), *ids),
            )
        return ids

    async def set_verified(self, set_id: int, ok: bool) -> None:
        await self.store.execute(
            "UPDATE backup_sets SET verified_at = ?, verify_ok = ? WHERE id = ?", (to_db(now()), int(ok), set_id)
        )

    async def set_tape_dir(self, set_id: int, tape_dir: str) -> None:
        """Where the set's files are on its cartridges (see backup/layout.py)."""
        await self.store.execute("UPDATE backup_sets SET tape_dir = ? WHERE id = ?", (tape_dir, set_id))

    async def tape_dir(self, set_id: int) -> str:
        return await self.store.scalar(
            "SELECT coalesce(tape_dir, 'tapetui/set-' || id) FROM backup_sets WHERE id = ?", (set_id,))

    async def find_same(self, source_key: str, started_at: datetime) -> int | None:
        """A set already catalogued for these sources and start time (imports skip it)."""
        return await self.store.scalar(
            "SELECT id FROM backup_sets WHERE source_key = ? AND started_at = ?", (source_key, to_db(started_at)))

    async def add_imported(
        self, *, source_key: str, name: str, level: str, status: str, started_at: datetime,
        finished_at: datetime | None, files: int, bytes_: int, hash_algo: str, tape_dir: str,
        base: tuple[str, datetime | None] | None,
    ) -> int:
        """A set rebuilt from a cartridge's catalog copy (`tapetui catalog import`).

        `base` names the base set by (source_key, started_at); it is linked now if
        catalogued, or by `link_imported` once its cartridge is imported too."""
        base_ref = dumps({"source_key": base[0], "started_at": to_db(base[1])}) if base else None
        set_id = await self.store.execute(
            "INSERT INTO backup_sets(source_key, name, level, status, started_at, finished_at, "
            "files, bytes, hash_algo, tape_dir, base_ref) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (source_key, name, level, status, to_db(started_at), to_db(finished_at), files, bytes_,
             hash_algo, tape_dir, base_ref),
        )
        await self.link_imported()
        return set_id

    async def link_imported(self) -> None:
        """Give imported sets their base, for every base now in the catalog."""
        await self.store.execute(
            "UPDATE backup_sets SET base_set_id = (SELECT b.id FROM backup_sets b "
            "WHERE b.source_key = json_extract(backup_sets.base_ref, '$.source_key') "
            "AND b.started_at = json_extract(backup_sets.base_ref, '$.started_at')) "
            "WHERE base_set_id IS NULL AND base_ref IS NOT NULL"
        )

    async def holds(self, tape_dir: str, barcode: str) -> bool:
        """Whether a catalogued set was written under `tape_dir` on cartridge `barcode`."""
        return bool(await self.store.scalar(
            "SELECT 1 FROM backup_sets s JOIN set_cartridges sc ON sc.set_id = s.id "
            "JOIN cartridges c ON c.id = sc.cartridge_id "
            "WHERE coalesce(s.tape_dir, 'tapetui/set-' || s.id) = ? AND c.barcode = ?", (tape_dir, barcode)))

    # -- restore jobs --------------------------------------------------------
    async def start_restore(
        self, *, set_id: int | None, at_time: datetime | None, target: str, conflict: str, paths: list[str],
        schedule_run_id: int | None = None,
    ) -> int:
        return await self.store.execute(
            "INSERT INTO restore_jobs(schedule_run_id, set_id, at_time, target, conflict, paths, status, started_at) "
            "VALUES (?, ?, ?, ?, ?, ?, 'running', ?)",
            (schedule_run_id, set_id, to_db(at_time), to_catalog(target), conflict, dumps(paths), to_db(now())),
        )

    async def finish_restore(
        self, job_id: int, *, status: str, files: int, bytes_: int, errors: int, message: str
    ) -> None:
        await self.store.execute(
            "UPDATE restore_jobs SET status = ?, finished_at = ?, files = ?, bytes = ?, errors = ?, message = ? "
            "WHERE id = ?",
            (status, to_db(now()), files, bytes_, errors, message, job_id),
        )

    async def get_restore(self, job_id: int) -> RestoreJobRow:
        row = await self.store.fetchone("SELECT * FROM restore_jobs WHERE id = ?", (job_id,))
        if row is None:
            raise NotFound(f"no restore job {job_id}")
        return load(RestoreJobRow, row)

    async def get(self, set_id: int) -> SetRow:
        row = await self.store.fetchone(_SET_SELECT + "WHERE s.id = ?", (set_id,))
        if row is None:
            raise NotFound(f"no backup set {set_id}")
        return _set(row)

    async def all(self, *, source_key: str | None = None) -> list[SetRow]:
        if source_key is None:
            rows = await self.store.fetchall(_SET_SELECT + "ORDER BY s.id DESC")
        else:
            rows = await self.store.fetchall(_SET_SELECT + "WHERE s.source_key = ? ORDER BY s.id DESC", (source_key,))
        return [_set(r) for r in rows]

    async def on_cartridge(self, cartridge_id: int) -> list[SetRow]:
        rows = await self.store.fetchall(
            _SET_SELECT + "WHERE s.id IN (SELECT set_id FROM set_cartridges WHERE cartridge_id = ?) ORDER BY s.id",
            (cartridge_id,),
        )
        return [_set(r) for r in rows]
