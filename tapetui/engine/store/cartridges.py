"""Cartridge records: what the catalog knows about each tape."""

from __future__ import annotations

from datetime import datetime

from ..errors import NotFound
from ..timeutil import now, to_db
from .db import Store
from .models import CartridgeRow
from .rows import load


class Cartridges:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def all(self) -> list[CartridgeRow]:
        rows = await self.store.fetchall("SELECT * FROM cartridges ORDER BY barcode")
        return [load(CartridgeRow, r) for r in rows]

    async def get(self, id_: int) -> CartridgeRow:
        row = await self.store.fetchone("SELECT * FROM cartridges WHERE id = ?", (id_,))
        if row is None:
            raise NotFound(f"no cartridge with id {id_}")
        return load(CartridgeRow, row)

    async def by_barcode(self, barcode: str) -> CartridgeRow | None:
        row = await self.store.fetchone("SELECT * FROM cartridges WHERE barcode = ?", (barcode,))
        return None if row is None else load(CartridgeRow, row)

    async def by_label(self, label: str) -> CartridgeRow | None:
        row = await self.store.fetchone(
            "SELECT * FROM cartridges WHERE label = ? ORDER BY updated_at DESC LIMIT 1", (label,)
        )
        return None if row is None else load(CartridgeRow, row)

    async def upsert(
        self,
        barcode: str,
        *,
        label: str | None = None,
        serial: str | None = None,
        generation: str | None = None,
        capacity_bytes: int | None = None,
        used_bytes: int | None = None,
        formatted_at: datetime | None = None,
        status: str | None = None,
    ) -> CartridgeRow:
        """Create the record or update the given fields (None = keep)."""
        stamp = to_db(now())
        async with self.store.transaction() as conn:
            await conn.execute(
                "INSERT INTO cartridges(barcode, created_at, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(barcode) DO NOTHING",
                (barcode, stamp, stamp),
            )
            fields = {
                "label": label,
                "serial": serial,
                "generation": generation,
                "capacity_bytes": capacity_bytes,
                "used_bytes": used_bytes,
                "formatted_at": to_db(formatted_at),
                "status": status,
            }
            changed = {k: v for k, v in fields.items() if v is not None}
            if changed:
                sets = ", ".join(f"{k} = ?" for k in changed)
                await conn.execute(
                    f"UPDATE cartridges SET {sets}, updated_at = ? WHERE barcode = ?",
                    (*changed.values(), stamp, barcode),
                )
        found = await self.by_barcode(barcode)
        assert found is not None
        return found

    async def set_label(self, id_: int, label: str | None, formatted_at: datetime | None = None) -> None:
        await self.store.execute(
            "UPDATE cartridges SET label = ?, formatted_at = coalesce(?, formatted_at), updated_at = ? WHERE id = ?",
            (label, to_db(formatted_at), to_db(now()), id_),
        )

    async def rename(self, id_: int, barcode: str, label: str | None) -> None:
        await self.store.execute(
            "UPDATE cartridges SET barcode = ?, label = ?, updated_at = ? WHERE id = ?",
            (barcode, label, to_db(now()), id_),
        )
