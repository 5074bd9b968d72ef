"""The `ltfs` driver with LTFS's `file` backend, on cartridge folders holding the
records the real mkltfs wrote (tests/data/ltfs_file): no mt, mtx or sg_read_attr
may run (their paths here do not exist), the folder is the cartridge."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tapetui.engine.tape.base import NoCartridge
from tapetui.engine.tape.ltfs import LtfsConfig, LtfsDriver
from tapetui.engine.tape.ltfs_folder import read_folder

DATA = Path(__file__).parent / "data" / "ltfs_file"
UUID_NONE = "095bbd49-6bec-4ddb-b040-55763400ce94"


def driver(tmp_path: Path, **settings: object) -> LtfsDriver:
    missing = {name: f"/nonexistent/{name}" for name in ("mt", "mtx", "sg_read_attr", "mkltfs", "ltfs", "ltfsck")}
    return LtfsDriver(LtfsConfig(**missing, backend="file", mount_point=str(tmp_path / "mnt"),
                                 **{"device": str(tmp_path / "drive"), **settings}))


def test_the_folder_records_give_barcode_uuid_name_and_cartridge_type() -> None:
    named, nameless = read_folder(DATA / "barcode"), read_folder(DATA / "nobarcode")
    assert (named.formatted, named.barcode, named.label) == (True, "ABC123", "TP20261201")
    assert named.uuid == "36d2fe38-e5c0-49da-aea2-1fb6febe4e15" and named.formatted_at is not None
    assert (named.generation, named.capacity_bytes) == ("LTO-5", 3072 * 1024 * 1024)
    assert (nameless.barcode, nameless.uuid, nameless.label) == (None, UUID_NONE, "Vol &amp; <x>")


async def test_the_drive_is_its_folder_and_never_runs_mt_or_sg_read_attr(tmp_path: Path) -> None:
    d = driver(tmp_path)
    empty = await d.status()
    assert (empty.drive_present, empty.loaded) == (True, None)
    (tmp_path / "drive").mkdir()
    blank = await d.status()
    assert (blank.loaded, blank.formatted) == ("no-barcode", False)
    assert await d.read_label() is None
    shutil.rmtree(tmp_path / "drive")
    shutil.copytree(DATA / "nobarcode", tmp_path / "drive")
    st = await d.status()
    assert (st.loaded, st.formatted, st.label) == (f"no-barcode:{UUID_NONE}", True, "Vol &amp; <x>")
    [in_drive] = await d.inventory()
    assert in_drive.formatted and in_drive.barcode == st.loaded
    shutil.rmtree(tmp_path / "drive")
    shutil.copytree(DATA / "barcode", tmp_path / "drive")
    label = await d.read_label()
    assert label is not None and (label.label, label.serial, label.barcode) == ("TP20261201", "ABC123", "ABC123")
    await d.load("ABC123L5")  # a standalone drive: the cartridge in it is the one asked for
    with pytest.raises(NoCartridge, match="insert XYZ999L5 by hand"):
        await d.load("XYZ999L5")


async def test_a_library_of_folders_loads_by_the_folder_s_barcode(tmp_path: Path) -> None:
    slots = [tmp_path / "lib" / "TPA001L5", tmp_path / "lib" / "TPA002L5", tmp_path / "lib" / "loose"]
    shutil.copytree(DATA / "barcode", slots[0])
    slots[1].mkdir(parents=True)
    slots[2].mkdir()
    d = driver(tmp_path, slots=[str(s) for s in slots])
    assert d.has_changer and (await d.status()).loaded is None
    assert [(c.barcode, c.slot) for c in await d.inventory()] == [("TPA001L5", 1), ("TPA002L5", 2)]
    await d.load("TPA002L5")
    st = await d.status()
    assert (st.loaded, st.formatted) == ("TPA002L5", False)  # the tag names even a blank one
    assert sorted(c.barcode for c in await d.inventory() if not c.in_drive) == ["TPA001L5"]
    with pytest.raises(Exception, match="unload it before loading TPA001L5"):
        await d.load("TPA001L5")
    await d.unload()
    assert (await d.status()).loaded is None and slots[1].is_dir()
    await d.load("TPA001L5")
    assert (await d.status()).loaded == "TPA001L5" and (await d.read_label()).label == "TP20261201"
    with pytest.raises(NoCartridge, match="no cartridge NOPE01L5"):
        await d.load("NOPE01L5")
