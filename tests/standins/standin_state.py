"""The world the tape-tool stand-ins share: one drive, an optional library, cartridges.

It lives in `$TAPETUI_STANDIN_STATE/state.json` (guarded by a lock file, written
atomically) so every stand-in process sees the same drive. A cartridge's files
live in `volumes/<barcode>/`; "mounting" links the mount point to that folder,
because FUSE is not available where the tests run.

Tests build a world with `init_state(...)` and read it back with `read_state`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterator

STATE_ENV = "TAPETUI_STANDIN_STATE"
FAULT_ENV = "TAPETUI_STANDIN_FAULT"
MIB = 1024 * 1024
GEN_CAPACITY = {  # native bytes, docs/architecture.md "Tool facts"
    "LTO-5": 1_500_000_000_000,
    "LTO-6": 2_500_000_000_000,
    "LTO-7": 6_000_000_000_000,
    "LTO-7 M8": 9_000_000_000_000,
    "LTO-8": 12_000_000_000_000,
    "LTO-9": 18_000_000_000_000,
}


def state_dir() -> Path:
    d = os.environ.get(STATE_ENV)
    if not d:
        raise SystemExit(f"stand-in: {STATE_ENV} is not set")
    return Path(d)


def volume_dir(root: Path, barcode: str) -> Path:
    return root / "volumes" / barcode


def cartridge(generation: str = "LTO-8", **facts: Any) -> dict[str, Any]:
    """A blank cartridge; `facts` override (formatted, volume_name, serial, ...).

    Two facts default per cartridge in `init_state`: `mam_barcode`, the barcode
    its memory holds (a library writes it there, LTFS overwrites it with the
    volume serial; pass None for a cartridge fresh from the box, which a
    standalone drive then cannot name), and
    `medium_serial`, the manufacturer's serial every cartridge has."""
    c: dict[str, Any] = {
        "generation": generation,
        "capacity_bytes": GEN_CAPACITY[generation],
        "formatted": False,
        "volume_name": None,
        "serial": None,
        "uuid": None,
        "format_time": None,
        "used_bytes": 0,
        "load_count": 0,
        "write_protected": False,
        "tapealert": 0,
        "index_gen": 0,
    }
    c.update(facts)
    return c


def medium_serial(barcode: str) -> str:
    """A stand-in manufacturer's serial: stable and different per cartridge."""
    return hashlib.sha256(barcode.encode()).hexdigest()[:10].upper()


def init_state(
    root: Path,
    cartridges: dict[str, dict[str, Any]],
    *,
    loaded: str | None = None,
    slots: dict[int, str | None] | None = None,
    sg_device: str = "/dev/sg0",
    tape_device: str = "/dev/nst0",
    changer: str | None = None,
    windows_root: str | None = None,
    online: bool = True,
) -> None:
    """Create a world: `slots` (1-based) only with a `changer`; `loaded` is in the drive."""
    root.mkdir(parents=True, exist_ok=True)
    for barcode, c in cartridges.items():
        volume_dir(root, barcode).mkdir(parents=True, exist_ok=True)
        c.setdefault("mam_barcode", c["serial"] if c["formatted"] and c["serial"] else barcode)
        c.setdefault("medium_serial", medium_serial(barcode))
    state = {
        "sg_device": sg_device,
        "tape_device": tape_device,
        "changer": changer,
        "drive": {
            "cartridge": loaded,
            "online": loaded is not None and online,
            "from_slot": None,
            "mounted_at": None,
        },
        "slots": {str(k): v for k, v in (slots or {}).items()},
        "cartridges": cartridges,
        "windows": {
            "letter": "O",
            "address": "0.0.24.0",
            "drive_serial": "1068000073",
            "mount_root": windows_root,
        },
        "fault": "",
    }
    _write(root, state)


def read_state(root: Path) -> dict[str, Any]:
    return json.loads((root / "state.json").read_text())


def _write(root: Path, state: dict[str, Any]) -> None:
    tmp = root / "state.json.tmp"
    tmp.write_text(json.dumps(state, indent=1))
    os.replace(tmp, root / "state.json")


@contextlib.contextmanager
def locked(root: Path | None = None) -> Iterator[dict[str, Any]]:
    """The state, exclusively; changes made to it are saved on exit."""
    root = root or state_dir()
    with open(root / "state.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = read_state(root)
        yield state
        _write(root, state)


def fault_for(tool: str, state: dict[str, Any] | None = None) -> str:
    """The fault to play for `tool`: `$TAPETUI_STANDIN_FAULT` (or the state's
    "fault") is `hang`, `crash`, `device_error`, `flood`, or a list of
    `tool:fault` pairs such as `mkltfs:hang,mt:device_error`."""
    spec = os.environ.get(FAULT_ENV) or (state or {}).get("fault") or ""
    for item in spec.split(","):
        name, _, fault = item.strip().rpartition(":")
        if not name or name == tool:
            return fault
    return ""


STANDINS = Path(__file__).resolve().parent


def tool(name: str) -> str:
    """Absolute path of the stand-in executable `name`."""
    return str(STANDINS / name)


def running(name: str) -> list[int]:
    """PIDs of live stand-in `name` processes (zombies have no cmdline)."""
    want = tool(name).encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                args = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if want in args:
                pids.append(int(entry.name))
    return pids
