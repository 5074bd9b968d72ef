"""Faults during a backup, each followed by the same proof: the catalog holds
no complete set that is not, the run has a clear status and reason, the set
made before the fault restores byte for byte, and the next backup works.

Faults: SIGKILL of the whole `tapetui backup --wait` process at random points,
a tape tool that hangs or crashes (ltfs driver, stand-in tools), the cartridge
filling up, the volume vanishing mid-write, the source changing while read,
the home's disk full (the database cannot grow), the database locked by
another process, a webhook that hangs.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
from test_backup_support import MB, assert_same_tree, open_engine, run_log, snapshot, tmpfs, write

from tapetui.engine.backup.engine import BackupRequest, BackupResult, run_backup
from tapetui.engine.backup.restore import RestoreRequest, run_restore
from tapetui.engine.backup.verify import verify_set
from tapetui.engine.config import Config
from tapetui.engine.core import Engine
from tapetui.engine.events import LogLine, Progress
from tapetui.engine.notify import NotifyConfig
from tapetui.engine.paths import Home
from tapetui.engine.scheduler import Scheduler
from tapetui.engine.control import LocalControl
from tapetui.engine.tape.sim import SimConfig

sys.path.insert(0, str(Path(__file__).parent / "standins"))
from standin_state import cartridge, init_state, running, tool  # noqa: E402

from tapetui.engine.tape.ltfs import LtfsConfig, LtfsDriver  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def tree(src: Path, files: int = 60, big: int = 0) -> Path:
    for i in range(files):
        write(src / f"d{i % 5}" / f"f{i}.txt", f"file {i}\n" * (i + 1))
    for i in range(big):
        write(src / f"big{i}.bin", os.urandom(MB))
    return src


async def backup(engine: Engine, src: Path, level: str = "incremental") -> BackupResult:
    return await asyncio.wait_for(
        run_backup(engine, BackupRequest(sources=[str(src)], level=level), run_log(engine)), 60)


async def assert_recovered(engine: Engine, tmp: Path, src: Path, good_set: int, good_tree: Path,
                           faulted: BackupResult | None = None, verified: frozenset[int] = frozenset()) -> None:
    """The proof after every fault (see the module docstring). `verified`: sets
    that finished before the fault struck, proven whole by a verify pass."""
    await engine.sets.mark_interrupted_runs()
    for s in await engine.sets.all():
        if s.id != good_set and s.id not in verified and (faulted is None or s.id == faulted.set_id):
            assert s.status != "complete" or (faulted is not None and faulted.status in ("success", "warning")), \
                f"set {s.id} is complete though its run did not succeed"
        assert s.status != "running", f"set {s.id} is still 'running' after its run ended"
    if faulted is not None:
        run = await engine.sets.get_run(faulted.backup_run_id)
        assert run.status == faulted.status and run.status in ("failed", "warning", "success")
        if run.status == "failed":
            assert run.error and "\n" not in run.error and not run.error.startswith("internal error"), run.error
    out = tmp / f"restore-good-{time.monotonic_ns()}"
    r = await run_restore(engine, RestoreRequest(target=str(out), set_id=good_set), run_log(engine))
    assert r.status == "success", r.errors
    assert_same_tree(good_tree, out / str(src).lstrip("/"))
    nxt = await backup(engine, src)
    assert nxt.status == "success", nxt.message
    out = tmp / f"restore-next-{time.monotonic_ns()}"
    r = await run_restore(engine, RestoreRequest(target=str(out), set_id=nxt.set_id), run_log(engine))
    assert r.status == "success", r.errors
    assert_same_tree(src, out / str(src).lstrip("/"))


async def when_writing(engine: Engine, what: str = "writing set") -> asyncio.Event:
    """An event set when the run's log says `what` (the writer has started)."""
    seen = asyncio.Event()
    engine.bus.subscribe(lambda e: seen.set() if what in e.text else None, LogLine)
    return seen


# ------------------------------------------------------------ SIGKILL ------

CHILD = ("import sys; from tapetui.cli import main; "
         "sys.exit(main(['backup', '--level', 'incremental', '--source', sys.argv[1], '--wait', '--quiet']))")


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(10))
async def test_sigkill_of_the_whole_cli_process_at_a_random_point(tmp_path: Path, seed: int) -> None:
    """`tapetui backup --wait` (scheduler, handler, engine, catalog) killed with
    SIGKILL anywhere from start-up to the end: the next `tapetui` command (here
    `sets`, with no daemon or console ever started) finds the schedule run
    interrupted and the set incomplete, and nothing earlier is lost."""
    rng = random.Random(seed)
    home, src = tmp_path / "home", tree(tmp_path / "src", files=120, big=2)
    home.mkdir()
    (home / "config.toml").write_text("[sim]\ncapacity_bytes = 100000000\nthroughput_mb_s = 6.0\n"
                                      "[backup]\nbatch_rows = 20\n")
    engine = await Engine.open(Home.single(home))
    try:
        first = await backup(engine, src, "full")
        assert first.status == "success"
    finally:
        await engine.close()
    good = snapshot(src, tmp_path / "good")
    for i in range(3):
        write(src / f"new{i}.bin", os.urandom(2 * MB))
    write(src / "d1" / "f1.txt", "changed\n")

    env = dict(os.environ, PYTHONPATH=str(REPO), TAPETUI_HOME=str(home))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(src)], env=env, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(rng.uniform(0.2, 2.2))
        os.killpg(child.pid, signal.SIGKILL)  # the whole process group, no goodbye
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
    after = subprocess.run([sys.executable, "-m", "tapetui", "sets", "--json"], env=env, capture_output=True,
                           text=True, timeout=60)
    assert after.returncode == 0, after.stderr
    engine = await Engine.open(Home.single(home))
    try:
        status = dict(await engine.store.fetchall("SELECT id, status FROM backup_sets"))
        assert "running" not in status.values(), status
        incomplete = [i for i, st in status.items() if st == "incomplete"]
        if incomplete:  # the command closed them, and said so
            assert f"tapetui: backup set(s) {', '.join(map(str, incomplete))} were left unfinished" in after.stderr
        runs = await engine.store.fetchall("SELECT status, message FROM schedule_runs")
        assert all(r["status"] in ("interrupted", "success") for r in runs), [tuple(r) for r in runs]
        finished: set[int] = set()
        for s in await engine.sets.all():
            if s.id != first.set_id and s.status != "incomplete":
                # The kill came after the set's last row was committed (the run may
                # still be 'interrupted' if it came before the run was recorded):
                # then it must really be whole.
                assert s.status == "complete", s.status
                check = await verify_set(engine, s.id, run_log(engine))
                assert check.ok, check
                finished.add(s.id)
        await assert_recovered(engine, tmp_path, src, first.set_id, good, verified=frozenset(finished))
    finally:
        await engine.close()


# ------------------------------------------------- tools: hang, crash ------

@pytest.fixture
def ltfs_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state"
    monkeypatch.setenv("TAPETUI_STANDIN_STATE", str(state))
    monkeypatch.delenv("TAPETUI_STANDIN_FAULT", raising=False)
    init_state(state, {"AAA001L8": cartridge()}, loaded="AAA001L8")
    return state


def ltfs_driver(tmp_path: Path) -> LtfsDriver:
    names = ("mkltfs", "ltfs", "ltfsck", "mt", "mtx", "sg_read_attr", "umount")
    return LtfsDriver(LtfsConfig(**{n: tool(n) for n in names}, mount_point=str(tmp_path / "mnt"),
                                 mount_timeout_s=1.5, format_timeout_s=1.5, unmount_timeout_s=5.0,
                                 kill_grace_s=0.2))


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["ltfs:hang", "ltfs:crash", "mkltfs:hang", "mkltfs:crash"])
async def test_a_tool_that_hangs_or_crashes_fails_the_run_with_its_reason(
    tmp_path: Path, ltfs_world: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    """Real ltfs driver, stand-in tools: a hanging `ltfs` mount or `mkltfs`
    format is killed (whole group) within its timeout; a crash is reported with
    its signal. The run fails with that reason; the next run works."""
    src = tree(tmp_path / "src")
    engine = await Engine.open(Home.single(tmp_path / "home"), config=Config.defaults(),
                               driver=ltfs_driver(tmp_path))
    try:
        tool_name, _, kind = fault.partition(":")
        if tool_name == "ltfs":  # the cartridge must be formatted for the mount to be the step that fails
            first = await backup(engine, src, "full")
            assert first.status == "success", first.message
            good = snapshot(src, tmp_path / "good")
            write(src / "more.txt", "more\n")
        monkeypatch.setenv("TAPETUI_STANDIN_FAULT", fault)
        result = await backup(engine, src, "full" if tool_name == "mkltfs" else "incremental")
        assert result.status == "failed"
        expected = "did not finish within 1.5 s" if kind == "hang" else "SIGABRT"
        assert expected in result.message and tool_name in result.message, result.message
        assert running(tool_name) == []
        monkeypatch.delenv("TAPETUI_STANDIN_FAULT")
        if tool_name == "mkltfs":
            first = await backup(engine, src, "full")
            assert first.status == "success", first.message
            good = snapshot(src, tmp_path / "good")
            write(src / "more.txt", "more\n")
        await assert_recovered(engine, tmp_path, src, first.set_id, good, result)
    finally:
        await engine.close()
        for name in ("ltfs", "mkltfs"):
            for pid in running(name):
                os.kill(pid, signal.SIGKILL)


# -------------------------------------------------------- tape side --------

async def test_the_cartridge_fills_up_and_the_library_loads_the_next(tmp_path: Path) -> None:
    src = tree(tmp_path / "src", files=20, big=7)
    engine = await open_engine(tmp_path / "home", capacity=3 * MB)
    try:
        first = await backup(engine, src, "full")
        assert first.status == "success" and len(first.cartridges) >= 3, first.cartridges
        s = await engine.sets.get(first.set_id)
        assert s.complete and s.cartridges == first.cartridges
        full = [c for c in await engine.cartridges.all() if c.status == "full"]
        assert {c.barcode for c in full} >= set(first.cartridges[:-1])
        good = snapshot(src, tmp_path / "good")
        write(src / "after.txt", "after\n")
        await assert_recovered(engine, tmp_path, src, first.set_id, good)
    finally:
        await engine.close()


async def test_the_volume_vanishing_mid_write_fails_the_run(tmp_path: Path) -> None:
    """The cartridge's folder disappears while the writer streams (the sim's
    'unmounted under us'); it comes back for the proof."""
    src = tree(tmp_path / "src", files=20)
    engine = await open_engine(tmp_path / "home", capacity=100 * MB)
    engine.driver.cfg.throughput_mb_s = 4.0
    try:
        first = await backup(engine, src, "full")
        good = snapshot(src, tmp_path / "good")
        for i in range(4):
            write(src / f"new{i}.bin", os.urandom(MB))
        [barcode] = first.cartridges
        volume = engine.home.sim_root / "cartridges" / barcode
        writing = await when_writing(engine)
        task = asyncio.create_task(backup(engine, src))
        await asyncio.wait_for(writing.wait(), 10)
        await asyncio.sleep(0.2)
        volume.rename(volume.with_name("gone"))
        result = await asyncio.wait_for(task, 30)
        volume.with_name("gone").rename(volume)
        assert result.status == "failed", result.message
        assert "incomplete" in result.message
        assert (await engine.sets.get(result.set_id)).status == "incomplete"
        await assert_recovered(engine, tmp_path, src, first.set_id, good, result)
    finally:
        await engine.close()


# ------------------------------------------------------ source changes -----

@pytest.mark.parametrize("change", ["grows", "shrinks", "vanishes"])
async def test_a_source_file_changing_while_read_is_warned_never_recorded_wrong(
    tmp_path: Path, change: str
) -> None:
    """The file changes between the scan and the copy: the run warns; whatever
    the catalog records for it must match what the tape holds (verify passes),
    and a restore never yields bytes under a hash they do not have."""
    src = tree(tmp_path / "src", files=10)
    victim = src / "zz-victim.bin"
    write(victim, os.urandom(3 * MB))
    engine = await open_engine(tmp_path / "home", capacity=100 * MB)
    engine.driver.cfg.throughput_mb_s = 6.0
    try:
        first = await backup(engine, src, "full")
        good = snapshot(src, tmp_path / "good")
        for i in range(3):
            write(src / f"a{i}.bin", os.urandom(MB))
        write(victim, os.urandom(3 * MB))  # changed: it will be copied again
        before = victim.read_bytes()
        writing = await when_writing(engine)
        task = asyncio.create_task(backup(engine, src))
        await asyncio.wait_for(writing.wait(), 10)
        if change == "grows":
            with victim.open("ab") as f:
                f.write(os.urandom(2 * MB))
        elif change == "shrinks":
            with victim.open("r+b") as f:
                f.truncate(MB)
        else:
            victim.unlink()
        result = await asyncio.wait_for(task, 60)
        assert result.status in ("warning", "success", "failed"), result.message
        from tapetui.engine.backup.verify import verify_set

        checked = await verify_set(engine, result.set_id, run_log(engine))
        assert checked.ok, checked.problems  # no row claims a hash its tape copy lacks
        out = tmp_path / "restore-changed"
        r = await run_restore(engine, RestoreRequest(target=str(out), set_id=result.set_id), run_log(engine))
        assert r.status in ("success", "warning"), r.errors
        restored = out / str(victim).lstrip("/")
        if restored.exists() and victim.exists():
            data = restored.read_bytes()
            # Read whole before or after the change, or torn by it at a chunk boundary
            # ("may not match any one moment"): either way, what the file held there.
            longest = victim.read_bytes() if change == "grows" else before
            assert MB <= len(data) <= len(longest) and data == longest[: len(data)]
        await assert_recovered(engine, tmp_path, src, first.set_id, good, result)
    finally:
        await engine.close()


# ------------------------------------------------------ the database -------

@pytest.fixture
def tiny_fs(tmp_path: Path) -> AsyncIterator[Path]:
    """An 8 MB tmpfs (root only): the disk that fills up."""
    yield from tmpfs(tmp_path / "tiny", "8m")


async def _fill_the_catalog_disk(tmp_path: Path, tiny_fs: Path) -> tuple[Engine, Path, BackupResult, Path, Path]:
    """A good full backup, then a run whose catalog rows no longer fit on the disk."""
    src = tree(tmp_path / "src", files=30)
    home = Home.single(tmp_path / "home")
    home.ensure()
    home.db_path.symlink_to(tiny_fs / "catalog.db")
    engine = await open_engine(tmp_path / "home", capacity=100 * MB, batch_rows=50)
    first = await backup(engine, src, "full")
    good = snapshot(src, tmp_path / "good")
    for i in range(3000):  # enough catalog rows to outgrow the disk
        write(src / "many" / f"m{i:05d}-{'x' * 60}.txt", b"")
    filler = tiny_fs / "filler"
    free = os.statvfs(tiny_fs).f_bavail * os.statvfs(tiny_fs).f_frsize
    filler.write_bytes(b"\0" * max(0, free - 64 * 1024))
    result = await backup(engine, src)
    filler.unlink()
    return engine, src, result, good, tmp_path


async def test_the_home_disk_full_fails_the_run_clearly_and_a_restart_recovers(
    tmp_path: Path, tiny_fs: Path
) -> None:
    """The catalog database lives on a disk that fills up mid-run (SQLITE_FULL)."""
    engine, src, result, good, _ = await _fill_the_catalog_disk(tmp_path, tiny_fs)
    try:
        assert result.status == "failed", result.message
        assert f"catalog database could not be written (no space left on {tiny_fs})" in result.message
        assert (await engine.sets.get(result.set_id)).status == "incomplete"
    finally:
        await engine.close()
    engine = await open_engine(tmp_path / "home", capacity=100 * MB, batch_rows=50)
    try:
        await assert_recovered(engine, tmp_path, src, 1, good, result)
    finally:
        await engine.close()


async def test_the_next_run_in_the_same_process_after_a_failed_catalog_batch(
    tmp_path: Path, tiny_fs: Path
) -> None:
    engine, src, result, good, _ = await _fill_the_catalog_disk(tmp_path, tiny_fs)
    try:
        assert result.status == "failed"
        await assert_recovered(engine, tmp_path, src, 1, good, result)
    finally:
        await engine.close()


HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("LOCKED", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
"""


async def test_the_database_locked_by_another_process(tmp_path: Path) -> None:
    """Another process holds an exclusive lock longer than busy_timeout (shortened
    to 0.3 s here; 10 s in production) while the backup writes."""
    src = tree(tmp_path / "src", files=30)
    engine = await open_engine(tmp_path / "home", capacity=100 * MB, batch_rows=10)
    engine.driver.cfg.throughput_mb_s = 4.0
    try:
        first = await backup(engine, src, "full")
        good = snapshot(src, tmp_path / "good")
        for i in range(3):
            write(src / f"new{i}.bin", os.urandom(MB))
        await engine.store.conn.execute("PRAGMA busy_timeout=300")
        writing = await when_writing(engine)
        task = asyncio.create_task(backup(engine, src))
        await asyncio.wait_for(writing.wait(), 10)
        locker = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(engine.home.db_path), "2"],
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert locker.stdout is not None and locker.stdout.readline().strip() == "LOCKED"
            result = await asyncio.wait_for(task, 60)
        finally:
            locker.wait(timeout=20)
        assert result.status in ("failed", "success"), result.message
        if result.status == "failed":
            assert "locked" in result.message, result.message
        await assert_recovered(engine, tmp_path, src, first.set_id, good, result)
    finally:
        await engine.close()


# --------------------------------------------------------- the webhook -----

class Hanging(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        time.sleep(30)

    def log_message(self, *args: Any) -> None:
        pass


async def test_a_hanging_webhook_does_not_hold_the_run(tmp_path: Path) -> None:
    """The success notification goes to a server that never answers: the run is
    recorded as succeeded, the schedule is free again, the log says why."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hanging)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    src = tree(tmp_path / "src", files=10)
    try:
        engine = await open_engine(tmp_path / "home", capacity=100 * MB)
        engine.config.sections["notify"] = NotifyConfig(
            webhook_url=f"http://127.0.0.1:{server.server_address[1]}/hook", timeout_s=0.5, retries=1)
        scheduler = Scheduler(engine, stop_poll_s=0.05)
        service = LocalControl(engine, scheduler)
        try:
            await service.add("nightly", kind="daily", when="02:00", action="backup",
                              action_config={"sources": [str(src)], "level": "full"})
            run = await asyncio.wait_for(service.run_now("nightly", wait=True), 30)
            assert run.status == "success", run.message
            lines = [ln.line for ln in await service.runs.lines(run.id)]
            assert any("notification not sent" in ln for ln in lines), lines
            assert (await service.get("nightly")).status == "idle"
            good = snapshot(src, tmp_path / "good")
            write(src / "after.txt", "after\n")
            await assert_recovered(engine, tmp_path, src, run.set_id, good)
        finally:
            await scheduler.close()
            await engine.close()
    finally:
        server.shutdown()
        server.server_close()
