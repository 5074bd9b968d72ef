"""What a no-change, a one-change and a re-creation incremental copy and mark
deleted: the scan's inlined file signature and the one-pass signature load must
agree with each other across a chain (deleted-markers dropped, kinds kept)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from test_backup_support import open_engine, run_log, write

from tapetui.engine.backup.engine import BackupRequest, run_backup
from tapetui.engine.backup.scan import Scanner


async def _entries(engine, set_id: int) -> dict[str, tuple[str, int]]:  # noqa: ANN001
    rows = await engine.store.fetchall(
        "SELECT d.path, e.name, e.kind, e.deleted FROM entries e JOIN dirs d ON d.id = e.dir_id WHERE e.set_id = ?",
        (set_id,))
    return {(folder.rstrip("/") + "/" + name): (kind, deleted) for folder, name, kind, deleted in rows}


@pytest.mark.parametrize("shared", [False, True], ids=["one-walk", "helper-walks-part"])
async def test_incrementals_copy_only_changes_and_mark_deletions_with_their_kind(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared: bool) -> None:
    if shared:
        monkeypatch.setattr(Scanner, "split_after", 0)
    src = tmp_path / "src"
    for i in range(30):
        write(src / f"d{i % 3}" / f"f{i}.txt", f"file {i}\n")
    write(src / "gone" / "inside.txt", "x")
    os.symlink("d0/f0.txt", src / "link")
    engine = await open_engine(tmp_path / "home")
    backup = lambda: run_backup(engine, BackupRequest(sources=[str(src)], level="incremental"), run_log(engine))  # noqa: E731
    try:
        full = await backup()
        assert full.level == "full" and full.files == 31

        same = await backup()
        assert (same.files, same.deleted, same.unchanged) == (0, 0, 31 + 5 + 1)  # files, folders (root too), link
        assert await _entries(engine, same.set_id) == {}

        write(src / "d1" / "f1.txt", "changed, longer\n")
        shutil.rmtree(src / "gone")
        (src / "link").unlink()
        one = await backup()
        assert one.files == 1 and one.deleted == 3
        found = await _entries(engine, one.set_id)
        assert found[f"{src}/d1/f1.txt"] == ("file", 0)
        assert found[f"{src}/gone"] == ("dir", 1) and found[f"{src}/gone/inside.txt"] == ("file", 1)
        assert found[f"{src}/link"] == ("symlink", 1)
        assert f"{src}/d1" not in found  # rewriting a file in place leaves its folder as it was

        write(src / "gone" / "inside.txt", "x")  # back, after its deletion in the chain
        again = await backup()
        assert again.files == 1 and again.deleted == 0
        found = await _entries(engine, again.set_id)
        assert found[f"{src}/gone/inside.txt"] == ("file", 0) and found[f"{src}/gone"] == ("dir", 0)
    finally:
        await engine.close()
