"""Faults during a restore: a catalogued file missing or damaged on the cartridge
(reported with its path, the rest restored), the target disk full, and the
wrong cartridge in a standalone drive (the operator is asked; the wait is bounded)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Iterator

import pytest
from test_backup_support import MB, open_engine, run_log, tmpfs, write
from test_reliability_backup_faults import ltfs_driver, tree

from tapetui.engine.backup import layout
from tapetui.engine.backup.engine import BackupRequest, run_backup
from tapetui.engine.backup.restore import RestoreRequest, RestoreResult, run_restore
from tapetui.engine.config import Config
from tapetui.engine.core import Engine
from tapetui.engine.events import OperatorNeeded
from tapetui.engine.paths import Home
from tapetui.engine.drive import TapeOps

sys.path.insert(0, str(Path(__file__).parent / "standins"))
from standin_state import cartridge, init_state, locked  # noqa: E402


async def restore(engine: Engine, target: Path, set_id: int) -> RestoreResult:
    return await asyncio.wait_for(
        run_restore(engine, RestoreRequest(target=str(target), set_id=set_id), run_log(engine)), 60)


def on_tape(engine: Engine, barcode: str, set_id: int, path: Path) -> Path:
    """Where the sim library keeps a backed-up file."""
    rel = layout.file_relpath(layout.set_dir(set_id), str(path))
    return engine.home.sim_root / "cartridges" / barcode / "volume" / rel.lstrip("/")


@pytest.mark.parametrize("damage", ["missing", "corrupted", "truncated"])
async def test_a_damaged_file_on_the_cartridge_is_reported_and_the_rest_restored(
    tmp_path: Path, damage: str
) -> None:
    src = tree(tmp_path / "src", files=20)
    victim = src / "d3" / "f3.txt"
    engine = await open_engine(tmp_path / "home")
    try:
        result = await run_backup(engine, BackupRequest(sources=[str(src)]), run_log(engine))
        assert result.status == "success"
        copy = on_tape(engine, result.cartridges[0], result.set_id, victim)
        assert copy.read_bytes() == victim.read_bytes()
        if damage == "missing":
            copy.unlink()
        elif damage == "corrupted":
            data = bytearray(copy.read_bytes())
            data[0] ^= 0xFF
            copy.write_bytes(bytes(data))
        else:
            copy.write_bytes(copy.read_bytes()[:3])
        out = tmp_path / "out"
        r = await restore(engine, out, result.set_id)
        assert r.status in ("warning", "failed") and len(r.errors) == 1, r.errors
        assert str(victim) in r.errors[0], r.errors
        if damage != "missing":
            assert "hash" in r.errors[0] or "checksum" in r.errors[0] or "size" in r.errors[0], r.errors
        restored = out / str(src).lstrip("/")
        assert not (restored / "d3" / "f3.txt").exists(), "a damaged copy must not be restored as good"
        for p in src.rglob("*.txt"):
            if p != victim:
                assert (restored / p.relative_to(src)).read_bytes() == p.read_bytes()
        job = await engine.sets.get_restore(r.job_id)
        assert job.status == r.status and job.errors == 1
    finally:
        await engine.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    yield from tmpfs(tmp_path / "small", "2m")


async def test_the_target_disk_full_fails_clearly_and_leaves_no_partial_file(
    tmp_path: Path, small_disk: Path
) -> None:
    src = tmp_path / "src"
    for i in range(20):  # the 2 MB disk fills part-way through some file's one write
        write(src / f"big{i:02d}.bin", os.urandom(150_001))
    engine = await open_engine(tmp_path / "home")
    try:
        result = await run_backup(engine, BackupRequest(sources=[str(src)]), run_log(engine))
        r = await restore(engine, small_disk, result.set_id)
        assert r.status == "failed" and r.errors, r
        assert any("No space left" in e or "disk is full" in e for e in r.errors), r.errors
        assert all("\n" not in e for e in r.errors)
        restored = small_disk / str(src).lstrip("/")
        for p in restored.rglob("*") if restored.exists() else []:
            if p.is_file():  # whatever is there under a real name is whole and right
                assert p.read_bytes() == (src / p.relative_to(restored)).read_bytes(), p
        job = await engine.sets.get_restore(r.job_id)
        assert job.status == "failed"
    finally:
        await engine.close()


async def test_the_wrong_cartridge_in_a_standalone_drive_asks_the_operator_then_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("TAPETUI_STANDIN_STATE", str(state))
    monkeypatch.delenv("TAPETUI_STANDIN_FAULT", raising=False)
    other = cartridge(formatted=True, volume_name="TP20250101", serial="BBB002", index_gen=1,
                      uuid="d0796c57-390e-4d3a-9daf-8b32e741383a", format_time="2025-01-01 00:00:00.0 UTC")
    init_state(state, {"AAA001L8": cartridge(), "BBB002L8": other}, loaded="AAA001L8")
    monkeypatch.setattr(TapeOps, "poll_s", 0.1)
    src = tree(tmp_path / "src", files=10)
    config = Config.defaults()
    config.tape.operator_wait_s = 1.0
    engine = await Engine.open(Home.single(tmp_path / "home"), config=config,
                               driver=ltfs_driver(tmp_path))
    try:
        result = await run_backup(engine, BackupRequest(sources=[str(src)], level="full"), run_log(engine))
        assert result.status == "success", result.message
        with locked(state) as world:  # someone swapped the cartridge by hand
            world["drive"]["cartridge"] = "BBB002L8"
        asked: list[str] = []
        engine.bus.subscribe(lambda e: asked.append(e.message), OperatorNeeded)
        r = await restore(engine, tmp_path / "out", result.set_id)
        await engine.bus.drain()
        assert r.status == "failed", r
        assert asked and "AAA001" in asked[0]
        assert any("AAA001" in e for e in r.errors) or "AAA001" in r.message, (r.message, r.errors)
        assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.txt"))
        with locked(state) as world:  # the right one is back: the restore works
            world["drive"]["cartridge"] = "AAA001L8"
        r = await restore(engine, tmp_path / "out2", result.set_id)
        assert r.status == "success", r.errors
    finally:
        await engine.close()
