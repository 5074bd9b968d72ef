"""Label rules for monthly tapes (seed: 计划任务执行细节文档, 2.3 and 4.1).

A scheduled full backup names its cartridge `TP{YYYY}{MM}01`; the month check
reads the month back from such a label, or from the format time when the label
is something else. Months are the operator's calendar months, so every instant
is looked at in the host's local zone (naive datetimes already are local).

A cartridge is known by its barcode. One that carries none (a new cartridge in
a standalone drive: no changer reads its sticker, its memory holds no barcode
yet) is known by its cartridge memory's medium serial number instead, written
by the manufacturer and unique per cartridge: `no-barcode:<serial>`. Such an id
can never be mistaken for a barcode (those are capitals and digits only), and
two such cartridges never share one. A cartridge of LTFS's `file` backend has
no medium serial: once formatted it is known by its volume UUID instead. When
not even that can be read the id is the bare `no-barcode`, which names no
cartridge in particular and is never catalogued.

The id is one for life: the same whether the volume is mounted or not, and a
reformat keeps the barcode (the drivers pass it back to mkltfs as `-s`).
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import TypeGuard

from .args import InvalidArgument, validate_barcode
from .base import LabelInfo

#: `TP` + year + month, then anything (`TP20251101`, `TP202511-spare`).
_MONTHLY = re.compile(r"TP(\d{4})(0[1-9]|1[0-2])", re.IGNORECASE)


#: The id of a cartridge without a barcode (see the module docstring).
NO_BARCODE = "no-barcode"


def unlabelled_id(medium_serial: str | None) -> str:
    """The id of a cartridge that carries no barcode, from its medium serial number."""
    serial = (medium_serial or "").strip()
    return f"{NO_BARCODE}:{serial}" if serial else NO_BARCODE


def folder_tag(folder: Path) -> str | None:
    """The barcode of a file-backend library's cartridge folder: its name, when that
    is a barcode (the folder's sticker, as a changer reads a real one)."""
    try:
        return validate_barcode(folder.name)
    except InvalidArgument:
        return None


def has_barcode(cartridge_id: str | None) -> TypeGuard[str]:
    """True for a real barcode; False for an empty drive or a `no-barcode` id."""
    return bool(cartridge_id and not cartridge_id.startswith(NO_BARCODE))


def catalogable(cartridge_id: str | None) -> TypeGuard[str]:
    """Whether a catalog record may be keyed on this id: it names exactly one cartridge."""
    return bool(cartridge_id and cartridge_id != NO_BARCODE)


def shown_id(cartridge_id: str) -> str:
    """How an operator reads the id: `no-barcode:0A1B2C` -> `(no barcode) 0A1B2C`."""
    if has_barcode(cartridge_id):
        return cartridge_id
    serial = cartridge_id.partition(":")[2]
    return f"(no barcode) {serial}" if serial else "(no barcode)"


def _local(dt: datetime) -> datetime:
    return dt if dt.tzinfo is None else dt.astimezone()


def scheduled_label(now: datetime) -> str:
    """The label a scheduled full backup gives its cartridge this month."""
    t = _local(now)
    return f"TP{t.year:04d}{t.month:02d}01"


def label_month(
    label: LabelInfo | str | None, formatted_at: datetime | None = None
) -> tuple[int, int] | None:
    """(year, month) the cartridge belongs to; None when nothing says (blank tape).

    A `TPyyyymm..` label wins; otherwise the format time (from the LabelInfo when
    one is given and `formatted_at` is not)."""
    if isinstance(label, LabelInfo):
        formatted_at = formatted_at or label.formatted_at
        label = label.label
    if label:
        m = _MONTHLY.match(label)
        if m:
            return int(m.group(1)), int(m.group(2))
    if formatted_at is not None:
        t = _local(formatted_at)
        return t.year, t.month
    return None


def is_this_month(
    label: LabelInfo | str | None, now: datetime, formatted_at: datetime | None = None
) -> bool:
    """True when the cartridge's month (see `label_month`) is `now`'s month."""
    t = _local(now)
    return label_month(label, formatted_at) == (t.year, t.month)
