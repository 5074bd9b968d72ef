"""Round trips over a tree that changes in every way, through every level, and
restores at every point in time compared byte for byte and by metadata with
copies of the tree taken at those times. Real files, real sim cartridges that
fill up (so sets span two cartridges), real SQLite."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from test_backup_support import MB, assert_same_tree, open_engine, run_log, snapshot, write

from tapetui.engine.backup.engine import BackupRequest, run_backup
from tapetui.engine.backup.restore import RestoreRequest, run_restore


def initial_tree(src: Path) -> None:
    write(src / "docs" / "a.txt", "alpha\n")
    write(src / "docs" / "b.txt", "bravo\n")
    write(src / "docs" / "deep" / "er" / "c.bin", os.urandom(70_000))
    write(src / "ünïcødé" / "ファイル.txt", "unicode\n")
    write(src / "odd name with spaces & 'quotes'", "odd\n")
    write(src / "-leading-dash", "dash\n")
    write(src / "tab\tand%percent", "tab\n")
    write(src / "private.key", "secret\n", mode=0o600)
    write(src / "tool.sh", "#!/bin/sh\n", mode=0o755)
    write(src / "big1", os.urandom(3 * MB))
    write(src / "big2", os.urandom(3 * MB // 2))
    (src / "empty").mkdir()
    os.symlink("docs/a.txt", src / "link-to-a")
    os.symlink("nowhere/at/all", src / "dangling")
    os.utime(src / "docs" / "a.txt", ns=(1_600_000_000_123_456_789,) * 2)


def change_1(src: Path) -> None:  # every kind of change
    write(src / "docs" / "new.txt", "added\n")
    write(src / "docs" / "b.txt", "BRAVO\n")  # same size, new content
    (src / "-leading-dash").unlink()
    os.rename(src / "docs" / "deep" / "er" / "c.bin", src / "docs" / "c-renamed.bin")
    (src / "tool.sh").chmod(0o700)
    (src / "empty2" / "nested-empty").mkdir(parents=True)
    os.symlink("../docs/new.txt", src / "empty" / "link-new")
    (src / "ünïcødé" / "ファイル.txt").write_text("unicode v2, longer\n")


def change_2(src: Path) -> None:
    shutil.rmtree(src / "docs" / "deep")
    write(src / "docs" / "a.txt", "alpha again\n")
    (src / "link-to-a").unlink()
    os.symlink("docs/b.txt", src / "link-to-a")  # a symlink that changes target
    (src / "empty2" / "nested-empty").chmod(0o750)


def change_3(src: Path) -> None:  # enough new data to fill the cartridge mid-file
    write(src / "big3", os.urandom(4 * MB))
    (src / "odd name with spaces & 'quotes'").unlink()


def change_5(src: Path) -> None:
    (src / "big1").unlink()
    write(src / "docs" / "late.txt", "late\n")


STEPS = [
    ("full", None),
    ("incremental", change_1),
    ("differential", change_2),
    ("incremental", change_3),
    ("incremental", None),  # nothing changed
    ("differential", change_5),
    ("full", None),
]


async def test_every_point_in_time_restores_exactly(tmp_path: Path) -> None:
    src = tmp_path / "src"
    initial_tree(src)
    engine = await open_engine(tmp_path / "home", capacity=8 * MB)
    log = run_log(engine)
    results, snaps = [], []
    try:
        for i, (level, change) in enumerate(STEPS):
            if change is not None:
                change(src)
            result = await run_backup(engine, BackupRequest(sources=[str(src)], level=level), log)
            assert result.status == "success", result.message
            assert result.level == level
            results.append(result)
            snaps.append(snapshot(src, tmp_path / f"snap{i}"))
        # a no-change incremental writes nothing and needs no cartridge
        assert results[4].files == 0 and results[4].cartridges == []
        # the backup of change_3 filled a cartridge in the middle of big3 and went on on the next
        assert len(results[3].cartridges) == 2, results[3]
        assert results[2].base_set_id == results[0].set_id  # a differential is based on the full
        assert results[3].base_set_id == results[2].set_id  # an incremental on the last backup
        for i, result in enumerate(results):
            out = tmp_path / f"restore{i}"
            restored = await run_restore(engine, RestoreRequest(target=str(out), set_id=result.set_id), log)
            assert restored.status == "success", restored.errors
            assert_same_tree(snaps[i], out / str(src).lstrip("/"))
        # "as of time T": the time the differential of step 2 finished -> its state
        set2 = await engine.sets.get(results[2].set_id)
        out = tmp_path / "restore-at"
        restored = await run_restore(engine, RestoreRequest(target=str(out), at=set2.finished_at), log)
        assert restored.sets == [results[0].set_id, results[2].set_id]
        assert_same_tree(snaps[2], out / str(src).lstrip("/"))
    finally:
        await engine.close()


async def test_span_rewrites_the_interrupted_file_whole(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src / "one", os.urandom(2 * MB))
    write(src / "two", os.urandom(2 * MB))
    engine = await open_engine(tmp_path / "home", capacity=3 * MB)
    log = run_log(engine)
    try:
        result = await run_backup(engine, BackupRequest(sources=[str(src)], level="full"), log)
        assert result.status == "success" and len(result.cartridges) == 2
        entries = {e.path: e for e in await engine.catalog.list_dir(result.set_id, str(src))}
        assert entries[str(src / "one")].cartridge == result.cartridges[0]
        assert entries[str(src / "two")].cartridge == result.cartridges[1]  # not the partial copy
        assert all(e.position is not None for e in entries.values())
        out = tmp_path / "out"
        restored = await run_restore(engine, RestoreRequest(target=str(out)), log)
        assert restored.status == "success"
        assert_same_tree(src, out / str(src).lstrip("/"))
    finally:
        await engine.close()


async def test_a_file_larger_than_a_cartridge_fails_the_run_and_leaves_the_set_incomplete(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src / "huge", os.urandom(3 * MB))
    engine = await open_engine(tmp_path / "home", capacity=2 * MB)
    try:
        result = await run_backup(engine, BackupRequest(sources=[str(src)], level="full"), run_log(engine))
        assert result.status == "failed" and "larger than a cartridge" in result.message
        assert (await engine.sets.get(result.set_id)).status == "incomplete"
        assert (await engine.sets.get_run(result.backup_run_id)).status == "failed"
    finally:
        await engine.close()


async def test_first_incremental_becomes_full_and_says_so(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src / "f", "x")
    engine = await open_engine(tmp_path / "home")
    lines: list[str] = []
    from tapetui.engine.events import LogLine
    engine.bus.subscribe(lambda e: lines.append(e.text), LogLine)
    try:
        result = await run_backup(engine, BackupRequest(sources=[str(src)], level="differential"), run_log(engine))
        assert result.level == "full" and result.requested_level == "differential"
        await engine.bus.drain()
        assert any("no complete full backup" in line and "full backup instead" in line for line in lines)
    finally:
        await engine.close()


async def test_patterns_specials_and_unreadable_files(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src / "keep.txt", "k")
    write(src / "skip.tmp", "t")
    write(src / "cache" / "blob", "c")
    os.mkfifo(src / "fifo")
    write(src / "locked", "l", mode=0o000)
    engine = await open_engine(tmp_path / "home")
    try:
        result = await run_backup(engine, BackupRequest(sources=[str(src)], excludes=["*.tmp", str(src / "cache")]),
                                  run_log(engine))
        names = {e.path.rsplit("/", 1)[1] for e in await engine.catalog.list_dir(result.set_id, str(src))}
        assert "skip.tmp" not in names and "cache" not in names
        assert "keep.txt" in names and "fifo" in names  # recorded, as rsync -a does
        assert result.special == 1
        if os.geteuid() != 0:  # root reads mode-000 files
            assert "locked" not in names
            assert result.unreadable == 1 and result.status == "warning"
    finally:
        await engine.close()
