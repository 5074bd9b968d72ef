"""The engine never imports Textual (DESIGN.md): checked in a fresh interpreter."""

import pkgutil
import subprocess
import sys

import tapetui.engine


def test_engine_modules_do_not_import_textual():
    names = [m.name for m in pkgutil.walk_packages(tapetui.engine.__path__, "tapetui.engine.")]
    assert "tapetui.engine.core" in names
    code = (
        "import importlib, sys\n"
        f"for n in {names!r}:\n"
        "    importlib.import_module(n)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"engine pulled in Textual: {out.stdout}"
