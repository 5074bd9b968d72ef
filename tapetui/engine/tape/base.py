"""The one interface every tape driver implements.

Everything the project does to a cartridge goes through a `TapeDriver`, so the
scheduler, the backup engine and the console never care whether the drive is the
simulated library, the Linux LTFS tools or the Windows LtfsCmd tools.

Driver methods are async (they run tools as subprocesses); a mounted `Volume` is
used from the backup writer thread, so its methods are plain blocking calls.
"""

from __future__ import annotations

import abc
import io
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

#: Receives tool output line by line while a long operation (format, check) runs.
LineSink = Callable[[str], None]


@dataclass(frozen=True)
class Generation:
    """Facts about one LTO generation (docs/architecture.md, "Tool facts")."""

    name: str
    capacity_bytes: int
    native_mb_s: int
    min_speed_mb_s: int | None


TB = 10**12
GENERATIONS: dict[str, Generation] = {
    g.name: g
    for g in (
        Generation("LTO-5", 1_500_000_000_000, 140, None),
        Generation("LTO-6", 2_500_000_000_000, 160, None),
        Generation("LTO-7", 6 * TB, 300, 101),
        Generation("LTO-7 M8", 9 * TB, 300, 101),
        Generation("LTO-8", 12 * TB, 360, 112),
        Generation("LTO-9", 18 * TB, 400, 177),
        Generation("LTO-10", 30 * TB, 400, 157),
    )
}


class TapeError(Exception):
    """A tape operation failed; the message is meant for the operator."""


class NoCartridge(TapeError):
    """The drive is empty (or the named cartridge is not in the library)."""


class AlreadyFormatted(TapeError):
    """The medium already holds LTFS and `force` was not given."""


class ToolTimeout(TapeError):
    """A tool did not finish within its timeout and was killed."""


@dataclass
class DriveStatus:
    drive_present: bool
    loaded: str | None = None  # barcode of the cartridge in the drive
    label: str | None = None
    serial: str | None = None
    generation: str | None = None
    capacity_bytes: int | None = None
    remaining_bytes: int | None = None
    mounted: bool = False
    mount_point: str | None = None
    #: The medium holds LTFS (a volume name and serial may both be empty).
    formatted: bool = False
    formatted_at: datetime | None = None
    #: Medium health where the driver can read it: MAM attributes, TapeAlert
    #: flags, error counters. Keys are human names, values display strings.
    health: dict[str, str] = field(default_factory=dict)


@dataclass
class Cartridge:
    """A cartridge the driver knows of (library slot or the one in the drive)."""

    barcode: str
    slot: int | None  # None: in the drive, or a standalone drive
    in_drive: bool
    label: str | None = None
    serial: str | None = None
    generation: str | None = None
    capacity_bytes: int | None = None
    used_bytes: int | None = None
    formatted: bool = False
    formatted_at: datetime | None = None


@dataclass
class LabelInfo:
    """What the medium says about itself, read without trusting the catalog."""

    label: str | None
    serial: str | None
    barcode: str | None
    formatted_at: datetime | None


@dataclass
class OpResult:
    """Outcome of a tool-backed operation (format, check, mount)."""

    success: bool
    message: str
    returncode: int | None = None
    lines: list[str] = field(default_factory=list)
    timed_out: bool = False
    duration_s: float = 0.0


#: A file being written on a volume: a raw one (the simulator's, which counts what the
#: medium takes) or a buffered one.
TapeOut = io.RawIOBase | io.BufferedIOBase


class Volume(abc.ABC):
    """A mounted LTFS volume. Used from the single writer thread."""

    root: Path

    @abc.abstractmethod
    def open_write(self, relpath: str) -> TapeOut:
        """Create a file on the volume for writing (parents made as needed).

        Writing past the cartridge's capacity raises OSError(ENOSPC), as a
        full tape does."""

    def write_whole(self, relpath: str, data: bytes) -> None:
        """Create a file holding `data`: a small file in one call, which a volume
        may do with less work per file than `open_write`."""
        with self.open_write(relpath) as out:
            out.write(data)

    @abc.abstractmethod
    def free_bytes(self) -> int:
        """Space left on the medium."""

    def set_xattr(self, relpath: str, name: str, value: bytes) -> bool:
        """Store an extended attribute; False where the volume has none."""
        return False

    def get_xattr(self, relpath: str, name: str) -> bytes | None:
        return None

    def position(self, relpath: str) -> int | None:
        """Where the file starts on tape (to restore in tape order), if known."""
        return None

    def release(self) -> None:
        """Close the folders it holds open on the volume (an unmount waits for none)."""

    def stop_waits_on(self, stop: threading.Event) -> None:
        """A write waiting on a slow drive returns as soon as `stop` is set (its bytes
        are written all the same), so a stopped run ends within a second. A real
        drive's write cannot be cut short: nothing to do."""


class TapeDriver(abc.ABC):
    """One drive, optionally inside a library (changer)."""

    name: str = "abstract"
    has_changer: bool = False

    @abc.abstractmethod
    async def status(self) -> DriveStatus: ...

    @abc.abstractmethod
    async def inventory(self) -> list[Cartridge]:
        """Every cartridge the driver can see: library slots and the drive."""

    @abc.abstractmethod
    async def load(self, barcode: str) -> None: ...

    @abc.abstractmethod
    async def unload(self) -> None:
        """Unmount if needed and return the cartridge to its slot."""

    async def eject(self) -> None:
        await self.unload()

    @abc.abstractmethod
    async def read_label(self) -> LabelInfo | None:
        """The loaded medium's label, or None when there is no LTFS on it."""

    @abc.abstractmethod
    async def format(
        self,
        label: str,
        serial: str | None = None,
        force: bool = False,
        on_line: LineSink | None = None,
    ) -> OpResult: ...

    @abc.abstractmethod
    async def mount(self) -> Volume: ...

    @abc.abstractmethod
    async def unmount(self) -> None: ...

    @abc.abstractmethod
    async def check(self, on_line: LineSink | None = None) -> OpResult:
        """Consistency check of the loaded medium (ltfsck-like)."""

    async def close(self) -> None:
        """Release resources (unmount) at shutdown."""
