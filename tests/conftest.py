"""Shared fixtures. Every test runs on its own temporary home."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tapetui.engine.paths import HOME_ENV, Home

SNAPSHOT_DIR = Path(__file__).resolve().parent.parent / "snapshots"

# Keep accepted SVGs in the top-level snapshots/ folder (docs/architecture.md, "Where a new X goes"): the plugin
# stores them next to the tests unless its extension's dirname is overridden.
from pytest_textual_snapshot import SVGImageExtension  # noqa: E402


def _dirname(cls, *, test_location) -> str:  # noqa: ANN001
    return str(SNAPSHOT_DIR / Path(test_location.filepath).stem)


SVGImageExtension.dirname = classmethod(_dirname)  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may touch the real platform dirs."""
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))


# The stand-in tools start with `#!/usr/bin/env python3`: let that find this
# interpreter first (it skips slow shims and has the same packages).
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home.single(tmp_path / "home")
