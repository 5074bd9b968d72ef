"""Schedule records and their derived state (status, last run, next run).

The running check is one conditional UPDATE (`claim`), so two firings of one
schedule -- from the scheduler and a manual "run now", or from two processes
sharing the catalog -- can never both start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Sequence

from ..errors import NotFound, UserError
from ..timeutil import from_db, now, to_db
from .db import Store, chunks
from .models import ScheduleRow
from .rows import dumps, load

#: Columns `update` may change; derived state has its own methods.
EDITABLE = ("name", "type", "config", "action", "action_config", "template_id", "enabled", "missed_policy",
            "next_run")


@dataclass(frozen=True)
class Released:
    """A firing's end, as its schedule records it."""

    schedule_id: int
    started_at: datetime
    status: str
    succeeded: bool


def _value(column: str, value: Any) -> Any:
    if column in ("config", "action_config"):
        return dumps(value)
    if isinstance(value, datetime):
        return to_db(value)
    if isinstance(value, bool):
        return int(value)
    return value


class Schedules:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def all(self) -> list[ScheduleRow]:
        return [load(ScheduleRow, r) for r in await self.store.fetchall("SELECT * FROM schedules ORDER BY name")]

    async def get(self, id_: int) -> ScheduleRow:
        row = await self.store.fetchone("SELECT * FROM schedules WHERE id = ?", (id_,))
        if row is None:
            raise NotFound(f"no schedule with id {id_}")
        return load(ScheduleRow, row)

    async def by_name(self, name: str) -> ScheduleRow:
        row = await self.store.fetchone("SELECT * FROM schedules WHERE name = ?", (name,))
        if row is None:
            raise NotFound(f"no schedule named {name!r} (see: tapetui schedule list)")
        return load(ScheduleRow, row)

    async def find(self, name: str) -> ScheduleRow | None:
        row = await self.store.fetchone("SELECT * FROM schedules WHERE name = ?", (name,))
        return None if row is None else load(ScheduleRow, row)

    async def create(
        self, *, name: str, type: str, config: dict[str, Any], action: str, action_config: dict[str, Any],
        template_id: int | None, enabled: bool, missed_policy: str, next_run: datetime | None,
    ) -> ScheduleRow:
        if await self.find(name) is not None:
            raise UserError(f"a schedule named {name!r} already exists; choose another name or edit it")
        stamp = to_db(now())
        id_ = await self.store.execute(
            "INSERT INTO schedules(name, type, config, action, action_config, template_id, enabled, missed_policy, "
            "next_run, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (name, type, dumps(config), action, dumps(action_config), template_id, int(enabled), missed_policy,
             to_db(next_run), stamp, stamp),
        )
        return await self.get(id_)

    async def update(self, id_: int, **fields: Any) -> ScheduleRow:
        bad = set(fields) - set(EDITABLE)
        if bad:
            raise ValueError(f"not editable: {', '.join(sorted(bad))}")
        if "name" in fields:
            other = await self.find(fields["name"])
            if other is not None and other.id != id_:
                raise UserError(f"a schedule named {fields['name']!r} already exists")
        if fields:
            sets = ", ".join(f"{k} = ?" for k in fields)
            await self.store.execute(
                f"UPDATE schedules SET {sets}, updated_at = ? WHERE id = ?",
                (*(_value(k, v) for k, v in fields.items()), to_db(now()), id_),
            )
        return await self.get(id_)

    async def delete(self, id_: int) -> None:
        await self.store.execute("DELETE FROM schedules WHERE id = ?", (id_,))

    async def claim(self, ids: Sequence[int]) -> set[int]:
        """idle -> running, atomically; returns the ids claimed (the others were already
        running: the running check)."""
        claimed: set[int] = set()
        async with self.store.transaction() as conn:
            for part in chunks(ids):
                claimed.update(r[0] for r in await conn.execute_fetchall(
                    f"UPDATE schedules SET status = 'running' WHERE status = 'idle' AND id IN "
                    f"({','.join('?' * len(part))}) RETURNING id", tuple(part)))
        return claimed

    async def release(self, ends: Iterable[Released]) -> None:
        """running -> idle, with each firing's outcome as its schedule's last result."""
        await self.store.executemany(
            "UPDATE schedules SET status = 'idle', last_run = ?1, last_result = ?2, "
            "last_success = CASE WHEN ?3 THEN ?1 ELSE last_success END WHERE id = ?4",
            [(to_db(e.started_at), e.status, int(e.succeeded), e.schedule_id) for e in ends],
        )

    async def note_skipped(self, id_: int) -> None:
        """A skipped firing is not a run: only the last result says it happened --
        unless a run of the schedule is still going (the running check refused the
        firing): its result is the one that matters, and it is recorded at its end."""
        await self.store.execute(
            "UPDATE schedules SET last_result = 'skipped' WHERE id = ? AND status != 'running'", (id_,))

    async def set_next_runs(self, moves: Iterable[tuple[int, datetime | None]]) -> None:
        """(schedule id, its next run) pairs, in one transaction."""
        await self.store.executemany("UPDATE schedules SET next_run = ? WHERE id = ?",
                                     [(to_db(at), id_) for id_, at in moves])

    async def due(self, at: datetime) -> list[ScheduleRow]:
        rows = await self.store.fetchall(
            "SELECT * FROM schedules WHERE enabled = 1 AND next_run IS NOT NULL AND next_run <= ? "
            "ORDER BY next_run, id", (to_db(at),)
        )
        return [load(ScheduleRow, r) for r in rows]

    async def earliest_next_run(self) -> datetime | None:
        return from_db(await self.store.scalar(
            "SELECT min(next_run) FROM schedules WHERE enabled = 1 AND next_run IS NOT NULL"
        ))

    async def release_orphans(self) -> list[str]:
        """Schedules left 'running' with no run still running (a dead process) become idle."""
        rows = await self.store.fetchall(
            "SELECT name FROM schedules WHERE status = 'running' AND id NOT IN "
            "(SELECT schedule_id FROM schedule_runs WHERE status = 'running' AND schedule_id IS NOT NULL)"
        )
        if rows:
            await self.store.execute(
                "UPDATE schedules SET status = 'idle' WHERE status = 'running' AND id NOT IN "
                "(SELECT schedule_id FROM schedule_runs WHERE status = 'running' AND schedule_id IS NOT NULL)"
            )
        return [r[0] for r in rows]
