"""The `ltfs-windows` driver against the LtfsCmd*.exe stand-ins (run as Linux
executables; the drive letter's volume is a folder)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "standins"))
from standin_state import cartridge, init_state, read_state, running, tool  # noqa: E402

from tapetui.engine.tape.args import InvalidArgument  # noqa: E402
from tapetui.engine.tape.base import AlreadyFormatted, NoCartridge, TapeError, ToolTimeout  # noqa: E402
from tapetui.engine.tape.ltfs_parse import parse_ltfscmd_drives  # noqa: E402
from tapetui.engine.tape.ltfs_windows import LtfsWindowsConfig, LtfsWindowsDriver  # noqa: E402

BARCODE = "WIN001L8"


@pytest.fixture
def world(tmp_path, monkeypatch) -> Path:
    state = tmp_path / "state"
    monkeypatch.setenv("TAPETUI_STANDIN_STATE", str(state))
    monkeypatch.delenv("TAPETUI_STANDIN_FAULT", raising=False)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return state


def setup(world: Path, tmp_path: Path, cart: dict, online: bool = False) -> None:
    """A standalone drive with the cartridge inserted (not yet loaded unless `online`)."""
    init_state(world, {BARCODE: cart}, loaded=BARCODE, online=online,
               windows_root=str(tmp_path / "O"))


def driver(tmp_path: Path, **overrides) -> LtfsWindowsDriver:
    settings = dict(
        format_cmd=tool("LtfsCmdFormat.exe"), drives_cmd=tool("LtfsCmdDrives.exe"),
        check_cmd=tool("LtfsCmdCheck.exe"), load_cmd=tool("LtfsCmdLoad.exe"),
        eject_cmd=tool("LtfsCmdEject.exe"), drive_letter="o:", mount_root=str(tmp_path / "O"),
        kill_grace_s=0.2,
    )
    settings.update(overrides)
    return LtfsWindowsDriver(LtfsWindowsConfig(**settings))


def formatted() -> dict:
    return cartridge(formatted=True, volume_name="TP20261001", serial="WIN001",
                     uuid="u-1", format_time="2026-10-01 08:00:00.000000000 UTC", index_gen=1)


async def test_load_format_mount_write_and_eject(world, tmp_path):
    setup(world, tmp_path, cartridge())
    d = driver(tmp_path)
    assert (await d.status()).loaded is None  # inserted, not loaded
    await d.load(BARCODE)
    st = await d.status()
    assert st.loaded == "no-barcode" and st.health["drive status"] == "LTFS_UNFORMATTED"
    assert await d.read_label() is None
    with pytest.raises(TapeError, match="not LTFS formatted"):
        await d.mount()
    lines: list[str] = []
    result = await d.format("TP20261101", serial="WIN001", on_line=lines.append)
    assert result.success and lines[-1] == "Format completed successfully."
    label = await d.read_label()
    assert (label.label, label.serial, label.barcode) == ("TP20261101", "WIN001", BARCODE)
    assert label.formatted_at is not None
    vol = await d.mount()
    with vol.open_write("a/b.bin") as f:
        f.write(b"12345678")
    assert vol.free_bytes() > 0
    st = await d.status()
    assert st.mounted and st.loaded == BARCODE and st.label == "TP20261101"
    assert [c.barcode for c in await d.inventory()] == [BARCODE]
    await d.unmount()
    await d.unload()
    state = read_state(world)
    assert state["drive"]["cartridge"] is None
    assert state["cartridges"][BARCODE]["used_bytes"] == 8
    assert (await d.status()).loaded is None
    await d.unload()  # empty drive: nothing to do


async def test_format_refuses_ltfs_media_without_force(world, tmp_path):
    setup(world, tmp_path, formatted())
    d = driver(tmp_path)
    await d.load(BARCODE)
    with pytest.raises(AlreadyFormatted):
        await d.format("TP20261101")
    assert read_state(world)["cartridges"][BARCODE]["volume_name"] == "TP20261001"
    assert (await d.format("TP20261101", force=True)).success
    assert (await d.read_label()).label == "TP20261101"


async def test_bad_values_rejected_before_any_tool_runs(world, tmp_path):
    setup(world, tmp_path, cartridge(), online=True)
    d = driver(tmp_path, drives_cmd=str(tmp_path / "absent.exe"))
    with pytest.raises(InvalidArgument):
        await d.format("TP2026/11")
    with pytest.raises(InvalidArgument):
        await d.format("TP20261101", serial="win001")
    with pytest.raises(InvalidArgument):
        LtfsWindowsConfig(drive_letter="-O")


async def test_no_cartridge(world, tmp_path):
    init_state(world, {BARCODE: cartridge()}, loaded=None, windows_root=str(tmp_path / "O"))
    d = driver(tmp_path)
    with pytest.raises(NoCartridge):
        await d.format("TP20261101")
    with pytest.raises(NoCartridge, match="insert WIN001L8 by hand"):
        await d.load(BARCODE)
    with pytest.raises(NoCartridge):
        await d.read_label()


async def test_device_error_and_crash_are_failed_results(world, tmp_path, monkeypatch):
    setup(world, tmp_path, cartridge(), online=True)
    d = driver(tmp_path)
    monkeypatch.setenv("TAPETUI_STANDIN_FAULT", "LtfsCmdFormat:device_error")
    result = await d.format("TP20261101")
    assert not result.success and result.returncode == 1 and "Device error" in result.message
    monkeypatch.setenv("TAPETUI_STANDIN_FAULT", "LtfsCmdFormat:crash")
    result = await d.format("TP20261101")
    assert not result.success and "killed by SIGABRT" in result.message


async def test_format_hang_is_killed_and_timed_out(world, tmp_path, monkeypatch):
    setup(world, tmp_path, cartridge(), online=True)
    monkeypatch.setenv("TAPETUI_STANDIN_FAULT", "LtfsCmdFormat:hang")
    result = await driver(tmp_path, format_timeout_s=0.5).format("TP20261101")
    assert result.timed_out and not result.success and "0.5 s" in result.message
    assert running("LtfsCmdFormat.exe") == []


async def test_format_flood_does_not_deadlock(world, tmp_path, monkeypatch):
    setup(world, tmp_path, cartridge(), online=True)
    monkeypatch.setenv("TAPETUI_STANDIN_FAULT", "LtfsCmdFormat:flood")
    count = 0

    def sink(_line: str) -> None:
        nonlocal count
        count += 1

    result = await asyncio.wait_for(driver(tmp_path).format("TP20261101", on_line=sink), 60)
    assert result.success and count > 200_000


async def test_check(world, tmp_path, monkeypatch):
    setup(world, tmp_path, formatted(), online=True)
    d = driver(tmp_path)
    result = await d.check()
    assert result.success and result.message == "Volume is consistent."
    monkeypatch.setenv("TAPETUI_STANDIN_FAULT", "LtfsCmdCheck:hang")
    result = await driver(tmp_path, check_timeout_s=0.5).check()
    assert result.timed_out


async def test_drive_letter_not_assigned_and_status_timeout(world, tmp_path, monkeypatch):
    setup(world, tmp_path, cartridge(), online=True)
    st = await driver(tmp_path, drive_letter="P").status()
    assert not st.drive_present and "P:" in st.health["error"]
    monkeypatch.setenv("TAPETUI_STANDIN_FAULT", "LtfsCmdDrives:hang")
    with pytest.raises(ToolTimeout):
        await driver(tmp_path, status_timeout_s=0.5).status()


def test_parse_ltfscmd_drives_accepts_letters_with_colons():
    text = "Assigned  Address  Serial  Status\n--------  -------  ------  ------\n" \
           "O:        0.0.24.0 1068000073 LTFS_MEDIA\nP         0.0.25.0 1068000074 no_media\n"
    drives = parse_ltfscmd_drives(text)
    assert [(d.letter, d.status) for d in drives] == [("O", "LTFS_MEDIA"), ("P", "NO_MEDIA")]
