"""Issue 16 items 10, 17, 19, 20: messages that say why, the month check on every
backup with a one-off override, medium health (TapeAlert flags, error counters),
and what the README promises a new user."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from test_console_flows import SIZE, new_app, settle, source_tree, started, until
from test_handlers import Rig, rig  # noqa: F401 - fixtures
from test_ltfs_driver import BLANK, formatted, world  # noqa: F401 - fixtures
from test_ltfs_driver import driver as ltfs_driver
from test_tape_ops import NOV, OCT, Clock, Lines, clock, engine, prepare  # noqa: F401 - fixtures
from standin_state import init_state  # noqa: I001 - on the path once test_ltfs_driver is imported

from tapetui.cli.main import main
from tapetui.console.dialogs.confirm import ConfirmScreen
from tapetui.engine.core import Engine
from tapetui.engine.tape import medium_health as mh
from tapetui.engine.drive import TapeOps, month_refusal

README = Path(__file__).resolve().parents[1] / "README.md"


def last_months_label(now: datetime) -> str:
    year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    return f"TP{year}{month:02d}01"


# ---- item 10: messages that say why -------------------------------------------------------


def test_the_month_refusal_names_the_cartridge_and_its_month() -> None:
    assert month_refusal("TP20251001", "TP20251001", NOV) == \
        "TP20251001 is last month's (2025-10); the month check protects it"
    assert month_refusal("TP20250801", "TP20250801", NOV) == "TP20250801 is from 2025-08; the month check protects it"
    assert month_refusal("TP20251101", "TP20251101", NOV) is None
    assert month_refusal("ARCHIVE", "ARCHIVE", NOV, OCT) == "ARCHIVE is last month's (2025-10); the month check protects it"


async def test_a_run_that_swaps_the_loaded_cartridge_says_why(engine: Engine, clock: Clock) -> None:
    """Was "unloading TPA001L8 (TP20251001): not usable for this run"."""
    await prepare(engine, clock, "TPA001L8", "TP20251001", OCT)
    for level in ("differential", "full"):
        log = Lines()
        await TapeOps(engine).ensure_loaded("auto", log, for_level=level)
        assert log.of("info")[0] == ("unloading TPA001L8 (TP20251001): TP20251001 is last month's (2025-10); "
                                     "the month check protects it")
        await engine.driver.unload()
        await engine.driver.load("TPA001L8")


def cli(home: Path, *argv: str) -> int:
    return main(["--home", str(home), *argv])


def test_loading_an_unknown_cartridge_into_a_full_drive_names_it(tmp_path: Path, capsys) -> None:
    """Was "the drive holds TPA001L8; unload it before loading NOPE": unloading would not help."""
    home = tmp_path / "home"
    assert cli(home, "tape", "load", "TPA001L8") == 0
    capsys.readouterr()
    assert cli(home, "tape", "load", "NOPE") == 1
    assert capsys.readouterr().err.strip() == "tapetui: error: no cartridge NOPE in the library"


def test_a_full_run_by_hand_calls_its_format_scheduled(tmp_path: Path, capsys) -> None:
    """The format inside a full backup is the schedule's, not a "manual format"."""
    home, src = tmp_path / "home", source_tree(tmp_path / "src", files=2)
    assert cli(home, "backup", "--level", "full", "--source", str(src), "--name", "f", "--wait") == 0
    log = capsys.readouterr().out
    assert "scheduled format before the full backup: label TP" in log and "(a blank cartridge)" in log
    assert "manual format" not in log


# ---- item 17: the month check on every backup, and its one-off override ---------------------


def last_months_tape_loaded(tmp_path: Path, capsys) -> tuple[Path, Path, str]:
    """A home whose drive holds TPA001L8 formatted as last month's; a source folder."""
    home, src = tmp_path / "home", source_tree(tmp_path / "src", files=2)
    label = last_months_label(datetime.now())
    assert cli(home, "tape", "load", "TPA001L8") == 0
    assert cli(home, "tape", "format", "--label", label) == 0
    capsys.readouterr()
    return home, src, label


def test_a_manual_backup_is_month_checked_and_can_lift_it_once(tmp_path: Path, capsys) -> None:
    home, src, label = last_months_tape_loaded(tmp_path, capsys)
    backup = ["backup", "--level", "incremental", "--source", str(src), "--cartridge-policy", "loaded", "--wait"]
    assert cli(home, *backup) == 1
    out = capsys.readouterr().out
    assert f"failed - {label} is last month's" in out and "run it by hand with --no-month-check" in out

    assert cli(home, *backup, "--no-month-check") == 0
    out = capsys.readouterr().out
    assert f"month check lifted for this run by the operator (--no-month-check): {label} is last month's" in out

    assert cli(home, *backup) == 1  # one run only: the next is checked again
    assert "the month check protects it" in capsys.readouterr().out


def test_schedule_run_takes_the_override_too(tmp_path: Path, capsys) -> None:
    home, src, label = last_months_tape_loaded(tmp_path, capsys)
    assert cli(home, "schedule", "add", "d", "--daily", "02:00", "--action", "backup", "--level", "differential",
               "--source", str(src), "--cartridge-policy", "loaded") == 0
    assert cli(home, "schedule", "run", "d", "--wait", "--quiet") == 1
    assert cli(home, "schedule", "run", "d", "--wait", "--quiet", "--no-month-check") == 0


async def test_run_now_asks_before_lifting_the_month_check_naming_the_cartridge(tmp_path: Path) -> None:
    src = source_tree(tmp_path / "src", files=2)
    async with new_app(tmp_path).run_test(size=SIZE) as pilot:
        app = await started(pilot)
        label = last_months_label(app.now())
        await app.service.load("TPA001L8")
        await app.service.format(label, force=True)
        await app.service.add("d", kind="daily", when="02:00", action="backup", action_config={
            "level": "incremental", "sources": [str(src)], "cartridge_policy": "loaded"})
        await pilot.press("1")
        await settle(pilot)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        body = str(app.screen.query_one("#confirm-body").render())
        assert f"{label} is last month's" in body and "the month check protects it" in body
        assert "this run only" in body
        await pilot.press("enter")  # No has the focus: nothing runs
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        await settle(pilot)
        assert await app.service.run_list() == []

        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: not app.live.state.running and app.session.control.scheduler.running == {})
        await settle(pilot)
        [run] = await app.service.run_list()
        assert run.status == "success", run.message
        lines = [x.line for x in await app.service.runs.lines(run.id)]
        assert any(t.startswith("month check lifted for this run by the operator") for t in lines)


# ---- item 19: medium health --------------------------------------------------------------


async def health_of(rig: Rig) -> dict:
    """The result of a health_check run, and its status."""
    if await rig.service.schedules.find("h") is None:
        await rig.service.add("h", kind="daily", when="05:00", action="health_check")
    run = await rig.service.run_now("h", wait=True)
    run = await rig.service.runs.get(run.id)
    return {"status": run.status, "message": run.message, **run.result}


async def test_health_check_reports_tapealert_flags_by_name_and_fails_on_a_critical_one(rig: Rig) -> None:
    driver = rig.engine.driver
    await driver.load("TPA001L8")
    found = await health_of(rig)
    assert found["medium"]["state"] == "ok" and found["medium"]["tapealert"] == []
    assert found["medium"]["detail"] == ("TPA001L8: TapeAlert none; no error counters readable by the sim driver")

    driver.set_tapealert("TPA001L8", [19])  # nearing media life: informational, still worth a warning
    found = await health_of(rig)
    assert found["status"] == "warning" and found["medium"]["state"] == "warning"
    assert found["medium"]["tapealert"] == ["nearing media life"] and found["medium"]["critical"] == []

    driver.set_tapealert("TPA001L8", [1, 20])  # read warning, clean now (critical)
    found = await health_of(rig)
    assert found["status"] == "failed" and found["medium"]["state"] == "failed"
    assert found["medium"]["critical"] == ["clean now"]
    assert "medium: TPA001L8: TapeAlert read warning, clean now (critical)" in found["message"]


async def test_the_ltfs_driver_reads_the_same_flags_and_keys_mounted_or_not(world, tmp_path) -> None:
    """The cartridge memory (unmounted) and LTFS's ltfs.mediaStorageAlert (mounted) number
    flags from opposite ends; both name flag 1 and flag 20 the same, under the same keys."""
    init_state(world, {BLANK: formatted(tapealert=(1 << 63) | (1 << 44))}, loaded=BLANK)
    d = ltfs_driver(tmp_path)
    unmounted = (await d.status()).health
    await d.mount()
    try:
        mounted = (await d.status()).health
    finally:
        await d.unmount()
    for health in (unmounted, mounted):
        assert health[mh.TAPEALERT] == "read warning, clean now"
        assert health[mh.LOAD_COUNT] == "0" and health[mh.SOFT_ERRORS] == "0"  # mt status
    assert mh.counters(mounted) == {mh.RECOVERED_WRITE_ERRORS: 0, mh.PERMANENT_WRITE_ERRORS: 0,
                                    mh.RECOVERED_READ_ERRORS: 0, mh.SOFT_ERRORS: 0}  # -1: not supported
    assert set(mh.COUNTERS) | {mh.TAPEALERT, mh.LOAD_COUNT, mh.WRITTEN_MIB} >= set(unmounted) | set(mounted)


async def test_the_tapes_screen_shows_the_flags_by_name(tmp_path: Path) -> None:
    async with new_app(tmp_path).run_test(size=SIZE) as pilot:
        app = await started(pilot)
        await app.service.load("TPA001L8")
        app.engine.driver.set_tapealert("TPA001L8", [1, 20])
        await pilot.press("4")
        await until(pilot, lambda: "Health" in str(app.screen.query_one("#drive").render()))
        text = str(app.screen.query_one("#drive").render())
        assert "Health ⚠ TapeAlert read warning, clean now (critical) · load count 1" in text


# ---- item 20: the README ----------------------------------------------------------------------


def test_the_readme_says_where_the_first_command_keeps_state_and_how_long_the_suite_takes() -> None:
    text = README.read_text()
    start = text[:text.index("## The console")]
    assert re.search(r"about \d+ minutes", start)  # how long a newcomer waits
    assert re.search(r"platform folders.*unless\s+`TAPETUI_HOME=DIR` or `--home DIR`", start, re.DOTALL)
