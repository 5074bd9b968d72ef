"""The rules around the drive that runs, the console and the CLI share.

The driver knows how to talk to a drive; this layer knows what the project does
with it (seed 计划任务执行细节文档, 2.3 and 4): the month check that protects last
month's archive, the format flow (which label, format once, verify, make the
catalog follow the cartridge, mark the sets the format destroyed), which
cartridge a run may use, and keeping the `cartridges` table in step with the
library. Driver errors leave this layer as `UserError`s: one line for the operator.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Iterator, Protocol

from ..backup.chain import restorable_states
from ..backup.levels import source_text
from ..errors import UserError
from ..events import OperatorDone, OperatorNeeded, TapeChanged
from ..store.models import CartridgeRow, SetRow
from ..tape.args import InvalidArgument, serial_from_barcode
from ..tape.base import (
    Cartridge,
    DriveStatus,
    LabelInfo,
    LineSink,
    NoCartridge,
    OpResult,
    TapeError,
)
from ..tape.labels import (
    catalogable,
    has_barcode,
    is_this_month,
    label_month,
    scheduled_label,
    shown_id,
)
from ..timeutil import show

if TYPE_CHECKING:
    from ..core import Engine

logger = logging.getLogger("tapetui.tape")

#: A cartridge with less than this share of its capacity left counts as full:
#: real drives hit early warning before the last byte.
FULL_RESERVE = 0.01
#: Set states whose data is already gone or no longer catalogued.
_GONE = {"overwritten", "expired"}
#: `allow_format` for "whichever cartridge the run picks" (the CLI's --force).
ANY_CARTRIDGE = "*"
#: How many usable cartridges a refusal names.
_NAMED = 5


class OpLog(Protocol):
    """Where an operation reports: a run's `RunLog`, or anything shaped like it."""

    def info(self, text: str) -> None: ...
    def warning(self, text: str) -> None: ...
    def tool(self, text: str) -> None: ...


class _ModuleLog:
    """The fallback `OpLog` when the caller has no run log: the log file."""

    def info(self, text: str) -> None:
        logger.info(text)

    def warning(self, text: str) -> None:
        logger.warning(text)

    def tool(self, text: str) -> None:
        logger.info("tool: %s", text)


class MonthCheckFailed(UserError):
    """The loaded cartridge is not this month's: a run must not write on it."""


class TapeOpFailed(UserError):
    """The driver refused or failed an operation; the message says why."""


class LastStateAtRisk(UserError):
    """A full backup would format a cartridge holding the newest restorable state of
    a source, and nobody said yes to that."""


@dataclass
class LastState:
    """Sets on one cartridge that the newest restorable state of one source needs."""

    held: list[SetRow]  # the sets on the cartridge, oldest first
    head: SetRow  # the newest set of that state: what a restore of the source brings back

    def text(self) -> str:
        folders = source_text(self.head.source_key) or repr(self.head.name)
        if [s.id for s in self.held] == [self.head.id]:
            return f"set {self.head.id} ({self.head.level}), the last restorable backup of {folders}"
        sets = ", ".join(f"{s.id} ({s.level})" for s in self.held)
        return (f"{'set' if len(self.held) == 1 else 'sets'} {sets}, needed to restore set {self.head.id}, "
                f"the last restorable backup of {folders}")


def _last_states(lost: list[SetRow], states: dict[int, SetRow]) -> list[LastState]:
    """The sets of `lost` that a source's newest restorable state needs, one entry per source."""
    by_head: dict[int, LastState] = {}
    for s in lost:
        if s.id in states:
            head = states[s.id]
            by_head.setdefault(head.id, LastState([], head)).held.append(s)
    return list(by_head.values())


def format_allowed(allow: str | None, barcode: str) -> bool:
    """Whether the operator's yes (`allow`: a barcode or ANY_CARTRIDGE) covers `barcode`."""
    return allow == ANY_CARTRIDGE or (allow is not None and allow == barcode)


@dataclass
class FormatOutcome:
    ok: bool
    old_label: str | None
    new_label: str | None
    warnings: list[str] = field(default_factory=list)
    overwritten_sets: list[int] = field(default_factory=list)


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


def _ym(now: datetime) -> str:
    return (now if now.tzinfo is None else now.astimezone()).strftime("%Y-%m")


def _name(info: LabelInfo) -> str:
    return info.label or info.serial or info.barcode or "(unlabelled)"


def month_refusal(name: str, label: LabelInfo | str | None, now: datetime,
                  formatted_at: datetime | None = None) -> str | None:
    """Why the month check protects a formatted cartridge ("TP20261001 is last month's
    (2026-10); the month check protects it"), None when it is this month's."""
    month = label_month(label, formatted_at)
    t = now if now.tzinfo is None else now.astimezone()
    if month == (t.year, t.month):
        return None
    if month is None:
        return f"{name} has no month (its label is not TP{{YYYY}}{{MM}}… and its format date is unknown); " \
            "the month check protects it"
    shown = f"{month[0]:04d}-{month[1]:02d}"
    last = (t.year, t.month - 1) if t.month > 1 else (t.year - 1, 12)
    whose = f"last month's ({shown})" if month == last else f"from {shown}"
    return f"{name} is {whose}; the month check protects it"


def _why_not(c: Cartridge, now: datetime) -> str:
    """Why a run does not keep the loaded cartridge `c` (it is not `_eligible`)."""
    return month_refusal(c.label or shown_id(c.barcode), c.label, now, c.formatted_at) or "it is full"


def _none_usable(now: datetime) -> str:
    return f"no usable cartridge in the library: need a blank one or this month's ({_ym(now)}) with free space"


def _where(c: Cartridge) -> str:
    place = "in the drive" if c.in_drive else f"slot {c.slot}"
    return f"{c.barcode} ({place})" if c.formatted else f"{c.barcode} (blank, {place})"


@contextlib.contextmanager
def _driver_errors(doing: str | None = None) -> Iterator[None]:
    """Turn a driver's TapeError, refused argument or device OSError into a
    one-line UserError."""
    try:
        yield
    except UserError:
        raise
    except (TapeError, InvalidArgument, OSError) as e:
        raise TapeOpFailed(f"{doing}: {e}" if doing else str(e)) from e


class TapeOps:
    #: Seconds between drive polls while waiting for an operator.
    poll_s: float = 2.0
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.driver = engine.driver
        #: How long a run waits for someone to insert a cartridge before giving up.
        self.operator_wait_s = engine.config.tape.operator_wait_s

    # ---- plain driver operations (with catalog and events kept in step) ------------

    async def status(self) -> DriveStatus:
        with _driver_errors("cannot read the drive status"):
            return await self.driver.status()

    async def load(self, barcode: str) -> None:
        with _driver_errors():
            await self.driver.load(barcode)
        self.engine.bus.publish(TapeChanged(reason=f"loaded {barcode}"))
        await self.sync_inventory()

    async def unload(self) -> str | None:
        """Return the loaded cartridge to its slot; its barcode (None if it was empty)."""
        status = await self.status()
        if status.loaded is None:
            return None
        with _driver_errors():
            await self.driver.unload()
        self.engine.bus.publish(TapeChanged(reason=f"unloaded {status.loaded}"))
        await self.sync_inventory()
        return status.loaded

    async def check(self, on_line: LineSink | None = None) -> OpResult:
        with _driver_errors():
            return await self.driver.check(on_line=on_line)

    # ---- catalog ---------------------------------------------------------------------

    async def _inventory(self) -> list[Cartridge]:
        with _driver_errors("cannot read the library"):
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
                sets=len(await self._live_sets(rec.id)) if rec else 0,
            ))
        for rec in records.values():
            views.append(CartridgeView(
                barcode=rec.barcode, label=rec.label, status=rec.status, slot=None,
                in_drive=False, location="offline", serial=rec.serial,
                generation=rec.generation, capacity_bytes=rec.capacity_bytes,
                used_bytes=rec.used_bytes, formatted_at=rec.formatted_at,
                sets=len(await self._live_sets(rec.id)),
            ))
        return views

    async def _live_sets(self, cartridge_id: int) -> list[SetRow]:
        return [s for s in await self.engine.sets.on_cartridge(cartridge_id) if s.status not in _GONE]

    async def would_lose(self, barcode: str, label: str | None = None) -> list[SetRow]:
        """Catalogued sets a format of this cartridge would destroy (found as the
        format flow finds its record: by id, else by label)."""
        record = await self._find_record(barcode, label)
        return [] if record is None else await self._live_sets(record.id)

    # ---- the last restorable state of each source -------------------------------------

    async def last_states(self) -> dict[int, SetRow]:
        """Set id -> the newest restorable set of its source, for every set that state needs."""
        states = restorable_states(await self.engine.sets.all())
        return {s.id: chain[-1] for chain in states.values() for s in chain}

    async def last_states_on(self, barcode: str, label: str | None = None,
                             states: dict[int, SetRow] | None = None) -> list[LastState]:
        """The sets on this cartridge that the newest restorable state of a source needs."""
        states = await self.last_states() if states is None else states
        return _last_states(await self.would_lose(barcode, label), states)

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
        return out[:_NAMED]

    # ---- month check -----------------------------------------------------------------

    async def month_check(
        self, now: datetime, *, override: bool = False, log: OpLog | None = None
    ) -> LabelInfo | None:
        """Refuse a cartridge from another month; returns the label it checked.

        A blank cartridge passes (it holds nothing to protect). `override` lets an
        operator run anyway; that is logged as a warning, never silent."""
        log = log or _ModuleLog()
        if not self.engine.config.tape.month_check:
            log.info("month check is disabled (tape.month_check = false)")
            return None
        try:
            info = await self.driver.read_label()
        except NoCartridge as e:
            raise UserError(f"no cartridge in the drive; load this month's tape ({_ym(now)})") from e
        except TapeError as e:
            raise TapeOpFailed(f"cannot read the tape label: {e}") from e
        if info is None:
            log.info("month check: the cartridge is blank, nothing to protect")
            return None
        if info.formatted_at is not None and label_month(info.label) is None:
            log.info(f"month check: label {info.label or '(none)'} is not TP{{YYYY}}{{MM}}…, so its month "
                     f"({_ym(info.formatted_at)}) came from its format date ({show(info.formatted_at)})")
        why = month_refusal(_name(info), info, now)
        if why is None:
            log.info(f"month check: tape {_name(info)} is this month's ({_ym(now)})")
            return info
        if override:
            log.warning(f"month check lifted for this run by the operator (--no-month-check): {why}")
            return info
        raise MonthCheckFailed(f"{why}. This month is {_ym(now)}: change the tape, "
                               "or run it by hand with --no-month-check")

    # ---- format flow -----------------------------------------------------------------

    async def format_flow(
        self,
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
            with _driver_errors():
                before = await self.driver.read_label()
                status = await self.driver.status()
        except UserError as e:
            warn(f"format failed: {e}")
            return out
        out.old_label = before.label if before else None
        old_id = (before.barcode if before else None) or status.loaded or out.old_label
        log.info(f"label before format: {out.old_label or '(blank)'}"
                 + (f" on {shown_id(old_id)}" if old_id else ""))
        if scheduled:
            new_label = scheduled_label(now)
            log.info(f"scheduled format: new label {new_label} for {_ym(now)}")
        else:
            new_label = label or out.old_label or scheduled_label(now)
            log.info(f"scheduled format before the full backup: label {new_label} "
                     f"({'kept: a run started by hand keeps the label' if out.old_label else 'a blank cartridge'})"
                     if in_run else f"manual format: label {new_label}")

        try:
            with _driver_errors():
                if status.mounted:
                    await self.driver.unmount()
                serial = serial_from_barcode(barcode) if barcode is not None else None
                result = await self.driver.format(new_label, serial=serial, force=force, on_line=log.tool)
        except UserError as e:
            result = OpResult(success=False, message=str(e))
        finally:
            self.engine.bus.publish(TapeChanged(reason="format"))
        if not result.success:
            warn(f"format failed: {result.message}")
            return out

        try:
            with _driver_errors():
                after = await self.driver.read_label()
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
        new_id = await self._id_after_format(after, status) or out.new_label
        old_record: CartridgeRow | None = None
        try:
            old_record = await self._find_record(old_id, out.old_label)
            if old_record is not None:
                lost = await self._live_sets(old_record.id)
                await self.engine.sets.mark_overwritten(old_record.id)
                out.overwritten_sets = [s.id for s in lost]
                if lost:
                    log.info("sets now overwritten: " + ", ".join(f"#{s.id} {s.name}" for s in lost))
        except Exception as e:
            warn(f"the tape was formatted but its sets could not be marked overwritten: {e}")
        if not catalogable(new_id):
            warn("the tape was formatted but the drive cannot name it (no barcode, unreadable "
                 "cartridge memory), so it is not catalogued: format it again giving its barcode")
            self.engine.bus.publish(TapeChanged(reason="format: catalog updated"))
            return out
        if not has_barcode(new_id):
            log.info(f"the cartridge carries no barcode: catalogued as {shown_id(new_id)}; give its "
                     "barcode when formatting it so the drive can name it")
        try:
            how = await self._update_record(old_record, new_id, out.new_label, after, status)
            log.info(f"cartridge record {how}: {out.old_label or '(blank)'} -> {out.new_label}")
        except Exception as e:
            warn(f"the tape was formatted but its catalog record could not be updated: {e}")
        self.engine.bus.publish(TapeChanged(reason="format: catalog updated"))  # sets counts follow now
        return out

    async def _id_after_format(self, after: LabelInfo | None, before: DriveStatus) -> str | None:
        """The cartridge's id once formatted: what its label says, else what the drive
        now calls it (a format can give it a barcode), else what it was called (None:
        a drive that names no cartridge, where the seed's rule makes the label the id)."""
        if after is not None and after.barcode:
            return after.barcode
        try:
            with _driver_errors():
                now = await self.driver.status()
        except UserError:
            now = before
        return now.loaded or before.loaded
    async def _find_record(self, old_id: str | None, old_label: str | None) -> CartridgeRow | None:
        carts = self.engine.cartridges
        found = await carts.by_barcode(old_id) if old_id else None
        if found is None and old_label:
            found = await carts.by_label(old_label)
        return found

    async def _update_record(
        self,
        old: CartridgeRow | None,
        new_id: str,
        new_label: str,
        after: LabelInfo | None,
        status: DriveStatus,
    ) -> str:
        """Seed 4.2: found by old id or label -> rename; new id taken by another
        record -> label only; not found -> create. Returns what was done."""
        carts = self.engine.cartridges
        formatted_at = after.formatted_at if after else None
        fresh = dict(
            serial=after.serial if after else None, generation=status.generation,
            capacity_bytes=status.capacity_bytes, used_bytes=0, formatted_at=formatted_at,
            status="active" if after else "blank",
        )
        async with self.engine.store.transaction():
            if old is None:
                await carts.upsert(new_id, label=new_label, **fresh)
                return f"created for {new_id}"
            taken = await carts.by_barcode(new_id)
            if taken is not None and taken.id != old.id:
                await carts.set_label(old.id, new_label, formatted_at)
                return f"relabelled ({new_id} is already recorded)"
            await carts.rename(old.id, new_id, new_label)
            await carts.upsert(new_id, **fresh)
            return "renamed" if old.barcode != new_id else "updated"

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
            held[c.barcode], at_risk = len(lost), _last_states(lost, states)
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
