"""The layers stay apart (docs/architecture.md, "Import rules"), checked in a fresh interpreter that imports
every module of a package and lists what came with it: the engine never imports
Textual; `tape/` (the drivers) never imports the drive policy, the store, events,
the engine core, the bus or run logs. `lint-imports` (.ci/run) checks the same
rules statically."""

import pkgutil
import subprocess
import sys

import tapetui.engine
import tapetui.engine.tape

#: What the drivers must not pull in: everything above them in the engine.
ABOVE_THE_DRIVERS = ("tapetui.engine.drive", "tapetui.engine.store", "tapetui.engine.events",
                     "tapetui.engine.core", "tapetui.engine.bus", "tapetui.engine.runlog")


def imported_with(package, forbidden: tuple[str, ...]) -> list[str]:
    """The modules named by (or under) `forbidden` that importing every module of
    `package` loads, in a fresh interpreter."""
    names = [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
    assert names, f"no modules under {package.__name__}"
    code = (
        "import importlib, sys\n"
        f"for n in {names!r}:\n"
        "    importlib.import_module(n)\n"
        f"bad = sorted(m for m in sys.modules if any(m == f or m.startswith(f + '.') for f in {forbidden!r}))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return [m for m in out.stdout.strip().split(",") if m]


def test_engine_modules_do_not_import_textual():
    assert "tapetui.engine.core" in [m.name for m in pkgutil.walk_packages(tapetui.engine.__path__, "tapetui.engine.")]
    assert imported_with(tapetui.engine, ("textual",)) == []


def test_the_drivers_import_nothing_above_them():
    assert imported_with(tapetui.engine.tape, ABOVE_THE_DRIVERS) == []


def test_the_check_sees_what_is_above_the_drivers():
    # the whole engine does load those modules: the check would see one in tape/
    assert "tapetui.engine.events" in imported_with(tapetui.engine, ABOVE_THE_DRIVERS)
