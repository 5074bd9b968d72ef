"""The catalog at scale: a million rows, and the three designed lookups return the right rows."""

from datetime import datetime, timedelta, timezone

import pytest

from tapetui.engine.store import open_store
from tapetui.engine.store.catalog import Catalog
from tapetui.engine.store.models import Entry
from tapetui.engine.store.sets import Sets

PER_SET = 500_000
PER_DIR = 100
T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


def path_of(i: int) -> str:
    d = i // PER_DIR
    return f"/srv/p{d // 100:03d}/d{d % 100:02d}/f{i % PER_DIR:03d}"


@pytest.mark.slow
async def test_million_rows_three_lookups(tmp_path):
    store = await open_store(tmp_path / "c.db")
    cat, sets = Catalog(store), Sets(store)
    set_ids = []
    try:
        for day in range(2):
            sid = await sets.create(backup_run_id=None, source_key="k", name="", level="full",
                                    base_set_id=None, hash_algo="sha256", started_at=T0 + timedelta(days=day))
            for start in range(0, PER_SET, 50_000):
                # the second set changes every 10th file and deletes every 1000th
                await cat.add([
                    Entry(sid, path_of(i), "file", size=i + day * (i % 10 == 0), deleted=day == 1 and i % 1000 == 0)
                    for i in range(start, start + 50_000)
                ])
            await sets.complete(sid, files=PER_SET, bytes_=0, finished_at=T0 + timedelta(days=day, hours=1))
            set_ids.append(sid)
        assert await store.scalar("SELECT count(*) FROM entries") == 2 * PER_SET
        s1, s2 = set_ids

        listing = await cat.list_dir(s2, "/srv/p012/d34")
        assert [e.path for e in listing] == [path_of(i) for i in range(123400, 123500)]
        assert all(e.set_id == s2 for e in listing)

        versions = await cat.versions(path_of(4570))
        assert [(v.set_id, v.size) for v in versions] == [(s1, 4570), (s2, 4571)]

        at_day0 = T0 + timedelta(hours=12)
        at_day1 = T0 + timedelta(days=1, hours=12)
        assert (await cat.newest_at(path_of(4570), at_day0)).size == 4570
        assert (await cat.newest_at(path_of(4570), at_day1)).size == 4571
        assert (await cat.newest_at(path_of(7000), at_day1)).deleted
        assert not (await cat.newest_at(path_of(7000), at_day0)).deleted
        assert await cat.newest_at(path_of(1), T0) is None
    finally:
        await store.close()
