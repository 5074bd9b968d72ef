"""Shared helpers for the backup/restore tests (no tests here): an engine on a small
sim library, a tree that changes in every way, snapshots and a tree comparison."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from tapetui.engine.config import Config
from tapetui.engine.core import Engine
from tapetui.engine.paths import Home
from tapetui.engine.runlog import RunLog
from tapetui.engine.tape.sim import SimConfig

MB = 1_000_000


async def open_engine(home: Path, capacity: int = 8 * MB, **backup) -> Engine:
    cfg = Config.defaults()
    cfg.sections["sim"] = SimConfig(capacity_bytes=capacity, initial_cartridges=6)
    for key, value in backup.items():
        setattr(cfg.backup, key, value)
    return await Engine.open(Home.single(home), config=cfg)


def tmpfs(mnt: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` (e.g. "2m") at `mnt` for a fixture to yield from: a real disk
    that fills up. Needs root; the test is skipped where it cannot be mounted."""
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def run_log(engine: Engine) -> RunLog:
    return RunLog(engine.store, engine.bus, None)


def write(path: Path, data: bytes | str, mode: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    if mode is not None:
        path.chmod(mode)


def snapshot(src: Path, dest: Path) -> Path:
    """A copy of the tree as it is now (content, modes, times, symlinks as links)."""
    shutil.copytree(src, dest, symlinks=True, copy_function=shutil.copy2)
    shutil.copystat(src, dest)
    return dest


def describe(root: Path) -> dict[str, tuple]:
    """relative path -> what a restore must bring back."""
    out: dict[str, tuple] = {".": ("dir", stat.S_IMODE(root.stat().st_mode), root.stat().st_mtime_ns)}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            rel = str(p.relative_to(root))
            st = p.lstat()
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("symlink", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode), st.st_mtime_ns)
            else:
                out[rel] = ("file", stat.S_IMODE(st.st_mode), st.st_mtime_ns, p.read_bytes())
    return out


def assert_same_tree(expected: Path, actual: Path) -> None:
    want, got = describe(expected), describe(actual)
    assert sorted(got) == sorted(want), f"paths differ: missing {sorted(set(want) - set(got))}, " \
                                        f"extra {sorted(set(got) - set(want))}"
    for rel in want:
        assert got[rel] == want[rel], f"{rel} differs"
