"""The catalog CLI as scripts use it: JSON keys, exit codes, one-line errors."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from test_backup_support import open_engine, run_log, write

from tapetui.cli.main import main
from tapetui.engine.backup.engine import BackupRequest, run_backup


def make_sets(tmp_path: Path) -> tuple[Path, Path]:
    home, src = tmp_path / "home", tmp_path / "src"
    write(src / "docs" / "report.txt", "report v1")
    write(src / "notes.md", "notes")

    async def go() -> None:
        engine = await open_engine(home)
        try:
            await run_backup(engine, BackupRequest(sources=[str(src)], level="full"), run_log(engine))
            write(src / "docs" / "report.txt", "report v2, longer")
            await run_backup(engine, BackupRequest(sources=[str(src)], level="incremental"), run_log(engine))
        finally:
            await engine.close()

    asyncio.run(go())
    return home, src


def cli(home: Path, *args: str) -> int:
    return main(["--home", str(home), *args])


def test_sets_ls_find_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home, src = make_sets(tmp_path)
    capsys.readouterr()
    assert cli(home, "sets", "--json") == 0
    sets = json.loads(capsys.readouterr().out)["sets"]
    assert [s["level"] for s in sets] == ["incremental", "full"]
    for key in ("id", "level", "started_at", "finished_at", "complete", "files", "bytes", "cartridges"):
        assert all(key in s for s in sets)
    assert sets[0]["complete"] is True and sets[0]["files"] == 1 and sets[0]["cartridges"] == ["TPA001L8"]

    assert cli(home, "ls", str(sets[1]["id"]), str(src / "docs"), "--json") == 0
    [entry] = json.loads(capsys.readouterr().out)["entries"]
    assert entry["path"] == str(src / "docs" / "report.txt") and entry["size"] == 9
    for key in ("path", "size", "mtime", "set_id", "cartridge"):
        assert key in entry

    assert cli(home, "find", "report*", "--json") == 0
    found = json.loads(capsys.readouterr().out)["entries"]
    assert [(e["set_id"], e["size"]) for e in found] == [(sets[0]["id"], 17), (sets[1]["id"], 9)]

    assert cli(home, "sets") == 0
    assert "incremental" in capsys.readouterr().out


def test_restore_verify_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home, src = make_sets(tmp_path)
    out = tmp_path / "out"
    full_id = "1"
    capsys.readouterr()
    assert cli(home, "restore", "--to", str(out), "--set", full_id, str(src / "docs")) == 0
    assert (out / str(src).lstrip("/") / "docs" / "report.txt").read_text() == "report v1"
    assert not (out / str(src).lstrip("/") / "notes.md").exists()
    assert "restored" in capsys.readouterr().err  # the run's log, live on stderr
    # the restore is a run: listed with its stored log
    assert cli(home, "runs", "--json") == 0
    [run] = json.loads(capsys.readouterr().out)
    assert (run["action"], run["trigger"], run["status"]) == ("restore", "manual", "success")
    assert cli(home, "log", str(run["id"])) == 0
    assert "restored" in capsys.readouterr().out
    assert cli(home, "restore", "--to", str(out), "--conflict", "overwrite") == 0
    assert (out / str(src).lstrip("/") / "docs" / "report.txt").read_text() == "report v2, longer"
    assert cli(home, "verify", full_id) == 0
    assert "every hash matches" in capsys.readouterr().out

    on_tape = home / "library" / "cartridges" / "TPA001L8" / "volume" / "tapetui" / "set-1" / str(
        src / "notes.md").lstrip("/")
    on_tape.write_bytes(b"NOTES")
    assert cli(home, "verify", full_id) == 1
    assert str(src / "notes.md") in capsys.readouterr().err

    assert cli(home, "ls", "99") == 1
    err = capsys.readouterr().err
    assert "no backup set 99" in err and "Traceback" not in err
    assert cli(home, "restore", "--to", str(out), "--at", "yesterday-ish") == 1
    assert "is not a time" in capsys.readouterr().err
    assert cli(home, "restore", "--to", str(out), "--at", "2001-01-01") == 1
    assert "no complete backup set" in capsys.readouterr().err


def test_catalog_import_on_a_new_host(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home, src = make_sets(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    os.rename(home / "library", other / "library")
    (other / "config.toml").write_text((home / "config.toml").read_text())
    assert cli(other, "catalog", "import") == 0
    assert "2 set(s) imported" in capsys.readouterr().out
    assert cli(other, "sets", "--json") == 0
    assert len(json.loads(capsys.readouterr().out)["sets"]) == 2
