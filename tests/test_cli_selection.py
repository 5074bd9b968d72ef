"""Restore by pattern and from `find` (issue 16, item 13), and `find` saying it
stopped at --limit (item 14): `--include`/`--exclude` on whole paths, PATHs that
are globs, `restore --find`, and `find --json | restore --from-json -`, names that
are not UTF-8 included (they travel as \\udcXX and come back to the same bytes)."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import pytest
from test_backup_support import write
from test_cli_catalog import cli

from tapetui.engine.backup.errors import BackupInputError
from tapetui.engine.backup.selection import Selection
from tapetui.engine.daemon.protocol import decode, encode

BAD = "\udcff"  # the byte 0xff of a name that is not UTF-8, in host form


def _pick(state: list[str], paths=(), globs=(), include=(), exclude=()) -> list[str]:
    return sorted(Selection.of(list(paths), list(globs), list(include), list(exclude)).apply(dict.fromkeys(state)))


TREE = ["/d", "/d/a.conf", "/d/b.txt", "/d/cache", "/d/cache/c.conf", "/d/sub", "/d/sub/x.conf", "/e", "/e/y.txt"]


def test_globs_match_whole_paths_or_names_and_a_folder_brings_its_contents() -> None:
    assert _pick(TREE, include=["*.conf"]) == ["/d", "/d/a.conf", "/d/cache", "/d/cache/c.conf", "/d/sub",
                                               "/d/sub/x.conf"]  # with the folders above them
    assert _pick(TREE, include=["*.conf"], exclude=["cache"]) == ["/d", "/d/a.conf", "/d/sub", "/d/sub/x.conf"]
    assert _pick(TREE, globs=["/d/s*"]) == ["/d", "/d/sub", "/d/sub/x.conf"]
    assert _pick(TREE, paths=["/e"], globs=["/d/*.txt"]) == ["/d", "/d/b.txt", "/e", "/e/y.txt"]
    assert _pick(TREE, exclude=["/d/*"]) == ["/d", "/e", "/e/y.txt"]
    assert _pick(TREE, paths=["/d/sub"]) == ["/d/sub", "/d/sub/x.conf"]
    assert Selection.of([], ["/d/*/x", "/e/y*"], [], []).prefixes() == ["/d", "/e"]
    assert Selection.of([], ["*.conf"], [], []).prefixes() == []  # every path may match


def test_a_selection_that_names_nothing_is_refused_in_one_line() -> None:
    with pytest.raises(BackupInputError, match="nothing matches '/nope/\\*'"):
        _pick(TREE, globs=["/nope/*"])
    with pytest.raises(BackupInputError, match="leave nothing of the selection"):
        _pick(TREE, paths=["/e"], include=["*.conf"])
    with pytest.raises(BackupInputError, match="absolute paths"):
        _pick(TREE, paths=["d"])
    with pytest.raises(BackupInputError, match="NUL"):
        _pick(TREE, exclude=["a\0b"])


def test_the_daemon_protocol_carries_names_that_are_not_utf8() -> None:
    """A restore of such a path through the daemon was an internal error (UnicodeEncodeError)."""
    line = encode({"args": {"paths": [f"/d/n{BAD}m"]}})
    line.decode("utf-8")
    assert decode(line) == {"args": {"paths": [f"/d/n{BAD}m"]}}


@pytest.fixture
def catalogued(tmp_path: Path) -> tuple[Path, Path]:
    home, src = tmp_path / "home", tmp_path / "src"
    write(src / "etc" / "a.conf", "a")
    write(src / "etc" / "cache" / "c.conf", "c")
    write(src / "etc" / "notes.txt", "notes")
    write(src / "data" / "[x].bin", "brackets")  # a name a glob cannot name literally
    with open(os.fsencode(src / "data") + b"/n\xffm.conf", "wb") as f:
        f.write(b"not utf-8")
    assert cli(home, "backup", "--level", "full", "--source", str(src), "--wait") == 0
    return home, src


def _restored(out: Path) -> list[bytes]:
    root = os.fsencode(out)
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root) for f in files)


def _stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


def test_find_json_piped_to_restore_from_json_restores_exactly_those_names(
        catalogued: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    home, src = catalogued
    capsys.readouterr()
    assert cli(home, "find", "*.conf", "--json") == 0
    found = capsys.readouterr().out
    found.encode("utf-8")  # valid UTF-8: the byte that is not is written \udcff
    assert "n\\udcffm.conf" in found and json.loads(found)["truncated"] is False
    assert cli(home, "find", "[[]x].bin", "--json") == 0
    brackets = capsys.readouterr().out

    out = tmp_path / "out"
    _stdin(monkeypatch, found.encode())
    assert cli(home, "restore", "--to", str(out), "--from-json", "-") == 0
    base = os.fsencode(src).lstrip(b"/")
    assert _restored(out) == sorted([base + b"/data/n\xffm.conf", base + b"/etc/a.conf",
                                     base + b"/etc/cache/c.conf"])
    with open(os.fsencode(out) + b"/" + base + b"/data/n\xffm.conf", "rb") as f:
        assert f.read() == b"not utf-8"

    (tmp_path / "found.json").write_text(brackets)  # a path with '[' is exact, never a glob
    assert cli(home, "restore", "--to", str(tmp_path / "out2"), "--from-json", str(tmp_path / "found.json")) == 0
    assert _restored(tmp_path / "out2") == [base + b"/data/[x].bin"]


def test_restore_by_glob_path_include_exclude_and_find(
        catalogued: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home, src = catalogued
    base = os.fsencode(src).lstrip(b"/")
    assert cli(home, "restore", "--to", str(tmp_path / "o1"), f"{src}/etc/*.conf", "--exclude", "cache") == 0
    assert _restored(tmp_path / "o1") == [base + b"/etc/a.conf"]
    assert cli(home, "restore", "--to", str(tmp_path / "o2"), str(src), "--include", "*.conf",
               "--exclude", f"{src}/etc/*") == 0
    assert _restored(tmp_path / "o2") == [base + b"/data/n\xffm.conf"]
    assert cli(home, "restore", "--to", str(tmp_path / "o3"), "--find", "notes.txt") == 0
    assert _restored(tmp_path / "o3") == [base + b"/etc/notes.txt"]
    capsys.readouterr()
    assert cli(home, "restore", "--to", str(tmp_path / "o4"), "--find", "nothing-like-it") == 1
    err = capsys.readouterr().err
    assert "nothing matches 'nothing-like-it'" in err and "Traceback" not in err
    assert cli(home, "runs", "--json") == 0
    runs = json.loads(capsys.readouterr().out)
    last_restored = runs[0]  # the --find notes.txt run (the refused one left none): its log says why
    assert last_restored["status"] == "success" and len([r for r in runs if r["action"] == "restore"]) == 3
    assert cli(home, "log", str(last_restored["id"])) == 0
    assert "selected by pattern: matching 'notes.txt'" in capsys.readouterr().out


def test_from_json_refuses_an_empty_or_cut_short_list_rather_than_restore_everything(
        catalogued: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    home, _ = catalogued
    out = tmp_path / "out"
    _stdin(monkeypatch, b'{"entries": [], "truncated": false}')
    assert cli(home, "restore", "--to", str(out), "--from-json", "-") == 1
    assert "lists no paths: nothing to restore" in capsys.readouterr().err
    capsys.readouterr()
    assert cli(home, "find", "*", "--limit", "2", "--json") == 0
    cut = capsys.readouterr().out
    _stdin(monkeypatch, cut.encode())
    assert cli(home, "restore", "--to", str(out), "--from-json", "-") == 1
    assert "stopped at its --limit" in capsys.readouterr().err
    _stdin(monkeypatch, b"[1, 2]")
    assert cli(home, "restore", "--to", str(out), "--from-json", "-") == 1
    assert "is not the output of 'tapetui find --json'" in capsys.readouterr().err
    assert not out.exists()


def test_find_says_when_it_stopped_at_its_limit(catalogued: tuple[Path, Path],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    home, _ = catalogued
    capsys.readouterr()
    assert cli(home, "find", "*.conf", "--limit", "2", "--json") == 0
    cut = json.loads(capsys.readouterr().out)
    assert len(cut["entries"]) == 2 and cut["truncated"] is True
    assert cli(home, "find", "*.conf", "--limit", "3", "--json") == 0
    whole = json.loads(capsys.readouterr().out)
    assert len(whole["entries"]) == 3 and whole["truncated"] is False
    assert cli(home, "find", "*.conf", "--limit", "2") == 0
    assert "stopped at --limit 2: more entries match" in capsys.readouterr().out
    assert cli(home, "find", "*.conf", "--limit", "3") == 0
    assert "stopped at" not in capsys.readouterr().out
