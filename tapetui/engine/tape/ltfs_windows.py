"""The `ltfs-windows` driver: the Windows LtfsCmd tools the seeds name.

A standalone drive assigned to a drive letter (`O`): LTFS media show up as the
volume `O:\\` as soon as they are loaded, so "mount" only checks the drive
state and "unmount" has nothing to run; the index is written on eject.

The tools' syntax is low confidence (no official page; docs/architecture.md, "Tool facts"):
`LtfsCmdFormat O /N:LABEL [/S:SERIAL]`, `LtfsCmdDrives` printing
`Assigned Address Serial Status` rows, `LtfsCmdLoad|Eject|Check O`. Success is
judged by exit code 0 only. Every tool path is configurable.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path

from .args import (
    InvalidArgument,
    validate_barcode,
    validate_drive_letter,
    validate_serial,
    validate_volume_name,
)
from .base import (
    AlreadyFormatted,
    Cartridge,
    DriveStatus,
    LabelInfo,
    LineSink,
    NoCartridge,
    OpResult,
    TapeDriver,
    TapeError,
    ToolTimeout,
)
from .labels import unlabelled_id
from .ltfs_parse import WinDrive, parse_ltfscmd_drives
from .ltfs_run import (
    cartridge_in_drive,
    failure_text,
    holds,
    op_result,
    run_tool,
    run_tool_ok,
    timeout_text,
)
from .ltfs_volume import LtfsVolume, parse_ltfs_time, root_health, root_mib, root_text

#: LtfsCmdDrives states in which the drive letter shows an LTFS volume.
READABLE = {"LTFS_MEDIA", "WRITE_PROTECTED", "LTFS_INCONSISTENT"}


@dataclass
class LtfsWindowsConfig:
    #: Paths of the LtfsCmd tools.
    format_cmd: str = "LtfsCmdFormat.exe"
    drives_cmd: str = "LtfsCmdDrives.exe"
    check_cmd: str = "LtfsCmdCheck.exe"
    load_cmd: str = "LtfsCmdLoad.exe"
    eject_cmd: str = "LtfsCmdEject.exe"
    #: The drive letter LTFS assigned to the tape drive.
    drive_letter: str = "O"
    #: Where the volume appears; empty means `<letter>:\\` (tests use a folder).
    mount_root: str = ""
    #: Timeouts of each tool call: on expiry the tool is killed and the call fails.
    format_timeout_s: float = 7200.0
    check_timeout_s: float = 7200.0
    status_timeout_s: float = 60.0
    load_timeout_s: float = 900.0
    kill_grace_s: float = 5.0

    def __post_init__(self) -> None:
        self.drive_letter = validate_drive_letter(self.drive_letter)
        for name in ("format", "check", "status", "load"):
            if getattr(self, f"{name}_timeout_s") <= 0:
                raise InvalidArgument(f"{name} timeout must be positive")

    @property
    def root(self) -> Path:
        return Path(self.mount_root or f"{self.drive_letter}:\\")


def windows_volume_label(root: Path) -> str | None:
    """The volume label Windows shows for `root` (LTFS sets it to the volume name)."""
    if sys.platform != "win32":
        return None
    import ctypes

    buf = ctypes.create_unicode_buffer(261)
    ok = ctypes.windll.kernel32.GetVolumeInformationW(
        str(root), buf, len(buf), None, None, None, None, 0
    )
    return buf.value or None if ok else None


class LtfsWindowsDriver(TapeDriver):
    name = "ltfs-windows"

    def __init__(self, cfg: LtfsWindowsConfig) -> None:
        self.cfg = cfg
        self._volume: LtfsVolume | None = None
        self._lock = asyncio.Lock()

    async def _query(self) -> tuple[WinDrive | None, str]:
        """Our drive's row from LtfsCmdDrives, or None and why not."""
        cfg = self.cfg
        res = await run_tool([cfg.drives_cmd], cfg.status_timeout_s, cfg.kill_grace_s)
        if res.timed_out:
            raise ToolTimeout(timeout_text("LtfsCmdDrives", cfg.status_timeout_s))
        if not res.success:
            return None, failure_text("LtfsCmdDrives", res)
        for drive in parse_ltfscmd_drives(res.stdout):
            if drive.letter == cfg.drive_letter:
                return drive, ""
        return None, f"no LTFS drive is assigned to {cfg.drive_letter}:"

    async def _drive(self) -> WinDrive:
        drive, why = await self._query()
        if drive is None:
            raise TapeError(why)
        return drive

    def _label(self) -> LabelInfo:
        root = self.cfg.root
        return LabelInfo(
            label=root_text(root, "ltfs.volumeName") or windows_volume_label(root),
            serial=root_text(root, "ltfs.volumeSerial"),
            barcode=root_text(root, "ltfs.mamBarcode"),
            formatted_at=parse_ltfs_time(root_text(root, "ltfs.volumeFormatTime")),
        )

    # ------------------------------------------------------------ status ---

    async def status(self) -> DriveStatus:
        async with self._lock:
            return await self._status()

    async def _status(self) -> DriveStatus:
        drive, why = await self._query()
        if drive is None:
            return DriveStatus(drive_present=False, health={"error": why})
        st = DriveStatus(drive_present=True)
        if drive.status == "NO_MEDIA":
            return st
        st.health["drive status"] = drive.status
        if drive.status in READABLE:
            root = self.cfg.root
            label = self._label()
            st.label, st.serial = label.label, label.serial
            st.mounted, st.mount_point, st.formatted = True, str(root), True
            st.capacity_bytes = root_mib(root, "ltfs.mediaDataPartitionTotalCapacity")
            st.remaining_bytes = root_mib(root, "ltfs.mediaDataPartitionAvailableSpace")
            st.health.update(root_health(root))
            st.loaded = label.barcode or label.serial
        st.loaded = st.loaded or unlabelled_id(None)  # LtfsCmd shows no cartridge memory
        return st

    async def inventory(self) -> list[Cartridge]:
        async with self._lock:
            st = await self._status()
        if not st.loaded:
            return []
        return [cartridge_in_drive(st)]

    # ---------------------------------------------------------- cartridges ---

    async def load(self, barcode: str) -> None:
        barcode = validate_barcode(barcode)
        async with self._lock:
            st = await self._status()
            if st.loaded is None:
                res = await run_tool([self.cfg.load_cmd, self.cfg.drive_letter],
                                     self.cfg.load_timeout_s, self.cfg.kill_grace_s)
                if res.timed_out:
                    raise ToolTimeout(timeout_text("LtfsCmdLoad", self.cfg.load_timeout_s))
                st = await self._status()
            # An unformatted medium shows no barcode here: the operator's word is all there is.
            if holds(st.loaded, barcode) or st.loaded == unlabelled_id(None):
                return
            held = f"holds {st.loaded}" if st.loaded else "is empty"
            raise NoCartridge(f"the drive {held}: insert {barcode} by hand")

    async def unload(self) -> None:
        async with self._lock:
            if (await self._drive()).status == "NO_MEDIA":
                return
            await run_tool_ok([self.cfg.eject_cmd, self.cfg.drive_letter], self.cfg.load_timeout_s,
                              self.cfg.kill_grace_s)
            self._volume = None

    # --------------------------------------------------------------- label ---

    async def read_label(self) -> LabelInfo | None:
        async with self._lock:
            drive = await self._drive()
        if drive.status == "NO_MEDIA":
            raise NoCartridge("the drive is empty; load a cartridge first")
        if drive.status not in READABLE:
            return None
        return self._label()

    # --------------------------------------------------------- format/check ---

    async def format(
        self,
        label: str,
        serial: str | None = None,
        force: bool = False,
        on_line: LineSink | None = None,
    ) -> OpResult:
        cfg = self.cfg
        argv = [cfg.format_cmd, cfg.drive_letter, f"/N:{validate_volume_name(label)}"]
        if serial is not None:
            argv.append(f"/S:{validate_serial(serial)}")
        async with self._lock:
            drive = await self._drive()
            if drive.status == "NO_MEDIA":
                raise NoCartridge("the drive is empty; load a cartridge before formatting")
            # LtfsCmdFormat has no known "only if blank" switch: guard here.
            if drive.status in READABLE and not force:
                raise AlreadyFormatted(
                    "the medium is already LTFS formatted; format with force to overwrite it"
                )
            self._volume = None
            res = await run_tool(argv, cfg.format_timeout_s, cfg.kill_grace_s, on_line)
            if res.timed_out:
                return op_result(res, False, timeout_text("LtfsCmdFormat", cfg.format_timeout_s))
            if res.success:
                return op_result(res, True, f"medium formatted as {label}")
            return op_result(res, False, failure_text("LtfsCmdFormat", res))

    async def check(self, on_line: LineSink | None = None) -> OpResult:
        cfg = self.cfg
        async with self._lock:
            res = await run_tool([cfg.check_cmd, cfg.drive_letter], cfg.check_timeout_s,
                                 cfg.kill_grace_s, on_line)
        if res.timed_out:
            return op_result(res, False, timeout_text("LtfsCmdCheck", cfg.check_timeout_s))
        if res.success:
            lines = [line for line in res.lines if line.strip()]
            return op_result(res, True, lines[-1] if lines else "Volume checked.")
        return op_result(res, False, failure_text("LtfsCmdCheck", res))

    # ------------------------------------------------------------ mounting ---

    async def mount(self) -> LtfsVolume:
        async with self._lock:
            drive = await self._drive()
            if drive.status == "NO_MEDIA":
                raise NoCartridge("the drive is empty; load a cartridge first")
            if drive.status == "LTFS_UNFORMATTED":
                raise TapeError(f"cannot mount {drive.letter}: the medium is not LTFS formatted")
            if drive.status not in READABLE or not self.cfg.root.is_dir():
                raise TapeError(f"cannot mount {drive.letter}: the drive reports {drive.status}")
            if self._volume is None:
                self._volume = LtfsVolume(self.cfg.root)
            return self._volume

    async def unmount(self) -> None:
        """Nothing to run: the volume stays on its drive letter until eject."""
        if self._volume is not None:
            self._volume.release()
        self._volume = None
