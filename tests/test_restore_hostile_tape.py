"""A damaged or hostile cartridge cannot flood, hang or feed a restore (issue 15, item 2).

The tape file behind a catalogued 6-byte entry is replaced on the cartridge
by a symlink to /dev/zero, a FIFO, a longer file, or a symlink to a host file
with the same bytes (so the same hash). f8fad7c followed the symlinks (filling
the target disk from /dev/zero; copying the host file in), blocked forever on
the FIFO holding the drive lock, and read on past the catalogued size.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from test_backup_support import open_engine, run_log, write

from tapetui.engine.backup.engine import BackupRequest, run_backup
from tapetui.engine.backup.restore import RestoreRequest, run_restore
from tapetui.engine.backup.verify import verify_set

DATA = b"hello\n"


def _on_tape(home: Path, path: Path) -> Path:
    """The cartridge's copy of the source file `path` (the sim keeps a volume as a folder)."""
    tail = str(path).lstrip("/")
    [found] = [Path(d) / n for d, _, names in os.walk(home) for n in names
               if (Path(d) / n).as_posix().endswith("/" + tail) and "/tapetui/set-" in d]
    return found


def _host_twin(tmp_path: Path) -> str:
    twin = tmp_path / "host-secret"
    twin.write_bytes(DATA)  # same bytes, same hash as the catalogued file
    return str(twin)


TAMPER = {
    "symlink to /dev/zero": lambda tape, tmp: os.symlink("/dev/zero", tape),
    "FIFO": lambda tape, tmp: os.mkfifo(tape),
    "longer file": lambda tape, tmp: tape.write_bytes(DATA + b"\0" * (8 << 20)),
    "symlink to a host file with the same hash": lambda tape, tmp: os.symlink(_host_twin(tmp), tape),
}


@pytest.mark.parametrize("how", TAMPER)
async def test_a_tampered_tape_file_is_refused_and_the_restore_ends(tmp_path: Path, how: str) -> None:
    src, out, home = tmp_path / "src", tmp_path / "out", tmp_path / "home"
    write(src / "six.txt", DATA)
    write(src / "fine.txt", "untouched")
    engine = await open_engine(home)
    log = run_log(engine)
    try:
        backup = await run_backup(engine, BackupRequest(sources=[str(src)]), log)
        tape = _on_tape(home, src / "six.txt")
        tape.unlink()
        TAMPER[how](tape, tmp_path)
        r = await asyncio.wait_for(run_restore(engine, RestoreRequest(target=str(out)), log), timeout=30)
        restored = out / str(src).lstrip("/")
        assert r.status == "failed" and len(r.errors) == 1 and "six.txt" in r.errors[0], r.errors
        assert not (restored / "six.txt").exists()
        assert (restored / "fine.txt").read_text() == "untouched"
        assert [p.name for p in restored.iterdir() if p.name.startswith(".tapetui-restore")] == []
        assert r.bytes == len("untouched")
        job = await engine.sets.get_restore(r.job_id)
        assert job.status == "failed"
        # the drive is free again: verify runs, and names the same file
        v = await asyncio.wait_for(verify_set(engine, backup.set_id, log), timeout=30)
        assert not v.ok and len(v.problems) == 1 and "six.txt" in v.problems[0]
    finally:
        await engine.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root sets owners on restore")
async def test_an_owner_no_system_can_hold_ends_the_file_not_the_restore(tmp_path: Path) -> None:
    """A catalog row with uid 2**63-1 (f8fad7c: OverflowError, a .tapetui-restore-PID-N
    left behind and the job row 'running' forever) is one error for that file."""
    src, out, home = tmp_path / "src", tmp_path / "out", tmp_path / "home"
    write(src / "six.txt", DATA)
    engine = await open_engine(home)
    log = run_log(engine)
    try:
        backup = await run_backup(engine, BackupRequest(sources=[str(src)]), log)
        [row] = [e for e in await engine.catalog.list_dir(backup.set_id, str(src)) if e.kind == "file"]
        await engine.catalog.add_rows(backup.set_id, [(str(src), "huge-owner", "file", len(DATA), 0, 0o644,
                                                       2**63 - 1, 0, 0, 0, row.checksum, None, row.cartridge_id,
                                                       row.position, 0)])
        tape = _on_tape(home, src / "six.txt")
        os.link(tape, tape.with_name("huge-owner"))  # its bytes are on the cartridge
        r = await run_restore(engine, RestoreRequest(target=str(out)), log)
        restored = out / str(src).lstrip("/")
        assert r.status == "failed" and len(r.errors) == 1 and "huge-owner" in r.errors[0]
        assert sorted(p.name for p in restored.iterdir()) == ["six.txt"]
        assert (await engine.sets.get_restore(r.job_id)).status == "failed"
    finally:
        await engine.close()
