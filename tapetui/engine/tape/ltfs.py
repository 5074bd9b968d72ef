"""The `ltfs` driver: the Linux LTFS tools and tape utilities, run as subprocesses.

`mkltfs` formats, `ltfs` mounts (a FUSE daemon stays behind), `umount` unmounts,
`ltfsck` checks, `mt` reports the drive, `mtx` moves cartridges when a changer
is configured, `sg_read_attr` reads the cartridge memory (label, capacity,
health) when no volume is mounted. Tool facts: docs/architecture.md, "Tool facts".

Outcomes are judged by exit code and closing message, never by the mere
presence of an `E` line (LTFS30061E appears on every successful run).
Operations that return an OpResult (format, check) report a timeout in it
(`timed_out=True`); the others raise ToolTimeout.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from .. import proc
from . import medium_health as mh
from .args import (
    InvalidArgument,
    serial_from_barcode,
    validate_barcode,
    validate_device_path,
    validate_mount_option,
    validate_path,
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
from .labels import folder_tag, has_barcode, unlabelled_id
from .ltfs_folder import read_folder
from .ltfs_parse import (
    MamFacts,
    MtxStatus,
    generation_capacity,
    has_message,
    ltfs_messages,
    mam_facts,
    parse_mt_status,
    parse_mtx_status,
    parse_read_attr,
)
from .ltfs_run import (
    cartridge_in_drive,
    failure_text,
    holds,
    op_result,
    run_tool,
    run_tool_ok,
    timeout_text,
)
from .ltfs_volume import (
    LtfsVolume,
    is_ltfs_root,
    parse_ltfs_time,
    root_health,
    root_mib,
    root_text,
)

BACKENDS = ("sg", "lin_tape", "file")
MKLTFS_EXIT = {1: "medium unformatted", 8: "operational error", 16: "usage error",
               32: "cancelled"}
LTFSCK_EXIT = {2: "reboot required", 4: "uncorrected errors", 8: "operational error",
               16: "usage error", 32: "cancelled", 64: "library error"}
#: How long a successful `ltfs` launch may take to show up as a mounted volume.
MOUNT_SETTLE_S = 10.0
POLL_S = 0.05


@dataclass
class LtfsConfig:
    #: Paths (or names on PATH) of the LTFS and tape tools.
    mkltfs: str = "mkltfs"
    ltfs: str = "ltfs"
    ltfsck: str = "ltfsck"
    mt: str = "mt"
    mtx: str = "mtx"
    sg_read_attr: str = "sg_read_attr"
    umount: str = "umount"
    #: The drive for mkltfs -d, ltfs devname=, ltfsck and sg_read_attr (/dev/sgN or a drive serial).
    device: str = "/dev/sg0"
    #: The tape device for mt -f (status).
    tape_device: str = "/dev/nst0"
    #: The changer for mtx -f; empty = a standalone drive (an operator loads tapes).
    changer: str = ""
    #: The drive's number inside the changer.
    drive_index: int = 0
    #: LTFS tape backend: sg, lin_tape, or file (LTFS's own emulation in a folder).
    backend: str = "sg"
    #: Where the LTFS volume is mounted.
    mount_point: str = "/mnt/ltfs"
    #: File backend only: cartridge folders standing for library slots. The device
    #: is then a link the driver points at the loaded one (load/unload move it);
    #: a folder named like a barcode (`TPA001L8`) carries that barcode as its tag.
    slots: list[str] = field(default_factory=list)
    #: Extra ltfs -o options, e.g. ["sync_type=time@5"].
    mount_options: list[str] = field(default_factory=list)
    #: ltfs work_directory= (empty: the tool's default).
    work_directory: str = ""
    #: Timeouts of each tool call: on expiry the tool is killed and the call fails.
    format_timeout_s: float = 7200.0
    mount_timeout_s: float = 600.0
    check_timeout_s: float = 7200.0
    status_timeout_s: float = 60.0
    load_timeout_s: float = 900.0
    #: After `umount` returns, LTFS still writes the index: wait this long for it.
    unmount_timeout_s: float = 900.0
    #: On timeout or cancel a tool gets SIGTERM, then this long to stop cleanly
    #: before its whole process group gets SIGKILL.
    kill_grace_s: float = 5.0

    def __post_init__(self) -> None:
        validate_device_path(self.device)
        validate_device_path(self.tape_device)
        if self.changer:
            validate_device_path(self.changer)
        if self.backend not in BACKENDS:
            raise InvalidArgument(f"tape backend {self.backend!r} must be one of {', '.join(BACKENDS)}")
        if self.slots and self.backend != "file":
            raise InvalidArgument("slots (a library of folders) need backend = \"file\"")
        for slot in self.slots:
            validate_path(slot, "slot folder")
        if self.drive_index < 0:
            raise InvalidArgument("drive index cannot be negative")
        validate_path(self.mount_point, "mount point")
        if self.work_directory:
            validate_path(self.work_directory, "work directory")
        for option in self.mount_options:
            validate_mount_option(option)
        for name in ("format", "mount", "check", "status", "load", "unmount"):
            if getattr(self, f"{name}_timeout_s") <= 0:
                raise InvalidArgument(f"{name} timeout must be positive")


def ltfs_daemon_pids(mount_point: str, device: str) -> list[int]:
    """PIDs of processes started as `ltfs MOUNT_POINT -o devname=DEVICE,...`.

    The FUSE daemon outlives `umount`: it is still writing the index."""
    found = []
    want = f"devname={device}"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if mount_point in args and any(want in a.split(",") for a in args):
            found.append(int(entry.name))
    return found


class LtfsDriver(TapeDriver):
    name = "ltfs"

    def __init__(self, cfg: LtfsConfig) -> None:
        self.cfg = cfg
        #: The `file` backend: the device is a folder, no mt, mtx or sg_read_attr runs.
        self.folders = cfg.backend == "file"
        self.has_changer = bool(cfg.slots) if self.folders else bool(cfg.changer)
        self._mount_point = Path(cfg.mount_point)
        self._volume: LtfsVolume | None = None
        self._lock = asyncio.Lock()

    # ----------------------------------------------------------- running ---

    async def _run(
        self,
        argv: Sequence[str],
        timeout: float,
        on_line: LineSink | None = None,
        ok_codes: Sequence[int] = (0,),
    ) -> proc.ProcResult:
        return await run_tool(argv, timeout, self.cfg.kill_grace_s, on_line, ok_codes)

    async def _run_ok(self, argv: Sequence[str], timeout: float) -> proc.ProcResult:
        return await run_tool_ok(argv, timeout, self.cfg.kill_grace_s)

    async def _mtx_status(self) -> MtxStatus:
        res = await self._run_ok(
            [self.cfg.mtx, "-f", self.cfg.changer, "status"], self.cfg.status_timeout_s
        )
        return parse_mtx_status(res.stdout)

    def _mounted(self) -> bool:
        """The mount point, not our memory, is the truth (tapetui may have restarted)."""
        mp = self._mount_point
        return os.path.ismount(mp) or is_ltfs_root(mp)

    # ------------------------------------------------------------ status ---

    async def status(self) -> DriveStatus:
        async with self._lock:
            return await self._status()

    async def _status(self) -> DriveStatus:
        if self.folders:
            return self._folder_status()
        cfg = self.cfg
        res = await self._run([cfg.mt, "-f", cfg.tape_device, "status"], cfg.status_timeout_s)
        if res.timed_out:
            raise ToolTimeout(timeout_text("mt", cfg.status_timeout_s))
        if not res.success:
            return DriveStatus(drive_present=False, health={"error": failure_text("mt", res)})
        mt = parse_mt_status(res.stdout)
        st = DriveStatus(drive_present=True, generation=mt.generation)
        if mt.write_protected:
            st.health[mh.WRITE_PROTECTED] = "yes"
        if mt.cleaning_requested:
            st.health[mh.CLEANING] = "requested"
        if mt.soft_errors is not None:
            st.health[mh.SOFT_ERRORS] = str(mt.soft_errors)
        tag = None
        if self.has_changer:
            tag = (await self._mtx_status()).drives.get(cfg.drive_index, (None, None))[0]
        if not mt.online:
            st.loaded = tag or None
            return st
        if self._mounted():
            self._mounted_facts(st)
            barcode = tag or root_text(self._mount_point, "ltfs.mamBarcode") or st.serial
            if not barcode:  # the same id as unmounted: the medium serial
                mam = await self._read_mam()
                barcode = unlabelled_id(mam.medium_serial if mam else None)
        else:
            mam = await self._read_mam()
            barcode = tag
            if mam is not None:
                if mam.ltfs:  # a barcode alone (a library wrote it) is not a format
                    st.label, st.serial, st.formatted = mam.label, mam.barcode, True
                st.capacity_bytes, st.remaining_bytes = mam.capacity_bytes, mam.remaining_bytes
                st.health.update(mam.health)
                barcode = tag or mam.barcode or unlabelled_id(mam.medium_serial)
        # No changer and no barcode in the cartridge memory: a new cartridge. It is
        # known by its medium serial, never by a name every such cartridge would share.
        st.loaded = barcode or unlabelled_id(None)
        st.capacity_bytes = st.capacity_bytes or generation_capacity(st.generation)
        return st

    def _mounted_facts(self, st: DriveStatus) -> str | None:
        """Fill `st` from the mounted volume's root attributes; its volume UUID."""
        root = self._mount_point
        st.mounted, st.mount_point, st.formatted = True, str(root), True
        st.label = root_text(root, "ltfs.volumeName")
        st.serial = root_text(root, "ltfs.volumeSerial")
        st.formatted_at = parse_ltfs_time(root_text(root, "ltfs.volumeFormatTime"))
        st.capacity_bytes = root_mib(root, "ltfs.mediaDataPartitionTotalCapacity")
        st.remaining_bytes = root_mib(root, "ltfs.mediaDataPartitionAvailableSpace")
        st.health.update(root_health(root))
        return root_text(root, "ltfs.volumeUUID")

    # ------------------------------------------------------ file backend ---

    def _folder_tag(self) -> str | None:
        """A library folder's barcode: its name, when that is one (the sticker)."""
        device = Path(self.cfg.device)
        if not (self.has_changer and device.is_symlink()):
            return None
        return folder_tag(Path(os.readlink(device)))

    def _folder_status(self) -> DriveStatus:
        """The file backend's drive: its folder exists = a cartridge is loaded."""
        device = Path(self.cfg.device)
        st = DriveStatus(drive_present=True)
        if not device.is_dir():
            return st
        tag = self._folder_tag()
        if self._mounted():
            uuid = self._mounted_facts(st)
            barcode = tag or st.serial
        else:
            facts = read_folder(device)
            st.formatted, st.label, st.serial = facts.formatted, facts.label, facts.barcode
            st.generation, st.capacity_bytes = facts.generation, facts.capacity_bytes
            st.formatted_at = facts.formatted_at
            uuid, barcode = facts.uuid, tag or facts.barcode
        st.loaded = barcode or unlabelled_id(uuid)
        return st

    def _folder_slots(self) -> list[tuple[int, Path]]:
        return [(n, Path(folder)) for n, folder in enumerate(self.cfg.slots, start=1)]

    def _loaded_slot(self) -> Path | None:
        device = Path(self.cfg.device)
        return Path(os.readlink(device)) if device.is_symlink() else None

    async def _sg_read_attr(self) -> proc.ProcResult:
        """Cartridge memory (MAM) as seen from the data partition."""
        return await self._run(
            [self.cfg.sg_read_attr, "-p", "1", self.cfg.device], self.cfg.status_timeout_s
        )

    async def _read_mam(self) -> MamFacts | None:
        """Cartridge memory facts; None when unreadable."""
        res = await self._sg_read_attr()
        if not res.success:
            return None
        return mam_facts(parse_read_attr(res.stdout))

    async def inventory(self) -> list[Cartridge]:
        async with self._lock:
            st = await self._status()
            found = []
            if self.folders:
                loaded = self._loaded_slot()
                found = [
                    Cartridge(barcode=tag, slot=n, in_drive=False)
                    for n, folder in self._folder_slots()
                    if folder != loaded and folder.is_dir() and (tag := folder_tag(folder))
                ]
            elif self.has_changer:
                mtx = await self._mtx_status()
                found = [
                    Cartridge(barcode=tag, slot=slot, in_drive=False)
                    for slot, tag in sorted(mtx.slots.items())
                    if tag
                ]
            if st.loaded:
                found.append(cartridge_in_drive(st))
            return found

    # ---------------------------------------------------------- cartridges ---

    async def load(self, barcode: str) -> None:
        barcode = validate_barcode(barcode)
        async with self._lock:
            if not self.has_changer:
                st = await self._status()
                if holds(st.loaded, barcode):
                    return
                held = f"holds {st.loaded}" if st.loaded else "is empty"
                raise NoCartridge(
                    f"the drive {held} and has no changer: insert {barcode} by hand"
                )
            if self.folders:
                self._load_folder(barcode)
                return
            mtx = await self._mtx_status()
            tag = mtx.drives.get(self.cfg.drive_index, (None, None))[0]
            if tag == barcode:
                return
            slot = next((s for s, t in mtx.slots.items() if t == barcode), None)
            if slot is None:
                raise NoCartridge(f"no cartridge {barcode} in the library")
            if tag is not None:
                raise TapeError(f"the drive holds {tag or 'a cartridge'}; unload it before loading {barcode}")
            argv = [self.cfg.mtx, "-f", self.cfg.changer, "load", str(slot), str(self.cfg.drive_index)]
            await self._run_ok(argv, self.cfg.load_timeout_s)

    def _load_folder(self, barcode: str) -> None:
        """Point the device link at the slot folder whose tag is `barcode`."""
        loaded = self._loaded_slot()
        if loaded is not None and folder_tag(loaded) == barcode:
            return
        slot = next((f for _, f in self._folder_slots() if folder_tag(f) == barcode and f.is_dir()), None)
        if slot is None:
            raise NoCartridge(f"no cartridge {barcode} in the library")
        if loaded is not None:
            raise TapeError(f"the drive holds {folder_tag(loaded) or loaded}; unload it before loading {barcode}")
        device = Path(self.cfg.device)
        if device.exists() and not device.is_symlink():
            raise TapeError(f"{device} is a folder, not the library's drive link: remove it or drop the slots")
        device.symlink_to(slot, target_is_directory=True)

    async def unload(self) -> None:
        async with self._lock:
            await self._unmount()
            cfg = self.cfg
            if self.folders:
                if self.has_changer and Path(cfg.device).is_symlink():
                    Path(cfg.device).unlink()
                return
            if self.has_changer:
                mtx = await self._mtx_status()
                tag, slot = mtx.drives.get(cfg.drive_index, (None, None))
                if tag is None:
                    return
                await self._offline()
                argv = [cfg.mtx, "-f", cfg.changer, "unload"]
                if slot is not None:
                    argv.append(str(slot))
                argv.append(str(cfg.drive_index))
                await self._run_ok(argv, cfg.load_timeout_s)
                return
            res = await self._run_ok([cfg.mt, "-f", cfg.tape_device, "status"], cfg.status_timeout_s)
            if parse_mt_status(res.stdout).online:
                await self._offline()

    async def _offline(self) -> None:
        """Rewind and unthread (`mt offline`): a changer can only take it then."""
        await self._run_ok([self.cfg.mt, "-f", self.cfg.tape_device, "offline"], self.cfg.load_timeout_s)

    # --------------------------------------------------------------- label ---

    async def read_label(self) -> LabelInfo | None:
        async with self._lock:
            if self._mounted():
                root = self._mount_point
                if root_text(root, "ltfs.volumeName") is not None:
                    return LabelInfo(
                        label=root_text(root, "ltfs.volumeName"),
                        serial=root_text(root, "ltfs.volumeSerial"),
                        barcode=root_text(root, "ltfs.mamBarcode"),
                        formatted_at=parse_ltfs_time(root_text(root, "ltfs.volumeFormatTime")),
                    )
            if self.folders:
                st = self._folder_status()
                if st.loaded is None:
                    raise NoCartridge("the drive is empty; load a cartridge first")
                facts = read_folder(Path(self.cfg.device))
                if not facts.formatted:
                    return None
                return LabelInfo(label=facts.label, serial=facts.barcode,
                                 barcode=self._folder_tag() or facts.barcode,
                                 formatted_at=facts.formatted_at)
            res = await self._sg_read_attr()
            if res.timed_out:
                raise ToolTimeout(timeout_text("sg_read_attr", self.cfg.status_timeout_s))
            if res.returncode == 2:  # SG_LIB_CAT_NOT_READY: no medium
                raise NoCartridge("the drive is empty; load a cartridge first")
            if not res.success:
                raise TapeError(f"cannot read the cartridge memory: {failure_text('sg_read_attr', res)}")
            mam = mam_facts(parse_read_attr(res.stdout))
            if not mam.ltfs:
                return None
            tag = None
            if self.has_changer:
                tag = (await self._mtx_status()).drives.get(self.cfg.drive_index, (None, None))[0]
            return LabelInfo(label=mam.label, serial=mam.barcode, barcode=tag or mam.barcode,
                             formatted_at=None)

    # --------------------------------------------------------- format/check ---

    async def format(
        self,
        label: str,
        serial: str | None = None,
        force: bool = False,
        on_line: LineSink | None = None,
    ) -> OpResult:
        """mkltfs on the loaded cartridge. `serial` defaults to the barcode the cartridge
        carries now (its tag, else its memory's): mkltfs without `-s` would blank it."""
        cfg = self.cfg
        argv = [cfg.mkltfs, "-d", cfg.device, "-n", validate_volume_name(label)]
        if serial is not None:
            serial = validate_serial(serial)
        async with self._lock:
            self._refuse_if_mounted("formatting")
            if serial is None:
                serial = await self._current_serial()
            if serial is not None:
                argv += ["-s", serial]
            if force:
                argv.append("-f")
            argv += ["-e", cfg.backend]
            res = await self._run(argv, cfg.format_timeout_s, on_line)
            if res.timed_out:
                return op_result(res, False, timeout_text("mkltfs", cfg.format_timeout_s))
            if res.returncode == 0 and has_message(res.lines, "15024I"):
                return op_result(res, True, f"medium formatted as {label}")
            if has_message(res.lines, "15047E"):
                raise AlreadyFormatted(
                    "the medium is already LTFS formatted; format with force to overwrite it"
                )
            if res.returncode == 8 and await self._drive_empty():
                raise NoCartridge("the drive is empty; load a cartridge before formatting")
            return op_result(res, False, failure_text("mkltfs", res, MKLTFS_EXIT))

    async def _current_serial(self) -> str | None:
        """The 6-character serial of the barcode the loaded cartridge carries, if any."""
        try:
            loaded = (await self._status()).loaded
        except TapeError:
            return None
        if not has_barcode(loaded):
            return None
        try:
            return serial_from_barcode(loaded)
        except InvalidArgument:
            return None

    async def _drive_empty(self) -> bool:
        if self.folders:
            return not Path(self.cfg.device).is_dir()
        res = await self._run([self.cfg.mt, "-f", self.cfg.tape_device, "status"],
                              self.cfg.status_timeout_s)
        return res.success and not parse_mt_status(res.stdout).online

    def _refuse_if_mounted(self, what: str) -> None:
        if self._mounted():
            raise TapeError(f"the volume is mounted at {self._mount_point}; unmount it before {what}")

    async def check(self, on_line: LineSink | None = None) -> OpResult:
        cfg = self.cfg
        async with self._lock:
            self._refuse_if_mounted("checking")
            res = await self._run([cfg.ltfsck, "-e", cfg.backend, cfg.device],
                                  cfg.check_timeout_s, on_line, ok_codes=(0, 1))
            if res.timed_out:
                return op_result(res, False, timeout_text("ltfsck", cfg.check_timeout_s))
            if res.success:
                closing = next((m.text for m in ltfs_messages(res.lines) if m.id == "16022I"),
                               "Volume checked.")
                return op_result(res, True, closing)
            return op_result(res, False, failure_text("ltfsck", res, LTFSCK_EXIT))

    # ------------------------------------------------------------ mounting ---

    async def mount(self) -> LtfsVolume:
        cfg = self.cfg
        async with self._lock:
            if self._mounted():  # ours, or left mounted by an earlier run: adopt it
                self._volume = self._volume or LtfsVolume(self._mount_point)
                return self._volume
            mp = self._mount_point
            mp.mkdir(parents=True, exist_ok=True)
            options = [f"devname={cfg.device}", f"tape_backend={cfg.backend}"]
            if cfg.work_directory:
                options.append(f"work_directory={cfg.work_directory}")
            options += cfg.mount_options
            res = await self._run([cfg.ltfs, str(mp), "-o", ",".join(options)], cfg.mount_timeout_s)
            if res.timed_out:
                raise ToolTimeout(timeout_text("ltfs", cfg.mount_timeout_s))
            if not res.success:
                if has_message(res.lines, "17168E"):
                    raise TapeError(f"cannot mount {cfg.device}: the medium is not LTFS formatted")
                raise TapeError(f"cannot mount {cfg.device} at {mp}: {failure_text('ltfs', res)}")
            deadline = time.monotonic() + MOUNT_SETTLE_S
            while not self._mounted():
                if time.monotonic() > deadline:
                    raise TapeError(f"ltfs reported success but {mp} is not mounted")
                await asyncio.sleep(POLL_S)
            self._volume = LtfsVolume(mp)
            return self._volume

    async def unmount(self) -> None:
        async with self._lock:
            await self._unmount()

    async def _unmount(self) -> None:
        cfg, mp = self.cfg, self._mount_point
        if self._volume is not None:
            self._volume.release()  # an open folder on the mount makes umount fail (busy)
        if self._mounted():
            res = await self._run([cfg.umount, str(mp)], cfg.status_timeout_s)
            if res.timed_out:
                raise ToolTimeout(timeout_text("umount", cfg.status_timeout_s))
            if not res.success and self._mounted():
                raise TapeError(f"cannot unmount {mp}: {failure_text('umount', res)}")
        # umount returns before LTFS has written its index: wait for the daemon.
        deadline = time.monotonic() + cfg.unmount_timeout_s
        while ltfs_daemon_pids(str(mp), cfg.device):
            if time.monotonic() > deadline:
                raise ToolTimeout(
                    f"ltfs still holds {cfg.device} {cfg.unmount_timeout_s:g} s after unmount "
                    "(index not yet written)"
                )
            await asyncio.sleep(POLL_S)
        self._volume = None

    async def close(self) -> None:
        async with self._lock:
            if self._volume is not None:  # only what this process mounted
                await self._unmount()
