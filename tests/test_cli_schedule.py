"""`tapetui schedule/runs/log/template/backup` as a user runs them: real processes,
a real home, the simulated library."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def tapetui(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "tapetui", "--home", str(home), *args], capture_output=True,
                          text=True, timeout=60, env=env, cwd=ROOT)


@pytest.fixture
def src(tmp_path: Path) -> Path:
    d = tmp_path / "src"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_text("alpha")
    (d / "sub" / "b.bin").write_bytes(b"b" * 4096)
    return d


def test_schedule_run_wait_backs_up_and_runs_json_links_the_set(tmp_path: Path, src: Path) -> None:
    home = tmp_path / "home"
    add = tapetui(home, "schedule", "add", "nightly", "--action", "backup", "--level", "full",
                  "--source", str(src), "--daily", "02:00")
    assert add.returncode == 0, add.stderr
    assert "every day 02:00" in add.stdout
    run = tapetui(home, "schedule", "run", "nightly", "--wait")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "month check" in run.stdout and "success" in run.stdout
    (row,) = json.loads(tapetui(home, "runs", "--json").stdout)
    assert {k: row[k] for k in ("id", "schedule", "trigger", "status")} == {
        "id": 1, "schedule": "nightly", "trigger": "manual", "status": "success"}
    assert row["backup_run_id"] == 1 and row["set_id"] == 1
    assert row["started_at"] and row["finished_at"] and row["message"]
    (sched,) = json.loads(tapetui(home, "schedule", "list", "--json").stdout)
    assert {k: sched[k] for k in ("name", "type", "action", "enabled", "status")} == {
        "name": "nightly", "type": "daily", "action": "backup", "enabled": True, "status": "idle"}
    assert sched["last_run"] and sched["last_success"] and sched["next_run"]
    log = tapetui(home, "log", "1")
    assert log.returncode == 0 and "format succeeded" in log.stdout


def test_bad_input_is_one_line_and_exit_1(tmp_path: Path, src: Path) -> None:
    home = tmp_path / "home"
    cases = [
        (["--cron", "61 * * * *"], "minute field '61' is invalid"),
        (["--once", "2001-01-01 10:00"], "is in the past"),
        (["--monthly", "32 01:00"], "day of month must be 1 to 31"),
    ]
    for when, message in cases:
        out = tapetui(home, "schedule", "add", "x", "--action", "cleanup", *when)
        assert out.returncode == 1 and message in out.stderr and len(out.stderr.splitlines()) == 1, out.stderr
    missing = tapetui(home, "schedule", "add", "x", "--action", "backup", "--level", "full",
                      "--source", str(src / "nope"), "--daily", "01:00")
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    assert tapetui(home, "schedule", "run", "ghost", "--wait").returncode == 1
    short = tapetui(home, "schedule", "add", "m", "--action", "cleanup", "--monthly", "31 01:00")
    assert short.returncode == 0 and "shorter months it fires on the last day" in short.stderr


def test_edit_enable_disable_preview_delete_and_templates(tmp_path: Path, src: Path) -> None:
    home = tmp_path / "home"
    assert tapetui(home, "template", "add", "docs", "--source", str(src), "--level", "full").returncode == 0
    assert tapetui(home, "schedule", "add", "w", "--action", "backup", "--template", "docs",
                   "--weekly", "mon,thu 03:00").returncode == 0
    assert tapetui(home, "schedule", "edit", "w", "--level", "differential").returncode == 0
    shown = json.loads(tapetui(home, "schedule", "show", "w", "--json").stdout)
    assert shown["template"] == "docs" and shown["action_config"] == {"level": "differential"}
    preview = json.loads(tapetui(home, "schedule", "preview", "--days", "14", "--json").stdout)["firings"]
    assert len(preview) == 4 and {p["schedule"] for p in preview} == {"w"}
    assert tapetui(home, "schedule", "disable", "w").returncode == 0
    assert json.loads(tapetui(home, "schedule", "list", "--json").stdout)[0]["next_run"] is None
    assert json.loads(tapetui(home, "schedule", "preview", "--json").stdout) == {
        "firings": [], "truncated": False, "left_out": {}}
    busy = tapetui(home, "template", "delete", "docs")
    assert busy.returncode == 1 and "used by schedule(s) w" in busy.stderr
    assert tapetui(home, "schedule", "delete", "w").returncode == 0
    assert tapetui(home, "template", "delete", "docs").returncode == 0


def test_backup_wait_makes_a_once_schedule_and_runs_it(tmp_path: Path, src: Path) -> None:
    home = tmp_path / "home"
    out = tapetui(home, "backup", "--level", "full", "--source", str(src), "--name", "adhoc", "--wait", "--quiet")
    assert out.returncode == 0, out.stdout + out.stderr
    (sched,) = json.loads(tapetui(home, "schedule", "list", "--json").stdout)
    assert sched["name"] == "adhoc" and sched["type"] == "once" and sched["next_run"] is None
    (run,) = json.loads(tapetui(home, "runs", "--schedule", "adhoc", "--json").stdout)
    assert run["status"] == "success" and run["set_id"] == 1 and run["result"]["files"] == 2
