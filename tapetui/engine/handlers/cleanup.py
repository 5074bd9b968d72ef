"""The `cleanup` action: prune old run logs, expire old sets, compact the database.

Retention comes from `[retention]` in the config; a schedule may override it
(`run_log_days`, `set_days`). An expired set loses its catalog rows (its files
can no longer be browsed or restored from the catalog) but keeps its record.
A set still needed as the base of a kept set is kept with it.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ..errors import UserError
from ..store.runs import Runs
from ..timeutil import to_db
from .base import Action, Firing, Outcome

if TYPE_CHECKING:
    from ..core import Engine

KEYS = {"run_log_days", "set_days", "vacuum"}


async def check(engine: Engine, config: dict[str, Any], template: dict[str, Any] | None = None) -> dict[str, Any]:
    bad = set(config) - KEYS
    if bad:
        raise UserError(f"cleanup: unknown setting(s) {', '.join(sorted(bad))}; allowed: {', '.join(sorted(KEYS))}")
    for key in ("run_log_days", "set_days"):
        value = config.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise UserError(f"cleanup: {key} must be a whole number of days (0 = keep forever), got {value!r}")
    if not isinstance(config.get("vacuum", True), bool):
        raise UserError("cleanup: vacuum must be true or false")
    return dict(config)


async def expire_sets(engine: Engine, before: str) -> list[int]:
    """Mark sets started before `before` expired and drop their entries, except
    those a kept (newer, or still running) set builds on."""
    store = engine.store
    async with store.transaction() as conn:
        candidates = {r[0] for r in await conn.execute_fetchall(
            "SELECT id FROM backup_sets WHERE started_at < ? AND status IN ('complete', 'incomplete', 'overwritten')",
            (before,))}
        links = await conn.execute_fetchall(
            "SELECT id, base_set_id FROM backup_sets WHERE base_set_id IS NOT NULL AND status != 'expired'")
        changed = True
        while changed:  # a base of any kept set is kept, transitively
            changed = False
            for set_id, base in links:
                if set_id not in candidates and base in candidates:
                    candidates.discard(base)
                    changed = True
        expired = sorted(candidates)
        for set_id in expired:
            await conn.execute("DELETE FROM entries WHERE set_id = ?", (set_id,))
            await conn.execute("DELETE FROM set_states WHERE set_id = ?", (set_id,))  # no run starts from it now
            await conn.execute("UPDATE backup_sets SET status = 'expired' WHERE id = ?", (set_id,))
    return expired


async def run(engine: Engine, firing: Firing) -> Outcome:
    cfg = {**firing.schedule.action_config}
    retention = engine.config.retention
    log_days = cfg.get("run_log_days", retention.run_log_days)
    set_days = cfg.get("set_days", retention.set_days)
    result: dict[str, Any] = {"run_log_days": log_days, "set_days": set_days}
    if log_days:
        runs, lines = await Runs(engine.store).prune(firing.now - timedelta(days=log_days))
        firing.log.info(f"removed {runs} run log(s) and {lines} log line(s) older than {log_days} days")
        result.update(runs_removed=runs, lines_removed=lines)
    else:
        firing.log.info("run logs are kept forever (run_log_days = 0)")
    expired: list[int] = []
    if set_days:
        expired = await expire_sets(engine, to_db(firing.now - timedelta(days=set_days)))
        firing.log.info(f"expired {len(expired)} backup set(s) older than {set_days} days"
                        + (f": {', '.join(map(str, expired))}" if expired else ""))
    result["sets_expired"] = expired
    status, message = "success", f"removed {result.get('runs_removed', 0)} run log(s), expired {len(expired)} set(s)"
    await engine.store.execute("PRAGMA optimize")
    if cfg.get("vacuum", True):
        try:
            await engine.store.conn.execute("VACUUM")
            result["vacuumed"] = True
            firing.log.info("database compacted (VACUUM)")
        except sqlite3.OperationalError as e:  # another task is inside a transaction
            result["vacuumed"] = False
            firing.log.warning(f"database not compacted this time: {e}")
            status = "warning"
    return Outcome(status, message, result)


ACTION = Action("cleanup", run, check, "prune old run logs, expire old sets, compact the database")
