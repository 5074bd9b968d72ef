"""Catalog benchmark: insert rate and the latency of the three designed lookups.

    python bench/catalog.py                # 1M and 10M rows
    python bench/catalog.py --rows 1000000 # one size

The data set looks like a file server: sets of ~1M files each, spread over
folders of ~100 files, names repeating across sets (later sets re-list the same
paths, as incrementals and fulls do). Peer: the same rows inserted with plain
sqlite3 `executemany` into a rowid table with no index, the floor of what SQLite
can do from Python -- the ratio shows what our schema and indexes cost.

`--breakdown` also measures, on 500k rows each: the backup writer's path
(`Catalog.add_rows`, plain tuples), and prebuilt 16-column tuples through bare
`executemany` into (a) the real `entries` table as the schema has it, (b) the
same with foreign keys off, (c) also without the `entries_path` index, (d) a
16-column rowid table with no key at all: the ceiling for Python's sqlite3 on
this machine, whatever the insert code does. (foreign_keys stay ON in tapetui;
turning them off here only shows what they cost.)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tapetui.engine.store import open_store  # noqa: E402
from tapetui.engine.store.catalog import Catalog  # noqa: E402
from tapetui.engine.store.models import Entry  # noqa: E402
from tapetui.engine.store.sets import Sets  # noqa: E402

FILES_PER_SET = 1_000_000
PER_DIR = 100
BATCH = 50_000
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def path_of(i: int) -> str:
    d = i // PER_DIR
    return f"/srv/data/p{d // 1000:03d}/d{d % 1000:03d}/file-{i % PER_DIR:03d}.dat"


def entries(set_id: int, start: int, count: int) -> list[Entry]:
    return [
        Entry(set_id, path_of(i), "file", size=i * 7 % 1_000_000, mtime_ns=i, mode=0o100644,
              checksum=i.to_bytes(32, "big"), cartridge_id=None, position=i)
        for i in range(start, start + count)
    ]


async def fill(cat: Catalog, sets: Sets, rows: int) -> tuple[float, list[int]]:
    set_ids, spent = [], 0.0
    done = 0
    day = 0
    while done < rows:
        sid = await sets.create(backup_run_id=None, source_key="bench", name="", level="full",
                                base_set_id=None, hash_algo="sha256", started_at=T0 + timedelta(days=day))
        n = min(FILES_PER_SET, rows - done)
        for start in range(0, n, BATCH):
            batch = entries(sid, start, min(BATCH, n - start))
            t = time.perf_counter()
            await cat.add(batch)
            spent += time.perf_counter() - t
        await sets.complete(sid, files=n, bytes_=0, finished_at=T0 + timedelta(days=day, hours=1))
        set_ids.append(sid)
        done += n
        day += 1
    return spent, set_ids


def peer_insert_rate(rows: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        conn = sqlite3.connect(Path(d) / "peer.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE t(set_id, path, size, mtime, mode, checksum, position)")
        n = min(rows, 2_000_000)
        t = time.perf_counter()
        for start in range(0, n, BATCH):
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO t VALUES (?,?,?,?,?,?,?)",
                             [(1, path_of(i), i, i, 0o100644, i.to_bytes(32, "big"), i)
                              for i in range(start, min(start + BATCH, n))])
            conn.execute("COMMIT")
        spent = time.perf_counter() - t
        conn.close()
    return n / spent


async def timed(fn, repeats: int = 50) -> tuple[float, float]:
    samples = []
    for k in range(repeats):
        t = time.perf_counter()
        await fn(k)
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


async def run(rows: int) -> None:
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as d:
        store = await open_store(Path(d) / "catalog.db")
        cat, sets = Catalog(store), Sets(store)
        spent, set_ids = await fill(cat, sets, rows)
        await store.conn.execute("PRAGMA optimize")
        rate = rows / spent
        peer = peer_insert_rate(rows)
        last = set_ids[-1]
        span = min(rows, FILES_PER_SET)

        async def list_dir(k):
            folder = path_of((k * 7919 % span) // PER_DIR * PER_DIR).rsplit("/", 1)[0]
            got = await cat.list_dir(last, folder)
            assert len(got) == PER_DIR, (folder, len(got))

        async def versions(k):
            got = await cat.versions(path_of(k * 104729 % span))
            assert len(got) == len(set_ids)

        async def newest_at(k):
            at = T0 + timedelta(days=k % len(set_ids), hours=2)
            got = await cat.newest_at(path_of(k * 1299709 % span), at)
            assert got is not None and got.set_id == set_ids[k % len(set_ids)]

        print(f"rows: {rows:,}  sets: {len(set_ids)}  db: {os.path.getsize(Path(d) / 'catalog.db') / 1e6:,.0f} MB")
        print(f"  insert: {rate:,.0f} rows/s  (peer: plain sqlite3 executemany, no index: {peer:,.0f} rows/s; "
              f"ratio {rate / peer:.2f})")
        for name, fn in (("list a folder of a set", list_dir), ("find a path across sets", versions),
                         ("newest version at a time", newest_at)):
            med, p95 = await timed(fn)
            print(f"  {name:<26} median {med:6.2f} ms   p95 {p95:6.2f} ms")

        async def search(k):  # `tapetui find`: a name glob across every set (a full scan)
            got = await cat.find(f"file-{k % PER_DIR:03d}.*", limit=1000)
            assert len(got) == 1000

        med, p95 = await timed(search, repeats=5)
        print(f"  {'search a name glob (find)':<26} median {med:6.2f} ms   p95 {p95:6.2f} ms  (first 1000 matches)")
        await store.close()


def rows16(n: int) -> list[tuple]:
    """Prebuilt entries rows (set 1, 100 names per folder), as executemany takes them."""
    return [(1, i // PER_DIR + 1, f"file-{i % PER_DIR:03d}.dat", "file", i * 7 % 1_000_000, i, 0o100644, 0, 0,
             i, i, i.to_bytes(32, "big"), None, None, i, 0) for i in range(n)]


def bare_rate(db: Path, rows: list[tuple], *, foreign_keys: bool, index: bool, schema: bool = True) -> float:
    from tapetui.engine.store.db import PRAGMAS
    from tapetui.engine.store.schema import MIGRATIONS

    conn = sqlite3.connect(db, isolation_level=None)
    for pragma in PRAGMAS:
        conn.execute(pragma)
    if schema:
        for script in MIGRATIONS:
            conn.executescript(script)
        conn.execute("INSERT INTO backup_sets(id, source_key, name, level, status, started_at, hash_algo) "
                     "VALUES (1, 'bench', '', 'full', 'running', '2026-01-01', 'sha256')")
        conn.executemany("INSERT INTO dirs(id, path) VALUES (?, ?)",
                         [(d + 1, f"/d{d}") for d in range(len(rows) // PER_DIR + 1)])
        if not index:
            conn.execute("DROP INDEX entries_path")
        conn.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        sql = f"INSERT OR REPLACE INTO entries VALUES ({','.join('?' * 16)})"
    else:
        conn.execute("CREATE TABLE t(a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p)")
        sql = f"INSERT INTO t VALUES ({','.join('?' * 16)})"
    t = time.perf_counter()
    for start in range(0, len(rows), BATCH):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, rows[start : start + BATCH])
        conn.execute("COMMIT")
    spent = time.perf_counter() - t
    conn.close()
    return len(rows) / spent


async def add_rows_rate(db: Path, n: int) -> float:
    store = await open_store(db)
    cat, sets = Catalog(store), Sets(store)
    sid = await sets.create(backup_run_id=None, source_key="bench", name="", level="full", base_set_id=None,
                            hash_algo="sha256", started_at=T0)
    spent = 0.0
    for start in range(0, n, BATCH):
        rows = []
        for i in range(start, min(start + BATCH, n)):
            folder, _, name = path_of(i).rpartition("/")
            rows.append((folder, name, "file", i * 7 % 1_000_000, i, 0o100644, 0, 0, i, i,
                         i.to_bytes(32, "big"), None, None, i, 0))
        t = time.perf_counter()
        await cat.add_rows(sid, rows)
        spent += time.perf_counter() - t
    await store.close()
    return n / spent


def breakdown(n: int = 500_000) -> None:
    print(f"insert breakdown, {n:,} rows each (load {' '.join(f'{x:.2f}' for x in os.getloadavg())}):")
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as d:
        print(f"  Catalog.add_rows (the backup writer's path)    {asyncio.run(add_rows_rate(Path(d) / 'a.db', n)):>9,.0f} rows/s")
        rows = rows16(n)
        for label, kw in (("executemany, entries as the schema has it", dict(foreign_keys=True, index=True)),
                          ("  ... with foreign_keys OFF", dict(foreign_keys=False, index=True)),
                          ("  ... and without the entries_path index", dict(foreign_keys=False, index=False)),
                          ("executemany, 16 columns, rowid, no key", dict(foreign_keys=False, index=False, schema=False))):
            print(f"  {label:<47}{bare_rate(Path(d) / f'{len(label)}.db', rows, **kw):>9,.0f} rows/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, action="append", help="catalog size (repeatable)")
    ap.add_argument("--breakdown", action="store_true", help="also show what the insert rate is made of")
    args = ap.parse_args()
    if args.breakdown:
        breakdown()
    for rows in args.rows or [1_000_000, 10_000_000]:
        asyncio.run(run(rows))


if __name__ == "__main__":
    main()
