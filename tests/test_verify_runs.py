"""Verify is a run of its own (issue 16 item 9): `tapetui verify N` records a run with
action 'verify' and its log, and goes through the daemon when one serves the home."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from daemon_support import Daemon, atapetui, db_rows, make_home, write_tree
from test_cli_catalog import cli, make_sets


def runs_json(home: Path, capsys: pytest.CaptureFixture[str]) -> list[dict]:
    capsys.readouterr()
    assert cli(home, "runs", "--json") == 0
    return json.loads(capsys.readouterr().out)


def test_cli_verify_is_a_recorded_run_with_its_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home, src = make_sets(tmp_path)
    capsys.readouterr()
    assert cli(home, "verify", "1") == 0
    out = capsys.readouterr()
    assert "set 1: 2 files, 14 B checked; every hash matches" in out.out
    assert "verifying set 1: 2 files, 14 B" in out.err  # human units, not '14 bytes'
    [run] = runs_json(home, capsys)
    assert (run["action"], run["trigger"], run["status"], run["set_id"]) == ("verify", "manual", "success", 1)
    assert cli(home, "log", str(run["id"])) == 0
    assert "every hash matches" in capsys.readouterr().out

    (home / "library" / "cartridges" / "TPA001L8" / "volume" / "tapetui" / "set-1" / str(
        src / "notes.md").lstrip("/")).write_bytes(b"NOTES")
    assert cli(home, "verify", "1") == 1
    assert str(src / "notes.md") in capsys.readouterr().err
    newest = runs_json(home, capsys)[0]
    assert (newest["action"], newest["status"]) == ("verify", "failed")
    assert newest["message"] == "set 1: 2 files, 14 B checked; 1 problem(s)"


def test_verify_of_a_set_that_is_not_there_makes_no_run(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    home, _ = make_sets(tmp_path)
    capsys.readouterr()
    assert cli(home, "verify", "99") == 1
    err = capsys.readouterr().err
    assert "no backup set 99" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert runs_json(home, capsys) == []


async def test_cli_verify_runs_in_the_daemon_when_one_runs(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    src = tmp_path / "src"
    write_tree(src)
    daemon = Daemon(home).start()
    try:
        backup = await atapetui(home, "backup", "--level", "full", "--source", str(src), "--wait", "--quiet")
        assert backup.returncode == 0, backup.stderr
        verify = await atapetui(home, "verify", "1")
        assert verify.returncode == 0, verify.stderr
        assert "every hash matches" in verify.stdout
        assert "verifying set 1" in verify.stderr  # the daemon's log lines, printed here
        assert db_rows(home, "SELECT action, status, pid FROM schedule_runs WHERE action = 'verify'") == [
            ("verify", "success", daemon.pid)]
    finally:
        daemon.stop()
