"""Reading what the tape tools print: LTFS messages, mt, mtx, sg_read_attr, LtfsCmdDrives.

Pure functions over text, so each format is tested on its own and the drivers
stay about sequencing. Formats: docs/architecture.md ("Tool facts") and tests/test_ltfs_driver.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import medium_health as mh
from .base import GENERATIONS

_MSG = re.compile(r"^(?:[0-9a-f]+ )?LTFS(\d{5})([IWED]) (.*)$")
#: Error lines that appear on successful runs (docs/architecture.md, "Tool facts").
BENIGN_ERRORS = {"30061"}

DENSITY_GENERATION = {
    0x58: "LTO-5", 0x5A: "LTO-6", 0x5C: "LTO-7", 0x5D: "LTO-7 M8", 0x5E: "LTO-8", 0x60: "LTO-9",
}


@dataclass(frozen=True)
class LtfsMessage:
    id: str  # "15024I"
    text: str

    @property
    def level(self) -> str:
        return self.id[-1]


def ltfs_messages(lines: list[str]) -> list[LtfsMessage]:
    """The `LTFSnnnnnX text` messages among a tool's lines (thread-id prefix dropped)."""
    found = []
    for line in lines:
        m = _MSG.match(line.strip())
        if m:
            found.append(LtfsMessage(m.group(1) + m.group(2), m.group(3)))
    return found


def has_message(lines: list[str], msg_id: str) -> bool:
    return any(m.id == msg_id for m in ltfs_messages(lines))


def first_error(lines: list[str]) -> str | None:
    """The first meaningful error line, e.g. "LTFS15009E Cannot open device ...".

    Fallback for non-LTFS tools: the last non-empty line."""
    for m in ltfs_messages(lines):
        if m.level == "E" and m.id[:5] not in BENIGN_ERRORS:
            return f"LTFS{m.id} {m.text}"
    rest = [line.strip() for line in lines if line.strip()]
    return rest[-1] if rest else None


# ---------------------------------------------------------------------- mt ---


@dataclass
class MtStatus:
    online: bool
    door_open: bool
    write_protected: bool
    cleaning_requested: bool
    generation: str | None
    soft_errors: int | None


def parse_mt_status(text: str) -> MtStatus:
    bits: set[str] = set()
    generation = None
    soft = None
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.search(r"Density code 0x([0-9a-fA-F]+)", line)
        if m:
            generation = DENSITY_GENERATION.get(int(m.group(1), 16))
        m = re.match(r"Soft error count since last status=(\d+)", line.strip())
        if m:
            soft = int(m.group(1))
        if line.startswith("General status bits on") and i + 1 < len(lines):
            bits = set(lines[i + 1].split())
    return MtStatus(
        online="ONLINE" in bits,
        door_open="DR_OPEN" in bits,
        write_protected="WR_PROT" in bits,
        cleaning_requested="CLN" in bits,
        generation=generation,
        soft_errors=soft,
    )


# --------------------------------------------------------------------- mtx ---


@dataclass
class MtxStatus:
    slots: dict[int, str | None] = field(default_factory=dict)  # slot -> volume tag
    drives: dict[int, tuple[str | None, int | None]] = field(default_factory=dict)
    """drive index -> (volume tag, slot it came from); (None, None) when empty."""


_MTX_DRIVE = re.compile(
    r"Data Transfer Element (\d+):(Full|Empty)"
    r"(?: \(Storage Element (\d+) Loaded\))?(?::VolumeTag\s*=\s*(\S+))?"
)
_MTX_SLOT = re.compile(
    r"Storage Element (\d+)(?: IMPORT/EXPORT)?:(Full|Empty)(?:\s*:VolumeTag\s*=\s*(\S+))?"
)


def parse_mtx_status(text: str) -> MtxStatus:
    st = MtxStatus()
    for line in text.splitlines():
        line = line.strip()
        m = _MTX_DRIVE.match(line)
        if m:
            full = m.group(2) == "Full"
            slot = int(m.group(3)) if m.group(3) else None
            st.drives[int(m.group(1))] = (m.group(4) or ("" if full else None), slot)
            continue
        m = _MTX_SLOT.match(line)
        if m:
            st.slots[int(m.group(1))] = m.group(3) or ("" if m.group(2) == "Full" else None)
    return st


# ------------------------------------------------------------ sg_read_attr ---


def parse_read_attr(text: str) -> dict[str, str]:
    """`sg_read_attr` "  Name: value" lines -> {name: value stripped}."""
    attrs = {}
    for line in text.splitlines():
        if line.startswith("  ") and ": " in line:
            name, _, value = line.strip().partition(": ")
            attrs[name] = value.strip()
    return attrs


@dataclass
class MamFacts:
    label: str | None
    barcode: str | None
    #: The manufacturer's serial (0x0401): unique per cartridge, blank or not.
    medium_serial: str | None
    ltfs: bool
    remaining_bytes: int | None
    capacity_bytes: int | None
    health: dict[str, str]


MIB = 1024 * 1024


def mam_facts(attrs: dict[str, str]) -> MamFacts:
    def mib(name: str) -> int | None:
        value = attrs.get(name, "")
        return int(value) * MIB if value.isdigit() else None

    health = {}
    alert = attrs.get("TapeAlert flags")
    if alert is not None:
        health[mh.TAPEALERT] = mh.tapealert_text(mh.mam_flags(int(alert, 0)) if alert else [])
    if attrs.get("Load count", "").isdigit():
        health[mh.LOAD_COUNT] = attrs["Load count"]
    if attrs.get("Total MiB written in medium life", "").isdigit():
        health[mh.WRITTEN_MIB] = attrs["Total MiB written in medium life"]
    return MamFacts(
        label=attrs.get("User medium text label") or None,
        barcode=attrs.get("Barcode") or None,
        medium_serial=attrs.get("Medium serial number") or None,
        ltfs=attrs.get("Application name") == "LTFS",
        remaining_bytes=mib("Remaining capacity in partition [MiB]"),
        capacity_bytes=mib("Maximum capacity in partition [MiB]"),
        health=health,
    )


def generation_capacity(generation: str | None) -> int | None:
    g = GENERATIONS.get(generation or "")
    return g.capacity_bytes if g else None


# ----------------------------------------------------------- LtfsCmdDrives ---


@dataclass(frozen=True)
class WinDrive:
    letter: str
    address: str
    serial: str
    status: str  # NO_MEDIA, LTFS_MEDIA, LTFS_UNFORMATTED, ...


def parse_ltfscmd_drives(text: str) -> list[WinDrive]:
    """Rows of the `Assigned Address Serial Status` table (letters may carry ':')."""
    drives = []
    for line in text.splitlines():
        cols = line.split()
        if len(cols) == 4 and re.fullmatch(r"[A-Za-z]:?", cols[0]):
            drives.append(WinDrive(cols[0][0].upper(), cols[1], cols[2], cols[3].upper()))
    return drives
