"""`--json` where the README promises it (issue 16, item 15), with its keys in
docs/cli.md, and `schedule preview` saying what it left out (item 14)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from daemon_support import Daemon, make_home, tapetui
from test_cli_catalog import cli

from tapetui.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[1]

#: Commands that do something and print its outcome, or print a file: not lists.
NOT_LISTS = {
    "daemon": "runs the daemon",
    "config defaults": "prints a config file (TOML) to start from",
    "tape load": "an action", "tape unload": "an action", "tape format": "an action", "tape check": "an action",
    "schedule add": "an action", "schedule edit": "an action", "schedule enable": "an action",
    "schedule disable": "an action", "schedule delete": "an action", "schedule stop": "an action",
    "schedule run": "an action (its run: `log RUN_ID --json`)",
    "template add": "an action", "template delete": "an action",
    "backup": "an action (its run: `log RUN_ID --json`)",
    "restore": "an action (its run: `log RUN_ID --json`)",
    "verify": "an action", "catalog import": "an action",
}


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command words, its parser) for every command that does something itself."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if path and not any(a.required for a in subs):  # `tapetui daemon` runs without an ACTION too
        yield " ".join(path), parser
    for sub in subs:
        for name, child in sub.choices.items():
            yield from _commands(child, (*path, name))


def test_every_command_that_lists_things_takes_json() -> None:
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert "Every command that lists things takes `--json`" in readme
    commands = dict(_commands(build_parser()))
    without = {name for name, p in commands.items() if not any("--json" in a.option_strings for a in p._actions)}
    assert without == set(NOT_LISTS), "a new command: give it --json or say why it lists nothing"
    assert {"log", "runs", "find", "schedule preview", "template show", "daemon status"} <= set(commands) - without


def _documented(opening: str) -> str:
    """The paragraph of docs/cli.md that starts with `opening`."""
    text = (ROOT / "docs" / "cli.md").read_text()
    start = text.index(opening)
    return text[start:text.find("\n\n", start)]


def _keys_documented(data: dict, opening: str) -> None:
    paragraph = _documented(opening)
    missing = [k for k in data if f"`{k}`" not in paragraph]
    assert not missing, f"{missing} not in docs/cli.md's {opening!r}"


def test_log_json_and_the_documented_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home, src = tmp_path / "home", tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a")
    assert cli(home, "template", "add", "docs", "--source", str(src), "--level", "full") == 0
    assert cli(home, "backup", "--level", "full", "--source", str(src), "--wait", "--quiet") == 0
    capsys.readouterr()

    assert cli(home, "log", "1", "--json") == 0
    log = json.loads(capsys.readouterr().out)
    assert log["run"]["id"] == 1 and log["run"]["status"] == "success"
    assert any("full backup" in ln["text"] for ln in log["lines"])
    assert {ln["level"] for ln in log["lines"]} <= {"info", "warning", "error", "tool"}
    _keys_documented(log, "`log RUN_ID --json`")
    _keys_documented(log["lines"][0], "`log RUN_ID --json`")

    assert cli(home, "template", "show", "docs", "--json") == 0
    _keys_documented(json.loads(capsys.readouterr().out), "`template show NAME --json`")

    assert cli(home, "daemon", "status", "--json") == 3
    _keys_documented(json.loads(capsys.readouterr().out), "JSON when one answers")


def test_daemon_status_json_keys_are_documented_when_one_answers(tmp_path: Path) -> None:
    daemon = Daemon(make_home(tmp_path)).start()
    try:
        status = json.loads(tapetui(daemon.home, "daemon", "status", "--json").stdout)
    finally:
        daemon.stop()
    assert status["running"] is True and status["pid"] == daemon.pid
    _keys_documented(status, "JSON when one answers")


def test_schedule_preview_says_how_many_firings_it_left_out(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    assert cli(home, "schedule", "add", "often", "--action", "cleanup", "--every", "1m") == 0
    assert cli(home, "schedule", "add", "daily", "--action", "cleanup", "--daily", "03:00") == 0
    capsys.readouterr()
    assert cli(home, "schedule", "preview", "--days", "1", "--json") == 0
    preview = json.loads(capsys.readouterr().out)
    often = [f for f in preview["firings"] if f["schedule"] == "often"]
    assert len(often) == 500 and preview["truncated"] is True
    assert preview["left_out"] == {"often": 1440 - 500}  # every minute of one day, the cap listed
    assert [f["schedule"] for f in preview["firings"]].count("daily") == 1
    _keys_documented(preview, "`schedule preview --json`")

    assert cli(home, "schedule", "preview", "--days", "1") == 0
    assert "'often': its first 500 firings shown, 940 more in the window left out" in capsys.readouterr().out
    assert cli(home, "schedule", "preview", "--days", "0.25", "--json") == 0
    quarter = json.loads(capsys.readouterr().out)
    assert quarter["truncated"] is False and quarter["left_out"] == {}
    assert len([f for f in quarter["firings"] if f["schedule"] == "often"]) == 360
