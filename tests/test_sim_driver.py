"""The sim tape library, on real folders: state, format, capacity, speed, xattrs."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapetui.engine.tape.base import AlreadyFormatted, DriveStatus, NoCartridge, TapeError
from tapetui.engine.tape.sim import (
    SimConfig,
    SimDriver,
    TapeInputError,
)
from tapetui.engine.tape.sim_media import MediaIndex
from tapetui.engine.tape.sim_volume import BLOCK_SIZE, volume_key

MiB = 1 << 20
NOV_2026 = datetime(2026, 11, 2, 9, 30).astimezone()


def make(root: Path, **cfg) -> SimDriver:
    cfg.setdefault("capacity_bytes", 64 * MiB)
    return SimDriver(root, SimConfig(**cfg), clock=lambda: NOV_2026)


async def formatted(root: Path, barcode: str = "TPA001L8", **cfg) -> SimDriver:
    drv = make(root, **cfg)
    await drv.load(barcode)
    await drv.format("TP20261101")
    return drv


async def test_first_run_creates_blank_cartridges_in_slots(tmp_path: Path) -> None:
    drv = make(tmp_path, slots=6, initial_cartridges=3, generation="LTO-9")
    carts = await drv.inventory()
    assert [(c.barcode, c.slot, c.in_drive) for c in carts] == [
        ("TPA001L9", 1, False), ("TPA002L9", 2, False), ("TPA003L9", 3, False),
    ]
    assert all(not c.formatted and c.label is None and c.used_bytes == 0 for c in carts)
    assert carts[0].serial == "TPA001" and carts[0].generation == "LTO-9"
    state = json.loads((tmp_path / "library.json").read_text())
    assert state["slots"] == ["TPA001L9", "TPA002L9", "TPA003L9", None, None, None]
    assert (tmp_path / "cartridges" / "TPA002L9" / "meta.json").is_file()
    assert drv.has_changer
    assert await drv.status() == DriveStatus(drive_present=True)


async def test_default_capacity_is_the_generations(tmp_path: Path) -> None:
    drv = SimDriver(tmp_path, SimConfig(initial_cartridges=1))
    [cart] = await drv.inventory()
    assert cart.barcode == "TPA001L8" and cart.capacity_bytes == 12 * 10**12


async def test_state_survives_a_new_driver(tmp_path: Path) -> None:
    drv = make(tmp_path)
    await drv.load("TPA002L8")
    again = make(tmp_path)
    status = await again.status()
    assert status.loaded == "TPA002L8" and status.health["load count"] == "1"
    assert [c.barcode for c in await again.inventory() if c.in_drive] == ["TPA002L8"]
    await again.unload()
    third = make(tmp_path)
    assert (await third.status()).loaded is None
    assert {c.barcode: c.slot for c in await third.inventory()}["TPA002L8"] == 2
    assert not list(tmp_path.glob(".*.tmp")), "atomic writes leave no temp files"


async def test_load_rules(tmp_path: Path) -> None:
    drv = make(tmp_path)
    with pytest.raises(NoCartridge, match="NOPE01L8"):
        await drv.load("NOPE01L8")
    await drv.load("TPA001L8")
    await drv.load("TPA001L8")  # already in the drive: nothing to do
    with pytest.raises(TapeError, match="holds TPA001L8; unload it"):
        await drv.load("TPA003L8")
    await drv.unload()
    with pytest.raises(NoCartridge):
        await drv.unload()
    await drv.load("TPA003L8")
    assert (await drv.status()).loaded == "TPA003L8"


async def test_load_delay_is_applied(tmp_path: Path) -> None:
    drv = make(tmp_path, load_delay_s=0.05)
    started = time.monotonic()
    await drv.load("TPA001L8")
    assert time.monotonic() - started >= 0.05


async def test_format_and_read_label(tmp_path: Path) -> None:
    drv = make(tmp_path)
    with pytest.raises(NoCartridge):
        await drv.read_label()
    await drv.load("TPA001L8")
    assert await drv.read_label() is None
    result = await drv.format("TP20261101", serial="TP2026")
    assert result.success and result.returncode == 0
    label = await drv.read_label()
    assert label is not None
    assert (label.label, label.serial, label.barcode) == ("TP20261101", "TP2026", "TPA001L8")
    assert (label.formatted_at.year, label.formatted_at.month) == (2026, 11)
    # The label is on the cartridge: it is still there after a restart and a reload.
    await drv.unload()
    again = make(tmp_path)
    await again.load("TPA001L8")
    assert (await again.read_label()) == label
    [cart] = [c for c in await again.inventory() if c.barcode == "TPA001L8"]
    assert cart.formatted and cart.label == "TP20261101"


async def test_format_lines_follow_mkltfs(tmp_path: Path) -> None:
    drv = make(tmp_path, format_delay_s=0.05)
    await drv.load("TPA001L8")
    seen: list[str] = []
    result = await drv.format("TP20261101", on_line=seen.append)
    assert seen == result.lines
    ids = [line.split()[0] for line in seen]
    expected = ["LTFS15000I", "LTFS15003I", "LTFS15010I", "LTFS15011I", "LTFS15013I",
                "LTFS15019I", "LTFS15024I"]
    assert [i for i in ids if i in expected] == expected
    assert seen[-1] == "LTFS15024I Medium formatted successfully."
    assert "LTFS15019I Volume capacity is 0 GB." in seen  # 64 MiB, in whole GB
    assert result.duration_s >= 0.05


async def test_format_refuses_a_formatted_tape_without_force(tmp_path: Path) -> None:
    drv = await formatted(tmp_path)
    volume = await drv.mount()
    with volume.open_write("keep.txt") as f:
        f.write(b"last month's archive")
    with pytest.raises(TapeError, match="mounted"):
        await drv.format("TP20261201", force=True)
    await drv.unmount()
    seen: list[str] = []
    with pytest.raises(AlreadyFormatted, match="already formatted.*force"):
        await drv.format("TP20261201", on_line=seen.append)
    assert "LTFS15047E Medium is already formatted (0)." in seen
    assert seen[-1] == "LTFS15023I Formatting failed."
    assert (volume.root / "keep.txt").exists()
    assert (await drv.read_label()).label == "TP20261101"

    result = await drv.format("TP20261201", force=True)
    assert result.success
    assert not (volume.root / "keep.txt").exists()
    assert (await drv.read_label()).label == "TP20261201"
    assert (await drv.status()).remaining_bytes == 64 * MiB


@pytest.mark.parametrize(
    ("label", "serial"),
    [("", None), ("-rf", None), ("a/b", None), ("tab\there", None), ("x" * 65, None),
     ("TP20261101", "tp2026"), ("TP20261101", "TP20261"), ("TP20261101", "-P2026")],
)
async def test_bad_labels_and_serials_are_refused(
    tmp_path: Path, label: str, serial: str | None
) -> None:
    drv = make(tmp_path)
    await drv.load("TPA001L8")
    with pytest.raises(ValueError) as err:
        await drv.format(label, serial=serial)
    assert "\n" not in str(err.value)
    assert await drv.read_label() is None


async def test_format_default_serial_is_the_barcodes_six(tmp_path: Path) -> None:
    drv = await formatted(tmp_path, "TPA003L8")
    assert (await drv.read_label()).serial == "TPA003"


async def test_mount_needs_a_loaded_formatted_cartridge(tmp_path: Path) -> None:
    drv = make(tmp_path)
    with pytest.raises(NoCartridge):
        await drv.mount()
    await drv.load("TPA001L8")
    with pytest.raises(TapeError, match="not formatted"):
        await drv.mount()
    await drv.format("TP20261101")
    volume = await drv.mount()
    assert await drv.mount() is volume
    status = await drv.status()
    assert status.mounted and status.mount_point == str(volume.root)
    assert status.label == "TP20261101" and status.generation == "LTO-8"
    assert status.health == {"load count": "1", "TapeAlert": "none"}


async def test_unload_unmounts_and_a_stale_volume_refuses_writes(tmp_path: Path) -> None:
    drv = await formatted(tmp_path)
    volume = await drv.mount()
    await drv.unload()
    assert not (await drv.status()).mounted
    with pytest.raises(TapeError, match="not mounted"):
        volume.open_write("late.bin")


async def test_writing_past_capacity_raises_enospc(tmp_path: Path) -> None:
    drv = await formatted(tmp_path, capacity_bytes=1 * MiB)
    volume = await drv.mount()
    chunk = b"z" * (600 * 1024)
    with volume.open_write("big.bin") as f:
        f.write(chunk)
        with pytest.raises(OSError) as err:
            f.write(chunk)
    assert err.value.errno == errno.ENOSPC
    # What fitted stays on the tape, as it would on a real one.
    assert (volume.root / "big.bin").stat().st_size == 1 * MiB
    assert volume.free_bytes() == 0
    assert (await drv.status()).remaining_bytes == 0
    with volume.open_write("more.bin") as f, pytest.raises(OSError):
        f.write(b"1")


async def test_a_whole_file_write_past_capacity_keeps_what_fitted_and_raises_enospc(tmp_path: Path) -> None:
    drv = await formatted(tmp_path, capacity_bytes=1 * MiB)
    volume = await drv.mount()
    volume.write_whole("a/first.bin", b"a" * (600 * 1024))
    with pytest.raises(OSError) as err:
        volume.write_whole("a/second.bin", b"b" * (600 * 1024))
    assert err.value.errno == errno.ENOSPC
    assert (volume.root / "a/second.bin").read_bytes() == b"b" * (1 * MiB - 600 * 1024)
    assert volume.free_bytes() == 0
    await drv.unmount()
    assert (await make(tmp_path).status()).remaining_bytes == 0
    [path] = tmp_path.rglob("index.sqlite")
    index = MediaIndex(path)
    try:  # the partial file is on the tape's index with the size that fitted, as with open_write
        assert index.files() == {"a/first.bin": 600 * 1024, "a/second.bin": 1 * MiB - 600 * 1024}
    finally:
        index.close()


async def test_used_bytes_persist_across_restart(tmp_path: Path) -> None:
    drv = await formatted(tmp_path)
    volume = await drv.mount()
    with volume.open_write("a/one.bin") as f:
        f.write(b"1" * 3000)
        f.write(bytearray(b"2" * 2000))
    with volume.open_write("a/two.bin") as f:
        f.write(memoryview(b"3" * 1000))
    assert volume.free_bytes() == 64 * MiB - 6000
    await drv.unmount()
    again = make(tmp_path)
    assert (await again.status()).remaining_bytes == 64 * MiB - 6000
    await again.unload()
    [cart] = [c for c in await make(tmp_path).inventory() if c.barcode == "TPA001L8"]
    assert cart.used_bytes == 6000 and not cart.in_drive and cart.slot == 1


async def test_positions_follow_write_order_and_persist(tmp_path: Path) -> None:
    drv = await formatted(tmp_path)
    volume = await drv.mount()
    sizes = {"z/first": 10, "a/second": 3 * BLOCK_SIZE + 1, "m/third": 0, "b/fourth": 5}
    for i, (path, size) in enumerate(sizes.items()):
        if i % 2:  # the one-call path for small files records the same as a file object
            volume.write_whole(path, b"p" * size)
        else:
            with volume.open_write(path) as f:
                f.write(b"p" * size)
    blocks = [volume.position(p) for p in sizes]
    assert blocks == sorted(blocks) and len(set(blocks)) == 4
    assert blocks[2] - blocks[1] >= 4  # the second file spans four blocks
    assert volume.position("never/written") is None
    await drv.close()
    again = make(tmp_path)
    assert [(await again.mount()).position(p) for p in sizes] == blocks


async def test_two_processes_share_one_library(tmp_path: Path) -> None:
    """A daemon, consoles and CLI commands each open the library: what one does, the
    others see at their next call, as with a real library (a console that took
    over from a killed daemon once formatted a cartridge it still thought blank)."""
    daemon, console = make(tmp_path), make(tmp_path)
    assert (await console.status()).loaded is None
    await daemon.load("TPA001L8")
    await daemon.format("TP20261101")
    volume = await daemon.mount()
    volume.write_whole("set-1/a", b"a" * 5000)
    await daemon.unmount()

    status = await console.status()
    assert (status.loaded, status.label, status.mounted) == ("TPA001L8", "TP20261101", False)
    assert status.remaining_bytes == status.capacity_bytes - 5000
    assert [c.formatted for c in await console.inventory() if c.barcode == "TPA001L8"] == [True]
    with pytest.raises(AlreadyFormatted):
        await console.format("TP20261102")  # it knows the tape holds a volume now
    theirs = await console.mount()
    theirs.write_whole("set-2/b", b"b" * 10)  # after the daemon's file, not over it
    assert theirs.position("set-2/b") > theirs.position("set-1/a")
    await console.unload()

    assert (await daemon.status()).loaded is None
    assert {c.barcode: c.slot for c in await daemon.inventory()}["TPA001L8"] == 1
    await daemon.load("TPA001L8")
    assert (await daemon.mount()).position("set-2/b") is not None
    await daemon.close()
    await console.close()


async def test_xattrs_store_and_survive_restart(tmp_path: Path) -> None:
    drv = await formatted(tmp_path)
    volume = await drv.mount()
    with volume.open_write("docs/a.txt") as f:
        f.write(b"hello")
    assert volume.set_xattr("docs/a.txt", "user.ltfs.hash.sha256", b"abc123")
    assert volume.get_xattr("docs/a.txt", "ltfs.hash.sha256") == b"abc123"
    assert volume.get_xattr("docs/./a.txt", "user.ltfs.hash.sha256") == b"abc123"
    assert volume.get_xattr("docs/a.txt", "user.ltfs.hash.md5") is None
    with pytest.raises(FileNotFoundError):
        volume.set_xattr("docs/missing.txt", "user.x", b"1")
    await drv.unmount()
    again = make(tmp_path)
    assert (await again.mount()).get_xattr("docs/a.txt", "user.ltfs.hash.sha256") == b"abc123"


@pytest.mark.parametrize(
    "relpath",
    ["/etc/passwd", "../outside", "a/../../outside", "a/..", "C:/x", "", ".", "./"],
)
async def test_paths_leaving_the_volume_are_refused(tmp_path: Path, relpath: str) -> None:
    drv = await formatted(tmp_path)
    volume = await drv.mount()
    with pytest.raises(TapeInputError, match="relative path inside the volume"):
        volume.open_write(relpath)
    with pytest.raises(ValueError):
        volume.get_xattr(relpath, "user.x")
    assert not (tmp_path / "cartridges" / "outside").exists()


async def test_a_backslash_is_a_character_of_the_name_on_posix(tmp_path: Path) -> None:
    """'..\\outside' is one name here (it was refused, losing such files from backups)."""
    drv = await formatted(tmp_path)
    volume = await drv.mount()
    with volume.open_write("tapetui/..\\outside") as out:
        out.write(b"kept")
    assert not (tmp_path / "cartridges" / "outside").exists()
    assert volume.position("tapetui/..\\outside") is not None


@given(st.lists(st.sampled_from(["a", "b.c", ".", "", "..", "x y"]), min_size=1, max_size=5))
@settings(max_examples=200)
def test_volume_keys_never_climb_out(parts: list[str]) -> None:
    relpath = "/".join(parts)
    try:
        key = volume_key(relpath)
    except TapeInputError:
        assert ".." in parts or not [p for p in parts if p not in ("", ".")] or not parts[0]
        return
    assert key and ".." not in key.split("/") and not key.startswith("/")
    assert "" not in key.split("/") and "." not in key.split("/")


async def test_throughput_limit_slows_writes(tmp_path: Path) -> None:
    drv = await formatted(tmp_path, throughput_mb_s=20)
    volume = await drv.mount()
    started = time.monotonic()
    with volume.open_write("slow.bin") as f:
        for _ in range(8):
            f.write(b"s" * 250_000)
    assert time.monotonic() - started >= 0.08  # 2 MB at 20 MB/s is 0.1 s


async def test_status_reads_counters_while_a_thread_writes(tmp_path: Path) -> None:
    drv = await formatted(tmp_path)
    volume = await drv.mount()
    chunk, count = b"w" * 4096, 200

    def writer() -> None:
        for i in range(count):
            with volume.open_write(f"t/{i}") as f:
                f.write(chunk)

    thread = threading.Thread(target=writer)
    thread.start()
    seen = []
    while thread.is_alive():
        seen.append((await drv.status()).remaining_bytes)
        await asyncio.sleep(0.001)
    thread.join(timeout=10)
    assert seen == sorted(seen, reverse=True)
    assert (await drv.status()).remaining_bytes == 64 * MiB - count * len(chunk)


async def test_check_reports_consistency_and_reconciles(tmp_path: Path) -> None:
    drv = await formatted(tmp_path)
    volume = await drv.mount()
    with volume.open_write("kept.bin") as f:
        f.write(b"k" * 100)
    with pytest.raises(TapeError, match="mounted"):
        await drv.check()
    await drv.unmount()
    result = await drv.check()
    assert result.success and result.returncode == 1
    assert result.lines[-1] == "LTFS16022I Volume is consistent."
    assert "LTFS16024I Volser (bar code) : TPA001." in result.lines
    assert "correction" not in result.message

    # A file the index never heard of (a crash before close was recorded).
    (volume.root / "orphan.bin").write_bytes(b"o" * 5000)
    seen: list[str] = []
    result = await drv.check(on_line=seen.append)
    assert result.success and "correction" in result.message and seen == result.lines
    assert (await drv.status()).remaining_bytes == 64 * MiB - 5100
    remounted = await drv.mount()
    assert remounted.position("orphan.bin") > remounted.position("kept.bin")


async def test_check_of_an_unformatted_tape_fails_like_ltfsck(tmp_path: Path) -> None:
    drv = make(tmp_path)
    with pytest.raises(NoCartridge):
        await drv.check()
    await drv.load("TPA004L8")
    result = await drv.check()
    assert not result.success and result.returncode == 4
    assert result.lines[-1] == "LTFS16080E Cannot check volume (8)."


def test_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    for cfg in ({"generation": "LTO-99"}, {"initial_cartridges": 9}, {"slots": 0},
                {"throughput_mb_s": -1}):
        with pytest.raises(TapeInputError):
            SimConfig(**cfg)


async def test_slot_count_can_grow_but_not_drop_cartridges(tmp_path: Path) -> None:
    make(tmp_path, slots=4, initial_cartridges=4)
    grown = make(tmp_path, slots=6)
    assert len(json.loads((tmp_path / "library.json").read_text())["slots"]) == 6
    assert len(await grown.inventory()) == 4
    with pytest.raises(TapeInputError, match="beyond slot 3"):
        make(tmp_path, slots=3, initial_cartridges=3)


CRASHING_WRITER = """
import asyncio, os, sys
from pathlib import Path
from tapetui.engine.tape.sim import SimConfig, SimDriver

async def main():
    drv = SimDriver(Path(sys.argv[1]), SimConfig(capacity_bytes=64 << 20))
    await drv.load("TPA001L8")
    await drv.format("TP20261101")
    volume = await drv.mount()
    for i in range(20):
        with volume.open_write(f"d/{i}.bin") as f:
            f.write(b"c" * 1000)
    with volume.open_write("d/torn.bin") as f:
        f.write(b"t" * 500)
        os._exit(0)  # dies mid-file, index not synced, nothing closed

asyncio.run(main())
"""


async def test_check_recovers_the_index_after_a_crash(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CRASHING_WRITER, str(tmp_path),
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert await asyncio.wait_for(proc.wait(), timeout=60) == 0
    drv = make(tmp_path)
    status = await drv.status()
    assert status.loaded == "TPA001L8" and status.mounted and status.label == "TP20261101"
    await drv.unmount()
    result = await drv.check()
    assert result.success and "correction" in result.message
    volume = await drv.mount()
    on_disk = sum(p.stat().st_size for p in (volume.root / "d").iterdir())
    assert on_disk >= 20 * 1000  # the torn file's buffered bytes may have been lost
    assert (await drv.status()).remaining_bytes == 64 * MiB - on_disk
    blocks = [volume.position(f"d/{i}.bin") for i in range(20)] + [volume.position("d/torn.bin")]
    assert None not in blocks and len(set(blocks)) == 21
