"""The cleanup and health_check actions, and the registry's checks of action settings."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tapetui.engine import handlers
from tapetui.engine.errors import UserError
from tapetui.engine.timeutil import to_db
from test_scheduler import START, Rig, rig  # noqa: F401 - the fixture


async def _run(rig: Rig, name: str):  # noqa: ANN202
    run = await rig.service.run_now(name, wait=True)
    return await rig.service.runs.get(run.id)


async def test_cleanup_prunes_old_runs_and_expires_old_sets_but_keeps_needed_bases(rig: Rig) -> None:  # noqa: F811
    store = rig.engine.store
    old = to_db(START - timedelta(days=400))
    recent = to_db(START - timedelta(days=5))
    for at in (old, recent):
        run_id = await store.execute(
            "INSERT INTO schedule_runs(schedule_name, action, trigger, status, started_at) "
            "VALUES ('x', 'probe', 'auto', 'success', ?)", (at,))
        await store.execute("INSERT INTO run_log_lines(run_id, ts, level, line) VALUES (?, ?, 'info', 'l')",
                            (run_id, at))
    sets = {}
    for name, at, base in (("old-full", old, None), ("lone", old, None), ("new-diff", recent, "old-full")):
        sets[name] = await store.execute(
            "INSERT INTO backup_sets(source_key, name, level, base_set_id, status, started_at) "
            "VALUES ('k', ?, 'full', ?, 'complete', ?)", (name, sets.get(base), at))
    dir_id = await store.execute("INSERT INTO dirs(path) VALUES ('/d')")
    for s in sets.values():
        await store.execute("INSERT INTO entries(set_id, dir_id, name, kind) VALUES (?, ?, 'f', 'file')",
                            (s, dir_id))
        await store.execute("INSERT INTO set_states(set_id, chain, scheme, parts) VALUES (?, ?, 's', 0)",
                            (s, f"[{s}]"))
    await rig.service.add("c", kind="daily", when="04:00", action="cleanup",
                          action_config={"run_log_days": 180, "set_days": 365})
    run = await _run(rig, "c")
    assert run.status == "success", run.message
    assert run.result["runs_removed"] == 1 and run.result["lines_removed"] == 1
    assert run.result["sets_expired"] == [sets["lone"]] and run.result["vacuumed"] is True
    status = dict(await store.fetchall("SELECT name, status FROM backup_sets"))
    assert status == {"old-full": "complete", "lone": "expired", "new-diff": "complete"}
    assert await store.scalar("SELECT count(*) FROM entries WHERE set_id = ?", (sets["lone"],)) == 0
    assert sorted(r[0] for r in await store.fetchall("SELECT set_id FROM set_states")) == sorted(
        [sets["old-full"], sets["new-diff"]])  # an expired set's signature snapshot goes with its entries
    assert await store.scalar("SELECT count(*) FROM schedule_runs WHERE started_at = ?", (old,)) == 0


async def test_health_check_reports_every_part(rig: Rig) -> None:  # noqa: F811
    await rig.service.add("h", kind="daily", when="05:00", action="health_check",
                          action_config={"full_integrity": True})
    run = await _run(rig, "h")
    assert set(run.result) == {"drive", "medium", "database", "free_space", "tools"}
    assert run.result["database"] == {"state": "ok", "detail": "integrity_check: ok", "pragma": "integrity_check"}
    assert run.result["free_space"]["free_bytes"] > 0
    assert run.status in ("success", "warning")


async def test_health_check_warns_about_low_space_and_missing_tools(rig: Rig) -> None:  # noqa: F811
    rig.engine.config.tape.driver = "ltfs"
    rig.engine.config.ltfs.mkltfs = "mkltfs-that-is-not-installed"
    await rig.service.add("h", kind="daily", when="05:00", action="health_check",
                          action_config={"min_free_bytes": 1 << 62})
    run = await _run(rig, "h")
    assert run.status == "warning"
    assert run.result["free_space"]["state"] == "warning"
    assert "mkltfs-that-is-not-installed" in run.result["tools"]["detail"]


@pytest.mark.parametrize("action, config, message", [
    ("cleanup", {"run_log_days": -1}, "run_log_days must be a whole number"),
    ("cleanup", {"bogus": 1}, "unknown setting(s) bogus"),
    ("health_check", {"min_free_bytes": "lots"}, "min_free_bytes must be a whole number"),
    ("backup", {"sources": ["/"], "level": "weekly"}, "level 'weekly' is not one of"),
    ("backup", {"level": "full"}, "give the source folder(s)"),
    ("backup", {"sources": ["/"], "level": "full", "max_full_days": True}, "max_full_days must be"),
])
async def test_action_settings_are_checked(rig: Rig, action: str, config: dict, message: str) -> None:  # noqa: F811
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        await rig.service.add("x", kind="daily", when="01:00", action=action, action_config=config)


async def test_unknown_action_names_the_known_ones(rig: Rig) -> None:  # noqa: F811
    # (other test modules may register actions of their own: allow names between)
    with pytest.raises(UserError, match=r"expected one of backup, (\w+, )*cleanup, (\w+, )*health_check"):
        handlers.get("defrag")
