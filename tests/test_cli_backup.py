"""`tapetui backup` on a fresh home: no other step, no name needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tapetui.cli.main import main


def test_backup_on_a_fresh_home_without_a_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home, src = tmp_path / "home", tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "a.txt").write_text("alpha")
    def backup(level: str) -> int:
        return main(["--home", str(home), "backup", "--level", level, "--source", str(src), "--wait"])

    assert backup("full") == 0
    (src / "b.txt").write_text("beta")
    assert backup("incremental") == 0  # most likely the same minute: still a new name
    capsys.readouterr()
    assert main(["--home", str(home), "schedule", "list", "--json"]) == 0
    names = [s["name"] for s in json.loads(capsys.readouterr().out)]
    assert len(names) == 2 and len(set(names)) == 2 and all(n.startswith("backup ") for n in names)
    assert main(["--home", str(home), "sets", "--json"]) == 0
    sets = json.loads(capsys.readouterr().out)["sets"]
    assert [(s["level"], s["complete"]) for s in sets] == [("incremental", True), ("full", True)]
