"""The `sim` driver: a tape library of cartridges kept as folders under one root.

It is how a new user tries everything with no hardware, and what most tests use, so
it behaves like the real thing where the rest of the project can tell: mkltfs's and
ltfsck's output lines, "already formatted" without force, a capacity that fills up
and ends in ENOSPC, an optional speed limit, load and format delays.

Layout under `root`::

    library.json                 slots and drive (atomic rewrite on every move)
    cartridges/<BARCODE>/
        meta.json                serial, generation, capacity, label, format time
        index.sqlite             used bytes, file start blocks, xattrs (sim_media)
        volume/                  the LTFS file system while mounted

Loading into a full drive is refused (as `mtx load` is): unload first. Format and
check refuse a mounted cartridge, as the real tools find the device busy. A
cartridge's capacity is fixed when the library creates it; changing
`SimConfig.capacity_bytes` later affects no existing cartridge.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from ..paths import make_private_dir
from . import medium_health as mh
from .args import serial_from_barcode, validate_serial, validate_volume_name
from .base import (
    GENERATIONS,
    AlreadyFormatted,
    Cartridge,
    DriveStatus,
    LabelInfo,
    LineSink,
    NoCartridge,
    OpResult,
    TapeDriver,
    TapeError,
)
from .sim_media import (
    VOLUME_DIR,
    CartridgeMeta,
    LibraryState,
    read_used_bytes,
    remove_index,
)
from .sim_volume import BLOCK_SIZE, Medium, SimVolume, TapeInputError

__all__ = ["SimConfig", "SimDriver", "SimVolume", "TapeInputError"]

#: Barcode media identifiers (docs/architecture.md, "Tool facts"). LTO-10's "LA" is an assumption:
#: the reference lists identifiers only up to L9.
MEDIA_IDS = {
    "LTO-5": "L5", "LTO-6": "L6", "LTO-7": "L7", "LTO-7 M8": "M8",
    "LTO-8": "L8", "LTO-9": "L9", "LTO-10": "LA",
}
LTFS_VERSION = "LTFS version 2.4.8.4 (tapetui sim), log level 2"


@dataclass
class SimConfig:
    """How the simulated library behaves; the defaults are an 8-slot LTO-8 library
    at full speed. Demos and tests set a small capacity (e.g. 64 MiB)."""

    #: Slots in the simulated library (one drive besides).
    slots: int = 8
    #: Blank cartridges put in slots 1..N on first use.
    initial_cartridges: int = 4
    #: LTO generation of new cartridges (capacity and speed facts).
    generation: str = "LTO-8"
    #: Capacity of new cartridges; 0 = the generation's native capacity (sizes like "64MiB" allowed).
    capacity_bytes: int = 0
    #: Drive speed limit in MB/s, to feel like a drive; 0 = unlimited.
    throughput_mb_s: float = 0
    #: Seconds a load or unload takes.
    load_delay_s: float = 0
    #: Seconds a format takes, spread over its progress lines.
    format_delay_s: float = 0

    def __post_init__(self) -> None:
        if self.generation not in GENERATIONS:
            raise TapeInputError(
                f"unknown tape generation {self.generation!r}; "
                f"expected one of {', '.join(GENERATIONS)}"
            )
        if self.slots < 1:
            raise TapeInputError(f"a library needs at least one slot, not {self.slots}")
        if not 0 <= self.initial_cartridges <= self.slots:
            raise TapeInputError(
                f"initial_cartridges must be 0..{self.slots}, not {self.initial_cartridges}"
            )
        for name in ("capacity_bytes", "throughput_mb_s", "load_delay_s", "format_delay_s"):
            if getattr(self, name) < 0:
                raise TapeInputError(f"{name} cannot be negative")

    @property
    def cartridge_capacity(self) -> int:
        return self.capacity_bytes or GENERATIONS[self.generation].capacity_bytes


def _local_now() -> datetime:
    return datetime.now().astimezone()


class SimDriver(TapeDriver):
    """A one-drive library under `root`, created with blank cartridges on first use.

    `clock` stamps formats (the month check reads that date); tests pass a fixed one.
    """

    name = "sim"
    has_changer = True

    def __init__(
        self,
        root: Path,
        cfg: SimConfig | None = None,
        *,
        clock: Callable[[], datetime] = _local_now,
    ) -> None:
        self.root = Path(root)
        self.cfg = cfg or SimConfig()
        self._clock = clock
        self._op = asyncio.Lock()  # one library operation at a time
        self._state_path = self.root / "library.json"
        self._carts = self.root / "cartridges"
        self._volume: SimVolume | None = None
        if self._state_path.exists():
            self._state = LibraryState.load(self._state_path)
            self._fit_slots()
        else:
            self._state = self._create_library()
        self._metas = {bc: CartridgeMeta.load(self._carts / bc) for bc in self._state.barcodes()}
        self._medium: Medium | None = None
        if self._state.drive:
            self._medium = self._new_medium(self._state.drive)

    # ---- library state -------------------------------------------------------------

    def _create_library(self) -> LibraryState:
        """Blank cartridges TPA001L8, TPA002L8, ... in slots 1..N."""
        media_id = MEDIA_IDS[self.cfg.generation]
        slots: list[str | None] = [None] * self.cfg.slots
        for i in range(self.cfg.initial_cartridges):
            serial = f"TPA{i + 1:03d}"
            barcode = serial + media_id
            directory = self._carts / barcode
            make_private_dir(directory / VOLUME_DIR)  # the cartridges will hold copies of private files
            CartridgeMeta(
                barcode, serial, self.cfg.generation, self.cfg.cartridge_capacity
            ).save(directory)
            slots[i] = barcode
        state = LibraryState(slots=slots)
        state.save(self._state_path)  # written last: its presence means "library complete"
        return state

    def _fit_slots(self) -> None:
        """Follow a changed slot count, unless that would drop a cartridge."""
        slots = self._state.slots
        want = self.cfg.slots
        if len(slots) == want:
            return
        if any(slots[want:]):
            raise TapeInputError(
                f"the library holds cartridges beyond slot {want}; "
                f"keep at least {len(slots)} slots"
            )
        self._state.slots = (slots + [None] * want)[:want]
        self._state.save(self._state_path)

    def _save_state(self, *, durable: bool = True) -> None:
        self._state.save(self._state_path, durable=durable)

    def _sync(self) -> None:
        """Take the library as other processes left it: a daemon, consoles and CLI
        commands share one simulated library, as they would share a real one, and
        each asks the hardware -- here the files -- rather than remember. Not while
        this process has the volume mounted: it is then the drive's one user."""
        if self._volume is not None and self._volume.mounted:
            return
        state = LibraryState.load(self._state_path)
        metas = {bc: CartridgeMeta.load(self._carts / bc) for bc in state.barcodes()}
        medium = self._medium
        if state != self._state or metas != self._metas:
            if medium is not None and (state.drive != medium.meta.barcode or metas[state.drive] != medium.meta):
                medium.close_index()
                medium = None
            self._state, self._metas = state, metas
            if medium is not None:
                metas[medium.meta.barcode] = medium.meta  # the same object the medium holds
            elif state.drive:
                medium = self._new_medium(state.drive)
            self._medium = medium
        if medium is not None:
            medium.reread()  # files another process wrote to this cartridge

    def _new_medium(self, barcode: str) -> Medium:
        return Medium(self._carts / barcode, self._metas[barcode], self.cfg.throughput_mb_s)

    def _loaded(self) -> Medium:
        if self._medium is None:
            raise NoCartridge("the drive is empty; load a cartridge first")
        return self._medium

    # ---- status --------------------------------------------------------------------

    async def status(self) -> DriveStatus:
        self._sync()
        medium = self._medium
        if medium is None:
            return DriveStatus(drive_present=True)
        meta = medium.meta
        mounted = self._state.mounted
        return DriveStatus(
            drive_present=True,
            loaded=meta.barcode,
            label=meta.label,
            serial=meta.serial,
            generation=meta.generation,
            capacity_bytes=meta.capacity_bytes,
            remaining_bytes=meta.capacity_bytes - medium.used(),
            mounted=mounted,
            mount_point=str(medium.volume_dir) if mounted else None,
            formatted=meta.formatted,
            health={mh.TAPEALERT: mh.tapealert_text(meta.tapealert), mh.LOAD_COUNT: str(meta.load_count)},
        )

    async def inventory(self) -> list[Cartridge]:
        self._sync()
        found = [
            self._cartridge(barcode, slot, read_used_bytes(self._carts / barcode))
            for slot, barcode in enumerate(self._state.slots, start=1)
            if barcode is not None
        ]
        if self._medium is not None:
            found.append(self._cartridge(self._medium.meta.barcode, None, self._medium.used()))
        return found

    def _cartridge(self, barcode: str, slot: int | None, used: int) -> Cartridge:
        meta = self._metas[barcode]
        return Cartridge(
            barcode=barcode,
            slot=slot,
            in_drive=slot is None,
            label=meta.label,
            serial=meta.serial,
            generation=meta.generation,
            capacity_bytes=meta.capacity_bytes,
            used_bytes=used,
            formatted=meta.formatted,
            formatted_at=meta.formatted_at,
        )

    async def read_label(self) -> LabelInfo | None:
        self._sync()
        meta = self._loaded().meta
        if not meta.formatted:
            return None
        return LabelInfo(meta.label, meta.serial, meta.barcode, meta.formatted_at)

    def set_tapealert(self, barcode: str, flags: list[int]) -> None:
        """Simulate the drive setting these TapeAlert flags (numbers) on a cartridge; [] clears them."""
        self._sync()
        meta = self._metas[barcode]
        meta.tapealert = sorted(set(flags))
        meta.save(self._carts / barcode)

    # ---- moving cartridges ---------------------------------------------------------

    async def load(self, barcode: str) -> None:
        async with self._op:
            self._sync()
            state = self._state
            if state.drive == barcode:
                return
            slot = state.slot_of(barcode)
            if slot is None:  # said first: unloading would not help (as mtx and the ltfs driver)
                raise NoCartridge(f"no cartridge {barcode} in the library")
            if state.drive is not None:
                raise TapeError(
                    f"the drive holds {state.drive}; unload it before loading {barcode}"
                )
            await asyncio.sleep(self.cfg.load_delay_s)
            meta = self._metas[barcode]
            meta.load_count += 1
            meta.save(self._carts / barcode)
            state.slots[slot - 1] = None
            state.drive, state.home_slot, state.mounted = barcode, slot, False
            self._save_state()
            self._medium = self._new_medium(barcode)

    async def unload(self) -> None:
        async with self._op:
            self._sync()
            medium = self._loaded()
            self._unmount()
            await asyncio.sleep(self.cfg.load_delay_s)
            medium.close_index()
            state = self._state
            slot = state.home_slot
            if slot is None or state.slots[slot - 1] is not None:
                slot = state.slots.index(None) + 1  # the drive's cartridge always has a free slot
            state.slots[slot - 1] = state.drive
            state.drive, state.home_slot = None, None
            self._save_state()
            self._medium = None

    # ---- format, mount, check ------------------------------------------------------

    async def format(
        self,
        label: str,
        serial: str | None = None,
        force: bool = False,
        on_line: LineSink | None = None,
    ) -> OpResult:
        """mkltfs on the loaded cartridge; `serial` defaults to the barcode's first 6.

        Label and serial follow the same rules as the real drivers (`args`)."""
        async with self._op:
            self._sync()
            medium = self._loaded()
            meta = medium.meta
            validate_volume_name(label)
            serial = validate_serial(serial) if serial is not None else serial_from_barcode(
                meta.barcode)
            if self._state.mounted:
                raise TapeError(f"{meta.barcode} is mounted; unmount it before formatting")
            started = time.monotonic()
            emit = _Emitter(on_line)
            device = str(medium.dir)
            emit(f"LTFS15000I Starting mkltfs, {LTFS_VERSION}.")
            emit(f'LTFS15041I Launched by "mkltfs -d {device} -n {label} -s {serial}'
                 f'{" -f" if force else ""}".')
            emit(f"LTFS15003I Formatting device '{device}'.")
            emit(f"LTFS15004I LTFS volume blocksize: {BLOCK_SIZE}.")
            emit(f"LTFS15049I Checking the medium ({'load' if force else 'mount'}).")
            if meta.formatted and not force:
                emit("LTFS15047E Medium is already formatted (0).")
                emit("LTFS15048I Need to specify -f or --force option to format this medium.")
                emit("LTFS15023I Formatting failed.")
                raise AlreadyFormatted(
                    f"{meta.barcode} is already formatted (label {meta.label}); "
                    "format with force to overwrite it"
                )
            volume_uuid = str(uuid.uuid4())
            rest = [
                "LTFS15010I Creating data partition b on SCSI partition 1.",
                "LTFS15011I Creating index partition a on SCSI partition 0.",
                "LTFS11097I Partitioning the medium.",
                "LTFS11100I Writing label to partition b.",
                "LTFS11278I Writing index to partition b.",
                "LTFS11100I Writing label to partition a.",
                "LTFS11278I Writing index to partition a.",
                f"LTFS15013I Volume UUID is: {volume_uuid}.",
                f"LTFS15019I Volume capacity is {meta.capacity_bytes // 2**30} GB.",
                "LTFS15024I Medium formatted successfully.",
            ]
            pause = self.cfg.format_delay_s / len(rest)
            # Forget the old label before wiping, so a crash here leaves a blank tape.
            medium.close_index()
            meta.label = meta.formatted_at = meta.volume_uuid = None
            meta.save(medium.dir)
            await asyncio.to_thread(_wipe, medium.dir)
            for line in rest:
                await asyncio.sleep(pause)
                emit(line)
            meta.label, meta.serial = label, serial
            meta.formatted_at = self._clock()
            meta.volume_uuid = volume_uuid
            meta.save(medium.dir)
            medium.open_index()
            return OpResult(
                success=True,
                message=f"{meta.barcode} formatted as {label}",
                returncode=0,
                lines=emit.lines,
                duration_s=time.monotonic() - started,
            )

    async def mount(self) -> SimVolume:
        async with self._op:
            self._sync()
            medium = self._loaded()
            if not medium.meta.formatted:
                raise TapeError(
                    f"cannot mount {medium.meta.barcode}: the medium is not formatted "
                    "(LTFS17168E medium is not partitioned)"
                )
            if self._volume is None or not self._volume.mounted:
                self._volume = SimVolume(medium)
            if not self._state.mounted:  # a power cut unmounts anyway: no fsync (see write_json_atomic)
                self._state.mounted = True
                self._save_state(durable=False)
            return self._volume

    async def unmount(self) -> None:
        async with self._op:
            self._unmount()

    def _unmount(self) -> None:
        if self._medium is not None and self._medium.index is not None:
            self._medium.index.sync()
        if self._volume is not None:
            self._volume.mounted = False
            self._volume.release()
            self._volume = None
        if self._state.mounted:
            self._state.mounted = False
            self._save_state(durable=False)

    async def check(self, on_line: LineSink | None = None) -> OpResult:
        """ltfsck on the loaded, unmounted cartridge; reconciles the index with the files.

        Like ltfsck, a consistent volume returns code 1 and an unformatted one 4."""
        async with self._op:
            self._sync()
            medium = self._loaded()
            meta = medium.meta
            if self._state.mounted:
                raise TapeError(f"{meta.barcode} is mounted; unmount it before checking")
            started = time.monotonic()
            emit = _Emitter(on_line)
            emit(f"LTFS16000I Starting ltfsck, {LTFS_VERSION}.")
            emit(f"LTFS16014I Checking LTFS file system on '{medium.dir}'.")
            if not meta.formatted:
                emit("LTFS17168E Cannot read volume: medium is not partitioned.")
                emit("LTFS16080E Cannot check volume (8).")
                return OpResult(False, f"{meta.barcode} is not LTFS formatted", 4, emit.lines,
                                duration_s=time.monotonic() - started)
            assert meta.formatted_at is not None
            stamp = meta.formatted_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
            emit("LTFS16023I LTFS volume information:.")
            emit(f"LTFS16024I Volser (bar code) : {meta.serial}.")
            emit(f"LTFS16025I Volume UUID     : {meta.volume_uuid}.")
            emit(f"LTFS16026I Format time     : {stamp} UTC.")
            emit(f"LTFS16027I Block size      : {BLOCK_SIZE}.")
            emit("LTFS11026I Performing a full medium consistency check.")
            emit(f"LTFS17227I Tape attribute: Medium Label = {meta.label}.")
            fixes = await asyncio.to_thread(_reconcile, medium)
            for fix in fixes:
                emit(f"sim: {fix}.")
            emit("LTFS16022I Volume is consistent.")
            message = f"{meta.barcode} is consistent"
            if fixes:
                message += f" ({len(fixes)} correction{'s' if len(fixes) > 1 else ''})"
            return OpResult(True, message, 1, emit.lines, duration_s=time.monotonic() - started)

    async def close(self) -> None:
        async with self._op:
            self._unmount()
            if self._medium is not None:
                self._medium.close_index()


class _Emitter:
    """Collects tool lines and forwards each to the caller's sink as it appears."""

    def __init__(self, sink: LineSink | None) -> None:
        self.sink = sink
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        if self.sink is not None:
            self.sink(line)


def _wipe(cartridge_dir: Path) -> None:
    volume = cartridge_dir / VOLUME_DIR
    shutil.rmtree(volume, ignore_errors=True)
    remove_index(cartridge_dir)
    volume.mkdir(mode=0o700)


def _reconcile(medium: Medium) -> list[str]:
    """Make the index agree with the volume's files; describe each correction.

    After a crash the index can lag the files: a file written but never closed has
    no start block, its bytes were never committed. Files on disk win; used bytes
    never go down (a tape does not get space back when a file is rewritten)."""
    index = medium.index
    assert index is not None
    on_disk: dict[str, int] = {}
    for dirpath, _dirs, names in os.walk(medium.volume_dir):
        for name in names:
            path = Path(dirpath, name)
            on_disk[path.relative_to(medium.volume_dir).as_posix()] = path.stat().st_size
    recorded = index.files()
    fixes: list[str] = []
    gone = sorted(set(recorded) - set(on_disk))
    if gone:
        index.forget_files(gone)
        fixes.append(f"dropped {len(gone)} indexed file(s) missing from the volume")
    used, next_block = medium.counters()
    unindexed = sorted(set(on_disk) - set(recorded))
    for key in unindexed:
        size = on_disk[key]
        index.record_file(key, next_block, size, used, next_block)
        next_block += max(1, -(-size // BLOCK_SIZE))
    if unindexed:
        fixes.append(f"indexed {len(unindexed)} file(s) written but never closed")
    total = sum(on_disk.values())
    if total > used:
        fixes.append(f"used bytes corrected from {used} to {total}")
        used = total
    medium.reconcile(used, next_block)
    return fixes
