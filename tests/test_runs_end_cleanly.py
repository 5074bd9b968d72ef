"""Faults that must end cleanly (issue 15, items 11-13): a run whose process is gone
is never taken for running because its pid now belongs to another process; a
full home disk ends the run `failed` at once; SIGTERM stops `backup --wait` and
the daemon without a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from daemon_support import db_rows, make_home, tapetui
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
        db_rows(home, "UPDATE schedules SET status = 'running' WHERE name = 'h'")
        db_rows(home, "INSERT INTO backup_runs(requested_level, level, sources, options, status, started_at, pid, "
                "proc_start) VALUES ('full', 'full', '[]', '{}', 'running', '2026-01-01T00:00:00', ?, ?)",
                stranger.pid, started)
        runs[why] = db_rows(
            home, "INSERT INTO schedule_runs(schedule_id, schedule_name, action, trigger, status, started_at, pid, "
            "proc_start) SELECT id, name, action, 'auto', 'running', '2026-01-01T00:00:00', ?, ? FROM schedules "
            "WHERE name = 'h' RETURNING id", stranger.pid, started)[0][0]
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
    db_rows(home, "UPDATE schedules SET status = 'running' WHERE name = 'h'")
    run_id = db_rows(
        home, "INSERT INTO schedule_runs(schedule_id, schedule_name, action, trigger, status, started_at, pid, "
        "proc_start) SELECT id, name, action, 'auto', 'running', '2026-01-01T00:00:00', ?, ? FROM schedules "
        "WHERE name = 'h' RETURNING id", stranger.pid, proc_start(stranger.pid))[0][0]
    fired = tapetui(home, "schedule", "run", "h", "--wait")
    assert fired.returncode == 4 and f"already running (run #{run_id})" in fired.stdout, fired.stdout
    assert db_rows(home, "SELECT status FROM schedule_runs WHERE id = ?", run_id) == [("running",)]
