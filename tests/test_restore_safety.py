"""Restores never write outside their target, and never overwrite silently."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_backup_support import open_engine, run_log, write

from tapetui.engine.backup.engine import BackupRequest, run_backup
from tapetui.engine.backup.errors import BackupInputError
from tapetui.engine.backup.restore import RestoreRequest, run_restore


async def test_path_escapes_are_refused_and_logged(tmp_path: Path) -> None:
    src, out, outside = tmp_path / "src", tmp_path / "out", tmp_path / "outside"
    write(src / "f", "data")
    os.symlink("f", src / "ok")
    outside.mkdir()
    engine = await open_engine(tmp_path / "home")
    log = run_log(engine)
    try:
        result = await run_backup(engine, BackupRequest(sources=[str(src)]), log)
        [real] = [e for e in await engine.catalog.list_dir(result.set_id, str(src)) if e.kind == "file"]
        s = str(src)
        evil = [  # rows a damaged or hostile catalog could hold
            (s + "/..", "evil", "file", 4, 0, 0o644, 0, 0, 0, 0, real.checksum, None, real.cartridge_id, 0, 0),
            (s, "up", "symlink", 0, 0, 0o777, 0, 0, 0, 0, None, "../../../../../../../etc", None, None, 0),
            (s, "abs", "symlink", 0, 0, 0o777, 0, 0, 0, 0, None, "/etc/passwd", None, None, 0),
            (s + "/trap", "x", "file", 4, 0, 0o644, 0, 0, 0, 0, real.checksum, None, real.cartridge_id, 0, 0),
        ]
        await engine.catalog.add_rows(result.set_id, evil)
        restored_src = out / s.lstrip("/")
        restored_src.mkdir(parents=True)
        os.symlink(outside, restored_src / "trap")  # a folder on the way that leads out
        r = await run_restore(engine, RestoreRequest(target=str(out), set_id=result.set_id), log)
        assert r.refused == 4 and r.status == "warning"
        assert list(outside.iterdir()) == []
        assert (restored_src / "f").read_text() == "data"
        assert os.readlink(restored_src / "ok") == "f"
        assert not (restored_src / "up").exists() and not os.path.lexists(restored_src / "abs")
        assert not (out / s.lstrip("/")).parent.joinpath("evil").exists()
        job = await engine.sets.get_restore(r.job_id)
        assert job.status == "warning" and job.errors == 4
    finally:
        await engine.close()


async def test_conflicts_skip_overwrite_rename(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    write(src / "a.txt", "original")
    engine = await open_engine(tmp_path / "home")
    log = run_log(engine)
    try:
        await run_backup(engine, BackupRequest(sources=[str(src)]), log)
        restored = out / str(src).lstrip("/") / "a.txt"
        await run_restore(engine, RestoreRequest(target=str(out)), log)
        restored.write_text("edited locally")
        r = await run_restore(engine, RestoreRequest(target=str(out), conflict="skip"), log)
        assert r.skipped == 1 and restored.read_text() == "edited locally" and r.status == "success"
        r = await run_restore(engine, RestoreRequest(target=str(out), conflict="rename"), log)
        assert r.renamed == 1 and restored.read_text() == "edited locally"
        assert restored.with_name("a.txt.restored").read_text() == "original"
        r = await run_restore(engine, RestoreRequest(target=str(out), conflict="overwrite",
                                                     paths=[str(src / "a.txt")]), log)
        assert r.files == 1 and restored.read_text() == "original"
    finally:
        await engine.close()


async def test_selecting_a_folder_or_file_restores_only_that(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    write(src / "keep" / "one", "1")
    write(src / "keep" / "sub" / "two", "2")
    write(src / "other", "o")
    engine = await open_engine(tmp_path / "home")
    log = run_log(engine)
    try:
        await run_backup(engine, BackupRequest(sources=[str(src)]), log)
        await run_restore(engine, RestoreRequest(target=str(out), paths=[str(src / "keep")]), log)
        base = out / str(src).lstrip("/")
        assert (base / "keep" / "sub" / "two").read_text() == "2"
        assert not (base / "other").exists()
        with pytest.raises(BackupInputError, match="nothing under"):
            await run_restore(engine, RestoreRequest(target=str(out), paths=[str(src / "nope")]), log)
        with pytest.raises(BackupInputError, match="absolute"):
            await run_restore(engine, RestoreRequest(target=str(out), paths=["relative/path"]), log)
    finally:
        await engine.close()
