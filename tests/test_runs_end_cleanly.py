"""Faults that must end cleanly (issue 15, items 11-13): a run whose process is gone
is never taken for running because its pid now belongs to another process; a
full home disk ends the run `failed` at once; SIGTERM stops `backup --wait` and
the daemon without a traceback."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from daemon_support import ROOT, Daemon, db_rows, env, make_home, tapetui, write_tree
from tapetui.engine.store.db import RESERVE_BYTES, DiskFull, open_store
from tapetui.engine.store.runs import own_start, pid_alive, proc_start

LINUX_PROC = os.path.exists("/proc/self/stat") and proc_start(os.getpid()) is not None
needs_proc = pytest.mark.skipif(not LINUX_PROC, reason="needs Linux /proc (process start times)")


@pytest.fixture
def stranger() -> subprocess.Popen[bytes]:
    """A live process that is not any run's: its pid stands for a reused one."""
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    proc.kill()
    proc.wait()


# -- item 11: a reused pid is not the run's process ------------------------------------
@needs_proc
def test_a_live_pid_is_alive_only_with_its_own_start_identity(stranger: subprocess.Popen[bytes]) -> None:
    mine = proc_start(stranger.pid)
    boot, ticks = mine.split(":")
    assert own_start() == proc_start(os.getpid()) != mine
    assert pid_alive(stranger.pid, mine)
    assert pid_alive(stranger.pid, None)  # a row from before start identities: the pid alone
    assert not pid_alive(stranger.pid, f"{boot}:{int(ticks) + 1}")  # the same pid, started at another time
    assert not pid_alive(stranger.pid, f"00000000-0000-0000-0000-000000000000:{ticks}")  # another boot
    stranger.kill()
    stranger.wait()
    assert not pid_alive(stranger.pid, mine)


def _left_running(home: Path, pid: int, started: str) -> int:
    """What a killed process leaves of schedule 'h': the schedule and a run 'running',
    recorded with `pid` and its start identity; returns the run's id."""
    db_rows(home, "UPDATE schedules SET status = 'running' WHERE name = 'h'")
    return db_rows(
        home, "INSERT INTO schedule_runs(schedule_id, schedule_name, action, trigger, status, started_at, pid, "
        "proc_start) SELECT id, name, action, 'auto', 'running', '2026-01-01T00:00:00', ?, ? FROM schedules "
        "WHERE name = 'h' RETURNING id", pid, started)[0][0]


@needs_proc
def test_a_run_whose_pid_was_reused_is_interrupted_and_the_next_firing_runs(
        tmp_path: Path, stranger: subprocess.Popen[bytes]) -> None:
    """A killed `schedule run --wait` left its schedule, run and backup run 'running';
    its pid now belongs to a live process of another boot (a container restart).
    The next command marks them interrupted, and the schedule's next firing runs."""
    home = make_home(tmp_path)
    assert tapetui(home, "schedule", "add", "h", "--daily", "23:00", "--action", "health_check").returncode == 0
    boot, ticks = proc_start(stranger.pid).split(":")
    identities = {"other boot": f"ffffffff-{boot[9:]}:{ticks}", "other start": f"{boot}:{int(ticks) + 7}"}
    runs = {}
    for why, started in identities.items():
        db_rows(home, "INSERT INTO backup_runs(requested_level, level, sources, options, status, started_at, pid, "
                "proc_start) VALUES ('full', 'full', '[]', '{}', 'running', '2026-01-01T00:00:00', ?, ?)",
                stranger.pid, started)
        runs[why] = _left_running(home, stranger.pid, started)
        fired = tapetui(home, "schedule", "run", "h", "--wait")
        assert f"marked run(s) {runs[why]} interrupted" in fired.stderr, (why, fired.stderr)
        assert fired.returncode == 0, (why, fired.stdout, fired.stderr)
        assert "skipped" not in fired.stdout
    statuses = dict(db_rows(home, "SELECT id, status FROM schedule_runs"))
    assert [statuses[r] for r in runs.values()] == ["interrupted", "interrupted"]
    assert sorted(statuses.values()) == ["interrupted", "interrupted", "success", "success"]
    assert db_rows(home, "SELECT DISTINCT status FROM backup_runs") == [("interrupted",)]
    assert stranger.poll() is None  # the stranger was only looked at


@needs_proc
def test_a_run_of_a_live_process_with_its_own_identity_stays_running(
        tmp_path: Path, stranger: subprocess.Popen[bytes]) -> None:
    home = make_home(tmp_path)
    assert tapetui(home, "schedule", "add", "h", "--daily", "23:00", "--action", "health_check").returncode == 0
    run_id = _left_running(home, stranger.pid, proc_start(stranger.pid))
    fired = tapetui(home, "schedule", "run", "h", "--wait")
    assert fired.returncode == 4 and f"already running (run #{run_id})" in fired.stdout, fired.stdout
    assert db_rows(home, "SELECT status FROM schedule_runs WHERE id = ?", run_id) == [("running",)]


# -- item 12: a full home disk ends the run `failed` at once ---------------------------------
@pytest.fixture
def small_disk(tmp_path: Path) -> Path:
    """A 4 MB file system of its own (tmpfs), for a home that fills up."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mnt)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a small tmpfs")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=True)


def _fill(folder: Path, leave: int) -> Path:
    """Take all the free space of `folder`'s file system but `leave` bytes."""
    st = os.statvfs(folder)
    filler = folder / "filler"
    with open(filler, "wb") as f:
        os.posix_fallocate(f.fileno(), 0, st.f_bavail * st.f_frsize - leave)
    return filler


async def test_a_write_on_a_full_disk_says_so_and_leaves_room_to_record_it(small_disk: Path) -> None:
    store = await open_store(small_disk / "catalog.db")
    try:
        await store.execute("CREATE TABLE t(x BLOB)")
        await store.execute("CREATE TABLE runs(status TEXT)")
        await store.execute("INSERT INTO runs VALUES ('running')")
        assert store.reserve.stat().st_size == RESERVE_BYTES
        filler = _fill(small_disk, 16 * 1024)
        with pytest.raises(DiskFull, match=f"^no space left on {small_disk}$"):
            for _ in range(1000):
                async with store.transaction() as conn:  # a batch of rows, as the catalog writes them
                    await conn.executemany("INSERT INTO t VALUES (?)", [(os.urandom(3000),)] * 20)
        assert not store.reserve.exists()  # given back ...
        await store.execute("UPDATE runs SET status = 'failed'")  # ... so the failure can be recorded
        assert await store.scalar("SELECT status FROM runs") == "failed"
        filler.unlink()
        store.keep_reserve()  # room again: set aside again (each run's start asks)
        assert store.reserve.stat().st_size == RESERVE_BYTES
    finally:
        await store.close()


@pytest.mark.parametrize("cartridges,free_kb", [("on it", 600), ("elsewhere", 300), ("elsewhere", 100)])
def test_a_backup_filling_the_home_disk_ends_failed_at_once(
        small_disk: Path, tmp_path: Path, cartridges: str, free_kb: int) -> None:
    """The home (catalog, logs and the sim's cartridges, or those elsewhere) on a 4 MB
    disk that a backup fills, with little room left (at 100 KB the catalog fills as
    the run starts): the run ends `failed` naming the full folder, in this same
    command, with nothing raised from a task, no internal error and nothing left
    'running'."""
    home = small_disk / "home"
    home.mkdir(mode=0o700)
    (home / "config.toml").write_text("[sim]\ncapacity_bytes = 200000000\n")
    if cartridges == "elsewhere":
        (tmp_path / "library").mkdir()
        (home / "library").symlink_to(tmp_path / "library")
    src = tmp_path / "src"
    write_tree(src, big_mb=3)
    (src / "many").mkdir()
    for i in range(2000):  # catalog rows enough to outgrow the room left
        (src / "many" / f"{i:05d}-{'x' * 100}").write_bytes(b"")
    assert tapetui(home, "schedule", "list").returncode == 0  # the catalog exists
    _fill(small_disk, free_kb * 1024)
    backup = tapetui(home, "backup", "--level", "full", "--source", str(src), "--wait")
    output = backup.stdout + backup.stderr
    assert backup.returncode == 1, output
    for bad in ("Traceback", "never retrieved", "internal error", "cannot rollback"):
        assert bad not in output, output
    (status, message), = db_rows(home, "SELECT status, message FROM schedule_runs")
    assert status == "failed" and f"no space left on {home}" in message, message
    assert f"failed - {message}" in backup.stdout
    assert db_rows(home, "SELECT status FROM backup_runs WHERE status = 'running'") == []
    assert db_rows(home, "SELECT status FROM backup_sets WHERE status = 'running'") == []


# -- item 13: SIGTERM stops cleanly --------------------------------------------------------
def _read_until(proc: subprocess.Popen[str], text: str, timeout: float = 30) -> list[str]:
    """Collect `proc`'s stdout lines (in a thread, to the end) and return once one holds `text`."""
    lines: list[str] = []
    seen = threading.Event()

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)
            if text in line:
                seen.set()

    threading.Thread(target=read, daemon=True).start()
    assert seen.wait(timeout), f"no {text!r} within {timeout}s: {lines}"
    return lines


@pytest.mark.parametrize("with_daemon", [False, True], ids=["here", "in-the-daemon"])
def test_sigterm_of_backup_wait_cancels_the_run_and_exits_5(tmp_path: Path, with_daemon: bool) -> None:
    home, src = make_home(tmp_path), tmp_path / "src"
    write_tree(src, big_mb=12)  # 3 s at the sim drive's 4 MB/s
    daemon = Daemon(home).start() if with_daemon else None
    try:
        backup = subprocess.Popen(
            [sys.executable, "-m", "tapetui", "--home", str(home), "backup", "--level", "full", "--source",
             str(src), "--wait"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(), cwd=ROOT)
        lines = _read_until(backup, "pre-flight:")  # writing to the tape now
        backup.send_signal(signal.SIGTERM)
        assert backup.wait(timeout=30) is not None
        err = backup.stderr.read()
        time.sleep(0.2)  # the reader thread takes the last lines
        out = "".join(lines)
    finally:
        if daemon is not None:
            daemon.stop()
    assert backup.returncode == 5, (out[-3000:], err)
    assert "Traceback" not in err and "Error" not in err, err
    assert "cancelled - stopped by the operator" in out
    assert db_rows(home, "SELECT status FROM schedule_runs") == [("cancelled",)]
    assert db_rows(home, "SELECT status FROM backup_runs") == [("cancelled",)]
    assert db_rows(home, "SELECT status FROM backup_sets") == [("incomplete",)]


def _add_and_hang_up(home: Path, name: str) -> None:
    """A client that subscribes, adds a schedule and hangs up at once (as a CLI call
    does, only faster): the daemon is still closing its side when SIGTERM comes."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(str(home / "daemon.sock"))
        for request in ({"id": 1, "op": "subscribe", "args": {}},
                        {"id": 2, "op": "add", "args": {"name": name, "kind": "daily", "when": "23:00",
                                                         "action": "health_check"}}):
            s.sendall(json.dumps(request).encode() + b"\n")
        for line in s.makefile("rb"):  # until the add's reply (the hello and events come too)
            reply = json.loads(line)
            if reply.get("id") == 2:
                assert reply["ok"], reply
                return


def test_sigterm_after_a_client_leaves_stops_the_daemon_without_a_callback_error(tmp_path: Path) -> None:
    """Start, one `schedule add`, SIGTERM, again and again: exit 0, nothing on stderr
    about CancelledError, and the stop is quick (no connection left hanging)."""
    for i in range(8):
        (tmp_path / f"t{i}").mkdir()
        home = make_home(tmp_path / f"t{i}")
        daemon = Daemon(home).start()
        try:
            if i % 4 == 3:
                assert tapetui(home, "schedule", "add", "s", "--daily", "23:00", "--action",
                               "health_check").returncode == 0
            else:
                _add_and_hang_up(home, "s")
            asked = time.monotonic()
            daemon.signal(signal.SIGTERM)
            assert daemon.wait() == 0
            took = time.monotonic() - asked
        finally:
            daemon.stop()
        errors = daemon.errors()
        assert "Traceback" not in errors and "CancelledError" not in errors, (i, errors)
        assert took < 3, (i, took)
        assert db_rows(home, "SELECT name FROM schedules") == [("s",)]
