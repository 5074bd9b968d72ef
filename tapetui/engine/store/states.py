"""Stored set states: the snapshots `backup.signatures` makes and reads.

A snapshot is derived data (the catalog entries say the same, only slower to
read), so only the ones a next run can use are kept: per source, the newest
complete set's (an incremental's base) and the newest complete full's (a
differential's base).
"""

from __future__ import annotations

import json

from .db import Store


class States:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def save(self, set_id: int, chain: list[int], scheme: str, parts: list[bytes]) -> None:
        """Store the state of `chain` (which ends with `set_id`)."""
        async with self.store.transaction() as conn:
            await conn.execute("DELETE FROM set_states WHERE set_id = ?", (set_id,))
            await conn.execute("INSERT INTO set_states(set_id, chain, scheme, parts) VALUES (?, ?, ?, ?)",
                               (set_id, json.dumps(chain), scheme, len(parts)))
            await conn.executemany("INSERT INTO set_state_parts(set_id, part, data) VALUES (?, ?, ?)",
                                   [(set_id, i, data) for i, data in enumerate(parts)])

    async def save_same(self, set_id: int, chain: list[int], of: int) -> None:
        """`set_id` changed nothing: its state is that of set `of`, copied inside SQLite."""
        async with self.store.transaction() as conn:
            await conn.execute("DELETE FROM set_states WHERE set_id = ?", (set_id,))
            await conn.execute("INSERT INTO set_states(set_id, chain, scheme, parts) "
                               "SELECT ?, ?, scheme, parts FROM set_states WHERE set_id = ?",
                               (set_id, json.dumps(chain), of))
            await conn.execute("INSERT INTO set_state_parts(set_id, part, data) "
                               "SELECT ?, part, data FROM set_state_parts WHERE set_id = ?", (set_id, of))

    async def prune(self, source_key: str) -> None:
        """Drop the snapshots of `source_key`'s sets that no next run will start from."""
        await self.store.execute(
            "DELETE FROM set_states WHERE set_id IN (SELECT id FROM backup_sets WHERE source_key = ?1) "
            "AND set_id NOT IN ("
            "SELECT id FROM (SELECT id FROM backup_sets WHERE source_key = ?1 AND status = 'complete' "
            "ORDER BY started_at DESC, id DESC LIMIT 1) "
            "UNION SELECT id FROM (SELECT id FROM backup_sets WHERE source_key = ?1 AND status = 'complete' "
            "AND level = 'full' ORDER BY started_at DESC, id DESC LIMIT 1))",
            (source_key,),
        )

    async def has_entries(self, set_id: int) -> bool:
        return await self.store.scalar("SELECT 1 FROM entries WHERE set_id = ? LIMIT 1", (set_id,)) is not None
