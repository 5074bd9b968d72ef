"""The `ltfs` driver against the tool stand-ins (tests/standins): real subprocesses,
real exit codes and messages, real timeouts."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "standins"))
from standin_state import cartridge, init_state, read_state, running, tool  # noqa: E402

from tapetui.engine import proc  # noqa: E402
from tapetui.engine.tape.args import InvalidArgument  # noqa: E402
from tapetui.engine.tape.base import (  # noqa: E402
    AlreadyFormatted,
    NoCartridge,
    TapeError,
    ToolTimeout,
)
from tapetui.engine.tape.ltfs import LtfsConfig, LtfsDriver, ltfs_daemon_pids  # noqa: E402
from tapetui.engine.tape.ltfs_parse import (  # noqa: E402
    parse_mt_status,
    parse_mtx_status,
)
from tapetui.engine.tape.medium_health import ltfs_flags, mam_flags, tapealert_text  # noqa: E402

TOOLS = ("mkltfs", "ltfs", "ltfsck", "mt", "mtx", "sg_read_attr", "umount")
BLANK = "AAA001L8"


@pytest.fixture
def world(tmp_path, monkeypatch) -> Path:
    state = tmp_path / "state"
    monkeypatch.setenv("TAPETUI_STANDIN_STATE", str(state))
    monkeypatch.delenv("TAPETUI_STANDIN_FAULT", raising=False)
    # The stand-ins' `env python3` finds this interpreter first (fast start).
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return state


def driver(tmp_path: Path, **overrides) -> LtfsDriver:
    settings = {name: tool(name) for name in TOOLS}
    settings.update(mount_point=str(tmp_path / "mnt"), unmount_timeout_s=5.0, kill_grace_s=0.2)
    settings.update(overrides)
    return LtfsDriver(LtfsConfig(**settings))


def formatted(label: str = "TP20261101", serial: str = "AAA001", **facts) -> dict:
    return cartridge(
        formatted=True, volume_name=label, serial=serial, uuid="d0796c57-390e-4d3a-9daf-8b32e741383a",
        format_time="2026-11-22 18:05:45.195215938 UTC", index_gen=1, **facts,
    )


# ------------------------------------------------------------------ format ---


async def test_format_blank_cartridge_streams_lines_and_labels_it(world, tmp_path):
    init_state(world, {BLANK: cartridge()}, loaded=BLANK)
    seen: list[str] = []
    d = driver(tmp_path)
    result = await d.format("TP20261101", serial="TP2026", on_line=seen.append)
    assert result.success and result.returncode == 0
    assert "LTFS30061E Cannot unlock medium: unit not ready." in seen  # an E line on success
    assert seen[-1] == "LTFS15024I Medium formatted successfully."
    label = await d.read_label()
    assert (label.label, label.serial, label.barcode) == ("TP20261101", "TP2026", "TP2026")


async def test_format_refuses_formatted_medium_without_force(world, tmp_path):
    init_state(world, {BLANK: formatted("TP20261001")}, loaded=BLANK)
    d = driver(tmp_path)
    with pytest.raises(AlreadyFormatted):
        await d.format("TP20261101")
    assert read_state(world)["cartridges"][BLANK]["volume_name"] == "TP20261001"
    result = await d.format("TP20261101", force=True)
    assert result.success
    assert read_state(world)["cartridges"][BLANK]["volume_name"] == "TP20261101"


@pytest.mark.parametrize(
    "label, serial",
    [("TP20261101", "tp20"), ("TP20261101", "TP20-6"), ("TP20261101", "-f"),
     ("-f", None), ("a,b", None), ("two\nlines", None), ("", None)],
)
async def test_bad_label_or_serial_is_rejected_before_any_tool_runs(world, tmp_path, label, serial):
    init_state(world, {BLANK: cartridge()}, loaded=BLANK)
    d = driver(tmp_path, mkltfs=str(tmp_path / "not-there"))  # running it would be a TapeError
    with pytest.raises(InvalidArgument):
        await d.format(label, serial=serial)


async def test_standin_mkltfs_rejects_bad_serial_like_the_real_one(world):
    init_state(world, {BLANK: cartridge()}, loaded=BLANK)
    res = await proc.run([tool("mkltfs"), "-d", "/dev/sg0", "-s", "tp20"], timeout=10)
    assert res.returncode == 16 and "LTFS15029E Tape serial must be 6 characters." in res.lines
    res = await proc.run([tool("mkltfs"), "-d", "/dev/sg0", "-s", "tp2026"], timeout=10)
    assert res.returncode == 16 and any(line.startswith("LTFS15030E") for line in res.lines)


async def test_format_with_empty_drive_is_no_cartridge(world, tmp_path):
    init_state(world, {BLANK: cartridge()}, loaded=None)
    with pytest.raises(NoCartridge):
        await driver(tmp_path).format("TP20261101")


async def test_format_device_error_is_a_failed_result_with_the_reason(world, tmp_path, monkeypatch):
    init_state(world, {BLANK: cartridge()}, loaded=BLANK)
    monkeypatch.setenv("TAPETUI_STANDIN_FAULT", "mkltfs:device_error")
    result = await driver(tmp_path).format("TP20261101")
    assert not result.success and result.returncode == 8
    assert "operational error" in result.message and "Cannot open device" in result.message


async def test_format_on_wrong_device_fails_cleanly(world, tmp_path):
    init_state(world, {BLANK: cartridge()}, loaded=BLANK)
    result = await driver(tmp_path, device="/dev/sg7").format("TP20261101")
    assert not result.success and "LTFS12012E" in result.message


async def test_format_hang_is_killed_and_reported_as_timed_out(world, tmp_path, monkeypatch):
    init_state(world, {BLANK: cartridge()}, loaded=BLANK)
    monkeypatch.setenv("TAPETUI_STANDIN_FAULT", "mkltfs:hang")  # ignores SIGTERM, has a child
    result = await driver(tmp_path, format_timeout_s=0.5).format("TP20261101")
    assert result.timed_out and not result.success
    assert "did not finish within 0.5 s" in result.message
    assert running("mkltfs") == []


async def test_cancelling_a_format_kills_mkltfs(world, tmp_path, monkeypatch):
    init_state(world, {BLANK: cartridge()}, loaded=BLANK)
    monkeypatch.setenv("TAPETUI_STANDIN_FAULT", "mkltfs:hang")
    started = asyncio.Event()
    task = asyncio.create_task(
        driver(tmp_path).format("TP20261101", on_line=lambda _line: started.set())
    )
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert running("mkltfs") == []


async def test_format_crash_reports_the_signal(world, tmp_path, monkeypatch):
    init_state(world, {BLANK: cartridge()}, loaded=BLANK)
    monkeypatch.setenv("TAPETUI_STANDIN_FAULT", "mkltfs:crash")
    result = await driver(tmp_path).format("TP20261101")
    assert not result.success and result.returncode < 0
    assert "killed by SIGABRT" in result.message


async def test_format_flood_streams_every_line_and_keeps_a_bounded_tail(world, tmp_path, monkeypatch):
    init_state(world, {BLANK: cartridge()}, loaded=BLANK)
    monkeypatch.setenv("TAPETUI_STANDIN_FAULT", "mkltfs:flood")
    count = 0

    def sink(_line: str) -> None:
        nonlocal count
        count += 1

    result = await driver(tmp_path).format("TP20261101", on_line=sink)
    assert result.success
    assert count > 200_000
    assert len(result.lines) < count


async def test_missing_tool_is_a_tape_error_naming_it(world, tmp_path):
    init_state(world, {BLANK: cartridge()}, loaded=BLANK)
    with pytest.raises(TapeError, match="not-there"):
        await driver(tmp_path, mt=str(tmp_path / "not-there")).status()


# ------------------------------------------------------------------- check ---


async def test_check_consistent_volume_exit_1_is_success(world, tmp_path):
    init_state(world, {BLANK: formatted()}, loaded=BLANK)
    result = await driver(tmp_path).check()
    assert result.success and result.returncode == 1
    assert result.message == "Volume is consistent."


async def test_check_unpartitioned_medium_fails_with_exit_4(world, tmp_path):
    init_state(world, {BLANK: cartridge()}, loaded=BLANK)
    result = await driver(tmp_path).check()
    assert not result.success and result.returncode == 4
    assert "uncorrected errors" in result.message and "not partitioned" in result.message


async def test_check_hang_times_out(world, tmp_path, monkeypatch):
    init_state(world, {BLANK: formatted()}, loaded=BLANK)
    monkeypatch.setenv("TAPETUI_STANDIN_FAULT", "ltfsck:hang")
    result = await driver(tmp_path, check_timeout_s=0.5).check()
    assert result.timed_out and not result.success
    assert running("ltfsck") == []


# ---------------------------------------------------------------- mounting ---


async def test_mount_write_read_facts_and_unmount(world, tmp_path):
    init_state(world, {BLANK: formatted()}, loaded=BLANK)
    d = driver(tmp_path)
    vol = await d.mount()
    assert vol.root == tmp_path / "mnt"
    assert (await d.mount()) is vol  # already mounted: same volume
    with vol.open_write("set1/a.txt") as f:
        f.write(b"hello")
    assert vol.set_xattr("set1/a.txt", "ltfs.hash.sha256", b"abc")
    assert vol.get_xattr("set1/a.txt", "ltfs.hash.sha256") == b"abc"
    assert vol.position("set1/a.txt") is None
    assert vol.free_bytes() == (12_000_000_000_000 // 2**20) * 2**20
    st = await d.status()
    assert st.mounted and st.label == "TP20261101" and st.serial == "AAA001"
    assert st.health["load count"] == "0"
    label = await d.read_label()
    assert label.formatted_at is not None and label.formatted_at.year == 2026
    with pytest.raises(TapeError, match="unmount"):
        await d.format("TP20261201", force=True)
    assert ltfs_daemon_pids(str(vol.root), "/dev/sg0")  # the FUSE-like daemon holds it
    await d.unmount()
    assert ltfs_daemon_pids(str(vol.root), "/dev/sg0") == []  # waited for the index write
    state = read_state(world)
    assert state["drive"]["mounted_at"] is None
    assert state["cartridges"][BLANK]["used_bytes"] == 5
    assert (world / "volumes" / BLANK / "set1" / "a.txt").read_bytes() == b"hello"


async def test_a_new_driver_adopts_a_volume_left_mounted(world, tmp_path):
    """tapetui restarted while the ltfs daemon kept the volume mounted."""
    init_state(world, {BLANK: formatted()}, loaded=BLANK)
    await driver(tmp_path).mount()
    again = driver(tmp_path)  # running ltfs again would fail: the device is busy
    vol = await again.mount()
    assert vol.root == tmp_path / "mnt" and (await again.status()).mounted
    await again.unmount()
    assert read_state(world)["drive"]["mounted_at"] is None


async def test_volume_refuses_paths_outside_it(world, tmp_path):
    init_state(world, {BLANK: formatted()}, loaded=BLANK)
    d = driver(tmp_path)
    vol = await d.mount()
    try:
        with pytest.raises(ValueError):
            vol.open_write("../escape.txt")
    finally:
        await d.unmount()


async def test_mount_unformatted_medium_says_so(world, tmp_path):
    init_state(world, {BLANK: cartridge()}, loaded=BLANK)
    with pytest.raises(TapeError, match="not LTFS formatted"):
        await driver(tmp_path).mount()


async def test_mount_hang_raises_tool_timeout(world, tmp_path, monkeypatch):
    init_state(world, {BLANK: formatted()}, loaded=BLANK)
    monkeypatch.setenv("TAPETUI_STANDIN_FAULT", "ltfs:hang")
    with pytest.raises(ToolTimeout):
        await driver(tmp_path, mount_timeout_s=0.5).mount()


# ------------------------------------------------------------ status/label ---


async def test_status_of_a_loaded_cartridge_reads_its_memory(world, tmp_path):
    init_state(world, {BLANK: formatted(tapealert=(1 << 63) | (1 << 44))}, loaded=BLANK)
    st = await driver(tmp_path).status()
    assert st.drive_present and not st.mounted
    assert (st.loaded, st.label, st.serial, st.generation) == ("AAA001", "TP20261101", "AAA001", "LTO-8")
    assert st.remaining_bytes == st.capacity_bytes > 0
    assert st.health["TapeAlert"] == "read warning, clean now"


async def test_status_of_empty_and_missing_drives(world, tmp_path):
    init_state(world, {BLANK: cartridge()}, loaded=None)
    st = await driver(tmp_path).status()
    assert st.drive_present and st.loaded is None
    st = await driver(tmp_path, tape_device="/dev/nst5").status()
    assert not st.drive_present and "No such file" in st.health["error"]


async def test_read_label_of_blank_and_empty(world, tmp_path):
    init_state(world, {BLANK: cartridge()}, loaded=BLANK)
    assert await driver(tmp_path).read_label() is None
    init_state(world, {BLANK: cartridge()}, loaded=None)
    with pytest.raises(NoCartridge):
        await driver(tmp_path).read_label()


async def test_status_hang_raises_tool_timeout(world, tmp_path, monkeypatch):
    init_state(world, {BLANK: cartridge()}, loaded=BLANK)
    monkeypatch.setenv("TAPETUI_STANDIN_FAULT", "mt:hang")
    with pytest.raises(ToolTimeout, match="mt did not finish"):
        await driver(tmp_path, status_timeout_s=0.5).status()
    assert running("mt") == []


# ------------------------------------------------------------- cartridges ---


async def test_library_load_unload_and_inventory(world, tmp_path):
    init_state(
        world, {"AAA001L8": formatted(), "AAA002L8": cartridge()},
        slots={1: "AAA001L8", 2: "AAA002L8", 3: None}, changer="/dev/sg4",
    )
    d = driver(tmp_path, changer="/dev/sg4")
    assert d.has_changer
    inv = await d.inventory()
    assert [(c.barcode, c.slot, c.in_drive) for c in inv] == [("AAA001L8", 1, False), ("AAA002L8", 2, False)]
    await d.load("AAA001L8")
    st = await d.status()
    assert st.loaded == "AAA001L8" and st.label == "TP20261101"
    with pytest.raises(TapeError, match="unload it"):
        await d.load("AAA002L8")
    with pytest.raises(NoCartridge):
        await d.load("ZZZ999L8")
    inv = await d.inventory()
    assert ("AAA001L8", None, True, "TP20261101") in [(c.barcode, c.slot, c.in_drive, c.label) for c in inv]
    await d.mount()
    await d.unload()  # unmounts, takes the drive offline, returns it to slot 1
    state = read_state(world)
    assert state["slots"]["1"] == "AAA001L8" and state["drive"]["cartridge"] is None
    assert state["drive"]["mounted_at"] is None
    await d.unload()  # nothing in the drive: nothing to do


async def test_standalone_drive_load_checks_the_cartridge_and_unload_ejects(world, tmp_path):
    init_state(world, {BLANK: formatted()}, loaded=BLANK)
    d = driver(tmp_path)
    await d.load("AAA001L8")  # the cartridge memory says AAA001: the same cartridge
    with pytest.raises(NoCartridge, match="insert BBB001L8 by hand"):
        await d.load("BBB001L8")
    await d.unload()
    assert (await d.status()).loaded is None


def test_config_values_are_validated():
    with pytest.raises(InvalidArgument):
        LtfsConfig(device="-o")
    with pytest.raises(InvalidArgument):
        LtfsConfig(mount_options=["uid=0,allow_other"])
    with pytest.raises(InvalidArgument):
        LtfsConfig(backend="tcp")
    with pytest.raises(InvalidArgument):
        LtfsConfig(mount_point="relative/dir")


# ----------------------------------------------------------------- parsers ---


def test_parse_mtx_status_reference_example():
    text = (
        "  Storage Changer /dev/sg4:1 Drives, 8 Slots ( 1 Import/Export )\n"
        "Data Transfer Element 0:Full (Storage Element 3 Loaded):VolumeTag = ABC123L6\n"
        "      Storage Element 1:Full :VolumeTag=ABC124L6\n"
        "      Storage Element 2:Empty\n"
        "      Storage Element 8 IMPORT/EXPORT:Empty\n"
    )
    st = parse_mtx_status(text)
    assert st.drives == {0: ("ABC123L6", 3)}
    assert st.slots == {1: "ABC124L6", 2: None, 8: None}


def test_parse_mt_status_lto9_without_translation():
    text = (
        "SCSI 2 tape drive:\nFile number=0, block number=0, partition=0.\n"
        "Tape block size 0 bytes. Density code 0x60 (no translation).\n"
        "Soft error count since last status=0\nGeneral status bits on (45010000):\n"
        " BOT WR_PROT ONLINE IM_REP_EN\n"
    )
    st = parse_mt_status(text)
    assert st.online and st.write_protected and not st.door_open
    assert st.generation == "LTO-9"


def test_tapealert_flag_numbering():
    """The cartridge memory puts flag 1 in the top bit; LTFS's ltfs.mediaStorageAlert in bit 0."""
    assert mam_flags(1 << 63) == [1] and mam_flags(1) == [64] and mam_flags(0) == []
    assert ltfs_flags(1) == [1] and ltfs_flags(1 << 19) == [20] and ltfs_flags(1 << 63) == [64]
    assert tapealert_text([1, 20, 64]) == "read warning, clean now, flag 64" and tapealert_text([]) == "none"

