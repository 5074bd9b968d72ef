"""Getting the right cartridge into the drive for a backup, a restore or a verify.

Backups write to the loaded cartridge when it has room, else (in a library) load
an eligible one themselves: blank, or this month's with room. A cartridge that
has never been formatted is formatted here *without force*, which can never
destroy data (the tool refuses a formatted medium); formatting a cartridge that
holds sets is the tape format flow's job, never this module's. A standalone drive
asks the operator (OperatorNeeded on the bus) and waits, cancellably.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Awaitable, Callable

from ..drive.ops import FULL_RESERVE, TapeOps
from ..events import OperatorDone, OperatorNeeded, TapeChanged
from ..runlog import RunLog
from ..tape.base import Cartridge, DriveStatus, NoCartridge, TapeError, Volume
from ..tape.labels import catalogable, is_this_month, scheduled_label
from ..tape.ltfs_run import holds
from .errors import RunFailed
from .writer import TapeTarget

if TYPE_CHECKING:
    from ..core import Engine


def _room(capacity: int | None, used: int | None) -> bool:
    if not capacity:
        return True
    return (used or 0) < capacity * (1 - FULL_RESERVE)


def _writable(engine: Engine, c: Cartridge) -> bool:
    """Blank, or this month's cartridge with room left."""
    if not c.formatted:
        return True
    return is_this_month(c.label, engine.clock(), c.formatted_at) and _room(c.capacity_bytes, c.used_bytes)


async def _status_usable(engine: Engine, status: DriveStatus) -> bool:
    if not status.formatted:
        return await engine.driver.read_label() is None  # blank: we may format it
    used = None if status.capacity_bytes is None or status.remaining_bytes is None else (
        status.capacity_bytes - status.remaining_bytes)
    return _room(status.capacity_bytes, used)


async def _wait_for_operator(
    engine: Engine, log: RunLog, message: str, action: str, ok: Callable[[DriveStatus], Awaitable[bool]]
) -> DriveStatus:
    """Publish OperatorNeeded and poll the drive until `ok(status)`; cancellable, bounded."""
    log.warning(f"waiting for an operator: {message}")
    engine.bus.publish(OperatorNeeded(run_id=log.run_id, message=message, action=action))
    loop = asyncio.get_running_loop()
    limit = engine.config.tape.operator_wait_s
    deadline = loop.time() + limit
    while True:
        status = await engine.driver.status()
        if await ok(status):
            break
        if loop.time() >= deadline:
            raise RunFailed(f"waited {limit:.0f} s (tape.operator_wait_s) and nobody did it: {message}")
        await asyncio.sleep(min(TapeOps.poll_s, max(0.0, deadline - loop.time())))
    engine.bus.publish(OperatorDone(run_id=log.run_id))
    engine.bus.publish(TapeChanged(reason=f"inserted {status.loaded}"))
    return status


async def _load(engine: Engine, log: RunLog, barcode: str, why: str) -> None:
    driver = engine.driver
    status = await driver.status()
    if status.loaded == barcode:
        return
    if status.loaded is not None:
        log.info(f"unloading {status.loaded}")
        await driver.unload()
    log.info(f"loading {barcode} {why}")
    try:
        await driver.load(barcode)
    except NoCartridge as e:
        raise RunFailed(str(e)) from None
    engine.bus.publish(TapeChanged(reason=f"loaded {barcode}"))


async def _record(engine: Engine, status: DriveStatus, state: str = "active") -> int:
    if not catalogable(status.loaded):
        raise RunFailed("the drive cannot name the loaded cartridge (no barcode, no readable "
                        "medium serial or volume UUID): its sets could not be found again; "
                        "format it giving its barcode")
    used = None if status.capacity_bytes is None or status.remaining_bytes is None else (
        status.capacity_bytes - status.remaining_bytes)
    row = await asyncio.shield(engine.cartridges.upsert(
        status.loaded or "", label=status.label, serial=status.serial, generation=status.generation,
        capacity_bytes=status.capacity_bytes, used_bytes=used, status=state,
    ))
    return row.id


async def open_for_write(engine: Engine, log: RunLog, *, exclude: set[str], continuing: bool) -> TapeTarget:
    """Load (if needed), format a blank (if needed), mount and record a cartridge to write to.

    `exclude`: cartridges this run already filled. `continuing`: a set spans onto a
    next cartridge (a blank one is preferred: it has the most room)."""
    driver = engine.driver
    status = await driver.status()
    usable = status.loaded is not None and status.loaded not in exclude and await _status_usable(engine, status)
    if not usable:
        if driver.has_changer:
            inventory = [c for c in await driver.inventory() if not c.in_drive and c.barcode not in exclude]
            candidates = sorted(
                (c for c in inventory if _writable(engine, c)),
                key=lambda c: (c.formatted == continuing, c.slot or 0),
            )
            if not candidates:
                raise RunFailed("no usable cartridge in the library: need a blank one or this month's with room")
            choice = candidates[0]
            await _load(engine, log, choice.barcode, "(blank)" if not choice.formatted else f"({choice.label})")
        else:
            async def ok(s: DriveStatus) -> bool:
                return s.loaded is not None and s.loaded not in exclude and await _status_usable(engine, s)
            what = "the cartridge is full: insert the next one" if continuing else "insert a cartridge with room"
            await _wait_for_operator(engine, log, what, "insert_cartridge", ok)
        status = await driver.status()
    if not status.formatted:
        label = scheduled_label(engine.clock())
        log.info(f"{status.loaded} is blank: formatting it as {label}")
        result = await driver.format(label, on_line=log.tool)
        if not result.success:
            raise RunFailed(f"formatting the blank cartridge {status.loaded} failed: {result.message}")
        engine.bus.publish(TapeChanged(reason=f"formatted {status.loaded}"))
        status = await driver.status()
        await asyncio.shield(engine.cartridges.upsert(status.loaded or "", formatted_at=engine.clock()))
    volume = await driver.mount()
    status = await driver.status()
    cartridge_id = await _record(engine, status)
    return TapeTarget(volume=volume, cartridge_id=cartridge_id, barcode=status.loaded or "")


async def mark_full(engine: Engine, target: TapeTarget) -> None:
    status = await engine.driver.status()
    if status.loaded == target.barcode:
        await _record(engine, status, "full")


async def open_for_read(engine: Engine, log: RunLog, barcode: str) -> Volume:
    """Mount `barcode` for reading: load it from the library, or ask the operator."""
    driver = engine.driver
    status = await driver.status()
    # An unmounted LTFS cartridge may name itself by its 6-character serial only
    # (its memory holds no barcode), though the catalog recorded the full barcode.
    if not holds(status.loaded, barcode):
        if driver.has_changer:
            await _load(engine, log, barcode, "to read it")
        else:
            async def ok(s: DriveStatus) -> bool:
                return holds(s.loaded, barcode)
            await _wait_for_operator(engine, log, f"insert cartridge {barcode}", "insert_cartridge", ok)
    try:
        return await driver.mount()
    except TapeError as e:
        raise RunFailed(f"cannot mount {barcode}: {e}") from None
