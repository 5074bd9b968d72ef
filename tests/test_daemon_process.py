"""`tapetui daemon` as a real process on a temporary home: one scheduler per home,
clients attached over the socket, the CLI routed through it, SIGTERM and SIGKILL."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
from pathlib import Path

import pytest
from daemon_support import Daemon, atapetui, db_rows, make_home, tapetui, until_finished, write_tree

from tapetui.engine.daemon.client import DaemonClient, DaemonGone
from tapetui.engine.daemon.lock import SchedulerLock
from tapetui.engine.events import LogLine, Progress, RunStarted

WAIT = 60  # seconds: the bound on every wait for a run or an event


@pytest.fixture
def daemon(tmp_path: Path):
    home = make_home(tmp_path)
    d = Daemon(home)
    yield d
    d.stop()


async def _writing(source) -> None:  # noqa: ANN001
    """Until the run streams file data to the tape."""
    async for event in source:
        if isinstance(event, Progress) and event.phase == "writing" and event.bytes_done > 0:
            return


async def test_one_daemon_two_clients_live_events_and_cli_through_it(daemon: Daemon, tmp_path: Path) -> None:
    home, src = daemon.home, tmp_path / "src"
    write_tree(src, big_mb=6)
    daemon.start()
    assert stat.S_IMODE((home / "daemon.sock").stat().st_mode) == 0o600

    second = tapetui(home, "daemon")
    assert second.returncode == 1
    assert second.stderr.strip() == (f"tapetui: error: a tapetui daemon already schedules for {home} "
                                     f"(pid {daemon.pid})")
    status = json.loads(tapetui(home, "daemon", "status", "--json").stdout)
    assert status["running"] and status["pid"] == daemon.pid

    add = await atapetui(home, "schedule", "add", "nightly", "--action", "backup", "--level", "full",
                         "--source", str(src), "--daily", "02:00")
    assert add.returncode == 0, add.stderr

    a = await DaemonClient.connect(home / "daemon.sock")
    b = await DaemonClient.connect(home / "daemon.sock")
    try:
        await a.subscribe()
        await b.subscribe()
        seen_a: list = []
        seen_b: list = []
        a_done = asyncio.ensure_future(until_finished(seen_a, a.events(), "nightly"))
        b_writing = asyncio.ensure_future(_writing(b.events()))
        await asyncio.sleep(0)  # both iterators are listening before the run starts
        run = await a.call("run_now", name="nightly")
        assert run["status"] == "running" and run["pid"] == daemon.pid

        await asyncio.wait_for(b_writing, WAIT)
        await b.close()  # a console goes away mid-run ...
        # ... and a CLI asking for the same schedule meanwhile is told it already runs
        twice = await atapetui(home, "schedule", "run", "nightly", "--wait")
        assert twice.returncode == 4, twice.stdout + twice.stderr
        assert f"already running (run #{run['id']})" in twice.stdout

        finished = await asyncio.wait_for(a_done, WAIT)
        assert (finished.run_id, finished.status) == (run["id"], "success"), finished.message
        assert any(isinstance(e, RunStarted) and e.run_id == run["id"] for e in seen_a)
        assert any(isinstance(e, Progress) and e.run_id == run["id"] and e.phase == "writing" for e in seen_a)
        texts = [e.text for e in seen_a if isinstance(e, LogLine) and e.run_id == run["id"]]
        assert any("format succeeded" in t for t in texts) and texts[-1].startswith("success:")
    finally:
        await a.close()
        await b.close()

    # The CLI goes through the daemon: the run is the daemon's, its log streams here.
    assert (await atapetui(home, "schedule", "edit", "nightly", "--level", "incremental")).returncode == 0
    out = await atapetui(home, "schedule", "run", "nightly", "--wait")
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"started in the daemon (pid {daemon.pid})" in out.stdout
    assert "success" in out.stdout.splitlines()[-1]
    rows = db_rows(home, "SELECT status, pid FROM schedule_runs WHERE status != 'skipped' ORDER BY id")
    assert rows == [("success", daemon.pid), ("success", daemon.pid)]

    # Tape commands too: the daemon refuses, checks, and the CLI prints what it says.
    fmt = await atapetui(home, "tape", "format", "--label", "OTHER")
    assert fmt.returncode == 1 and len(fmt.stderr.splitlines()) == 1, fmt.stderr
    assert "holds catalogued backups that formatting would destroy: set 1" in fmt.stderr
    check = await atapetui(home, "tape", "check")
    assert check.returncode == 0 and check.stdout.splitlines()[-1].endswith("is consistent"), check.stdout
    log = (home / "logs" / "tapetui.log").read_text()
    assert ": format label='OTHER', force=False" in log and ": check" in log


@pytest.mark.parametrize("policy,expected", [("cancel", "cancelled"), ("finish", "success")])
async def test_sigterm_mid_backup_leaves_a_clean_state(tmp_path: Path, policy: str, expected: str) -> None:
    home = make_home(tmp_path, f'[daemon]\non_sigterm = "{policy}"\n')
    src = tmp_path / "src"
    write_tree(src, big_mb=6)
    assert tapetui(home, "schedule", "add", "nightly", "--action", "backup", "--level", "full",
                   "--source", str(src), "--daily", "02:00").returncode == 0
    daemon = Daemon(home).start()
    try:
        client = await DaemonClient.connect(home / "daemon.sock")
        await client.subscribe()
        events: list = []
        done = asyncio.ensure_future(until_finished(events, client.events(), "nightly"))
        writing = asyncio.ensure_future(_writing(client.events()))
        await asyncio.sleep(0)
        run = await client.call("run_now", name="nightly")
        await asyncio.wait_for(writing, WAIT)
        daemon.signal(signal.SIGTERM)
        finished = await asyncio.wait_for(done, WAIT)
        assert finished.status == expected, finished.message
        await asyncio.wait_for(client.wait_closed(), WAIT)  # the daemon closes its clients on the way out
        with pytest.raises(DaemonGone):
            await client.call("status")
        assert await asyncio.to_thread(daemon.wait) == 0
    finally:
        daemon.stop()
    assert not (home / "daemon.sock").exists()
    lock = SchedulerLock(home / "scheduler.lock")
    assert lock.try_acquire(), "the lock must be free once the daemon is gone"
    lock.release()
    (status, pid), = db_rows(home, "SELECT status, pid FROM schedule_runs WHERE id = ?", run["id"])
    assert (status, pid) == (expected, daemon.pid)
    assert db_rows(home, "SELECT status FROM schedules") == [("idle",)]
    assert db_rows(home, "SELECT status FROM backup_sets") == [
        ("complete",) if expected == "success" else ("incomplete",)]
    log = (home / "logs" / "tapetui.log").read_text()
    assert f"stopping (on_sigterm = {policy})" in log and "daemon stopped cleanly" in log


async def test_sigkill_mid_backup_then_restart_marks_it_interrupted(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    src = tmp_path / "src"
    write_tree(src)
    daemon = Daemon(home).start()
    try:
        assert (await atapetui(home, "backup", "--level", "full", "--source", str(src), "--name", "first",
                               "--wait", "--quiet")).returncode == 0
        write_tree(src, big_mb=8)
        assert (await atapetui(home, "schedule", "add", "inc", "--action", "backup", "--level", "incremental",
                               "--source", str(src), "--daily", "03:00")).returncode == 0
        client = await DaemonClient.connect(home / "daemon.sock")
        await client.subscribe()
        writing = asyncio.ensure_future(_writing(client.events()))
        await asyncio.sleep(0)
        run = await client.call("run_now", name="inc")
        await asyncio.wait_for(writing, WAIT)
        daemon.signal(signal.SIGKILL)
        assert await asyncio.to_thread(daemon.wait) == -signal.SIGKILL
        await asyncio.wait_for(client.wait_closed(), WAIT)
    finally:
        daemon.stop()
    assert db_rows(home, "SELECT status FROM schedule_runs WHERE id = ?", run["id"]) == [("running",)]

    again = Daemon(home).start()  # the socket file and the lock file are still there: both are stale
    try:
        (status, message), = db_rows(home, "SELECT status, message FROM schedule_runs WHERE id = ?", run["id"])
        assert status == "interrupted" and "ended before it finished" in message
        assert db_rows(home, "SELECT name, status FROM backup_sets ORDER BY id") == [
            ("first", "complete"), ("inc", "incomplete")]
        assert db_rows(home, "SELECT status FROM schedules WHERE name = 'inc'") == [("idle",)]
        # the earlier set is intact: restore it through the daemon
        restore = await atapetui(home, "restore", "--to", str(tmp_path / "out"), "--set", "1")
        assert restore.returncode == 0, restore.stdout + restore.stderr
        back = tmp_path / "out" / str(src).lstrip("/")
        assert sorted(p.name for p in back.rglob("small*.txt")) == sorted(p.name for p in src.rglob("small*.txt"))
        assert not list(back.glob("big*.bin"))
        assert ": restore request=" in (home / "logs" / "tapetui.log").read_text()  # the daemon restored it
    finally:
        again.stop()
    assert again.wait() == 0 and not os.path.exists(home / "daemon.sock")
