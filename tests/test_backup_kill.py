"""A backup killed (SIGKILL) at a random moment: on the next start its set is
incomplete (never complete), earlier sets still restore exactly, and the next
backup works."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_backup_support import MB, assert_same_tree, run_log, snapshot, write

from tapetui.engine.backup.engine import BackupRequest, run_backup
from tapetui.engine.backup.restore import RestoreRequest, run_restore
from tapetui.engine.core import Engine
from tapetui.engine.paths import Home

CHILD = """
import asyncio, sys
from pathlib import Path
from tapetui.engine.core import Engine
from tapetui.engine.paths import Home
from tapetui.engine.runlog import RunLog
from tapetui.engine.backup.engine import BackupRequest, run_backup

async def main():
    engine = await Engine.open(Home.single(Path(sys.argv[1])))
    print("STARTED", flush=True)
    r = await run_backup(engine, BackupRequest(sources=[sys.argv[2]], level="incremental"),
                         RunLog(engine.store, engine.bus, None))
    print("DONE", r.status, r.set_id, flush=True)
    await engine.close()

asyncio.run(main())
"""


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_kill_during_backup_then_restart(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    home, src = tmp_path / "home", tmp_path / "src"
    home.mkdir()
    (home / "config.toml").write_text(
        "[sim]\ncapacity_bytes = 100000000\nthroughput_mb_s = 8.0\n[backup]\nbatch_rows = 50\n")
    for i in range(150):
        write(src / f"d{i % 7}" / f"small{i}.txt", f"file {i}\n" * (i + 1))
    write(src / "big-a", os.urandom(2 * MB))
    engine = await Engine.open(Home.single(home))
    try:
        first = await run_backup(engine, BackupRequest(sources=[str(src)], level="full"), run_log(engine))
        assert first.status == "success"
    finally:
        await engine.close()
    before = snapshot(src, tmp_path / "snap-before")
    for i in range(4):
        write(src / f"new-big-{i}", os.urandom(3 * MB))
    write(src / "d1" / "small1.txt", "changed\n")

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(home), str(src)], stdout=subprocess.PIPE,
                             text=True, env=env)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "STARTED"
        time.sleep(rng.uniform(0.05, 1.5))
        child.send_signal(signal.SIGKILL)
        rest, _ = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
    finished = "DONE" in rest

    engine = await Engine.open(Home.single(home))
    try:
        await engine.sets.mark_interrupted_runs()
        killed = [s for s in await engine.sets.all() if s.id != first.set_id]
        if killed and not finished:
            assert killed[0].status == "incomplete", "a killed run must never leave its set complete"
        assert (await engine.sets.get(first.set_id)).status == "complete"
        out = tmp_path / "restore-first"
        r = await run_restore(engine, RestoreRequest(target=str(out), set_id=first.set_id), run_log(engine))
        assert r.status == "success", r.errors
        assert_same_tree(before, out / str(src).lstrip("/"))
        # the next backup works, and restores the tree as it is now
        after = await run_backup(engine, BackupRequest(sources=[str(src)], level="incremental"), run_log(engine))
        assert after.status == "success", after.message
        out = tmp_path / "restore-after"
        r = await run_restore(engine, RestoreRequest(target=str(out), set_id=after.set_id), run_log(engine))
        assert r.status == "success", r.errors
        assert_same_tree(src, out / str(src).lstrip("/"))
    finally:
        await engine.close()
