"""The scan's helper process: a walk shared with it finds exactly what one walk
finds (files, folders, symlinks, special files, patterns, changes, deletions), and
a helper that cannot start or fails leaves its part to the scan."""

from __future__ import annotations

import os
import stat
import sys
import threading
from pathlib import Path

import pytest
from test_backup_support import write

from tapetui.engine.backup import signatures, walk
from tapetui.engine.backup import scan as scan_module
from tapetui.engine.backup.scan import ScanResult, Scanner


def _tree(root: Path) -> Path:
    src = root / "src"
    for d in range(6):
        for f in range(5):
            write(src / f"d{d}" / f"sub{f % 2}" / f"f{f}.txt", f"{d}/{f}" * (f + 1))
    write(src / "top.txt", "top")
    write(src / "d1" / "skip.tmp", "excluded")
    write(src / "d4" / "cache" / "big.bin", b"\0" * 5000)
    os.symlink("../top.txt", src / "d2" / "link")
    os.symlink("nowhere", src / "d5" / "dangling")
    os.mkfifo(src / "d3" / "pipe")
    (src / "d0" / "empty").mkdir()
    return src


def _scan(src: Path, base: signatures.State | None, split_after: int, **patterns: list[str]) -> tuple:
    warnings: list[str] = []
    scanner = Scanner([str(src)], patterns.get("includes", []), patterns.get("excludes", []), base,
                      info=lambda _: None, warn=warnings.append, stop=threading.Event())
    scanner.split_after = split_after
    r: ScanResult = scanner.run()
    return (sorted(zip(r.paths, r.sizes)), sorted(r.rows), r.bytes_total, r.seen, r.unchanged, r.deleted,
            r.special, r.unreadable, sorted(warnings))


def _state_of(src: Path) -> signatures.State:
    """A base as a full backup of `src` would leave it: every entry's signature."""
    state: signatures.State = {}
    for folder, dirs, files in os.walk(src):
        for name in dirs + files:
            st = os.lstat(os.path.join(folder, name))
            kind = ("dir" if stat.S_ISDIR(st.st_mode) else "symlink" if stat.S_ISLNK(st.st_mode)
                    else "file" if stat.S_ISREG(st.st_mode) else "special")
            link = os.readlink(os.path.join(folder, name)) if kind == "symlink" else None
            state.setdefault(folder, {})[name] = signatures.signature(
                kind, st.st_size if kind in ("file", "symlink") else 0, st.st_mtime_ns, st.st_ino, st.st_ctime_ns,
                link)
    st = os.lstat(src)
    state.setdefault(str(src.parent), {})[src.name] = signatures.signature("dir", 0, st.st_mtime_ns, st.st_ino,
                                                                          st.st_ctime_ns)
    return state


@pytest.mark.parametrize("patterns", [{}, {"excludes": ["*.tmp", "*/cache"]}, {"includes": ["f1*", "*link"]}],
                         ids=["all", "excludes", "includes"])
def test_a_shared_walk_finds_what_one_walk_finds(tmp_path: Path, patterns: dict) -> None:
    src = _tree(tmp_path)
    helpers: list[walk.Helper] = []
    real = walk.Helper.__init__

    def counted(self, *a, **k) -> None:  # noqa: ANN001, ANN002, ANN003
        helpers.append(self)
        real(self, *a, **k)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(walk.Helper, "__init__", counted)
        alone = _scan(src, None, 10**9, **patterns)
        assert helpers == []
        shared = _scan(src, None, 0, **patterns)
        assert len(helpers) == 1 and helpers[0].tops  # it was given folders to walk
    assert shared == alone
    assert alone[6] == (0 if patterns.get("includes") else 1)  # the FIFO, recorded as a special file

    base = _state_of(src)
    write(src / "d3" / "sub1" / "f1.txt", "changed, and longer")
    (src / "d5" / "sub0" / "f0.txt").unlink()
    write(src / "d0" / "new.txt", "new")
    changed_alone = _scan(src, {k: dict(v) for k, v in base.items()}, 10**9, **patterns)
    changed_shared = _scan(src, {k: dict(v) for k, v in base.items()}, 0, **patterns)
    assert changed_shared == changed_alone
    if not patterns:  # (with patterns this base also holds what they leave out, seen as deleted)
        assert changed_alone[5] == 1  # f0.txt (the FIFO is catalogued, and unchanged)
        # all but new.txt, f1.txt, and d0, d5/sub0 (entries came, went); the FIFO is one of them now
        assert changed_alone[4] == changed_alone[3] - 4 + 1


@pytest.mark.parametrize("executable", ["/bin/false", "/nonexistent/python"], ids=["fails", "cannot-start"])
def test_a_helper_that_fails_leaves_its_part_to_the_scan(tmp_path: Path, monkeypatch, executable: str) -> None:  # noqa: ANN001
    src = _tree(tmp_path)
    alone = _scan(src, None, 10**9)
    monkeypatch.setattr(sys, "executable", executable)
    assert _scan(src, None, 0) == alone


def test_entries_that_cannot_be_read_are_kept_not_deleted(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """An entry whose lstat fails (a folder readable but not searchable, for one) was
    not seen: it and everything under it keep what the base holds, with a warning,
    and no deleted-marker (the newest restore point would have dropped them)."""
    src = _tree(tmp_path)
    write(src / "locked" / "inner" / "g.txt", "g")
    base = _state_of(src)
    real = scan_module.observe

    def observe(folder: str, exclude):  # noqa: ANN001, ANN202
        items, unread = real(folder, exclude)
        if folder == str(src):
            hidden = {"locked": True, "top.txt": False}
            unread += [(i[0], hidden[i[0]], f"cannot read {folder}/{i[0]}: Permission denied")
                       for i in items if i[0] in hidden]
            items = [i for i in items if i[0] not in hidden]
        return items, unread

    monkeypatch.setattr(scan_module, "observe", observe)
    result = _scan(src, base, 10**9)
    deleted = [row[:2] for row in result[1] if row[14]]
    assert deleted == []  # what could not be read is kept as the base has it (the FIFO is catalogued)
    assert result[7] == 2 and result[8] == [f"cannot read {src}/locked: Permission denied",
                                            f"cannot read {src}/top.txt: Permission denied"]
