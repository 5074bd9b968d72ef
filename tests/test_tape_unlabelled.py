"""A cartridge without a barcode in a standalone LTFS drive (no changer reads its
sticker, its memory holds none): named by its medium serial, never "UNKNOWN",
never merged with another such cartridge; formatting it with its barcode names it.

Real `ltfs` driver, stand-in tools (tests/standins), real SQLite catalog."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent / "standins"))
from standin_state import cartridge, init_state, locked, medium_serial, tool  # noqa: E402
from test_backup_support import run_log  # noqa: E402
from test_tape_ops import Lines  # noqa: E402

from tapetui.engine.backup.engine import BackupRequest, run_backup  # noqa: E402
from tapetui.engine.backup.restore import RestoreRequest, run_restore  # noqa: E402
from tapetui.engine.events import OperatorNeeded  # noqa: E402

from tapetui.engine.config import Config  # noqa: E402
from tapetui.engine.core import Engine  # noqa: E402
from tapetui.engine.paths import Home  # noqa: E402
from tapetui.engine.tape.args import InvalidArgument, validate_barcode  # noqa: E402
from tapetui.engine.tape.base import NoCartridge  # noqa: E402
from tapetui.engine.tape.labels import (  # noqa: E402
    NO_BARCODE,
    catalogable,
    has_barcode,
    shown_id,
    unlabelled_id,
)
from tapetui.engine.tape.ltfs import LtfsConfig, LtfsDriver  # noqa: E402
from tapetui.engine.tape.ltfs_windows import LtfsWindowsConfig, LtfsWindowsDriver  # noqa: E402
from tapetui.engine.drive import TapeOps  # noqa: E402

TOOLS = ("mkltfs", "ltfs", "ltfsck", "mt", "mtx", "sg_read_attr", "umount")
NOV = datetime(2025, 11, 15, 10, 0).astimezone()
FRESH_A, FRESH_B = "NEW001L8", "NEW002L8"  # stickers only: their memory holds no barcode


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state"
    monkeypatch.setenv("TAPETUI_STANDIN_STATE", str(state))
    monkeypatch.delenv("TAPETUI_STANDIN_FAULT", raising=False)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    fresh = {b: cartridge(mam_barcode=None) for b in (FRESH_A, FRESH_B)}
    init_state(state, {**fresh, "LIB001L8": cartridge()}, loaded=FRESH_A)
    return state


def ltfs_driver(tmp_path: Path) -> LtfsDriver:
    return LtfsDriver(LtfsConfig(**{n: tool(n) for n in TOOLS}, mount_point=str(tmp_path / "mnt"),
                                 unmount_timeout_s=5.0, kill_grace_s=0.2))


@pytest.fixture
async def engine(tmp_path: Path, world: Path):
    engine = await Engine.open(Home.single(tmp_path / "home"), config=Config.defaults(),
                               driver=ltfs_driver(tmp_path), clock=lambda: NOV)
    yield engine
    await engine.close()


def insert(world: Path, barcode: str) -> None:
    """An operator swaps the cartridge in the standalone drive."""
    with locked(world) as state:
        state["drive"].update(cartridge=barcode, online=True)


# ------------------------------------------------------------------ driver ---


async def test_a_fresh_cartridge_is_named_by_its_medium_serial_not_unknown(world: Path, tmp_path: Path) -> None:
    d = ltfs_driver(tmp_path)
    a = await d.status()
    assert a.loaded == unlabelled_id(medium_serial(FRESH_A)) and not has_barcode(a.loaded)
    assert a.label is None and a.serial is None
    [in_drive] = await d.inventory()
    assert (in_drive.barcode, in_drive.formatted) == (a.loaded, False)
    insert(world, FRESH_B)
    b = await d.status()
    assert b.loaded != a.loaded and not has_barcode(b.loaded)
    insert(world, "LIB001L8")  # blank too, but a library once wrote its barcode to its memory
    named = await d.status()
    assert (named.loaded, named.label, named.serial) == ("LIB001L8", None, None)
    [in_drive] = await d.inventory()
    assert (in_drive.barcode, in_drive.formatted) == ("LIB001L8", False)  # a barcode is not a format


async def test_a_standalone_drive_never_takes_a_fresh_cartridge_for_a_named_one(tmp_path: Path, world: Path) -> None:
    with pytest.raises(NoCartridge, match="insert NEW001L8 by hand"):
        await ltfs_driver(tmp_path).load(FRESH_A)  # the sticker says so, but nothing the drive reads does


async def test_formatting_with_the_barcode_gives_the_cartridge_its_name(tmp_path: Path, world: Path) -> None:
    d = ltfs_driver(tmp_path)
    assert (await d.format("TP20251101", serial="NEW001")).success
    assert (await d.status()).loaded == "NEW001"
    await d.load("NEW001L8")  # the catalog's full barcode matches its 6-character serial


async def test_formatting_without_a_barcode_leaves_it_nameless_like_the_real_mkltfs(
    tmp_path: Path, world: Path
) -> None:
    d = ltfs_driver(tmp_path)
    lines: list[str] = []
    assert (await d.format("TP20251101", on_line=lines.append)).success
    assert any("Writing index of NO_BARCODE" in line for line in lines)  # as in the transcripts
    st = await d.status()
    assert (st.loaded, st.label) == (unlabelled_id(medium_serial(FRESH_A)), "TP20251101")


# --------------------------------------------------------------- catalog ---


async def test_two_fresh_cartridges_get_two_records(engine: Engine, world: Path) -> None:
    ops = TapeOps(engine)
    await ops.sync_inventory()
    insert(world, FRESH_B)
    await ops.sync_inventory()
    rows = await engine.cartridges.all()
    ids = sorted(r.barcode for r in rows)
    assert ids == sorted(unlabelled_id(medium_serial(b)) for b in (FRESH_A, FRESH_B))
    assert {r.status for r in rows} == {"blank"}


async def test_a_scheduled_format_of_two_fresh_cartridges_keeps_them_apart(engine: Engine, world: Path) -> None:
    ops = TapeOps(engine)
    for barcode in (FRESH_A, FRESH_B):
        insert(world, barcode)
        log = Lines()
        out = await ops.format_flow(scheduled=True, now=NOV, log=log)
        assert out.ok and out.warnings == [] and out.new_label == "TP20251101"
        assert any("carries no barcode" in text for _, text in log.lines)
    rows = await engine.cartridges.all()
    assert sorted((r.barcode, r.label) for r in rows) == sorted(
        (unlabelled_id(medium_serial(b)), "TP20251101") for b in (FRESH_A, FRESH_B))


async def test_formatting_a_fresh_cartridge_with_its_barcode_renames_its_record(engine: Engine) -> None:
    ops = TapeOps(engine)
    [blank] = await ops.sync_inventory()
    out = await ops.format_flow(scheduled=False, now=NOV, log=Lines(), label="PROJECT-X", barcode="NEW001L8")
    assert out.ok and out.warnings == []
    [record] = await engine.cartridges.all()
    assert (record.id, record.barcode, record.label, record.status) == (blank.id, "NEW001", "PROJECT-X", "active")


async def test_a_bad_barcode_fails_the_format_before_the_tool_runs(engine: Engine, world: Path) -> None:
    out = await TapeOps(engine).format_flow(scheduled=False, now=NOV, log=Lines(), barcode="new-1")
    assert not out.ok and "barcode 'new-1' must be 6 digits or capital letters" in out.warnings[0]
    with locked(world) as state:
        assert not state["cartridges"][FRESH_A]["formatted"]


async def test_a_cartridge_whose_memory_cannot_be_read_is_shown_but_not_catalogued_nor_formatted(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAPETUI_STANDIN_FAULT", "sg_read_attr:device_error")
    ops = TapeOps(engine)
    assert (await ops.status()).loaded == NO_BARCODE
    [view] = await ops.overview()
    assert (view.barcode, view.location, view.status) == (NO_BARCODE, "drive", "blank")
    out = await ops.format_flow(scheduled=True, now=NOV, log=Lines())
    assert not out.ok and "cannot read the cartridge memory" in out.warnings[0]
    assert await engine.cartridges.all() == []


async def test_a_format_that_leaves_the_cartridge_nameless_is_a_warning_not_a_shared_record(
    tmp_path: Path, world: Path
) -> None:
    """The Windows tools show no cartridge memory: a medium formatted without a
    serial has no name the drive can read."""
    init_state(world, {FRESH_A: cartridge(mam_barcode=None)}, loaded=FRESH_A, windows_root=str(tmp_path / "O"))
    exe = {k: tool(f"LtfsCmd{k.capitalize()}.exe") for k in ("format", "drives", "check", "load", "eject")}
    driver = LtfsWindowsDriver(LtfsWindowsConfig(**{f"{k}_cmd": v for k, v in exe.items()}, drive_letter="O",
                                                 mount_root=str(tmp_path / "O"), kill_grace_s=0.2))
    engine = await Engine.open(Home.single(tmp_path / "home"), config=Config.defaults(), driver=driver,
                               clock=lambda: NOV)
    try:
        ops = TapeOps(engine)
        assert (await ops.sync_inventory()) == []
        out = await ops.format_flow(scheduled=True, now=NOV, log=Lines())
        assert out.ok and any("not catalogued" in w for w in out.warnings)
        assert await engine.cartridges.all() == []
    finally:
        await engine.close()


# ---------------------------------------------------------------- naming ---


@given(st.from_regex(r"[0-9A-Z]{6}([0-9A-Z]{2})?", fullmatch=True))
def test_every_barcode_is_a_barcode(barcode: str) -> None:
    assert has_barcode(barcode) and catalogable(barcode) and shown_id(barcode) == barcode


@given(st.text(min_size=0, max_size=40))
def test_no_cartridge_id_without_a_barcode_passes_for_one(serial: str) -> None:
    cid = unlabelled_id(serial)
    assert not has_barcode(cid) and shown_id(cid).startswith("(no barcode)")
    with pytest.raises(InvalidArgument):
        validate_barcode(cid)
    assert catalogable(cid) == bool(serial.strip())


# ------------------------------------------- real-tool facts (issue 14) ---


async def test_a_reformat_keeps_the_barcode_the_cartridge_carries(tmp_path: Path, world: Path) -> None:
    """Real mkltfs without `-s` blanks the barcode: the driver passes the current one."""
    d = ltfs_driver(tmp_path)
    insert(world, "LIB001L8")
    lines: list[str] = []
    assert (await d.format("TP20251101", on_line=lines.append)).success
    assert any("-s LIB001" in line for line in lines if "Launched by" in line)
    assert (await d.status()).loaded == "LIB001"
    assert (await d.format("TP20251102", force=True)).success  # and again, formatted
    assert (await d.status()).loaded == "LIB001"


async def test_the_standin_mkltfs_blanks_the_barcode_without_s_like_the_real_one(world: Path) -> None:
    insert(world, "LIB001L8")
    proc = await asyncio.create_subprocess_exec(tool("mkltfs"), "-d", "/dev/sg0", "-n", "X",
                                                stderr=asyncio.subprocess.PIPE)
    await proc.communicate()
    with locked(world) as state:
        assert state["cartridges"]["LIB001L8"]["mam_barcode"] is None


async def test_a_cartridge_without_a_barcode_has_one_id_mounted_or_not(tmp_path: Path, world: Path) -> None:
    d = ltfs_driver(tmp_path)
    assert (await d.format("TP20251101")).success
    unmounted = await d.status()
    await d.mount()
    try:
        mounted = await d.status()
    finally:
        await d.unmount()
    assert mounted.mounted and mounted.loaded == unmounted.loaded == unlabelled_id(medium_serial(FRESH_A))
    [in_drive] = await d.inventory()
    assert in_drive.formatted  # formatted with no serial is not blank


async def test_a_backup_on_a_cartridge_without_a_barcode_restores_without_waiting(
    engine: Engine, tmp_path: Path, world: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("alpha\n")
    assert (await TapeOps(engine).format_flow(scheduled=False, now=NOV, log=Lines(), label="TP20251101")).ok
    result = await run_backup(engine, BackupRequest(sources=[str(src)], level="incremental"), run_log(engine))
    assert result.status == "success", result.message
    assert result.cartridges == [unlabelled_id(medium_serial(FRESH_A))]
    asked: list[str] = []
    engine.bus.subscribe(lambda e: asked.append(e.message), OperatorNeeded)
    out = tmp_path / "out"
    r = await asyncio.wait_for(run_restore(engine, RestoreRequest(target=str(out), set_id=result.set_id),
                                           run_log(engine)), 60)
    assert r.status == "success" and not asked
    assert (out / src.relative_to("/") / "a.txt").read_text() == "alpha\n"
