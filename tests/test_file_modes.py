"""Every file tapetui makes is 0600 and every folder 0700, whatever the home's
mode, and a home open to others is warned about (issue 15, item 17): a sim
cartridge holds a copy of each backed-up file, so a root-only file became
readable by anyone through a 0755 home. Restore still gives back the modes the
catalog recorded, exactly."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from test_backup_support import open_engine
from test_reliability_input import cli

from tapetui.engine.backup.engine import BackupRequest, run_backup
from tapetui.engine.runlog import RunLog


def modes_under(root: Path) -> dict[str, int]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            out[str(p.relative_to(root))] = p.lstat().st_mode
    return out


def assert_private(home: Path) -> None:
    found = modes_under(home)
    assert any("cartridges" in p and p.endswith("/secret") for p in found), sorted(found)  # the tape copy
    wrong = {p: f"{m & 0o7777:04o}" for p, m in found.items()
             if (stat.S_ISDIR(m) and m & 0o7777 != 0o700) or (stat.S_ISREG(m) and m & 0o7777 != 0o600)}
    assert wrong == {}


def test_a_backup_in_a_home_open_to_others_makes_only_private_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home, src = tmp_path / "home", tmp_path / "src"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    src.mkdir()
    (src / "secret").write_text("root only\n")
    (src / "secret").chmod(0o600)
    code, _, err = cli(["--home", str(home), "backup", "--level", "full", "--source", str(src), "--wait",
                        "--quiet"], capsys)
    assert code == 0, err
    assert f"tapetui: warning: {home} is open to other users (mode 0755); run: chmod 700 {home}" in err
    assert_private(home)
    assert home.stat().st_mode & 0o777 == 0o755  # the user's own folder: warned about, not changed
    os.umask(old := os.umask(0o022))
    assert old == 0o022, "the CLI gives its caller's umask back"


async def test_the_engine_alone_makes_the_sim_cartridges_private(tmp_path: Path) -> None:
    """Without the CLI's umask (a library user, the tests): explicit modes."""
    home, src = tmp_path / "home", tmp_path / "src"
    home.mkdir(mode=0o755)
    src.mkdir()
    (src / "secret").write_text("root only\n")
    old = os.umask(0o022)
    try:
        engine = await open_engine(home)
        try:
            result = await run_backup(engine, BackupRequest(sources=[str(src)]), RunLog(engine.store, engine.bus, None))
            assert result.status == "success"
        finally:
            await engine.close()
    finally:
        os.umask(old)
    library = {p: m for p, m in modes_under(home / "library").items()}
    assert any(p.endswith("/secret") for p in library)
    assert {p: f"{m & 0o777:04o}" for p, m in library.items() if m & 0o077 and not p.endswith(".json")
            and "index.sqlite" not in p} == {}
    assert (home / "catalog.db").stat().st_mode & 0o777 == 0o600


MODES = {"a": 0o644, "b": 0o600, "c": 0o755, "d": 0o640, "e": 0o777, "f": 0o444, "g": 0o4755, "h": 0o2750}
DIR_MODES = {"d1": 0o755, "d2": 0o711, "d3": 0o750, "d4": 0o2775, "d5": 0o1777, "d6": 0o500}


def test_restore_under_the_private_umask_gives_back_the_recorded_modes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    for d, dmode in DIR_MODES.items():
        for name, mode in MODES.items():
            p = src / d / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(name)
            p.chmod(mode)
    for d, dmode in DIR_MODES.items():
        (src / d).chmod(dmode)
    try:
        assert cli(["backup", "--level", "full", "--source", str(src), "--wait", "--quiet"], capsys)[0] == 0
        code, _, err = cli(["restore", "--to", str(out)], capsys)
        assert code == 0, err
        restored = modes_under(out / str(src).lstrip("/"))
        assert {p: oct(m) for p, m in restored.items()} == {p: oct(m) for p, m in modes_under(src).items()}
    finally:
        for root in (src, out / str(src).lstrip("/")):
            for d in DIR_MODES:
                if (root / d).exists():
                    (root / d).chmod(0o755)
