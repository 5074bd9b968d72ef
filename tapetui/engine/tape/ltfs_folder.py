"""A cartridge of LTFS's `file` tape backend, read from its folder without a mount.

The reference implementation's tape emulation keeps a cartridge as a folder of
records named `<partition>_<block>_<R|F|E>` (record, filemark, end of data) and a
`filedebug_tc_conf.xml` (capacity, cartridge type). Neither `mt` nor
`sg_read_attr` can answer for such a folder (they fail on a directory), so what
the drive would report comes from the records mkltfs and ltfs wrote:

- block 0 of partition 0 is the 80-byte `VOL1` label: bytes 4-9 hold the barcode
  (six spaces when mkltfs had no `-s`);
- block 2 (after a filemark) is the XML label: volume UUID and format time;
- the newest index on partition 0 (LTFS writes the index partition last at every
  unmount): its root directory's `<name>` is the volume name.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .ltfs_volume import parse_ltfs_time

CONFIG = "filedebug_tc_conf.xml"
#: How much of an index record is read: the root's name comes before any file.
INDEX_HEAD = 64 * 1024
_RECORD = re.compile(r"0_(\d+)_R")
_CART_TYPE = {"L5": "LTO-5", "L6": "LTO-6", "L7": "LTO-7", "M8": "LTO-7 M8", "L8": "LTO-8",
              "L9": "LTO-9"}
_ROOT_NAME = re.compile(rb"<directory>\s*(?:<fileuid>\d+</fileuid>\s*)?<name[^>]*>(.*?)</name>", re.S)


@dataclass
class FolderFacts:
    """What a file-backend cartridge says about itself."""

    formatted: bool
    barcode: str | None = None
    uuid: str | None = None
    label: str | None = None
    formatted_at_text: str | None = None
    generation: str | None = None
    capacity_bytes: int | None = None

    @property
    def formatted_at(self) -> datetime | None:
        return parse_ltfs_time(self.formatted_at_text)


def _tag(text: str, name: str) -> str | None:
    m = re.search(rf"<{name}>([^<]*)</{name}>", text)
    return html.unescape(m.group(1)).strip() or None if m else None


def _index_name(folder: Path) -> str | None:
    """The volume name in the newest index on the index partition."""
    blocks = sorted((int(m.group(1)) for p in folder.iterdir() if (m := _RECORD.fullmatch(p.name))),
                    reverse=True)
    for block in blocks:
        if block <= 2:
            break
        with open(folder / f"0_{block}_R", "rb") as f:
            head = f.read(INDEX_HEAD)
        if b"<ltfsindex" not in head:
            continue
        found = _ROOT_NAME.search(head)
        return html.unescape(found.group(1).decode("utf-8", "replace")).strip() or None if found else None
    return None


def read_folder(folder: Path) -> FolderFacts:
    """The facts of the cartridge kept in `folder` (an existing directory)."""
    facts = FolderFacts(formatted=False)
    conf = folder / CONFIG
    if conf.is_file():
        text = conf.read_text(errors="replace")
        mb = _tag(text, "capacity_mb")
        facts.capacity_bytes = int(mb) * 1024 * 1024 if mb and mb.isdigit() else None
        facts.generation = _CART_TYPE.get(_tag(text, "cart_type") or "")
    vol1, label = folder / "0_0_R", folder / "0_2_R"
    if not (vol1.is_file() and label.is_file()):
        return facts
    head = vol1.read_bytes()[:80]
    xml = label.read_bytes()[:INDEX_HEAD].decode("utf-8", "replace")
    if not head.startswith(b"VOL1") or "<ltfslabel" not in xml:
        return facts
    facts.formatted = True
    facts.barcode = head[4:10].decode("ascii", "replace").strip() or None
    facts.uuid = _tag(xml, "volumeuuid")
    facts.formatted_at_text = _tag(xml, "formattime")
    facts.label = _index_name(folder)
    return facts
