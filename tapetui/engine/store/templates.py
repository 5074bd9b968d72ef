"""Backup templates: saved backup parameters that schedules refer to by id."""

from __future__ import annotations

from typing import Any

from ..errors import NotFound, UserError
from ..timeutil import now, to_db
from .db import Store
from .models import TemplateRow
from .rows import dumps, load


class Templates:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def all(self) -> list[TemplateRow]:
        return [load(TemplateRow, r) for r in await self.store.fetchall("SELECT * FROM templates ORDER BY name")]

    async def by_name(self, name: str) -> TemplateRow:
        row = await self.store.fetchone("SELECT * FROM templates WHERE name = ?", (name,))
        if row is None:
            raise NotFound(f"no template named {name!r}")
        return load(TemplateRow, row)

    async def get(self, id_: int) -> TemplateRow:
        row = await self.store.fetchone("SELECT * FROM templates WHERE id = ?", (id_,))
        if row is None:
            raise NotFound(f"no template with id {id_}")
        return load(TemplateRow, row)

    async def save(self, name: str, config: dict[str, Any]) -> int:
        """Create or replace a template; schedules that use it follow the change."""
        stamp = to_db(now())
        await self.store.execute(
            "INSERT INTO templates(name, config, created_at, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at",
            (name, dumps(config), stamp, stamp),
        )
        return (await self.by_name(name)).id

    async def delete(self, name: str) -> None:
        tpl = await self.by_name(name)
        users = await self.store.fetchall("SELECT name FROM schedules WHERE template_id = ?", (tpl.id,))
        if users:
            raise UserError(
                f"template {name!r} is used by schedule(s) {', '.join(r[0] for r in users)}; change them first"
            )
        await self.store.execute("DELETE FROM templates WHERE id = ?", (tpl.id,))
