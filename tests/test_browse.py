"""A set as of its point in time, folder by folder: the restore chain merged a page at a time."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tapetui.engine.backup.chain import ChainError
from tapetui.engine.browse import PointInTime
from tapetui.engine.core import Engine
from tapetui.engine.paths import Home
from tapetui.engine.store.models import Entry

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
LEVELS = ("full", "differential", "incremental")


async def add_set(engine: Engine, level: str, base: int | None, entries: dict[str, tuple[str, int, bool]],
                  *, day: int, complete: bool = True) -> int:
    """A set holding `entries`: path -> (kind, size, deleted)."""
    sid = await engine.sets.create(backup_run_id=None, source_key="k", name="", level=level, base_set_id=base,
                                   hash_algo="sha256", started_at=T0 + timedelta(days=day))
    await engine.catalog.add_rows(sid, [(*p.rsplit("/", 1), kind, size, 0, 0o644, 0, 0, 0, 0, None, None, None, None,
                                         int(deleted)) for p, (kind, size, deleted) in entries.items()])
    if complete:
        await engine.sets.complete(sid, files=len(entries), bytes_=0, finished_at=T0 + timedelta(days=day, hours=1))
    return sid


async def listing(pit: PointInTime, folder: str, limit: int) -> list[Entry]:
    """Every page of a folder, in order; checks the paging contract on the way."""
    out: list[Entry] = []
    after = ""
    while True:
        page = await pit.page(folder, after, limit)
        assert len(page.entries) <= limit
        out += page.entries
        if not page.more:
            return out
        assert page.last > after
        after = page.last


@pytest.fixture
async def engine(tmp_path: Path):  # noqa: ANN201
    engine = await Engine.open(Home.single(tmp_path / "home"))
    yield engine
    await engine.close()


async def test_newest_version_wins_and_deleted_paths_drop_out(engine: Engine) -> None:
    full = await add_set(engine, "full", None, {
        "/src/a.txt": ("file", 1, False), "/src/b": ("dir", 0, False), "/src/b/x": ("file", 5, False),
        "/src/c.txt": ("file", 3, False), "/src/old": ("dir", 0, False)}, day=0)
    diff = await add_set(engine, "differential", full, {
        "/src/a.txt": ("file", 2, False), "/src/c.txt": ("file", 0, True), "/src/d.txt": ("file", 4, False),
        "/src/old": ("dir", 0, True)}, day=1)
    await add_set(engine, "incremental", diff, {"/src/e.txt": ("file", 9, False)}, day=2, complete=False)
    incr = await add_set(engine, "incremental", diff, {
        "/src/d.txt": ("file", 0, True), "/src/b/y": ("file", 6, False)}, day=3)

    seen = {}
    for sid in (full, diff, incr):
        pit = await PointInTime.of(engine, sid)
        seen[sid] = [(e.path, e.kind, e.size, e.set_id) for e in await listing(pit, "/src", 2)]
    assert seen[full] == [("/src/a.txt", "file", 1, full), ("/src/b", "dir", 0, full),
                          ("/src/c.txt", "file", 3, full), ("/src/old", "dir", 0, full)]
    assert seen[diff] == [("/src/a.txt", "file", 2, diff), ("/src/b", "dir", 0, full),
                          ("/src/d.txt", "file", 4, diff)]
    assert seen[incr] == [("/src/a.txt", "file", 2, diff), ("/src/b", "dir", 0, full)]  # not the incomplete set's e
    pit = await PointInTime.of(engine, incr)
    assert pit.chain == [full, diff, incr]
    assert [e.path for e in await listing(pit, "/src/b", 10)] == ["/src/b/x", "/src/b/y"]
    assert await listing(pit, "/nowhere", 10) == []
    summary = await pit.summary(["/src/b"])
    assert (summary.files, summary.bytes) == (2, 11)


async def test_a_set_whose_chain_is_broken_says_why(engine: Engine) -> None:
    full = await add_set(engine, "full", None, {"/s/a": ("file", 1, False)}, day=0, complete=False)
    await engine.sets.mark_incomplete(full)
    incr = await add_set(engine, "incremental", full, {"/s/b": ("file", 1, False)}, day=1)
    with pytest.raises(ChainError, match="incomplete"):
        await PointInTime.of(engine, incr)


# each name: a state per set of the chain (None = not in that set, -1 = deleted, n = size n)
STATES = st.one_of(st.none(), st.integers(-1, 3))
FOLDERS = itertools.count()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.text("abcé_-", min_size=1, max_size=3), st.lists(STATES, min_size=3, max_size=3),
                       max_size=25),
       st.integers(1, 7))
async def test_paging_any_chain_gives_the_merged_folder_in_order(
        engine: Engine, names: dict[str, list[int | None]], limit: int) -> None:
    expected = {}
    for name, states in names.items():
        seen = [s for s in states if s is not None]
        if seen and seen[-1] >= 0:
            expected[name] = seen[-1]
    folder = f"/f{next(FOLDERS)}"  # one engine for every example: each gets its own folder and sets
    base = None
    for step, level in enumerate(LEVELS):
        content = {f"{folder}/{n}": ("file", s if s >= 0 else 0, s < 0)
                   for n, states in names.items() if (s := states[step]) is not None}
        base = await add_set(engine, level, base, content, day=step)
    assert base is not None
    got = await listing(await PointInTime.of(engine, base), folder, limit)
    assert [(e.path.rsplit("/", 1)[1], e.size) for e in got] == sorted(expected.items())


async def test_a_100k_entry_folder_pages_in_order(engine: Engine) -> None:
    n = 100_000
    name = "msg-{:06d}.eml".format
    full = await add_set(engine, "full", None, {f"/big/{name(i)}": ("file", 1, False) for i in range(n)}, day=0)
    later = {f"/big/{name(i)}": ("file", 2, False) for i in range(0, n, 100)}  # changed
    later |= {f"/big/{name(i)}": ("file", 0, True) for i in range(50, n, 1000)}  # deleted
    later |= {f"/big/{name(i)}x": ("file", 3, False) for i in range(0, n, 5000)}  # new, between the old names
    incr = await add_set(engine, "incremental", full, later, day=1)
    pit = await PointInTime.of(engine, incr)

    first = await pit.page("/big", "", 500)
    assert first.more and len(first.entries) == 500
    assert first.entries[0].path == f"/big/{name(0)}" and first.entries[0].size == 2
    assert first.entries[1].path == f"/big/{name(0)}x"

    expected = sorted([name(i) for i in range(n) if i % 1000 != 50] + [f"{name(i)}x" for i in range(0, n, 5000)])
    pages = [first]
    for _ in range(3):  # the next pages follow on, in order
        pages.append(await pit.page("/big", pages[-1].last, 500))
    pages.append(await pit.page("/big", expected[-1234], 500))  # a cursor far down: on from there, to the end
    while pages[-1].more:
        pages.append(await pit.page("/big", pages[-1].last, 500))
    got = [e.path[len("/big/"):] for p in pages for e in p.entries]
    assert got[:2000] == expected[:2000]
    assert got[2000:] == expected[-1233:]
    assert [e.size for e in first.entries[:3]] == [2, 3, 1]
