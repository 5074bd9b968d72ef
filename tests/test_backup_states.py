"""Stored set states (the snapshot an incremental starts from instead of reading
every catalog entry): always equal to what the catalog says of the same chain,
used only for the chain and signature scheme they were made for, and pruned to
the two a next run can start from."""

from __future__ import annotations

import json
import marshal
import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_backup_support import open_engine, run_log, write

from tapetui.engine.backup import signatures
from tapetui.engine.backup.engine import BackupRequest, run_backup
from tapetui.engine.backup.scan import Scanner


def _from_catalog(db: Path, chain: list[int]) -> signatures.State:
    conn = signatures.connect(db)
    try:
        state: signatures.State = {}
        signatures.apply_sets(conn, state, chain)
    finally:
        conn.close()
    return _filled(state)


def _loaded(db: Path, chain: list[int]) -> signatures.State:
    return _filled(signatures.load_state(db, chain))


def _filled(state: signatures.State) -> signatures.State:
    """Folders with entries (the catalog path keeps a folder whose entries were all deleted)."""
    return {folder: names for folder, names in state.items() if names}


async def _stored(engine) -> dict[int, list[int]]:  # noqa: ANN001
    return {r[0]: json.loads(r[1]) for r in await engine.store.fetchall("SELECT set_id, chain FROM set_states")}


def _backup(engine, src: Path, level: str):  # noqa: ANN001, ANN202
    return run_backup(engine, BackupRequest(sources=[str(src)], level=level), run_log(engine))


def test_signatures_are_the_same_in_every_process() -> None:
    """A stored state is read by later processes: a signature must not depend on
    the process (str hashes are randomised, None's was its address before 3.12)."""
    code = ("from tapetui.engine.backup.signatures import signature as s; "
            "print(s('file', 5, 10**18, 7, 3), s('symlink', 3, 1, 2, 3, 'caf\\u00e9/\\udcff'), s('dir', 0, 1, 2, 3))")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env,
                           ).stdout for _ in range(3)}
    assert len(runs) == 1
    here = signatures.signature
    assert runs.pop().split() == [str(here("file", 5, 10**18, 7, 3)),
                                  str(here("symlink", 3, 1, 2, 3, "caf\u00e9/\udcff")),
                                  str(here("dir", 0, 1, 2, 3))]


async def test_each_stored_state_is_the_catalog_state_of_its_chain(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for i in range(12):
        write(src / f"d{i % 3}" / f"f{i}.txt", f"file {i}\n")
    os.symlink("d0/f0.txt", src / "link")
    engine = await open_engine(tmp_path / "home")
    db = engine.home.db_path
    try:
        steps = [
            ("full", lambda: None),
            ("incremental", lambda: write(src / "d1" / "f1.txt", "changed, longer\n")),
            ("incremental", lambda: None),  # nothing changed: its state is copied
            ("incremental", lambda: (shutil.rmtree(src / "d2"), (src / "link").unlink(),
                                     os.symlink("d1/f1.txt", src / "link"))),
            ("differential", lambda: write(src / "new" / "n.txt", "n")),
            ("incremental", lambda: (src / "new" / "n.txt").unlink()),
        ]
        for level, change in steps:
            change()
            result = await _backup(engine, src, level)
            assert result.status == "success", result.message
            chain = (await _stored(engine))[result.set_id]
            assert chain[-1] == result.set_id
            assert _loaded(db, chain) == _from_catalog(db, chain)
        # the last incremental's chain: the full, the differential, then it
        assert chain == [1, 5, 6]
    finally:
        await engine.close()


async def test_a_stored_state_is_used_only_for_its_own_chain_and_scheme(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src / "a.txt", "a")
    engine = await open_engine(tmp_path / "home")
    db = engine.home.db_path
    try:
        full = await _backup(engine, src, "full")
        truth = _from_catalog(db, [full.set_id])
        fake = {"/elsewhere": {"x": 4}}
        await engine.store.execute("UPDATE set_state_parts SET data = ? WHERE set_id = ?",
                                   (zlib.compress(marshal.dumps(fake)), full.set_id))
        assert _loaded(db, [full.set_id]) == fake  # proof that the snapshot is what is read

        for column, value in (("chain", json.dumps([99, full.set_id])), ("scheme", "tuple-hash/other"),
                              ("parts", 2)):
            await engine.store.execute(f"UPDATE set_states SET {column} = ? WHERE set_id = ?", (value, full.set_id))
            assert _loaded(db, [full.set_id]) == truth, column
            await engine.store.execute(
                "UPDATE set_states SET chain = ?, scheme = ?, parts = 1 WHERE set_id = ?",
                (json.dumps([full.set_id]), signatures.SCHEME, full.set_id))

        await engine.store.execute("UPDATE set_state_parts SET data = ? WHERE set_id = ?", (b"not zlib", full.set_id))
        assert _loaded(db, [full.set_id]) == truth  # damaged: read from the catalog

        write(src / "b.txt", "b")
        inc = await _backup(engine, src, "incremental")
        assert (inc.files, inc.unchanged) == (1, 1)  # b.txt copied, a.txt found unchanged in the catalog
    finally:
        await engine.close()


async def test_only_the_newest_set_and_the_newest_full_keep_a_state(tmp_path: Path) -> None:
    src, other = tmp_path / "src", tmp_path / "other"
    write(src / "a.txt", "a")
    write(other / "o.txt", "o")
    engine = await open_engine(tmp_path / "home")
    try:
        ids = []
        for level in ("full", "incremental", "differential", "incremental"):
            write(src / f"{level}-{len(ids)}.txt", level)
            ids.append((await _backup(engine, src, level)).set_id)
            assert sorted(await _stored(engine)) == sorted({ids[0], ids[-1]})
        other_full = (await _backup(engine, other, "full")).set_id
        assert sorted(await _stored(engine)) == [ids[0], ids[-1], other_full]
        new_full = (await _backup(engine, src, "full")).set_id
        assert sorted(await _stored(engine)) == [other_full, new_full]
    finally:
        await engine.close()


_names = st.sampled_from(["a", "b", "c.txt", "d/e", "d/f", "g/h/i"])
_changes = st.lists(st.tuples(st.sampled_from(["write", "delete", "link", "touch"]), _names), max_size=4)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.sampled_from(["full", "incremental", "differential"]), _changes),
                      min_size=1, max_size=5),
       shared=st.booleans())
async def test_any_chain_of_changes_leaves_stored_states_equal_to_the_catalog(  # noqa: ANN001
        tmp_path_factory, monkeypatch, steps, shared: bool) -> None:
    """`shared`: the scans hand part of every tree to their helper process."""
    monkeypatch.setattr(Scanner, "split_after", 0 if shared else Scanner.split_after)
    root = tmp_path_factory.mktemp("chain")
    src = root / "src"
    src.mkdir()
    engine = await open_engine(root / "home")
    db = engine.home.db_path
    try:
        for n, (level, changes) in enumerate(steps):
            for what, name in changes:
                p = src / name
                if what == "delete":
                    if p.is_symlink() or p.is_file():
                        p.unlink()
                elif p.is_dir() and not p.is_symlink():
                    continue
                elif what == "link":
                    if p.exists() or p.is_symlink():
                        p.unlink()
                    p.parent.mkdir(parents=True, exist_ok=True)
                    os.symlink(f"target-{n}", p)
                elif what == "touch" and p.is_file() and not p.is_symlink():
                    os.utime(p, ns=(0, 10**18 + n))
                elif what == "write":
                    if p.is_symlink():
                        p.unlink()
                    write(p, f"{name} at step {n}")
            result = await _backup(engine, src, level)
            assert result.status == "success", result.message
            stored = await _stored(engine)
            for set_id, chain in stored.items():
                assert _loaded(db, chain) == _from_catalog(db, chain)
            assert result.set_id in stored
    finally:
        await engine.close()
