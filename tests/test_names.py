"""Names are bytes (issue 15, item 9): one name that is not UTF-8 stopped every
backup of its tree on f8fad7c (`internal error: UnicodeEncodeError ... surrogates
not allowed`). Now it is catalogued in an escaped form that round-trips, shown
as \\xNN, and restored to the same bytes; a name the tape cannot hold is a
warning naming it (item 10)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_backup_support import open_engine, run_log, write

from tapetui.cli.main import main
from tapetui.engine.backup.engine import BackupRequest, run_backup
from tapetui.engine.events import LogLine
from tapetui.engine.names import ESC, from_catalog, shown, to_catalog


@settings(deadline=None)  # a loaded CI machine must not fail a pure function on time
@given(st.binary(min_size=1, max_size=40).filter(lambda b: b"/" not in b and b"\0" not in b))
def test_every_name_round_trips_through_the_catalog_form(raw: bytes) -> None:
    host = os.fsdecode(raw)
    text = to_catalog(host)
    text.encode("utf-8")  # what SQLite, JSON and LTFS need
    assert os.fsencode(from_catalog(text)) == raw
    assert shown(host).encode("utf-8") and "\\x" in shown(host) or raw.decode("utf-8") == shown(host)


@settings(deadline=None)  # a loaded CI machine must not fail a pure function on time
@given(st.text(max_size=30))
def test_a_name_that_is_text_is_its_own_catalog_form_unless_it_holds_the_escape(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return
    assert (to_catalog(text) == text) == (ESC not in text)
    assert from_catalog(to_catalog(text)) == text


def test_a_non_utf8_name_backs_up_restores_and_shows_escaped(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    home, src, out = tmp_path / "home", tmp_path / "s", tmp_path / "out"
    src.mkdir()
    raw = os.fsencode(src)
    with open(raw + b"/\xff.txt", "wb") as f:
        f.write(b"x")
    write(src / "a\\b.txt", "backslash")
    assert main(["--home", str(home), "backup", "--level", "full", "--source", str(src), "--wait"]) == 0
    capsys.readouterr()
    assert main(["--home", str(home), "ls", "1"]) == 0
    listing = capsys.readouterr().out
    assert "\\xff.txt" in listing and "a\\b.txt" in listing
    assert main(["--home", str(home), "restore", "--to", str(out)]) == 0
    restored = os.fsencode(out) + raw
    assert sorted(os.listdir(restored)) == [b"a\\b.txt", b"\xff.txt"]
    with open(restored + b"/\xff.txt", "rb") as f:
        assert f.read() == b"x"


async def test_a_name_the_tape_cannot_hold_is_a_warning_naming_it(tmp_path: Path) -> None:
    """255 bytes that are not UTF-8 are a legal name here, but six times as long in
    catalog form: more than any volume takes (the sim's folder, like LTFS, refuses it)."""
    src = tmp_path / "src"
    write(src / "fine.txt", "fine")
    with open(os.fsencode(src) + b"/" + b"\xff" * 200, "wb") as f:
        f.write(b"unstorable")
    engine = await open_engine(tmp_path / "home")
    lines: list[str] = []
    engine.bus.subscribe(lambda e: lines.append(e.text), LogLine)
    try:
        result = await run_backup(engine, BackupRequest(sources=[str(src)]), run_log(engine))
        assert result.status == "warning" and result.files == 1 and result.unreadable == 1
        assert any("\\xff\\xff" in line and "not backed up" in line for line in lines), lines
    finally:
        await engine.close()
