"""The backup action against the sim library: month check, format once with the
right label, cartridge records, a failed format or record update as warnings,
stop mid-backup, the max full interval, templates, and the success webhook."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tapetui.engine.events import LogLine
from tapetui.engine.notify import NotifyConfig
from tapetui.engine.tape.base import OpResult
from tapetui.engine.tape.sim import SimConfig, SimDriver
from test_scheduler import Rig, SimClock, open_engine

OCT = datetime(2026, 10, 20, 2, 0).astimezone()
NOV = datetime(2026, 11, 3, 2, 0).astimezone()


class CountingSim(SimDriver):
    """The sim library, counting formats; `fail_format` makes mkltfs fail."""

    def __init__(self, *a: Any, **k: Any) -> None:
        super().__init__(*a, **k)
        self.formats: list[str] = []
        self.fail_format = False

    async def format(self, label: str, serial: str | None = None, force: bool = False, on_line=None) -> OpResult:
        self.formats.append(label)
        if self.fail_format:
            return OpResult(False, "mkltfs failed: medium error", returncode=1)
        return await super().format(label, serial, force=force, on_line=on_line)


@pytest.fixture
async def bk(home, tmp_path: Path):
    clock = SimClock(OCT)
    driver = CountingSim(home.sim_root, SimConfig(capacity_bytes=256 << 20, slots=4, initial_cartridges=2),
                         clock=clock)
    engine = await open_engine(home, clock)
    await engine.driver.close()
    engine.driver = driver
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    for i in range(5):
        (src / "d" / f"f{i}.bin").write_bytes(bytes([i]) * 5000)
    rig = Rig(engine, clock)
    rig.src = src
    yield rig
    await rig.scheduler.close()
    await engine.close()


async def _add(rig: Rig, name: str, **cfg: Any) -> None:
    cfg.setdefault("sources", [str(rig.src)])
    await rig.service.add(name, kind="daily", when="02:00", action="backup", action_config=cfg)


async def _fire(rig: Rig, name: str, at: datetime, allow_format: str | None = None) -> Any:
    """An automatic firing of `name` at `at`."""
    rig.clock.now = at
    row = await rig.service.get(name)
    run_id = await rig.scheduler.launch(row, "auto", at, allow_format=allow_format)
    await asyncio.wait_for(rig.scheduler.wait(run_id), 30)
    return await rig.service.runs.get(run_id)


async def test_scheduled_full_formats_once_with_this_months_label(bk: Rig) -> None:
    await _add(bk, "full", level="full")
    run = await _fire(bk, "full", OCT)
    assert run.status == "success", run.message
    assert bk.engine.driver.formats == ["TP20261001"]
    backup = await bk.engine.sets.get_run(run.backup_run_id)
    s = await bk.engine.sets.get(run.set_id)
    assert backup.schedule_run_id == run.id and s.complete and s.files == 5
    assert run.result["cartridges"] == s.cartridges and run.result["format"]["new_label"] == "TP20261001"
    (cart,) = [c for c in await bk.engine.cartridges.all() if c.label]
    assert cart.label == "TP20261001" and cart.barcode == s.cartridges[0]


async def test_month_check_fails_on_last_months_tape_and_notifies(bk: Rig) -> None:
    await _add(bk, "full", level="full")
    assert (await _fire(bk, "full", OCT)).status == "success"
    await _add(bk, "inc", level="differential", cartridge_policy="loaded")
    run = await _fire(bk, "inc", NOV)
    assert run.status == "failed"
    assert run.message.startswith("TP20261001 is last month's (2026-10); the month check protects it. "
                                  "This month is 2026-11: change the tape")
    assert run.backup_run_id is None and bk.engine.driver.formats == ["TP20261001"]


async def test_month_check_passes_on_this_months_tape(bk: Rig) -> None:
    await _add(bk, "full", level="full")
    await _fire(bk, "full", OCT)
    await _add(bk, "diff", level="differential", cartridge_policy="loaded")
    run = await _fire(bk, "diff", OCT + timedelta(days=2))
    assert run.status == "success" and run.result["level"] == "differential"
    assert bk.engine.driver.formats == ["TP20261001"]  # no format for a differential


async def test_a_failed_format_is_a_warning_and_the_backup_goes_on(bk: Rig) -> None:
    await _add(bk, "full", level="full")
    first = await _fire(bk, "full", OCT)
    bk.engine.driver.fail_format = True
    await _add(bk, "again", level="full", cartridge_policy="loaded")  # 'auto' would take a blank one
    run = await _fire(bk, "again", OCT + timedelta(days=1), allow_format="TPA001L8")  # it holds the last full
    assert bk.engine.driver.formats == ["TP20261001", "TP20261001"]  # once per run, never twice
    lines = [ln.line for ln in await bk.service.runs.lines(run.id)]
    assert "format failed: mkltfs failed: medium error" in lines
    assert "the format before the full backup failed; the backup goes on" in lines
    assert run.result["format"]["ok"] is False
    assert run.status == "warning" and run.set_id != first.set_id
    assert (await bk.engine.sets.get(run.set_id)).complete


async def test_a_full_takes_a_blank_cartridge_before_formatting_away_catalogued_sets(bk: Rig) -> None:
    """An incremental with no full of its own sources (here: other patterns) runs as
    a full, and a full formats: in a library it takes a blank cartridge rather than
    the loaded one that holds another backup's sets; with no blank left it formats
    the loaded one only with the operator's yes (it holds that backup's last full),
    and the run ends with a warning naming the sets destroyed."""
    await _add(bk, "full", level="full")
    first = await _fire(bk, "full", OCT)
    await _add(bk, "inc", level="incremental", excludes=["*.tmp"])
    risk = await bk.service.format_risk("inc")
    assert risk is None  # a blank one is free: nothing would be destroyed
    run = await _fire(bk, "inc", OCT + timedelta(hours=1))
    assert run.status == "success" and run.result["level"] == "full"
    assert run.result["cartridges"] != first.result["cartridges"]
    assert (await bk.engine.sets.get(first.set_id)).complete
    lines = [ln.line for ln in await bk.service.runs.lines(run.id)]
    assert any(ln.startswith(f"unloading {first.result['cartridges'][0]}") and "a blank one is used instead" in ln
               for ln in lines), lines

    assert all(c.formatted for c in await bk.engine.driver.inventory())  # both cartridges used: no blank left
    await bk.engine.driver.unload()
    await bk.engine.driver.load(first.result["cartridges"][0])
    await _add(bk, "other", level="incremental", excludes=["*.bak"])
    risk = await bk.service.format_risk("other")
    assert risk is not None and risk.barcode == first.result["cartridges"][0]
    assert [s.id for s in risk.sets] == [first.set_id] and "no complete full backup" in risk.why
    assert risk.last_states == [f"set {first.set_id} (full), the last restorable backup of {bk.src}"]
    run = await _fire(bk, "other", OCT + timedelta(hours=2), allow_format=risk.barcode)
    assert run.status == "warning" and run.result["format"]["overwritten_sets"] == [first.set_id]
    assert run.result["format_warnings"] == [
        f"the format before this full backup destroyed 1 catalogued backup set(s) on the cartridge: #{first.set_id}"]
    assert (await bk.engine.sets.get(first.set_id)).status == "overwritten"


HOLDER = """
import fcntl, json, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, json.dumps({"pid": os.getpid(), "who": "run #99 'other' (backup)"}).encode())
print("held", flush=True)
sys.stdin.read()  # until the test closes it
"""


async def test_a_backup_waits_while_another_process_uses_the_drive(bk: Rig) -> None:
    """Two backups at once (two schedules, a CLI run beside a console's) once both
    loaded, formatted and wrote one cartridge, the second destroying the set the
    first was writing. The drive is now held by one run at a time, across processes."""
    from tapetui.engine.control import DriveBusy, LocalControl

    path = bk.engine.home.drive_lock_path
    path.parent.mkdir(parents=True, exist_ok=True)
    other = await asyncio.create_subprocess_exec(sys.executable, "-c", HOLDER, str(path),
                                                 stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    try:
        assert await asyncio.wait_for(other.stdout.readline(), 30) == b"held\n"
        with pytest.raises(DriveBusy, match="in use by run #99 'other' \\(backup\\)"):
            await LocalControl(bk.engine).load("TPA002L8")
        lines: list[str] = []
        bk.engine.bus.subscribe(lambda e: lines.append(e.text), LogLine)
        await _add(bk, "full", level="full")
        bk.clock.now = OCT
        run_id = await bk.scheduler.launch(await bk.service.get("full"), "auto", OCT)
        for _ in range(200):
            if any("waiting for the drive" in ln for ln in lines):
                break
            await asyncio.sleep(0.05)
        assert "waiting for the drive: run #99 'other' (backup) is using it" in lines
        await asyncio.sleep(0.5)
        assert (await bk.engine.driver.status()).loaded is None and bk.engine.driver.formats == []
    finally:
        other.stdin.close()
        await asyncio.wait_for(other.wait(), 30)
    await asyncio.wait_for(bk.scheduler.wait(run_id), 30)
    run = await bk.service.runs.get(run_id)
    assert run.status == "success" and bk.engine.driver.formats == ["TP20261001"]


async def test_a_failed_record_update_is_a_warning_not_a_failed_format(bk: Rig) -> None:
    await _add(bk, "full", level="full")
    first = await _fire(bk, "full", OCT)
    barcode = first.result["cartridges"][0]
    await bk.engine.store.execute(  # the catalog refuses renames: a real failure, in SQLite
        "CREATE TRIGGER no_rename BEFORE UPDATE OF barcode ON cartridges "
        "BEGIN SELECT RAISE(ABORT, 'catalog is read-only'); END")
    await _add(bk, "nov", level="full", cartridge_policy="loaded")
    bk.engine.config.tape.month_check = False  # reuse October's tape for November's full
    run = await _fire(bk, "nov", NOV, allow_format=barcode)  # it holds the last full
    assert bk.engine.driver.formats == ["TP20261001", "TP20261101"]
    assert run.result["format"]["ok"] is True
    assert any("could not be updated" in w for w in run.result["format_warnings"])
    assert run.status == "warning", run.message
    assert (await bk.engine.sets.get(first.set_id)).status in ("complete", "overwritten")
    assert run.result["cartridges"] == [barcode]


async def test_max_full_interval_upgrades_and_says_why(bk: Rig) -> None:
    await _add(bk, "full", level="full")
    await _fire(bk, "full", OCT)
    await _add(bk, "diff", level="differential", max_full_days=7)
    ok = await _fire(bk, "diff", OCT + timedelta(days=3))
    assert ok.result["level"] == "differential"
    late = await _fire(bk, "diff", OCT + timedelta(days=9))
    assert late.result["level"] == "full" and late.result["requested_level"] == "differential"
    lines = [ln.line for ln in await bk.service.runs.lines(late.id)]
    assert any("differential upgraded to full" in ln and "older than the limit of 7 days" in ln for ln in lines)


async def test_a_template_change_applies_to_the_next_run(bk: Rig, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "only.txt").write_text("x")
    await bk.service.save_template("tpl", {"sources": [str(bk.src)], "level": "full"})
    await bk.service.add("t", kind="daily", when="02:00", action="backup", template="tpl")
    first = await _fire(bk, "t", OCT)
    await bk.service.save_template("tpl", {"sources": [str(other)], "level": "full"})
    second = await _fire(bk, "t", OCT + timedelta(days=1))
    assert (first.result["files"], second.result["files"]) == (5, 1)


async def test_stop_cancels_a_running_backup_and_leaves_the_set_incomplete(bk: Rig) -> None:
    bk.engine.driver.cfg.throughput_mb_s = 0.05  # 25 KB at 50 KB/s: long enough to stop
    await _add(bk, "slow", level="full")
    run = await bk.service.run_now("slow")
    for _ in range(1000):
        if await bk.engine.store.scalar("SELECT count(*) FROM backup_sets"):
            break
        await asyncio.sleep(0.01)
    stopped = await asyncio.wait_for(bk.service.stop("slow"), 30)
    assert stopped.id == run.id and stopped.status == "cancelled"
    assert stopped.backup_run_id is not None
    sets = await bk.engine.sets.all()
    assert [s.status for s in sets] == ["incomplete"]
    assert stopped.set_id == sets[0].id  # the run points at the set it left, not at '-'
    assert (await bk.engine.sets.get_run(stopped.backup_run_id)).status == "cancelled"
    assert (await bk.service.get("slow")).status == "idle"


class _Hook(BaseHTTPRequestHandler):
    bodies: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers["Content-Length"])
        type(self).bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


async def test_the_success_webhook_of_a_real_backup(home, tmp_path: Path) -> None:
    _Hook.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    clock = SimClock(OCT)
    engine = await open_engine(home, clock)
    try:
        engine.config.sections["notify"] = NotifyConfig(webhook_url=f"http://127.0.0.1:{server.server_port}/hook",
                                                        timeout_s=5, retries=1)
        rig = Rig(engine, clock)
        src = tmp_path / "s"
        src.mkdir()
        (src / "a.txt").write_bytes(b"a" * 1234)
        run = await rig.service.backup_now(level="full", sources=[str(src)], name="once", wait=True)
        run = await rig.service.runs.get(run.id)
        assert run.status == "success"
        (body,) = _Hook.bodies
        assert body["event"] == "success" and body["schedule"] == "once"
        assert body["files"] == 1 and body["size_bytes"] == run.result["bytes"] > 0
        assert body["cartridge"] == run.result["cartridges"][0] and body["duration_s"] is not None
        await rig.scheduler.close()
    finally:
        server.shutdown()
        await engine.close()


async def test_a_dead_webhook_costs_the_run_a_logged_warning(home, tmp_path: Path) -> None:
    clock = SimClock(OCT)
    engine = await open_engine(home, clock)
    try:
        engine.config.sections["notify"] = NotifyConfig(webhook_url="http://127.0.0.1:9/down", timeout_s=1,
                                                        retries=1)
        rig = Rig(engine, clock)
        run = await rig.service.backup_now(level="full", sources=[str(tmp_path)], name="x", wait=True)
        run = await rig.service.runs.get(run.id)
        assert run.status == "success"
        lines = [ln.line for ln in await rig.service.runs.lines(run.id)]
        assert any(ln.startswith("webhook notification not sent") for ln in lines)
        await rig.scheduler.close()
    finally:
        await engine.close()
