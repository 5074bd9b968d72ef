"""TapeOps: the drive as the project uses it, shared by runs, the console and the CLI.

The driver (`tape/`) knows how to talk to a drive; this layer knows what the
project does with it: which cartridge a run may use (loading, here), keeping the
`cartridges` table in step with the library (here), the month check
(`month.py`), the format flow (`format.py`) and the protection of each source's
last restorable state (`protection.py`). Driver errors leave this layer as
`UserError`s: one line for the operator.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ..errors import UserError
from ..events import OperatorDone, OperatorNeeded, TapeChanged
from ..store.models import CartridgeRow, SetRow
from ..tape.base import Cartridge, DriveStatus, LineSink, OpResult
from ..tape.labels import catalogable, is_this_month, shown_id
from .base import OpLog, driver_errors
from .format import format_flow as _format_flow
from .month import month_check as _month_check
from .month import month_refusal, ym
from .protection import ANY_CARTRIDGE, NAMED, LastState, LastStateAtRisk, format_allowed, heads_of, last_states_among

if TYPE_CHECKING:
    from ..core import Engine

#: A cartridge with less than this share of its capacity left counts as full:
#: real drives hit early warning before the last byte.
FULL_RESERVE = 0.01
#: Set states whose data is already gone or no longer catalogued.
_GONE = {"overwritten", "expired"}


@dataclass
class CartridgeView:
    """One line of `tape list`: the library's view merged with the catalog's."""

    barcode: str
    label: str | None
    status: str  # blank | active | full | retired
    slot: int | None
    in_drive: bool
    location: str  # "drive", "slot N", or "offline" (catalogued, not in the library)
    serial: str | None
    generation: str | None
    capacity_bytes: int | None
    used_bytes: int | None
    formatted_at: datetime | None
    sets: int  # catalogued sets still held on it


def cartridge_status(c: Cartridge) -> str:
    """blank (no LTFS), full (less than FULL_RESERVE left) or active."""
    if not c.formatted:
        return "blank"
    if c.capacity_bytes and (c.used_bytes or 0) >= c.capacity_bytes * (1 - FULL_RESERVE):
        return "full"
    return "active"


def _why_not(c: Cartridge, now: datetime) -> str:
    """Why a run does not keep the loaded cartridge `c` (it is not `TapeOps._eligible`)."""
    return month_refusal(c.label or shown_id(c.barcode), c.label, now, c.formatted_at) or "it is full"


def _none_usable(now: datetime) -> str:
    return f"no usable cartridge in the library: need a blank one or this month's ({ym(now)}) with free space"


def _where(c: Cartridge) -> str:
    place = "in the drive" if c.in_drive else f"slot {c.slot}"
    return f"{c.barcode} ({place})" if c.formatted else f"{c.barcode} (blank, {place})"


class TapeOps:
    """The drive policy of one engine: its driver, its catalog, its event bus."""

    #: Seconds between drive polls while waiting for an operator.
    poll_s: float = 2.0
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.driver = engine.driver
        #: How long a run waits for someone to insert a cartridge before giving up.
        self.operator_wait_s = engine.config.tape.operator_wait_s

    # ---- plain driver operations (with catalog and events kept in step) ------------

    async def status(self) -> DriveStatus:
        with driver_errors("cannot read the drive status"):
            return await self.driver.status()

    async def load(self, barcode: str) -> None:
        with driver_errors():
            await self.driver.load(barcode)
        self.engine.bus.publish(TapeChanged(reason=f"loaded {barcode}"))
        await self.sync_inventory()

    async def unload(self) -> str | None:
        """Return the loaded cartridge to its slot; its barcode (None if it was empty)."""
        status = await self.status()
        if status.loaded is None:
            return None
        with driver_errors():
            await self.driver.unload()
        self.engine.bus.publish(TapeChanged(reason=f"unloaded {status.loaded}"))
        await self.sync_inventory()
        return status.loaded

    async def check(self, on_line: LineSink | None = None) -> OpResult:
        with driver_errors():
            return await self.driver.check(on_line=on_line)

    # ---- catalog ---------------------------------------------------------------------

    async def _inventory(self) -> list[Cartridge]:
        with driver_errors("cannot read the library"):
            return await self.driver.inventory()

    async def sync_inventory(self) -> list[CartridgeRow]:
        """Record every cartridge the driver sees; a retired one stays retired.

        One the drive cannot name at all (bare `no-barcode`) is shown, never
        recorded: a record keyed on that would merge every such cartridge."""
        return await self._record(await self._inventory())

    async def _record(self, found: list[Cartridge]) -> list[CartridgeRow]:
        carts = self.engine.cartridges
        rows = []
        async with self.engine.store.transaction():
            for c in found:
                if not catalogable(c.barcode):
                    continue
                known = await carts.by_barcode(c.barcode)
                retired = known is not None and known.status == "retired"
                rows.append(await carts.upsert(
                    c.barcode, label=c.label, serial=c.serial, generation=c.generation,
                    capacity_bytes=c.capacity_bytes, used_bytes=c.used_bytes,
                    formatted_at=c.formatted_at, status=None if retired else cartridge_status(c),
                ))
        return rows

    async def overview(self) -> list[CartridgeView]:
        """Every cartridge in the library, then catalogued ones that are not."""
        found = await self._inventory()
        await self._record(found)
        records = {r.barcode: r for r in await self.engine.cartridges.all()}
        views = []
        for c in sorted(found, key=lambda c: (c.slot is not None, c.slot or 0)):
            rec = records.pop(c.barcode, None)
            views.append(CartridgeView(
                barcode=c.barcode, label=c.label,
                status=rec.status if rec else cartridge_status(c),
                slot=c.slot, in_drive=c.in_drive,
                location="drive" if c.in_drive else f"slot {c.slot}",
                serial=c.serial, generation=c.generation, capacity_bytes=c.capacity_bytes,
                used_bytes=c.used_bytes, formatted_at=c.formatted_at,
                sets=len(await self.live_sets(rec.id)) if rec else 0,
            ))
        for rec in records.values():
            views.append(CartridgeView(
                barcode=rec.barcode, label=rec.label, status=rec.status, slot=None,
                in_drive=False, location="offline", serial=rec.serial,
                generation=rec.generation, capacity_bytes=rec.capacity_bytes,
                used_bytes=rec.used_bytes, formatted_at=rec.formatted_at,
                sets=len(await self.live_sets(rec.id)),
            ))
        return views

    async def live_sets(self, cartridge_id: int) -> list[SetRow]:
        return [s for s in await self.engine.sets.on_cartridge(cartridge_id) if s.status not in _GONE]

    async def would_lose(self, barcode: str, label: str | None = None) -> list[SetRow]:
        """Catalogued sets a format of this cartridge would destroy (found as the
        format flow finds its record: by id, else by label)."""
        record = await self.find_record(barcode, label)
        return [] if record is None else await self.live_sets(record.id)

    async def find_record(self, old_id: str | None, old_label: str | None) -> CartridgeRow | None:
        """The record of a cartridge: by its id, else by its label."""
        carts = self.engine.cartridges
        found = await carts.by_barcode(old_id) if old_id else None
        if found is None and old_label:
            found = await carts.by_label(old_label)
        return found

    # ---- the last restorable state of each source -------------------------------------

    async def last_states(self) -> dict[int, SetRow]:
        """Set id -> the newest restorable set of its source, for every set that state needs."""
        return heads_of(await self.engine.sets.all())

    async def last_states_on(self, barcode: str, label: str | None = None,
                             states: dict[int, SetRow] | None = None) -> list[LastState]:
        """The sets on this cartridge that the newest restorable state of a source needs."""
        states = await self.last_states() if states is None else states
        return last_states_among(await self.would_lose(barcode, label), states)

    async def refuse_format(self, cartridge: Cartridge, allow: str | None) -> list[LastState]:
        """Before a full backup formats `cartridge`: raise LastStateAtRisk if that destroys
        the newest restorable state of a source and `allow` does not name it; returns
        what the operator allowed to be destroyed (empty when nothing such is at risk)."""
        at_risk = await self.last_states_on(cartridge.barcode, cartridge.label)
        if at_risk and not format_allowed(allow, cartridge.barcode):
            raise LastStateAtRisk(await self._refusal({cartridge.barcode: at_risk}))
        return at_risk

    async def _refusal(self, protected: dict[str, list[LastState]]) -> str:
        """One line: what each cartridge holds, which cartridges could be used instead."""
        held = "; ".join(f"{shown_id(b)} holds {', '.join(x.text() for x in xs)}" for b, xs in protected.items())
        usable = await self._usable_instead(set(protected))
        instead = "insert a blank cartridge or one whose sets are all superseded"
        if usable:
            instead = f"use {', '.join(usable)} instead, or {instead}"
        them = shown_id(next(iter(protected))) if len(protected) == 1 else "one of them"
        return (f"{held}, and a full backup formats its cartridge first: {instead}; "
                f"or run it by hand with --force (in the console: confirm it) to format {them} anyway")

    async def _usable_instead(self, exclude: set[str]) -> list[str]:
        """Cartridges a full backup could format without destroying any source's last
        restorable state: this month's or blank, in the library first, then catalogued ones."""
        now, states = self.engine.clock(), await self.last_states()
        found = [c for c in await self._inventory() if c.barcode not in exclude]
        out = [_where(c) for c in found
               if self._eligible(c, now, "full") and not await self.last_states_on(c.barcode, c.label, states)]
        shelved = {c.barcode for c in found} | exclude
        for rec in await self.engine.cartridges.all():
            if (rec.barcode not in shelved and rec.status != "retired"
                    and (rec.status == "blank" or is_this_month(rec.label, now, rec.formatted_at))
                    and not await self.last_states_on(rec.barcode, rec.label, states)):
                out.append(f"{rec.barcode} (not in the library)")
        return out[:NAMED]

    # ---- month check, format flow: functions of a TapeOps, in month.py and format.py ----

    month_check = _month_check
    format_flow = _format_flow

    # ---- choosing the cartridge for a run --------------------------------------------

    async def ensure_loaded(
        self, policy: str, log: OpLog, *, for_level: str | None = None, allow: str | None = None
    ) -> Cartridge:
        """Make sure the drive holds a cartridge a run may use, and return it.

        `loaded`: whatever is in the drive. `auto`: in a library, keep the loaded
        cartridge if eligible, else load one (blank, or this month's with room);
        a full backup never takes one holding a source's last restorable state
        unless `allow` names it (see `choose`); others continue this month's tape.
        A standalone drive that is empty waits for an operator (cancellable,
        bounded by `operator_wait_s`)."""
        if policy not in ("loaded", "auto"):
            raise UserError(f"unknown tape policy {policy!r}; expected 'loaded' or 'auto'")
        status = await self.status()
        if policy == "auto" and self.driver.has_changer:
            return await self._pick(log, for_level, allow)
        if status.loaded is None:
            if self.driver.has_changer:
                raise UserError(
                    "the drive is empty; load a cartridge (tapetui tape load BARCODE) "
                    "or use the 'auto' tape policy"
                )
            status = await self._wait_for_cartridge(log)
        return await self._in_drive(status)

    def _eligible(self, c: Cartridge, now: datetime, for_level: str | None) -> bool:
        if not c.formatted:
            return True
        if not is_this_month(c.label, now, c.formatted_at):
            return False
        return for_level == "full" or cartridge_status(c) != "full"

    async def choose(self, for_level: str | None, allow: str | None = None
                     ) -> tuple[Cartridge | None, Cartridge, str]:
        """The library cartridge an `auto` run of `for_level` takes, without moving
        anything: (the one in the drive, the choice, why the loaded one is not kept).

        The loaded cartridge is kept when eligible; a full backup (it formats) is
        chosen by `_to_format`. `allow`: the cartridge(s) the operator agreed may
        lose a source's last restorable state (see `refuse_format`)."""
        now = self.engine.clock()
        inventory = await self._inventory()
        current = next((c for c in inventory if c.in_drive), None)
        if for_level == "full":
            return current, *await self._to_format(inventory, current, now, allow)
        if current is not None and self._eligible(current, now, for_level):
            return current, current, ""
        candidates = sorted((c for c in inventory if not c.in_drive and self._eligible(c, now, for_level)),
                            key=lambda c: (not c.formatted, c.slot or 0))
        if not candidates:
            raise UserError(_none_usable(now))
        return current, candidates[0], _why_not(current, now) if current is not None else ""

    async def _to_format(self, inventory: list[Cartridge], current: Cartridge | None, now: datetime,
                         allow: str | None) -> tuple[Cartridge, str]:
        """The cartridge a full backup formats: the loaded one if it holds no catalogued
        set, else a blank one (or one holding none), else one whose sets are all
        superseded or incomplete (the loaded one first); never one holding a source's
        last restorable state, unless `allow` names it. Raises LastStateAtRisk naming
        the cartridges it could use instead when only such ones are left."""
        states = await self.last_states()
        ranked: list[tuple[tuple[bool, bool, bool, bool, int], Cartridge]] = []
        protected: dict[str, list[LastState]] = {}
        held: dict[str, int] = {}  # eligible cartridge -> how many catalogued sets it holds
        for c in (c for c in inventory if self._eligible(c, now, "full")):
            lost = await self.would_lose(c.barcode, c.label)
            held[c.barcode], at_risk = len(lost), last_states_among(lost, states)
            if at_risk and not format_allowed(allow, c.barcode):
                protected[c.barcode] = at_risk
            else:
                ranked.append(((bool(at_risk), bool(lost), not c.in_drive, c.formatted, c.slot or 0), c))
        if not ranked:
            raise LastStateAtRisk(await self._refusal(protected)) if protected else UserError(_none_usable(now))
        choice = min(ranked, key=lambda r: r[0])[1]
        if choice is current:
            return choice, ""
        if current is None:
            return choice, ""
        if current.barcode not in held:
            return choice, _why_not(current, now)
        kept = protected.get(current.barcode)
        what = ", ".join(x.text() for x in kept) if kept else f"{held[current.barcode]} catalogued backup set(s)"
        instead = "a blank one" if not choice.formatted else choice.barcode
        return choice, f"it holds {what}, and a full backup formats its cartridge: {instead} is used instead"

    async def month_risk(self, policy: str) -> str | None:
        """Why the month check would refuse a run with `policy` now (see `month_refusal`),
        None when it would not: it checks the loaded cartridge, which a `loaded` run or
        a standalone drive writes on (an `auto` library run picks this month's or a blank)."""
        if not self.engine.config.tape.month_check or (policy == "auto" and self.driver.has_changer):
            return None
        status = await self.status()
        if status.loaded is None:
            return None
        c = await self._in_drive(status)
        name = c.label or shown_id(c.barcode)
        return month_refusal(name, c.label, self.engine.clock(), c.formatted_at) if c.formatted else None

    async def format_target(self, policy: str) -> str | None:
        """The cartridge a full backup run with `policy` would format now if the
        operator allows it (`ANY_CARTRIDGE`); None when not known yet (an empty
        standalone drive waits for an operator) or when no cartridge is usable (the
        run will fail and say why)."""
        if policy == "auto" and self.driver.has_changer:
            try:
                return (await self.choose("full", ANY_CARTRIDGE))[1].barcode
            except UserError:
                return None
        return (await self.status()).loaded

    async def _pick(self, log: OpLog, for_level: str | None, allow: str | None) -> Cartridge:
        current, choice, why = await self.choose(for_level, allow)
        if choice is current:
            log.info(f"using the loaded cartridge {current.barcode} ({current.label or 'blank'})")
            return current
        if current is not None:
            log.info(f"unloading {current.barcode} ({current.label or 'blank'}): {why}")
            await self.unload()
        log.info(f"loading {choice.barcode} ({choice.label or 'blank'}) from slot {choice.slot}")
        await self.load(choice.barcode)
        return await self._in_drive(await self.status())

    async def _wait_for_cartridge(self, log: OpLog) -> DriveStatus:
        run_id = getattr(log, "run_id", None)
        message = "the drive is empty: insert a cartridge"
        log.warning(f"waiting for an operator: {message}")
        self.engine.bus.publish(OperatorNeeded(run_id=run_id, message=message, action="insert_cartridge"))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.operator_wait_s
        while True:
            await asyncio.sleep(min(self.poll_s, max(0.0, deadline - loop.time())))
            status = await self.status()
            if status.loaded is not None:
                break
            if loop.time() >= deadline:
                raise UserError(f"no cartridge was inserted within {self.operator_wait_s:.0f} s")
        log.info(f"cartridge {status.loaded} inserted")
        self.engine.bus.publish(OperatorDone(run_id=run_id))
        self.engine.bus.publish(TapeChanged(reason=f"inserted {status.loaded}"))
        return status

    async def _in_drive(self, status: DriveStatus) -> Cartridge:
        inventory = await self._inventory()
        found = next((c for c in inventory if c.in_drive), None)
        if found is not None:
            return found
        assert status.loaded is not None
        return Cartridge(
            barcode=status.loaded, slot=None, in_drive=True, label=status.label,
            serial=status.serial, generation=status.generation,
            capacity_bytes=status.capacity_bytes,
            used_bytes=None if status.capacity_bytes is None or status.remaining_bytes is None
            else status.capacity_bytes - status.remaining_bytes,
            formatted=status.label is not None,
        )