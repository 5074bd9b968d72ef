"""The home, the catalog file and the command line, given what a careless or
hostile user can give: each is one clear line (or works), never an internal
error, and the catalog is never silently started over (issue 15, items 14-15)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_reliability_input import assert_clean_error, cli

from tapetui.engine.paths import Home

# ------------------------------------------------------------- item 14 -----


def test_an_empty_catalog_file_is_refused_and_left_as_it_is(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Was silently started over as an empty catalog: it may be a damaged copy of
    the only record of what is on the tapes."""
    db = Home.single(tmp_path / "home").db_path
    db.parent.mkdir(mode=0o700)
    db.touch()
    code, _, err = cli(["runs"], capsys)
    assert_clean_error(code, err)
    assert str(db) in err and "empty" in err and "move it aside" in err
    assert db.stat().st_size == 0


def test_a_missing_catalog_is_made_whole_and_private(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = Home.single(tmp_path / "home")
    assert cli(["runs"], capsys)[0] == 0
    assert home.db_path.stat().st_size > 0 and home.db_path.stat().st_mode & 0o777 == 0o600
    assert not [p.name for p in home.data_dir.iterdir() if ".new-" in p.name]  # nothing left aside


def test_homes_opened_at_once_by_several_processes_all_work(tmp_path: Path) -> None:
    """A new catalog is made aside and linked into place whole, so a second process
    never meets the empty file the first is still making (and refuses it)."""
    env = {**os.environ, "TAPETUI_HOME": str(tmp_path / "home")}
    procs = [subprocess.Popen([sys.executable, "-m", "tapetui", "runs"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err


def test_a_catalog_that_is_a_folder_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = Home.single(tmp_path / "home").db_path
    db.parent.mkdir(mode=0o700)
    db.mkdir()
    code, _, err = cli(["runs"], capsys)
    assert_clean_error(code, err)
    assert str(db) in err and "folder" in err


def test_an_immutable_catalog_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Reads worked and the first write was 'internal error: OperationalError: attempt
    to write a readonly database'."""
    db = Home.single(tmp_path / "home").db_path
    assert cli(["runs"], capsys)[0] == 0
    if subprocess.run(["chattr", "+i", str(db)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here (needs root and ext2/3/4 or similar)")
    try:
        for argv in (["runs"], ["schedule", "add", "n", "--daily", "02:00", "--action", "health_check"]):
            code, _, err = cli(argv, capsys)
            assert_clean_error(code, err)
            assert str(db) in err and "Operation not permitted" in err
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True)


@pytest.mark.parametrize("where", ["file", "below a file"])
def test_a_home_that_is_a_file_is_one_line(where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "f").write_text("")
    home = tmp_path / "f" if where == "file" else tmp_path / "f" / "home"
    code, _, err = cli(["--home", str(home), "runs"], capsys)
    assert_clean_error(code, err)
    assert f"{tmp_path / 'f'} is a file" in err


def test_a_home_whose_path_is_not_utf8_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Was a logging traceback (UnicodeEncodeError) and a home nothing could name."""
    home = os.fsdecode(os.fsencode(tmp_path) + b"/h\xff")
    for argv in (["--home", home, "runs"], ["--home", home, "paths"]):
        code, _, err = cli(argv, capsys)
        assert_clean_error(code, err)
        assert "h\\xff" in err and "UTF-8" in err
    assert not os.path.exists(home)


# ------------------------------------------------------------- item 15 -----

BAD = os.fsdecode(b"n\xff")


@pytest.mark.parametrize("argv", [
    ["schedule", "add", BAD, "--daily", "02:00", "--action", "health_check"], ["schedule", "show", BAD],
    ["schedule", "delete", BAD], ["runs", "--schedule", BAD], ["template", "show", BAD],
    ["template", "add", BAD, "--level", "full", "--source", "/"], ["tape", "load", BAD],
    ["tape", "format", "--label", BAD], ["schedule", "add", "n", "--daily", BAD, "--action", "health_check"],
    ["backup", "--level", "full", "--source", "/", "--name", BAD],
])
def test_text_that_is_not_utf8_is_a_usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """`schedule show $'\\xff'` and others were internal errors (UnicodeEncodeError in SQLite)."""
    code, _, err = cli(argv, capsys)
    assert_clean_error(code, err)
    assert "\\xff" in err and "not UTF-8" in err


def test_paths_may_hold_any_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """File names are bytes: a path or a glob that is not UTF-8 is never refused as text."""
    src = Path(os.fsdecode(os.fsencode(tmp_path) + b"/s\xff"))
    src.mkdir()
    for argv in (["find", BAD], ["find", f"/x/{BAD}/*"],
                 ["schedule", "add", "n", "--daily", "02:00", "--action", "backup", "--level", "full",
                  "--source", str(src), "--exclude", f"*{BAD}"]):
        code, _, err = cli(argv, capsys)
        assert code == 0, err


@pytest.mark.parametrize("argv", [
    ["runs", "--limit=--"], ["find", "--limit=--", "x"],
    ["schedule", "add", "n", "--every=--", "--action", "health_check"],
    ["schedule", "add", "n", "--daily=--", "--action", "health_check"],
])
def test_an_option_given_as_double_dash_is_a_clear_error(argv: list[str],
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """argparse drops a `--` value and handed the option a list: internal errors
    (ProgrammingError binding a list, AttributeError: 'list' object has no attribute 'split')."""
    code, _, err = cli(argv, capsys)
    assert_clean_error(code, err)


@pytest.mark.parametrize("every", ["99999999999d", "36501d", "876001h"])
def test_an_interval_beyond_a_century_is_refused(every: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(["schedule", "add", "n", "--every", every, "--action", "health_check"], capsys)
    assert_clean_error(code, err)
    assert "at most 100 years" in err


def test_a_huge_find_glob_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """SQLite refuses a GLOB over 50,000 bytes: 'internal error: OperationalError:
    LIKE or GLOB pattern too complex' once the catalog held anything."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x")
    assert cli(["backup", "--level", "full", "--source", str(src), "--wait", "--quiet"], capsys)[0] == 0
    code, _, err = cli(["find", "a*" * 65_500], capsys)
    assert_clean_error(code, err)
    assert "131000 characters" in err


def test_tens_of_thousands_of_excludes_parse_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """argparse's time grows with the square of the options on a line: 20,000
    `--exclude` took about 20 s before it saw any of them (51,000: 93 s)."""
    globs = [f"/data/p{i}/*" for i in range(20_000)]
    start = time.monotonic()
    code, _, err = cli(["schedule", "add", "n", "--daily", "02:00", "--action", "backup", "--level", "full",
                        "--source", str(tmp_path), "--exclude", "first", *[f"--exclude={g}" for g in globs],
                        "--exclude", "--"], capsys)
    assert code == 0, err
    assert time.monotonic() - start < 10
    code, out, _ = cli(["schedule", "show", "n", "--json"], capsys)
    assert json.loads(out)["action_config"]["excludes"] == ["first", *globs, "--"]


def test_a_refused_restore_leaves_no_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x")
    out = str(tmp_path / "out")
    assert cli(["restore", "--to", out], capsys)[0] == 1  # nothing backed up yet
    assert cli(["backup", "--level", "full", "--source", str(src), "--wait", "--quiet"], capsys)[0] == 0
    for argv in (["restore", "--to", out, "relative/path"], ["restore", "--to", out, "--set", "99"],
                 ["restore", "--to", out, "--at", "2000-01-01"], ["restore", "--to", out, str(src / "nothing*")],
                 ["restore", "--to", out, str(src / "g")]):
        code, _, err = cli(argv, capsys)
        assert_clean_error(code, err)
    code, out_text, _ = cli(["runs", "--json"], capsys)
    assert [r["action"] for r in json.loads(out_text)] == ["backup"]


def test_config_check_of_a_missing_file_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Was '<file>: OK' for a file that is not there."""
    config = Home.single(tmp_path / "home").config_file
    code, out, _ = cli(["config", "check"], capsys)
    assert code == 0
    assert out.splitlines()[0] == f"{config}: no such file; the defaults below are in force " \
                                  "(it is written on first use)"
    assert not config.exists()
    assert '"exists": false' in cli(["config", "check", "--json"], capsys)[1]


def test_a_catalog_symlink_is_followed_and_a_dangling_one_made_where_it_points(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """(The catalog kept on another disk.) Where the link's folder is missing: one line."""
    db = Home.single(tmp_path / "home").db_path
    db.parent.mkdir(mode=0o700)
    (tmp_path / "disk").mkdir()
    db.symlink_to(tmp_path / "disk" / "catalog.db")
    assert cli(["runs"], capsys)[0] == 0
    assert (tmp_path / "disk" / "catalog.db").stat().st_size > 0 and db.is_symlink()
    db.unlink()
    db.symlink_to(tmp_path / "nowhere" / "catalog.db")
    code, _, err = cli(["runs"], capsys)
    assert_clean_error(code, err)
    assert "cannot create the catalog database: No such file or directory" in err
