"""Verify finds damage on tape; catalogs rebuild from cartridges alone; a cancelled
backup stops cleanly; progress is reported."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from pathlib import Path

import pytest
from test_backup_support import MB, assert_same_tree, open_engine, run_log, write

from tapetui.engine.backup.catalog_copy import import_cartridge
from tapetui.engine.backup.engine import BackupRequest, run_backup
from tapetui.engine.backup.restore import RestoreRequest, run_restore
from tapetui.engine.backup.verify import verify_set
from tapetui.engine.events import Progress
from tapetui.engine.tape.sim import SimConfig


async def test_verify_finds_a_flipped_byte_and_restore_refuses_it(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src / "good", os.urandom(50_000))
    write(src / "bad", os.urandom(50_000))
    engine = await open_engine(tmp_path / "home")
    log = run_log(engine)
    try:
        result = await run_backup(engine, BackupRequest(sources=[str(src)], verify=True), log)
        assert result.verify_ok is True
        [barcode] = result.cartridges
        on_tape = (engine.home.sim_root / "cartridges" / barcode / "volume" / f"tapetui/set-{result.set_id}"
                   / str(src / "bad").lstrip("/"))
        data = bytearray(on_tape.read_bytes())
        data[1234] ^= 0x01
        on_tape.write_bytes(bytes(data))
        checked = await verify_set(engine, result.set_id, log)
        assert not checked.ok and checked.files == 2
        assert len(checked.problems) == 1 and str(src / "bad") in checked.problems[0]
        assert (await engine.sets.get(result.set_id)).verify_ok is False
        r = await run_restore(engine, RestoreRequest(target=str(tmp_path / "out")), log)
        assert r.status == "failed" and r.files == 1
        assert len(r.errors) == 1 and str(src / "bad") in r.errors[0] and "hash mismatch" in r.errors[0]
        assert not (tmp_path / "out" / str(src / "bad").lstrip("/")).exists()
    finally:
        await engine.close()


async def test_catalog_rebuilt_from_the_cartridges_alone(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src / "a", os.urandom(1 * MB))
    write(src / "b" / "c", "c")
    os.symlink("a", src / "link")
    engine = await open_engine(tmp_path / "home-a", capacity=4 * MB)
    log = run_log(engine)
    try:
        full = await run_backup(engine, BackupRequest(sources=[str(src)], level="full"), log)
        write(src / "b" / "c", "changed")
        write(src / "d", os.urandom(3 * MB))  # fills the first cartridge: the set spans
        (src / "link").unlink()
        incr = await run_backup(engine, BackupRequest(sources=[str(src)], level="incremental"), log)
        assert len(incr.cartridges) == 2
        [xattr_path] = [e.path for e in await engine.catalog.list_dir(full.set_id, str(src)) if e.path.endswith("/a")]
    finally:
        await engine.close()
    # a new host: an empty catalog and the same library of cartridges
    other = tmp_path / "home-b"
    other.mkdir()
    shutil.copytree(tmp_path / "home-a" / "library", other / "library")
    engine = await open_engine(other, capacity=4 * MB)
    log = run_log(engine)
    try:
        status = await engine.driver.status()
        assert status.loaded == incr.cartridges[-1]
        result = await import_cartridge(engine, log)
        assert len(result.added) == 1 and result.without_copy == []  # the incremental (it ends here)
        await engine.driver.unload()
        await engine.driver.load(full.cartridges[0])
        result = await import_cartridge(engine, log)
        assert len(result.added) == 1 and result.without_copy == []  # the full; set-2 here is now known
        again = await import_cartridge(engine, log)
        assert again.added == [] and len(again.known) == 1
        volume = await engine.driver.mount()  # each file's hash is on the tape too (LTFS convention)
        [entry] = await engine.catalog.versions(xattr_path)
        on_tape = volume.get_xattr(f"tapetui/set-{full.set_id}{xattr_path}", "ltfs.hash.sha256")
        assert on_tape == entry.checksum.hex().encode()
        await engine.driver.unmount()
        sets = await engine.sets.all()
        assert [s.level for s in sets] == ["full", "incremental"]  # ids in import order
        newest = max(sets, key=lambda s: s.started_at)
        out = tmp_path / "out"
        r = await run_restore(engine, RestoreRequest(target=str(out), set_id=newest.id), log)
        assert r.status == "success", r.errors
        assert_same_tree(src, out / str(src).lstrip("/"))
    finally:
        await engine.close()


async def test_cancel_stops_threads_and_leaves_the_set_incomplete(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for i in range(6):
        write(src / f"f{i}", os.urandom(1 * MB))
    # room for the copies the cancelled run leaves behind (up to a few 1 MiB chunks) and a whole run
    engine = await open_engine(tmp_path / "home", capacity=16 * MB)
    engine.config.sections["sim"] = SimConfig(capacity_bytes=50 * MB, throughput_mb_s=2.0)
    engine.driver.cfg = engine.config.sim  # a slow drive, so the run is cancelled mid-way
    log = run_log(engine)
    writing = asyncio.Event()
    events: list[Progress] = []

    def on_progress(e: Progress) -> None:
        events.append(e)
        if e.phase == "writing" and e.bytes_done > 0:
            writing.set()

    engine.bus.subscribe(on_progress, Progress)
    threads_before = threading.active_count()
    try:
        task = asyncio.create_task(run_backup(engine, BackupRequest(sources=[str(src)]), log))
        await asyncio.wait_for(writing.wait(), 20)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 20)
        [s] = await engine.sets.all()
        assert s.status == "incomplete"
        assert (await engine.sets.get_run(s.backup_run_id)).status == "cancelled"
        for _ in range(100):
            if threading.active_count() <= threads_before + 1:  # the to_thread pool may keep one
                break
            await asyncio.sleep(0.05)
        assert not [t for t in threading.enumerate() if t.name.startswith("backup-reader")]
        w = events[-1]
        assert w.files_total == 6 and w.bytes_total == 6 * MB and w.bytes_done < w.bytes_total
        engine.driver.cfg = SimConfig(capacity_bytes=50 * MB)
        again = await run_backup(engine, BackupRequest(sources=[str(src)]), log)
        assert again.status == "success" and again.files == 6
    finally:
        await engine.close()
