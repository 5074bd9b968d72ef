"""The `ltfs` driver on the real LTFS reference implementation, end to end.

Runs only when `TAPETUI_LTFS_PREFIX` names where the reference LTFS is installed
(its `bin/mkltfs`, `bin/ltfs`, `bin/ltfsck`), with its `file` tape backend (a
folder is the cartridge) and a real FUSE mount; no `mt` or `sg_read_attr` is used.
Everything goes through the `tapetui` command as an operator types it, on a home
of its own, and every restore is compared with a snapshot of the tree it backed up.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

PREFIX = os.environ.get("TAPETUI_LTFS_PREFIX", "")
pytestmark = [
    pytest.mark.skipif(not PREFIX, reason="TAPETUI_LTFS_PREFIX is not set (no real LTFS here)"),
    pytest.mark.skipif(not os.path.exists("/dev/fuse"), reason="no /dev/fuse for the LTFS mount"),
]
CLI_TIMEOUT_S = 300


class Operator:
    """One tapetui home driving one file-backend drive (optionally a folder library)."""

    def __init__(self, root: Path, *, slots: list[Path] | None = None) -> None:
        self.root = root
        self.home = root / "home"
        self.drive = root / "drive"
        self.home.mkdir(parents=True)
        if not slots:
            self.drive.mkdir()
        bin_dir = Path(PREFIX) / "bin"
        ltfs = {
            "mkltfs": str(bin_dir / "mkltfs"), "ltfs": str(bin_dir / "ltfs"),
            "ltfsck": str(bin_dir / "ltfsck"), "backend": "file", "device": str(self.drive),
            "mount_point": str(root / "mnt"), "slots": [str(s) for s in slots or []],
            # Tools that cannot work on a folder: a call to them would fail the run.
            "mt": "/nonexistent/mt", "sg_read_attr": "/nonexistent/sg_read_attr",
            "mtx": "/nonexistent/mtx",
        }
        lines = "".join(f"{k} = {json.dumps(v)}\n" for k, v in ltfs.items())
        (self.home / "config.toml").write_text(
            f'[tape]\ndriver = "ltfs"\nmonth_check = false\noperator_wait_s = 5\n[ltfs]\n{lines}',
            encoding="utf-8")

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "TAPETUI_HOME": str(self.home)}
        res = subprocess.run([sys.executable, "-m", "tapetui", *args], capture_output=True, text=True,
                             env=env, timeout=CLI_TIMEOUT_S, stdin=subprocess.DEVNULL)
        if ok:
            assert res.returncode == 0, f"tapetui {' '.join(args)}: {res.stdout}\n{res.stderr}"
        return res

    def backup(self, level: str, source: Path) -> str:
        return self.run("backup", "--level", level, "--source", str(source), "--wait").stdout

    def sets(self) -> list[dict]:
        return sorted(json.loads(self.run("sets", "--json").stdout)["sets"], key=lambda s: s["id"])

    def status(self) -> dict:
        out = self.run("tape", "status").stdout.splitlines()[1:]
        return {k: v.strip() for k, _, v in (line.partition(" ") for line in out)}

    def restore(self, set_id: int, to: Path) -> Path:
        self.run("restore", "--to", str(to), "--set", str(set_id))
        return to


def snapshot(root: Path) -> dict[str, tuple]:
    """What a restore must bring back: kind, content, mode, mtime, link target, links."""
    seen: dict[str, tuple] = {}
    inodes: dict[int, str] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            seen[rel] = ("link", os.readlink(path))
        elif stat.S_ISDIR(st.st_mode):
            seen[rel] = ("dir", stat.S_IMODE(st.st_mode))
        else:
            twin = inodes.setdefault(st.st_ino, rel) if st.st_nlink > 1 else rel
            seen[rel] = ("file", hashlib.sha256(path.read_bytes()).hexdigest(),
                         stat.S_IMODE(st.st_mode), st.st_mtime_ns, twin != rel)
    return seen


def restored(out: Path, src: Path) -> dict[str, tuple]:
    """The snapshot of a restore of `src` (restores keep the absolute path under --to)."""
    return snapshot(out / src.relative_to(src.anchor))


def make_tree(src: Path) -> None:
    (src / "docs" / "deep").mkdir(parents=True)
    (src / "docs" / "a.txt").write_text("alpha\n")
    (src / "docs" / "deep" / "b.bin").write_bytes(os.urandom(700_000))
    (src / "empty").write_bytes(b"")
    (src / "script.sh").write_text("#!/bin/sh\necho hi\n")
    (src / "script.sh").chmod(0o750)
    (src / "link").symlink_to("docs/a.txt")
    os.utime(src / "docs" / "a.txt", ns=(1_700_000_000_123_456_789, 1_700_000_000_123_456_789))


def later(path: Path, text: str) -> None:
    """Write `text` to `path` with a newer mtime than anything before."""
    path.write_text(text)
    now = time.time_ns() + 2_000_000_000
    os.utime(path, ns=(now, now))


def test_a_standalone_drive_does_a_month_of_work_on_the_real_tools(tmp_path: Path) -> None:
    op = Operator(tmp_path / "site")
    assert op.status()["loaded"] == "no-barcode"  # a blank folder: nothing names it yet
    op.run("tape", "format", "--label", "TP20261201", "--barcode", "ABC123")
    status = op.status()
    assert (status["loaded"], status["label"], status["serial"]) == ("ABC123", "TP20261201", "ABC123")

    src = tmp_path / "src"
    make_tree(src)
    points = {}
    op.backup("full", src)
    points[1] = snapshot(src)
    assert op.status()["loaded"] == "ABC123"  # the full's own format kept the barcode (-s)
    later(src / "docs" / "a.txt", "alpha, changed\n")
    (src / "new.txt").write_text("new\n")
    op.backup("incremental", src)
    points[2] = snapshot(src)
    (src / "empty").unlink()
    later(src / "docs" / "c.txt", "gamma\n")
    op.backup("differential", src)
    points[3] = snapshot(src)

    sets = {s["id"]: s for s in op.sets()}
    assert [sets[i]["level"] for i in (1, 2, 3)] == ["full", "incremental", "differential"]
    assert all(s["status"] == "complete" for s in sets.values())
    for set_id, expected in points.items():
        assert restored(op.restore(set_id, tmp_path / f"out{set_id}"), src) == expected, set_id
    assert op.run("verify", "3").stdout.rstrip().endswith("checked; every hash matches")

    op.run("tape", "unload")  # a standalone drive: unmounts, the folder stays in the drive
    check = op.run("tape", "check")
    assert "consistent" in check.stdout + check.stderr
    refused = op.run("tape", "format", "--label", "TP20261202", ok=False)
    assert refused.returncode != 0 and "set 1" in refused.stderr and "--force" in refused.stderr
    assert all(s["status"] == "complete" for s in op.sets())
    forced = op.run("tape", "format", "--label", "TP20261202", "--force")
    assert "marked overwritten" in forced.stdout
    assert {s["status"] for s in op.sets()} == {"overwritten"}
    assert op.status()["loaded"] == "ABC123"  # the reformat kept the barcode


def test_a_fresh_home_imports_the_catalog_from_the_cartridge_and_restores(tmp_path: Path) -> None:
    first = Operator(tmp_path / "first")
    first.run("tape", "format", "--label", "TP20261201", "--barcode", "IMP001")
    src = tmp_path / "src"
    make_tree(src)
    first.backup("full", src)
    expected = snapshot(src)
    first.run("tape", "unload")

    second = Operator(tmp_path / "second")
    shutil.rmtree(second.drive)
    first.drive.rename(second.drive)  # the cartridge goes to another site's drive
    second.run("catalog", "import")
    assert [s["status"] for s in second.sets()] == ["complete"]
    assert restored(second.restore(second.sets()[0]["id"], tmp_path / "out"), src) == expected


def test_a_cartridge_with_no_barcode_end_to_end(tmp_path: Path) -> None:
    op = Operator(tmp_path / "site")
    op.run("tape", "format", "--label", "NOBAR1")
    loaded = op.status()["loaded"]
    assert loaded.startswith("no-barcode:") and len(loaded) > len("no-barcode:")
    src = tmp_path / "src"
    make_tree(src)
    op.backup("full", src)
    expected = snapshot(src)
    loaded = op.status()["loaded"]  # the full formatted it again: a new volume UUID
    listed = op.run("tape", "list").stdout
    assert loaded in listed and "no-barcode " not in listed  # never the bare id
    assert [s["cartridges"] for s in op.sets()] == [[loaded]]
    # mounted and unmounted, the drive names it the same way
    op.run("tape", "unload")
    assert op.status()["loaded"] == loaded
    assert restored(op.restore(1, tmp_path / "out"), src) == expected  # no wait for an operator
    assert op.run("verify", "1").stdout.rstrip().endswith("checked; every hash matches")
    refused = op.run("tape", "format", "--label", "NOBAR2", ok=False)
    assert refused.returncode != 0 and "set 1" in refused.stderr


def test_a_folder_library_spans_a_backup_over_two_cartridges(tmp_path: Path) -> None:
    slots = [tmp_path / "library" / name for name in ("SPN001L5", "SPN002L5")]
    for folder in slots:
        folder.mkdir(parents=True)
        (folder / "filedebug_tc_conf.xml").write_text(  # a small cartridge: 300 MB (its 5 % index partition then holds a few indexes)
            '<?xml version="1.0" encoding="UTF-8"?>\n<filedebug_cartridge_config>\n'
            "    <dummy_io>false</dummy_io>\n    <emulate_readonly>false</emulate_readonly>\n"
            "    <capacity_mb>300</capacity_mb>\n    <cart_type>L5</cart_type>\n"
            "    <density_code>58</density_code>\n</filedebug_cartridge_config>\n")
    op = Operator(tmp_path / "site", slots=slots)
    listed = op.run("tape", "list").stdout
    assert "SPN001L5" in listed and "SPN002L5" in listed
    src = tmp_path / "src"
    src.mkdir()
    for n in range(32):  # 320 MB: more than one cartridge holds (LTFS stops at early warning, ~277 MB)
        (src / f"f{n:02}.bin").write_bytes(os.urandom(10_000_000))
    expected = snapshot(src)
    out = op.backup("full", src)
    (only,) = op.sets()
    assert only["status"] == "complete", out
    assert sorted(only["cartridges"]) == ["SPN001L5", "SPN002L5"], (only, out)
    op.run("tape", "unload")
    assert restored(op.restore(only["id"], tmp_path / "out"), src) == expected


def test_every_kind_of_entry_comes_back_from_the_real_tools(tmp_path: Path) -> None:
    """The tree of tests/test_fidelity.py (xattrs and ACLs, hard links, a sparse file,
    FIFO, socket, device, names that are not UTF-8, which LTFS refuses as they are,
    a 4,080-byte path, an absolute symlink) through full, incremental and
    differential on a real LTFS volume, restored as of now and, from the cartridge
    alone, in a fresh home: both identical to the source as treecompare sees it."""
    from test_fidelity import build, change_for_differential, change_for_incremental
    from treecompare import allocated, describe, differences

    op = Operator(tmp_path / "site")
    op.run("tape", "format", "--label", "TP20261201", "--barcode", "FID001")
    src = tmp_path / "src"
    src.mkdir()
    build(src, sparse_size=64 << 20)
    op.backup("full", src)
    change_for_incremental(src)
    op.backup("incremental", src)
    change_for_differential(src)
    op.backup("differential", src)
    want = describe(str(src))
    out = tmp_path / "out"
    op.run("restore", "--to", str(out))
    assert differences(want, describe(str(out) + str(src))) == []
    assert allocated(f"{out}{src}/sparse.img") <= 1 << 20
    op.run("tape", "unload")

    fresh = Operator(tmp_path / "fresh")
    shutil.rmtree(fresh.drive)
    op.drive.rename(fresh.drive)
    fresh.run("catalog", "import")
    out = tmp_path / "imported"
    fresh.run("restore", "--to", str(out))
    assert differences(want, describe(str(out) + str(src))) == []
