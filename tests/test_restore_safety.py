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
        # only writes that would leave the target are refused: '..' and the folder that is a symlink
        assert r.refused == 2 and r.status == "warning"
        assert list(outside.iterdir()) == []
        assert (restored_src / "f").read_text() == "data"
        # symlinks come back verbatim, as tar and rsync restore them (nothing is written through them)
        assert os.readlink(restored_src / "ok") == "f"
        assert os.readlink(restored_src / "up") == "../../../../../../../etc"
        assert os.readlink(restored_src / "abs") == "/etc/passwd"
        assert not (out / s.lstrip("/")).parent.joinpath("evil").exists()
        job = await engine.sets.get_restore(r.job_id)
        assert job.status == "warning" and job.errors == 2
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


async def test_symlinks_come_back_verbatim_and_nothing_is_written_through_them(tmp_path: Path) -> None:
    """l1 -> '..' and l2 -> 'l1/../..' lead out of the target once restored; they are
    restored as they were (tar and rsync do the same; f8fad7c refused them), and a
    file whose catalog path goes through one of them (a forged row, restored into
    the same folder later) is refused, never written out."""
    src, outside = tmp_path / "src", tmp_path / "outside"
    a = src / "a"
    write(a / "sub" / "f", "data")
    depth = len(str(a).strip("/").split("/"))
    os.symlink("..", a / "l1")
    os.symlink("l1/" + "/".join([".."] * depth), a / "l2")
    os.symlink("/etc/localtime", a / "abs")
    os.symlink("sub/../sub/f", a / "fine")
    outside.mkdir()
    engine = await open_engine(tmp_path / "home")
    log = run_log(engine)
    try:
        result = await run_backup(engine, BackupRequest(sources=[str(src)]), log)
        [real] = [e for e in await engine.catalog.list_dir(result.set_id, str(a / "sub")) if e.kind == "file"]
        forged = [(str(a / "l2" / name), "escaped", "file", 4, 0, 0o644, 0, 0, 0, 0, real.checksum, None,
                   real.cartridge_id, 0, 0) for name in ("", "tmp")]
        out = tmp_path / "out"
        r = await run_restore(engine, RestoreRequest(target=str(out), set_id=result.set_id), log)
        restored = out / str(a).lstrip("/")
        assert os.readlink(restored / "l1") == ".."
        assert os.readlink(restored / "l2").startswith("l1/..")
        assert os.readlink(restored / "abs") == "/etc/localtime"
        assert (restored / "fine").read_text() == "data"
        assert r.refused == 0 and r.status == "success"
        # a second restore into the same folder meets those links on the way of forged rows
        await engine.catalog.add_rows(result.set_id, [(f.rstrip("/"), *rest) for f, *rest in forged])
        r = await run_restore(engine, RestoreRequest(target=str(out), set_id=result.set_id), log)
        assert r.refused == 2 and r.status == "warning"
        assert list(outside.iterdir()) == [] and not any(p.name == "escaped" for p in tmp_path.rglob("escaped"))
    finally:
        await engine.close()


async def test_a_file_under_a_foreign_link_leading_out_is_refused(tmp_path: Path) -> None:
    """A link already in the target (not made by the restore) is never written through."""
    src, out, outside = tmp_path / "src", tmp_path / "out", tmp_path / "outside"
    write(src / "door" / "secret", "mine")
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
        assert r.refused == 1 and list(outside.iterdir()) == []
        assert os.readlink(restored / "via") == "door/secret"
    finally:
        await engine.close()


LINK_PLACES = ["/a/l0", "/a/l1", "/a/b/l2", "/a/b/l3", "/a/b/c/l4"]
link_texts = st.lists(st.sampled_from(["..", "..", "..", ".", "b", "c", "x", "l0", "l1", "l2", "l3", "l4"]),
                      min_size=1, max_size=6).map("/".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(LINK_PLACES), link_texts), min_size=1, max_size=8),
       st.lists(st.integers(0, 2), min_size=8, max_size=8), st.sampled_from(["skip", "overwrite"]))
@example([("/a/l1", "l0/.."), ("/a/l0", "..")], [0] * 8, "skip")
@example([("/a/l1", "l0/.."), ("/a/l0", "..")], [0, 1] + [0] * 6, "skip")
@example([("/a/l0", ".."), ("/a/l1", "l0/.."), ("/a/l0", "b/../..")], [0, 0, 1] + [0] * 5, "overwrite")
def test_nothing_is_made_outside_whatever_links_the_target_holds(links, batch_of, conflict) -> None:
    """Links restored verbatim in any grouping and order (several restores into one
    folder, later ones overwriting), then folders made through every link name:
    nothing is ever made outside the target, and a link made where nothing was holds
    its text (f8fad7c refused links that resolve outside)."""
    async def restore_all(top: Path) -> None:
        root = top / "root"
        (root / "a" / "b" / "c").mkdir(parents=True)
        before = sorted(p for p in top.rglob("*") if not str(p).startswith(str(root)))
        log = RunLog(None, Bus(), None)
        for batch in range(3):
            versions = [Version(path, 1, "symlink", 0, 0, 0o777, 0, 0, 0, 0, None, text, None, None, "", False)
                        for i, (path, text) in enumerate(links) if batch_of[i] == batch]
            result = RestoreResult(0, "running", "")
            worker = _Restorer(str(root), conflict, result, log, threading.Event(), "sha256")
            free = {}  # the first link of each place where nothing was: made with its text
            for v in versions:
                if not os.path.lexists(str(root) + v.path):
                    free.setdefault(v.path, v.link_target)
            try:
                worker.others(versions)
                for path, text in free.items():
                    if conflict == "skip":
                        assert os.readlink(str(root) + path) == text
                through = [Version(f"{place}/{part}/made", 1, "dir", 0, 0, 0o755, 0, 0, 0, 0, None, None, None,
                                   None, "", False) for place in LINK_PLACES for part in ("", "..", "x")]
                worker.make_dirs(through)
            finally:
                worker.close()
        assert sorted(p for p in top.rglob("*") if not str(p).startswith(str(root))) == before

    with tempfile.TemporaryDirectory() as tmp:
        top = Path(os.path.realpath(tmp))
        asyncio.run(restore_all(top))
