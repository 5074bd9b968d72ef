"""Restores never write outside their target, and never overwrite silently."""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_backup_support import open_engine, run_log, write

from tapetui.engine.backup.engine import BackupRequest, run_backup
from tapetui.engine.backup.errors import BackupInputError
from tapetui.engine.backup.restore import RestoreRequest, RestoreResult, _Restorer, run_restore
from tapetui.engine.backup.state import Version
from tapetui.engine.bus import Bus
from tapetui.engine.runlog import RunLog


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
    write(src / "same.txt", "unchanged")
    engine = await open_engine(tmp_path / "home")
    log = run_log(engine)
    try:
        await run_backup(engine, BackupRequest(sources=[str(src)]), log)
        restored = out / str(src).lstrip("/") / "a.txt"
        await run_restore(engine, RestoreRequest(target=str(out)), log)
        restored.write_text("edited locally")
        r = await run_restore(engine, RestoreRequest(target=str(out), conflict="skip"), log)
        assert r.skipped == 2 and restored.read_text() == "edited locally" and r.status == "success"
        r = await run_restore(engine, RestoreRequest(target=str(out), conflict="rename"), log)
        assert r.renamed == 1 and restored.read_text() == "edited locally"
        assert restored.with_name("a.txt.restored").read_text() == "original"
        # a file already holding exactly the backed-up bytes gets no renamed twin
        assert r.identical == 1 and not restored.with_name("same.txt.restored").exists()
        assert "1 already there, identical" in r.message
        r = await run_restore(engine, RestoreRequest(target=str(out), conflict="rename"), log)
        assert (r.renamed, r.identical) == (0, 2)  # a.txt.restored already holds it: no .restored.2
        assert not restored.with_name("a.txt.restored.2").exists()
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


async def test_a_chain_of_symlinks_cannot_lead_out_in_any_order(tmp_path: Path) -> None:
    """l1 -> '..' is harmless alone; l2 -> 'l1/../..' looks inside when read as text
    but leads out through l1. Refused whether l1 is restored before, with or
    after l2, and whether l1 is already on disk; plain links stay."""
    src, outside = tmp_path / "src", tmp_path / "outside"
    a = src / "a"
    write(a / "sub" / "f", "data")
    depth = len(str(a).strip("/").split("/"))  # folders from the target down to a
    os.symlink("..", a / "l1")
    os.symlink("l1/" + "/".join([".."] * depth), a / "l2")  # lexically one folder below the target
    os.symlink("sub/../sub/f", a / "fine")  # '..' after a real folder is exact
    os.symlink("../a/sub", a / "up")
    outside.mkdir()
    engine = await open_engine(tmp_path / "home")
    log = run_log(engine)
    try:
        result = await run_backup(engine, BackupRequest(sources=[str(src)]), log)
        for n, selections in enumerate([[], [str(a / "l2")], [str(a / "l1")]]):
            out = tmp_path / f"out{n}"
            for paths in ([selections] if not selections else [selections, []]):
                r = await run_restore(engine, RestoreRequest(target=str(out), set_id=result.set_id, paths=paths), log)
                restored = out / str(a).lstrip("/")
                if paths != [str(a / "l1")]:
                    assert r.refused == 1 and r.status == "warning"
            assert not os.path.lexists(restored / "l2")
            assert os.readlink(restored / "l1") == ".."
            assert (restored / "fine").read_text() == "data"
            assert os.path.realpath(restored / "up") == str((restored / "sub").resolve())
        job = await engine.sets.get_restore(r.job_id)
        assert job.status == "warning" and job.errors == 1
    finally:
        await engine.close()


async def test_a_symlink_through_a_foreign_link_leading_out_is_refused(tmp_path: Path) -> None:
    """A link already in the target folder that leads out (not made by the restore)
    cannot be used as a way out by a restored link."""
    src, out, outside = tmp_path / "src", tmp_path / "out", tmp_path / "outside"
    os.makedirs(src)
    os.symlink("door/secret", src / "via")
    outside.mkdir()
    engine = await open_engine(tmp_path / "home")
    log = run_log(engine)
    try:
        result = await run_backup(engine, BackupRequest(sources=[str(src)]), log)
        restored = out / str(src).lstrip("/")
        restored.mkdir(parents=True)
        os.symlink(outside, restored / "door")
        r = await run_restore(engine, RestoreRequest(target=str(out), set_id=result.set_id), log)
        assert r.refused == 1 and not os.path.lexists(restored / "via")
    finally:
        await engine.close()


LINK_PLACES = ["/a/l0", "/a/l1", "/a/b/l2", "/a/b/l3", "/a/b/c/l4"]
link_texts = st.lists(st.sampled_from(["..", "..", "..", ".", "b", "c", "x", "l0", "l1", "l2", "l3", "l4"]),
                      min_size=1, max_size=6).map("/".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(LINK_PLACES), link_texts), min_size=1, max_size=8),
       st.lists(st.integers(0, 2), min_size=8, max_size=8), st.sampled_from(["skip", "overwrite"]))
@example([("/a/l1", "l0/.."), ("/a/l0", "..")], [0] * 8, "skip")  # the way out is made after the link using it
@example([("/a/l1", "l0/.."), ("/a/l0", "..")], [0, 1] + [0] * 6, "skip")  # ... by a later restore
@example([("/a/l0", ".."), ("/a/l1", "l0/.."), ("/a/l0", "b/../..")], [0, 0, 1] + [0] * 5, "overwrite")
def test_no_restored_symlink_resolves_outside_whatever_the_order(links, batch_of, conflict) -> None:
    """Links restored in any grouping and order (several restores into one folder,
    later ones overwriting) never resolve out of the target; links with no '..'
    are always kept."""
    async def restore_all(top: Path) -> list[str]:
        root = top / "root"
        (root / "a" / "b" / "c").mkdir(parents=True)
        log = RunLog(None, Bus(), None)
        kept = []
        for batch in range(3):
            versions = [Version(path, 1, "symlink", 0, 0, 0o777, 0, 0, 0, 0, None, text, None, None, "", False)
                        for i, (path, text) in enumerate(links) if batch_of[i] == batch]
            result = RestoreResult(0, "running", "")
            _Restorer(str(root), conflict, result, log, threading.Event(), "sha256").symlinks(versions)
            for dirpath, dirnames, filenames in os.walk(root):
                for name in dirnames + filenames:
                    real = os.path.realpath(os.path.join(dirpath, name))
                    assert real == str(root) or real.startswith(str(root) + "/"), (name, os.readlink(
                        os.path.join(dirpath, name)) if os.path.islink(os.path.join(dirpath, name)) else "")
            kept += [v.path for v in versions if ".." not in v.link_target.split("/")]
        return [p for p in kept if not os.path.lexists(str(root) + p)]

    with tempfile.TemporaryDirectory() as tmp:
        top = Path(os.path.realpath(tmp))
        assert asyncio.run(restore_all(top)) == []
