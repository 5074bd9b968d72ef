"""Behaviour of the tape-tool stand-ins (the executables beside this file call in here).

Each function takes the tool's arguments, prints what the real tool prints — the
LTFS tools on stderr with their message ids (docs/architecture.md, "Tool
facts") — and returns the real exit code. The drive,
library and cartridges come from `standin_state`. Faults (`TAPETUI_STANDIN_FAULT`)
make a tool hang, crash by a signal, fail on the device, or flood its output.
The LtfsCmd*.exe output formats are invented (no official syntax exists; see
docs/architecture.md, "Tool facts"): they print to stdout and exit 0 or 1.
"""

from __future__ import annotations

import errno
import getopt
import os
import signal
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from standin_state import MIB, fault_for, locked, read_state, state_dir, volume_dir

VERSION = "2.4.8.4 (Prelim)"
DENSITY = {"LTO-5": 0x58, "LTO-6": 0x5A, "LTO-7": 0x5C, "LTO-7 M8": 0x5D, "LTO-8": 0x5E, "LTO-9": 0x60}
#: The ltfs "daemon" left behind by a mount writes its index this long after unmount.
UNMOUNT_FLUSH_S = 0.3
DAEMON_MAX_LIFE_S = 120


def err(line: str = "") -> None:
    sys.stderr.write(line + "\n")


def out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def play_fault(tool: str, device_error: Callable[[], int]) -> int | None:
    """Act out the configured fault; None means behave normally."""
    fault = fault_for(tool, read_state(state_dir()))
    if fault == "hang":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if os.fork() == 0:  # a child that must die with the group too
            time.sleep(3600)
            os._exit(0)
        time.sleep(3600)
    elif fault == "crash":
        err(f"{tool}: internal error, aborting")
        sys.stderr.flush()
        os.abort()
    elif fault == "device_error":
        return device_error()
    elif fault == "flood":
        sys.stderr.writelines(f"LTFS99999D flood line {i}\n" for i in range(200_000))
    return None


def launched(prefix: str, msg_id: str, prog: str, argv: list[str]) -> None:
    err(f'{prefix}{msg_id} Launched by "{" ".join([prog, *argv])}".')


def drive_ready(state: dict[str, Any]) -> dict[str, Any] | None:
    """The cartridge in the drive, if there is one and it is online."""
    d = state["drive"]
    if d["cartridge"] and d["online"]:
        return state["cartridges"][d["cartridge"]]
    return None


def tape_attributes(prefix: str, c: dict[str, Any]) -> None:
    err(f"{prefix}LTFS17227I Tape attribute: Vendor = IBM     .")
    err(f"{prefix}LTFS17227I Tape attribute: Application Name = LTFS{' ' * 28}.")
    err(f"{prefix}LTFS17227I Tape attribute: Application Version = 2.4.8.4 .")
    err(f"{prefix}LTFS17227I Tape attribute: Medium Label = {c['volume_name'] or ''}.")
    err(f"{prefix}LTFS17228I Tape attribute: Text Localization ID = 0x81.")
    err(f"{prefix}LTFS17227I Tape attribute: Barcode = {c['mam_barcode'] or '':<32}.")
    err(f"{prefix}LTFS17227I Tape attribute: Application Format Version = 2.4.0           .")
    err(f"{prefix}LTFS17228I Tape attribute: Volume Lock Status = 0x00.")
    err(f"{prefix}LTFS17227I Tape attribute: Media Pool name = .")


def open_lines(prefix: str, dev: str) -> None:
    for line in (
        f"LTFS30000I Opening a device through generic file driver ({dev}).",
        f"LTFS30003I Opening a directory through generic file driver ({dev}).",
        "LTFS30061E Cannot unlock medium: unit not ready.",
        "LTFS17160I Maximum device block size is 4194304.",
        "LTFS11330I Loading cartridge.",
        f"LTFS30048I Loading a directory through generic file driver ({dev}).",
        "LTFS11332I Load successful.",
        "LTFS17157I Changing the drive setting to write-anywhere mode.",
    ):
        err(prefix + line)


# ---------------------------------------------------------------- mounting ---


def ltfs_alert(mam_value: int) -> int:
    """The state keeps TapeAlert flags as the cartridge memory does (flag 1 the top bit);
    libltfs's ltfs.mediaStorageAlert sets flag N as bit N-1 (sg_get_tape_alert)."""
    return int(f"{mam_value:064b}"[::-1], 2)


def ltfs_xattrs(c: dict[str, Any]) -> dict[str, str]:
    total_mib = c["capacity_bytes"] // MIB
    return {
        "ltfs.volumeName": c["volume_name"] or "",
        "ltfs.volumeSerial": c["serial"] or " " * 6,  # six spaces without -s (seen)
        "ltfs.volumeUUID": c["uuid"],
        "ltfs.mamBarcode": c["mam_barcode"] or " " * 6,
        "ltfs.volumeFormatTime": c["format_time"].replace(" UTC", "Z").replace(" ", "T"),
        "ltfs.indexGeneration": str(c["index_gen"]),
        "ltfs.mediaStorageAlert": f"0x{ltfs_alert(c['tapealert']):016x}",
        "ltfs.mediaDataPartitionTotalCapacity": str(total_mib),
        "ltfs.mediaDataPartitionAvailableSpace": str(total_mib - c["used_bytes"] // MIB),
        "ltfs.mediaLoads": str(c["load_count"]),
        "ltfs.mediaRecoveredWriteErrors": "0",
        "ltfs.mediaPermanentWriteErrors": "0",
        "ltfs.mediaRecoveredReadErrors": "0",
        "ltfs.mediaPermanentReadErrors": "-1",
    }


def link_volume(root: Path, barcode: str, c: dict[str, Any], where: Path) -> None:
    """Make `where` show the cartridge's files, with the root facts LTFS exposes."""
    vol = volume_dir(root, barcode)
    for name, value in ltfs_xattrs(c).items():
        try:
            os.setxattr(vol, "user." + name, value.encode())
        except OSError as exc:
            if exc.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
    if where.is_dir() and not where.is_symlink():
        where.rmdir()
    where.symlink_to(vol, target_is_directory=True)


def unlink_volume(root: Path, state: dict[str, Any], where: Path) -> None:
    """Undo link_volume; the cartridge remembers how full it is."""
    barcode = state["drive"]["cartridge"]
    if where.is_symlink():
        where.unlink()
    c = state["cartridges"][barcode]
    c["used_bytes"] = sum(
        f.stat().st_size for f in volume_dir(root, barcode).rglob("*") if f.is_file()
    )
    c["index_gen"] += 1


def stay_as_daemon(root: Path, mount_point: str) -> None:
    """Fork the process that holds the volume until unmount, as the ltfs FUSE
    daemon does; it exits UNMOUNT_FLUSH_S after the unmount (index write)."""
    if os.fork() != 0:
        return
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    deadline = time.monotonic() + DAEMON_MAX_LIFE_S
    while time.monotonic() < deadline:
        time.sleep(0.05)
        try:
            if read_state(root)["drive"]["mounted_at"] != mount_point:
                break
        except (OSError, ValueError):
            break
    time.sleep(UNMOUNT_FLUSH_S)
    os._exit(0)


# ------------------------------------------------------------------ mkltfs ---

MKLTFS_USAGE = """
Usage: mkltfs <options>

Available options are:
  -d, --device=<name>       Tape device (required)
  -f, --force               Force to format medium
  -s, --tape-serial=<id>    Tape serial number (6 alphanumeric ASCII characters)
  -n, --volume-name=<name>  Tape volume name (empty by default)
  -w, --wipe                Restore the LTFS medium to an unpartitioned medium
  -e, --backend=<name>      Tape backend
  -V, --version             Version information
  -h, --help                This help"""


def mkltfs(argv: list[str]) -> int:
    try:
        opts, _ = getopt.gnu_getopt(
            argv,
            "d:s:n:r:fwe:b:ckqtVhi:p",
            ["device=", "tape-serial=", "volume-name=", "rules=", "force", "wipe",
             "backend=", "blocksize=", "no-compression", "keep-capacity", "quiet",
             "trace", "version", "help", "config=", "advanced-help", "no-override"],
        )
    except getopt.GetoptError as exc:
        err(f"mkltfs: {exc}")
        err(MKLTFS_USAGE)
        return 16
    o: dict[str, str] = {}
    for k, v in opts:
        o[{"--device": "-d", "--tape-serial": "-s", "--volume-name": "-n", "--force": "-f",
           "--wipe": "-w", "--backend": "-e", "--version": "-V"}.get(k, k)] = v
    if "-V" in o:
        err(f"mkltfs version {VERSION}.")
        err("LTFS Format Specification version 2.4.0.")
        return 0
    err(f"LTFS15000I Starting mkltfs, LTFS version {VERSION}, log level 2.")
    launched("", "LTFS15041I", "mkltfs", argv)
    err("LTFS15042I This binary is built for Linux (x86_64).")
    err("LTFS15043I GCC version is 12.2.0.")
    err('LTFS17089I Distribution: PRETTY_NAME="Debian GNU/Linux 12 (bookworm)".')
    serial = o.get("-s")
    if serial is not None and len(serial) != 6:
        err("LTFS15029E Tape serial must be 6 characters.")
    elif serial is not None and not all(ch.isdigit() or "A" <= ch <= "Z" for ch in serial):
        err("LTFS15030E Tape serial must only contain capital alphabet and numeric characters.")
    elif "-d" not in o:
        err("LTFS15021E Device name must be specified.")
    else:
        return _mkltfs_run(o, serial)
    err('LTFS17085I Plugin: Loading "sg" tape backend.')
    err(MKLTFS_USAGE)
    return 16


def _cannot_open(prefix: str, dev: str, closing: str) -> None:
    err(prefix + "LTFS12012E Cannot open device: failed backend open call.")
    err(prefix + closing.format(dev=dev))


def _mkltfs_run(o: dict[str, str], serial: str | None) -> int:
    dev, backend = o["-d"], o.get("-e", "sg")
    root = state_dir()

    def device_error() -> int:
        _cannot_open("", dev, "LTFS15009E Cannot open device '{dev}' (-21700).")
        err("LTFS15023I Formatting failed.")
        return 8

    err(f"LTFS15003I Formatting device '{dev}'.")
    err("LTFS15004I LTFS volume blocksize: 524288.")
    err("LTFS15005I Index partition placement policy: None.")
    err()
    err(f"LTFS11337I Update index-dirty flag (1) - {serial or 'NO_BARCODE'} (0x...).")
    err(f'LTFS17085I Plugin: Loading "{backend}" tape backend.')
    faulted = play_fault("mkltfs", device_error)
    if faulted is not None:
        return faulted
    with locked(root) as state:
        c = drive_ready(state)
        if dev != state["sg_device"] or c is None:
            return device_error()
        open_lines("", dev)
        barcode = state["drive"]["cartridge"]
        if "-w" in o:
            c.update(formatted=False, volume_name=None, serial=None, uuid=None, format_time=None)
            err("LTFS17071I Unpartitioning the medium.")
            err("LTFS15040I Medium unformatted successfully.")
            return 1
        err(f"LTFS15049I Checking the medium ({'load' if '-f' in o else 'mount'}).")
        if c["formatted"] and "-f" not in o:
            err("LTFS15047E Medium is already formatted (0).")
            err("LTFS15048I Need to specify -f or --force option to format this medium.")
            err("LTFS15023I Formatting failed.")
            return 16
        # Without -s the real mkltfs writes six spaces as the barcode into the label
        # and the cartridge memory, whatever the cartridge carried before
        # (ltfs_set_barcode; docs/architecture.md, "Tool facts").
        for line in (
            "LTFS15010I Creating data partition b on SCSI partition 1.",
            "LTFS15011I Creating index partition a on SCSI partition 0.",
            "LTFS17165I Resetting the medium's capacity proportion.",
            "LTFS11097I Partitioning the medium.",
        ):
            err(line)
        for part in "ba":
            err(f"LTFS11100I Writing label to partition {part}.")
            err(f"LTFS11278I Writing index to partition {part}.")
            err(f"LTFS17235I Writing index of {serial or 'NO_BARCODE'} to {part} (Reason: Format, 0 files) DUMMY.")
            err(f"LTFS17236I Wrote index of {serial or 'NO_BARCODE'} (Gen = 1, Part = {part}, Pos = 5, DUMMY).")
        now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f000 UTC")
        c.update(formatted=True, volume_name=o.get("-n", ""), serial=serial,
                 uuid=str(uuid.uuid4()), format_time=now, used_bytes=0, index_gen=1)
        c["mam_barcode"] = serial  # LTFS writes the serial (or blanks) to MAM 0x0806
        vol = volume_dir(root, barcode)
        for f in sorted(vol.rglob("*"), reverse=True):
            f.rmdir() if f.is_dir() else f.unlink()
        err(f"LTFS15013I Volume UUID is: {c['uuid']}.")
        err()
        err(f"LTFS15019I Volume capacity is {c['capacity_bytes'] // 10**9} GB.")
        err("LTFS15024I Medium formatted successfully.")
        return 0


# ------------------------------------------------------------------ ltfsck ---


def ltfsck(argv: list[str]) -> int:
    try:
        opts, args = getopt.gnu_getopt(
            argv, "e:nfzlg:rqtVhv:",
            ["backend=", "verify", "full-recovery", "deep-recovery", "list-rollback-points",
             "generation=", "rollback", "quiet", "trace", "version", "help"],
        )
    except getopt.GetoptError as exc:
        err(f"ltfsck: {exc}")
        return 16
    o = dict(opts)
    if "-V" in o or "--version" in o:
        err(f"ltfsck version {VERSION}.")
        err("LTFS Format Specification version 2.4.0.")
        return 0
    listing = "-l" in o or "--list-rollback-points" in o
    err(f"LTFS16000I Starting ltfsck, LTFS version {VERSION}, log level 2.")
    launched("", "LTFS16088I", "ltfsck", argv)
    err("LTFS16089I This binary is built for Linux (x86_64).")
    err("LTFS16090I GCC version is 12.2.0.")
    err('LTFS17089I Distribution: PRETTY_NAME="Debian GNU/Linux 12 (bookworm)".')
    if len(args) != 1:
        err("LTFS16001E Device name must be specified.")
        return 16
    dev = args[0]
    if listing:
        err("LTFS16084I List indexes in backward direction strategy.")
    err(f'LTFS17085I Plugin: Loading "{o.get("-e", o.get("--backend", "sg"))}" tape backend.')

    def device_error() -> int:
        _cannot_open("", dev, "LTFS16011E Cannot open device '{dev}'.")
        return 8

    faulted = play_fault("ltfsck", device_error)
    if faulted is not None:
        return faulted
    with locked() as state:
        c = drive_ready(state)
        if dev != state["sg_device"] or c is None:
            return device_error()
        open_lines("", dev)
        err(f"LTFS16014I Checking LTFS file system on '{dev}'.")
        if not c["formatted"]:
            err("LTFS17168E Cannot read volume: medium is not partitioned.")
            err("LTFS16080E Cannot check volume (8).")
            return 4
        for line in (
            "LTFS16023I LTFS volume information:.",
            f"LTFS16024I Volser (bar code) : {c['serial'] or ''}.",
            f"LTFS16025I Volume UUID     : {c['uuid']}.",
            f"LTFS16026I Format time     : {c['format_time']}.",
            "LTFS16027I Block size      : 524288.",
            "LTFS16028I Compression     : Enabled.",
            "LTFS16029I Index partition : ID = a, SCSI Partition = 0.",
            "LTFS16030I Data partition  : ID = b, SCSI Partition = 1.",
            "",
            "LTFS11005I Mounting the volume.",
        ):
            err(line)
        if not listing:
            err("LTFS11026I Performing a full medium consistency check.")
            err("LTFS11233I Updating MAM coherency data.")
        tape_attributes("", c)
        gen = c["index_gen"]
        err(f"LTFS11031I Volume mounted successfully. {c['serial'] or 'NO_BARCODE'} : Gen = {gen} / (a, 5) -> (b, 5) / DUMMY.")
        if listing:
            out("Generation: Date       Time               Zone     SelfPtr->BackPtr (Part, Pos)")
            out(f"         {gen}: {c['format_time']}      (0, 5)->(1, 5)")
            out("            No commit message")
            return 0
        err("LTFS17265I Skip writing the index because of the volume is not dirty and current self pointer points IP.")
        err("LTFS11034I Volume unmounted successfully.")
        err("LTFS16022I Volume is consistent.")
        return 1


# -------------------------------------------------------------------- ltfs ---


def ltfs(argv: list[str]) -> int:
    opts: dict[str, str] = {}
    positional: list[str] = []
    it = iter(argv)
    for a in it:
        if a in ("-V", "--version"):
            err(f"LTFS version {VERSION}.")
            err("LTFS Format Specification version 2.4.0.")
            return 0
        if a == "-o" or (a.startswith("-o") and len(a) > 2):
            for item in (next(it, "") if a == "-o" else a[2:]).split(","):
                key, _, value = item.partition("=")
                opts[key] = value
        elif a.startswith("-"):
            continue  # -f, -d and friends: no effect here
        else:
            positional.append(a)
    p = f"{os.getpid() & 0xFFFF:x} "
    err(f"{p}LTFS14000I LTFS starting, LTFS version {VERSION}, log level 2.")
    err(f"{p}LTFS14058I LTFS Format Specification version 2.4.0.")
    launched(p, "LTFS14104I", "ltfs", argv)
    err(f"{p}LTFS14105I This binary is built for Linux (x86_64).")
    err(f"{p}LTFS14106I GCC version is 12.2.0.")
    err(f'{p}LTFS17089I Distribution: PRETTY_NAME="Debian GNU/Linux 12 (bookworm)".')
    root = state_dir()
    if "device_list" in opts:
        state = read_state(root)
        err(f'{p}LTFS17085I Plugin: Loading "{opts.get("tape_backend", "sg")}" tape backend.')
        err("Tape Device list:.")
        err(f"Device Name = {state['sg_device']} (1.0.0.0), Vendor ID = IBM     , "
            "Product ID = ULT3580-TD8     , Serial Number = 1068000073, "
            "Product Name =[ULT3580-TD8].")
        return 1  # inverted in 2.4.x
    err(f'{p}LTFS14063I Sync type is "time", Sync time is 300 sec.')
    err(f'{p}LTFS17085I Plugin: Loading "{opts.get("tape_backend", "sg")}" tape backend.')
    err(f'{p}LTFS17085I Plugin: Loading "unified" iosched backend.')
    err(f"{p}LTFS14095I Set the tape device write-anywhere mode to avoid cartridge ejection.")
    dev = opts.get("devname", "")

    def device_error() -> int:
        _cannot_open(p, dev, "LTFS14013E Cannot mount the volume.")
        return 1

    faulted = play_fault("ltfs", device_error)
    if faulted is not None:
        return faulted
    if len(positional) != 1:
        err("fuse: no mount point")
        return 1
    mp = Path(os.path.abspath(positional[0]))
    with locked(root) as state:
        c = drive_ready(state)
        if dev != state["sg_device"] or c is None:
            return device_error()
        if state["drive"]["mounted_at"] is not None:
            err(f"{p}LTFS12012E Cannot open device: device is busy.")
            err(f"{p}LTFS14013E Cannot mount the volume.")
            return 1
        if not mp.is_dir() or mp.is_symlink() or any(mp.iterdir()):
            err(f"fuse: bad mount point `{mp}': not an empty directory")
            return 1
        open_lines(p, dev)
        err(f"{p}LTFS11005I Mounting the volume.")
        if not c["formatted"]:
            err(f"{p}LTFS17168E Cannot read volume: medium is not partitioned.")
            err(f"{p}LTFS14013E Cannot mount the volume.")
            return 1
        tape_attributes(p, c)
        err(f"{p}LTFS11031I Volume mounted successfully. {c['serial'] or 'NO_BARCODE'} : Gen = {c['index_gen']} / (a, 5) -> (b, 5) / DUMMY.")
        link_volume(root, state["drive"]["cartridge"], c, mp)
        state["drive"]["mounted_at"] = str(mp)
    err(f"{p}LTFS14111I Initial setup completed successfully.")
    err(f"{p}LTFS14112I Invoke 'mount' command to check the result of final setup.")
    err(f"{p}LTFS14113I Specified mount point is listed if succeeded.")
    sys.stderr.flush()
    stay_as_daemon(root, str(mp))
    return 0


def umount(argv: list[str], prog: str = "umount") -> int:
    targets = [a for a in argv if not a.startswith("-")]
    if len(targets) != 1:
        err(f"Usage: {prog} MOUNTPOINT")
        return 1
    mp = Path(os.path.abspath(targets[0]))
    faulted = play_fault(prog, lambda: (err(f"{prog}: {mp}: target is busy."), 32)[1])
    if faulted is not None:
        return faulted
    root = state_dir()
    with locked(root) as state:
        if state["drive"]["mounted_at"] != str(mp):
            if prog == "fusermount":
                err(f"fusermount: entry for {mp} not found in /etc/mtab")
                return 1
            err(f"umount: {mp}: not mounted.")
            return 32
        unlink_volume(root, state, mp)
        mp.mkdir()
        state["drive"]["mounted_at"] = None
    return 0


# ---------------------------------------------------------------------- mt ---


def mt(argv: list[str]) -> int:
    try:
        opts, args = getopt.getopt(argv, "f:t:hv", ["file=", "help", "version"])
    except getopt.GetoptError as exc:
        err(f"mt: {exc}")
        return 1
    o = dict(opts)
    dev = o.get("-f") or o.get("--file") or os.environ.get("TAPE", "/dev/tape")
    if not args:
        err("usage: mt [-v] [--version] [-h] [ -f device ] command [ count ]")
        return 1
    cmd = args[0]
    faulted = play_fault("mt", lambda: (err(f"{dev}: Input/output error"), 2)[1])
    if faulted is not None:
        return faulted
    with locked() as state:
        if dev != state["tape_device"]:
            err(f"{dev}: No such file or directory")
            return 1
        drive, c = state["drive"], drive_ready(state)
        if cmd == "status":
            return _mt_status(c)
        if c is None and cmd not in ("load", "retension"):
            err(f"{dev}: No medium found")
            return 2
        if cmd in ("offline", "rewoffl", "eject"):
            drive["online"] = False
            if not state["changer"]:
                drive["cartridge"] = None  # a standalone drive hands it out
        elif cmd == "load":
            if not drive["cartridge"]:
                err(f"{dev}: No medium found")
                return 2
            drive["online"] = True
        elif cmd == "tell":
            out("At block 0.")
        elif cmd not in ("rewind", "eod", "seod"):
            err(f"mt: unrecognized command '{cmd}'")
            return 1
    return 0


def _mt_status(c: dict[str, Any] | None) -> int:
    out("SCSI 2 tape drive:")
    if c is None:
        out("File number=-1, block number=-1, partition=0.")
        out("Tape block size 0 bytes. Density code 0x0 (default).")
        out("Soft error count since last status=0")
        out("General status bits on (50000):")
        out(" DR_OPEN IM_REP_EN")
        return 0
    code = DENSITY[c["generation"]]
    name = "no translation" if code == 0x60 else c["generation"]
    bits = ["BOT", "ONLINE", "IM_REP_EN"]
    value = 0x41010000
    if c["write_protected"]:
        bits.insert(1, "WR_PROT")
        value |= 0x04000000
    out("File number=0, block number=0, partition=0.")
    out(f"Tape block size 0 bytes. Density code 0x{code:x} ({name}).")
    out("Soft error count since last status=0")
    out(f"General status bits on ({value:x}):")
    out(" " + " ".join(bits))
    return 0


# --------------------------------------------------------------------- mtx ---


def mtx(argv: list[str]) -> int:
    dev = os.environ.get("CHANGER", "/dev/changer")
    if len(argv) >= 2 and argv[0] == "-f":
        dev, argv = argv[1], argv[2:]
    if not argv:
        err("Usage: mtx [-f device] command [args]")
        return 1
    cmd, rest = argv[0], argv[1:]
    faulted = play_fault("mtx", lambda: (err("mtx: Request Sense: Hardware Error"), 1)[1])
    if faulted is not None:
        return faulted
    with locked() as state:
        if dev != state["changer"]:
            err(f"cannot open SCSI device '{dev}' - No such file or directory")
            return 1
        drive, slots = state["drive"], state["slots"]
        if cmd == "status":
            full = sum(1 for _ in slots)
            out(f"  Storage Changer {dev}:1 Drives, {full} Slots ( 0 Import/Export )")
            if drive["cartridge"]:
                out(f"Data Transfer Element 0:Full (Storage Element {drive['from_slot']} Loaded)"
                    f":VolumeTag = {drive['cartridge']}")
            else:
                out("Data Transfer Element 0:Empty")
            for n in sorted(slots, key=int):
                tag = slots[n]
                out(f"      Storage Element {n}:" + (f"Full :VolumeTag={tag}" if tag else "Empty"))
            return 0
        if cmd == "load":
            slot = rest[0] if rest else ""
            if slot not in slots:
                err(f"Invalid Storage Element {slot}")
                return 1
            if drive["cartridge"]:
                err(f"Drive 0 Full (Storage Element {drive['from_slot']} loaded)")
                return 1
            if not slots[slot]:
                err(f"Storage Element {slot} is Empty")
                return 1
            out(f"Loading media from Storage Element {slot} into drive 0...done")
            drive.update(cartridge=slots[slot], online=True, from_slot=int(slot))
            slots[slot] = None
            state["cartridges"][drive["cartridge"]]["load_count"] += 1
            return 0
        if cmd == "unload":
            if not drive["cartridge"]:
                err("Data Transfer Element 0 is Empty")
                return 1
            slot = rest[0] if rest else str(drive["from_slot"])
            if slots.get(slot, "missing") is not None:
                err(f"Storage Element {slot} is Full")
                return 1
            if drive["online"]:
                err("MOVE MEDIUM from Element Address 256 to 4096 Failed")
                return 1
            out(f"Unloading drive 0 into Storage Element {slot}...done")
            slots[slot] = drive["cartridge"]
            drive.update(cartridge=None, online=False, from_slot=None)
            return 0
        if cmd == "inventory":
            return 0
        err(f"mtx: unknown command '{cmd}'")
        return 1


# ------------------------------------------------------------ sg_read_attr ---


def sg_read_attr(argv: list[str]) -> int:
    try:
        opts, args = getopt.gnu_getopt(
            argv, "ceE:f:F:hHi:l:m:p:qrRs:vV",
            ["cache", "enumerate", "element=", "filter=", "first=", "help", "hex", "in=",
             "lvn=", "maxlen=", "partition=", "quiet", "raw", "readonly", "sa=",
             "verbose", "version"],
        )
    except getopt.GetoptError as exc:
        err(f"sg_read_attr: {exc}")
        return 1
    quiet, filt, part = 0, -1, 0
    for k, v in opts:
        if k in ("-q", "--quiet"):
            quiet += 1
        elif k in ("-f", "--filter"):
            filt = int(v, 0)
        elif k in ("-p", "--partition"):
            part = int(v, 0)
    if len(args) != 1:
        err("sg_read_attr: missing device name!")
        return 1
    dev = args[0]
    faulted = play_fault("sg_read_attr", lambda: (err("read attribute: Hardware error"), 4)[1])
    if faulted is not None:
        return faulted
    state = read_state(state_dir())
    if dev != state["sg_device"]:
        err(f"sg_read_attr: error opening file: {dev}: No such file or directory")
        return 15
    c = drive_ready(state)
    if c is None:
        err("read attribute:  Not ready, Medium not present")
        return 2
    total = c["capacity_bytes"] // MIB
    index_part = total // 100 if c["formatted"] else 0
    cap = index_part if part == 0 and c["formatted"] else total - index_part
    used = 0 if part == 0 and c["formatted"] else c["used_bytes"] // MIB
    attrs: list[tuple[int, str, str]] = [
        (0x0000, "Remaining capacity in partition [MiB]", str(cap - used)),
        (0x0001, "Maximum capacity in partition [MiB]", str(cap)),
        (0x0002, "TapeAlert flags", str(c["tapealert"])),
        (0x0003, "Load count", str(c["load_count"])),
        (0x0220, "Total MiB written in medium life", str(c["used_bytes"] // MIB)),
        (0x0400, "Medium manufacturer", "FUJI    "),
        (0x0401, "Medium serial number", f"{c['medium_serial']:<32}"),
    ]
    if c["formatted"]:
        attrs += [
            (0x0800, "Application vendor", "IBM     "),
            (0x0801, "Application name", f"{'LTFS':<32}"),
            (0x0802, "Application version", "2.4.8.4 "),
            (0x0803, "User medium text label", f"{c['volume_name'] or '':<160}"),
        ]
    if c["mam_barcode"]:
        attrs.append((0x0806, "Barcode", f"{c['mam_barcode']:<32}"))
    shown = [a for a in attrs if filt < 0 or a[0] == filt]
    if filt < 0 and quiet == 0:
        out("Attribute values:")
    for _, name, value in shown:
        out(value if quiet >= 2 else f"  {name}: {value}")
    return 0


# ------------------------------------------------------ Windows LtfsCmd*.exe ---


def _win_drive(argv: list[str], state: dict[str, Any]) -> str | None:
    letter = state["windows"]["letter"]
    if not argv or argv[0].rstrip(":").upper() != letter:
        out(f"Drive {argv[0] if argv else '?'} is not an assigned LTFS drive.")
        return None
    return letter


def ltfscmd_drives(argv: list[str]) -> int:
    faulted = play_fault("LtfsCmdDrives", lambda: (out("Cannot enumerate drives."), 1)[1])
    if faulted is not None:
        return faulted
    state = read_state(state_dir())
    w, c = state["windows"], drive_ready(state)
    if c is None:
        status = "NO_MEDIA"
    elif not c["formatted"]:
        status = "LTFS_UNFORMATTED"
    else:
        status = "WRITE_PROTECTED" if c["write_protected"] else "LTFS_MEDIA"
    out(f"{'Assigned':<10}{'Address':<12}{'Serial':<14}Status")
    out(f"{'--------':<10}{'-------':<12}{'------':<14}------")
    out(f"{w['letter']:<10}{w['address']:<12}{w['drive_serial']:<14}{status}")
    return 0


def ltfscmd_format(argv: list[str]) -> int:
    faulted = play_fault("LtfsCmdFormat", lambda: (out("Device error on drive."), 1)[1])
    if faulted is not None:
        return faulted
    root = state_dir()
    with locked(root) as state:
        letter = _win_drive(argv, state)
        if letter is None:
            return 1
        flags = {a[1:2].upper(): a[3:] for a in argv[1:] if a.startswith("/")}
        serial = flags.get("S")
        if serial is not None and (len(serial) != 6 or not serial.isalnum() or serial != serial.upper()):
            out(f"Invalid serial '{serial}': 6 capital letters or digits expected.")
            return 1
        c = drive_ready(state)
        if c is None:
            out(f"No media in drive {letter}:.")
            return 1
        barcode = state["drive"]["cartridge"]
        where = Path(state["windows"]["mount_root"])
        if where.is_symlink():
            where.unlink()
        out(f"Formatting media in drive {letter}: ...")
        now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f000 UTC")
        serial = serial or (c["mam_barcode"] or "")[:6] or None
        c.update(formatted=True, volume_name=flags.get("N", ""), serial=serial,
                 uuid=str(uuid.uuid4()), format_time=now, used_bytes=0, index_gen=1)
        for f in sorted(volume_dir(root, barcode).rglob("*"), reverse=True):
            f.rmdir() if f.is_dir() else f.unlink()
        if "E" in flags:
            state["drive"].update(online=False, cartridge=None)
        else:
            link_volume(root, barcode, c, where)
        out("Format completed successfully.")
        return 0


def ltfscmd_check(argv: list[str]) -> int:
    faulted = play_fault("LtfsCmdCheck", lambda: (out("Device error on drive."), 1)[1])
    if faulted is not None:
        return faulted
    state = read_state(state_dir())
    letter = _win_drive(argv, state)
    if letter is None:
        return 1
    c = drive_ready(state)
    if c is None or not c["formatted"]:
        out(f"Drive {letter}: has no LTFS medium to check.")
        return 1
    out(f"Checking LTFS volume in drive {letter}: ...")
    out("Volume is consistent.")
    return 0


def ltfscmd_load(argv: list[str]) -> int:
    faulted = play_fault("LtfsCmdLoad", lambda: (out("Device error on drive."), 1)[1])
    if faulted is not None:
        return faulted
    root = state_dir()
    with locked(root) as state:
        letter = _win_drive(argv, state)
        if letter is None:
            return 1
        drive = state["drive"]
        if not drive["cartridge"]:
            out(f"No media in drive {letter}:.")
            return 1
        drive["online"] = True
        c = state["cartridges"][drive["cartridge"]]
        where = Path(state["windows"]["mount_root"])
        if c["formatted"] and not where.is_symlink():
            link_volume(root, drive["cartridge"], c, where)
        out(f"Media loaded in drive {letter}:.")
        return 0


def ltfscmd_eject(argv: list[str]) -> int:
    faulted = play_fault("LtfsCmdEject", lambda: (out("Device error on drive."), 1)[1])
    if faulted is not None:
        return faulted
    root = state_dir()
    with locked(root) as state:
        letter = _win_drive(argv, state)
        if letter is None:
            return 1
        if drive_ready(state) is None:
            out(f"No media in drive {letter}:.")
            return 1
        where = Path(state["windows"]["mount_root"])
        if where.is_symlink():
            unlink_volume(root, state, where)
        state["drive"].update(online=False, cartridge=None)
        out(f"Media ejected from drive {letter}:.")
        return 0
