"""The format flow: format the loaded cartridge once, read its label back, and make
the catalog follow the cartridge (mark the sets the format destroyed, rename or
create its record; seed 计划任务执行细节文档, 4)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from ..errors import UserError
from ..events import TapeChanged
from ..store.models import CartridgeRow
from ..tape.args import serial_from_barcode
from ..tape.base import DriveStatus, LabelInfo, OpResult, TapeDriver
from ..tape.labels import catalogable, has_barcode, scheduled_label, shown_id
from .base import OpLog, driver_errors
from .month import ym

if TYPE_CHECKING:
    from ..core import Engine
    from .ops import TapeOps


@dataclass
class FormatOutcome:
    """What a format did: whether the tape now reads its new label, what went wrong,
    which catalogued sets it destroyed."""

    ok: bool
    old_label: str | None
    new_label: str | None
    warnings: list[str] = field(default_factory=list)
    overwritten_sets: list[int] = field(default_factory=list)


async def format_flow(
    ops: TapeOps,
    *,
    scheduled: bool,
    now: datetime,
    log: OpLog,
    label: str | None = None,
    force: bool = True,
    barcode: str | None = None,
    in_run: bool = False,
) -> FormatOutcome:
    """Format the loaded cartridge once and make the catalog follow it.

    `scheduled`: label it TP{YYYY}{MM}01 (an automatic firing); else keep its
    label. `in_run`: the format a full backup run does (a schedule's), which
    the log must not call a manual format even when the run was started by hand.

    `barcode`: the one on the cartridge's sticker, for a cartridge whose memory
    holds none (a new one in a standalone drive); its 6-character serial is
    written to the medium, so the drive can name the cartridge from then on.

    Never raises for a tape or catalog failure: a failed format is ok=False
    with a warning (a backup goes on without it); a catalog update that fails
    after a good format is a warning and ok stays True."""
    out = FormatOutcome(ok=False, old_label=None, new_label=None)

    def warn(text: str) -> None:
        out.warnings.append(text)
        log.warning(text)

    try:
        with driver_errors():
            before = await ops.driver.read_label()
            status = await ops.driver.status()
    except UserError as e:
        warn(f"format failed: {e}")
        return out
    out.old_label = before.label if before else None
    old_id = (before.barcode if before else None) or status.loaded or out.old_label
    log.info(f"label before format: {out.old_label or '(blank)'}"
             + (f" on {shown_id(old_id)}" if old_id else ""))
    if scheduled:
        new_label = scheduled_label(now)
        log.info(f"scheduled format: new label {new_label} for {ym(now)}")
    else:
        new_label = label or out.old_label or scheduled_label(now)
        log.info(f"scheduled format before the full backup: label {new_label} "
                 f"({'kept: a run started by hand keeps the label' if out.old_label else 'a blank cartridge'})"
                 if in_run else f"manual format: label {new_label}")

    try:
        with driver_errors():
            if status.mounted:
                await ops.driver.unmount()
            serial = serial_from_barcode(barcode) if barcode is not None else None
            result = await ops.driver.format(new_label, serial=serial, force=force, on_line=log.tool)
    except UserError as e:
        result = OpResult(success=False, message=str(e))
    finally:
        ops.engine.bus.publish(TapeChanged(reason="format"))
    if not result.success:
        warn(f"format failed: {result.message}")
        return out

    try:
        with driver_errors():
            after = await ops.driver.read_label()
    except UserError as e:
        warn(f"the tool reported success but the label cannot be read back: {e}")
        after = None
    if after is None and not out.warnings:
        warn(f"the tool reported success but the tape reads blank (expected label {new_label})")
    out.ok = after is not None
    out.new_label = after.label if after else new_label
    if after is not None and after.label != new_label:
        warn(f"after formatting the tape reads label {after.label!r}, expected {new_label!r}")
    if out.ok:
        log.info(f"format succeeded, label is now {out.new_label}")

    # The medium was rewritten: the catalog must follow even if verification failed.
    # Sets first: a catalog claiming restorable sets on a wiped tape is the worse lie.
    new_id = await _id_after_format(ops.driver, after, status) or out.new_label
    old_record: CartridgeRow | None = None
    try:
        old_record = await ops.find_record(old_id, out.old_label)
        if old_record is not None:
            lost = await ops.live_sets(old_record.id)
            await ops.engine.sets.mark_overwritten(old_record.id)
            out.overwritten_sets = [s.id for s in lost]
            if lost:
                log.info("sets now overwritten: " + ", ".join(f"#{s.id} {s.name}" for s in lost))
    except Exception as e:
        warn(f"the tape was formatted but its sets could not be marked overwritten: {e}")
    if not catalogable(new_id):
        warn("the tape was formatted but the drive cannot name it (no barcode, unreadable "
             "cartridge memory), so it is not catalogued: format it again giving its barcode")
        ops.engine.bus.publish(TapeChanged(reason="format: catalog updated"))
        return out
    if not has_barcode(new_id):
        log.info(f"the cartridge carries no barcode: catalogued as {shown_id(new_id)}; give its "
                 "barcode when formatting it so the drive can name it")
    try:
        how = await _update_record(ops.engine, old_record, new_id, out.new_label, after, status)
        log.info(f"cartridge record {how}: {out.old_label or '(blank)'} -> {out.new_label}")
    except Exception as e:
        warn(f"the tape was formatted but its catalog record could not be updated: {e}")
    ops.engine.bus.publish(TapeChanged(reason="format: catalog updated"))  # sets counts follow now
    return out


async def _id_after_format(driver: TapeDriver, after: LabelInfo | None, before: DriveStatus) -> str | None:
    """The cartridge's id once formatted: what its label says, else what the drive
    now calls it (a format can give it a barcode), else what it was called (None:
    a drive that names no cartridge, where the seed's rule makes the label the id)."""
    if after is not None and after.barcode:
        return after.barcode
    try:
        with driver_errors():
            now = await driver.status()
    except UserError:
        now = before
    return now.loaded or before.loaded


async def _update_record(
    engine: Engine,
    old: CartridgeRow | None,
    new_id: str,
    new_label: str | None,
    after: LabelInfo | None,
    status: DriveStatus,
) -> str:
    """Seed 4.2: found by old id or label -> rename; new id taken by another
    record -> label only; not found -> create. Returns what was done."""
    carts = engine.cartridges
    formatted_at = after.formatted_at if after else None
    fresh = functools.partial(
        carts.upsert, new_id, serial=after.serial if after else None, generation=status.generation,
        capacity_bytes=status.capacity_bytes, used_bytes=0, formatted_at=formatted_at,
        status="active" if after else "blank",
    )
    async with engine.store.transaction():
        if old is None:
            await fresh(label=new_label)
            return f"created for {new_id}"
        taken = await carts.by_barcode(new_id)
        if taken is not None and taken.id != old.id:
            await carts.set_label(old.id, new_label, formatted_at)
            return f"relabelled ({new_id} is already recorded)"
        await carts.rename(old.id, new_id, new_label)
        await fresh()
        return "renamed" if old.barcode != new_id else "updated"
