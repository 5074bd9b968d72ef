"""The catalog store: migrations, corruption handling, and the repositories."""

import sqlite3
import subprocess
from datetime import datetime, timedelta, timezone

import pytest

from tapetui.engine.errors import StoreError
from tapetui.engine.store import open_store
from tapetui.engine.store.cartridges import Cartridges
from tapetui.engine.store.catalog import Catalog, split
from tapetui.engine.store.models import Entry
from tapetui.engine.store.schema import LATEST
from tapetui.engine.store.sets import Sets
from tapetui.engine.store.templates import Templates
from tapetui.engine.errors import UserError


async def test_fresh_database_is_wal_with_foreign_keys(tmp_path):
    store = await open_store(tmp_path / "c.db")
    try:
        assert await store.version() == LATEST
        assert (await store.scalar("PRAGMA journal_mode")) == "wal"
        assert (await store.scalar("PRAGMA foreign_keys")) == 1
        with pytest.raises(sqlite3.IntegrityError):
            await store.execute("INSERT INTO set_cartridges(set_id, cartridge_id, seq) VALUES (99, 99, 1)")
    finally:
        await store.close()


async def test_old_version_upgrades_and_keeps_its_data(tmp_path):
    path = tmp_path / "c.db"
    old = await open_store(path, upto=1)
    assert await old.version() == 1
    cart = await Cartridges(old).upsert("TPA001L8", label="TP20261101")
    run = await old.execute(
        "INSERT INTO backup_sets(source_key, level, status, started_at) VALUES ('k', 'full', 'complete', '2026-11-01T00:00:00+00:00')"
    )
    await old.execute("INSERT INTO set_cartridges VALUES (?, ?, 1)", (run, cart.id))
    await old.close()

    new = await open_store(path)
    try:
        assert await new.version() == LATEST
        (s,) = await Sets(new).all()
        assert s.status == "complete" and s.cartridges == ["TPA001L8"]
        assert s.verified_at is None and s.overwritten_at is None  # columns added by migration 2
        assert await new.scalar("SELECT count(*) FROM restore_jobs") == 0
    finally:
        await new.close()


async def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "c.db"
    s = await open_store(path)
    await s.conn.execute(f"PRAGMA user_version = {LATEST + 5}")
    await s.close()
    with pytest.raises(StoreError, match="newer tapetui"):
        await open_store(path)


async def test_a_file_that_is_not_a_database_is_reported_and_left_alone(tmp_path):
    path = tmp_path / "c.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="left untouched"):
        await open_store(path)
    assert path.read_bytes() == b"this is not sqlite" * 100


async def test_failed_migration_leaves_old_version(tmp_path, monkeypatch):
    from tapetui.engine.store import db, schema

    path = tmp_path / "c.db"
    (await open_store(path, upto=1)).conn and None
    monkeypatch.setattr(db, "MIGRATIONS", [schema.MIGRATIONS[0], "CREATE TABLE broken (;"])
    monkeypatch.setattr(db, "LATEST", 2)
    with pytest.raises(StoreError, match="schema 2"):
        await open_store(path)
    check = await open_store(path, upto=1)
    assert await check.version() == 1
    await check.close()


def test_split():
    assert split("/a/b/c.txt") == ("/a/b", "c.txt")
    assert split("/top") == ("/", "top")
    with pytest.raises(ValueError):
        split("relative/path")


async def test_sets_lifecycle_and_overwrite(tmp_path):
    store = await open_store(tmp_path / "c.db")
    try:
        sets, carts = Sets(store), Cartridges(store)
        c1 = await carts.upsert("TPA001L8")
        c2 = await carts.upsert("TPA002L8")
        run = await sets.start_run(requested_level="full", level="full", sources=["/src"], options={})
        sid = await sets.create(backup_run_id=run, source_key="k", name="n", level="full", base_set_id=None, hash_algo="sha256")
        await sets.add_cartridge(sid, c1.id)
        await sets.add_cartridge(sid, c2.id)
        assert (await sets.get(sid)).status == "running"
        assert await sets.mark_interrupted_runs() == []  # its process (this one) is alive
        dead = subprocess.Popen(["true"])
        dead.wait()
        await store.execute("UPDATE backup_runs SET pid = ? WHERE id = ?", (dead.pid, run))
        assert await sets.mark_interrupted_runs() == [sid]
        got = await sets.get(sid)
        assert got.status == "incomplete" and not got.complete
        assert got.cartridges == ["TPA001L8", "TPA002L8"]
        assert (await sets.get_run(run)).status == "interrupted"

        sid2 = await sets.create(backup_run_id=None, source_key="k", name="n", level="full", base_set_id=None, hash_algo="sha256")
        await sets.add_cartridge(sid2, c2.id)
        await sets.complete(sid2, files=3, bytes_=30)
        assert (await sets.get(sid2)).complete
        assert sorted(await sets.mark_overwritten(c2.id)) == [sid, sid2]
        assert (await sets.get(sid2)).status == "overwritten"
        assert [s.id for s in await sets.on_cartridge(c1.id)] == [sid]
    finally:
        await store.close()


async def test_templates_cannot_be_deleted_while_used(tmp_path):
    store = await open_store(tmp_path / "c.db")
    try:
        t = Templates(store)
        tid = await t.save("nightly", {"sources": ["/data"], "level": "full"})
        await t.save("nightly", {"sources": ["/data", "/etc"], "level": "full"})
        assert (await t.by_name("nightly")).config["sources"] == ["/data", "/etc"]
        await store.execute(
            "INSERT INTO schedules(name, type, config, action, template_id, created_at, updated_at) "
            "VALUES ('s', 'daily', '{}', 'backup', ?, 'x', 'x')", (tid,))
        with pytest.raises(UserError, match="used by schedule"):
            await t.delete("nightly")
    finally:
        await store.close()


async def _set(store, finished):
    sets = Sets(store)
    sid = await sets.create(backup_run_id=None, source_key="k", name="", level="full", base_set_id=None, hash_algo="sha256")
    await sets.complete(sid, files=0, bytes_=0, finished_at=finished)
    return sid


async def test_catalog_lookups(tmp_path):
    store = await open_store(tmp_path / "c.db")
    try:
        cat = Catalog(store)
        t0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
        s1 = await _set(store, t0)
        s2 = await _set(store, t0 + timedelta(days=1))
        await cat.add([
            Entry(s1, "/data/a.txt", "file", size=1),
            Entry(s1, "/data/b.txt", "file", size=2),
            Entry(s1, "/data/sub", "dir"),
            Entry(s1, "/data/sub/c.txt", "file", size=3),
        ])
        await cat.add([Entry(s2, "/data/a.txt", "file", size=10), Entry(s2, "/data/b.txt", "file", deleted=True)])
        assert [e.path for e in await cat.list_dir(s1, "/data")] == ["/data/a.txt", "/data/b.txt", "/data/sub"]
        assert [e.path for e in await cat.list_dir(s1, "/data", limit=1, after="a.txt")] == ["/data/b.txt"]
        assert [(e.set_id, e.size) for e in await cat.versions("/data/a.txt")] == [(s1, 1), (s2, 10)]
        assert (await cat.newest_at("/data/a.txt", t0 + timedelta(hours=1))).size == 1
        assert (await cat.newest_at("/data/a.txt", t0 + timedelta(days=2))).size == 10
        assert (await cat.newest_at("/data/b.txt", t0 + timedelta(days=2))).deleted
        assert await cat.newest_at("/data/a.txt", t0 - timedelta(days=1)) is None
        assert {e.path for e in await cat.find("*.txt")} == {"/data/a.txt", "/data/b.txt", "/data/sub/c.txt"}
        assert [e.path for e in await cat.find("/data/sub/*")] == ["/data/sub/c.txt"]
    finally:
        await store.close()


async def test_cancel_while_waiting_for_begin_leaves_no_open_transaction(tmp_path):
    import asyncio

    store = await open_store(tmp_path / "c.db")
    try:
        async def write():
            async with store.transaction() as conn:
                await conn.execute("INSERT INTO dirs(path) VALUES ('/x')")

        for delay in (0, 0.0001, 0.001):
            task = asyncio.create_task(write())
            await asyncio.sleep(delay)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await store.execute("DELETE FROM dirs")  # would fail inside a leftover transaction
            assert not store.conn.in_transaction
    finally:
        await store.close()


async def test_a_cancelled_read_leaves_no_stale_snapshot(tmp_path):
    """A console worker cancelled during a read (a newer reload replaced it) must
    not leave that query open on the shared connection: later reads on it would
    keep its snapshot and miss another process's commits (a console saw a
    daemon's finished run as still running)."""
    import asyncio

    writer, reader = await open_store(tmp_path / "c.db"), await open_store(tmp_path / "c.db")
    try:
        await writer.execute("INSERT INTO dirs(path) VALUES ('/before')")
        slow = ("WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 1000000) "
                "SELECT count(*) FROM c JOIN dirs")  # reads a table: it has a snapshot
        for read in (reader.fetchall, reader.fetchone):
            task = asyncio.create_task(read(slow))
            await asyncio.sleep(0.05)  # the query runs on the reader's thread now
            assert not task.done()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await writer.execute("UPDATE dirs SET path = path || '+'")  # committed after the read began
            want = await writer.scalar("SELECT path FROM dirs")
            assert await reader.scalar("SELECT path FROM dirs") == want
            assert await reader.scalar("SELECT path FROM dirs") == want
    finally:
        await writer.close()
        await reader.close()
