"""A standalone LTFS drive (stand-in tools, no changer) holding a cartridge fresh from
the box: its memory holds no barcode, so the drive names it `no-barcode:<serial>`.

For tests that open a home through its config (the CLI, the console), not through
a driver object: `fresh_cartridge_home` writes both the stand-ins' world and the
home's config.toml pointing the `ltfs` driver at the stand-ins; `fresh_cartridge_driver`
is the same drive as a driver object, for an app opened on another home.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "standins"))
from standin_state import STATE_ENV, cartridge, init_state, medium_serial, tool  # noqa: E402

from tapetui.engine.paths import Home  # noqa: E402
from tapetui.engine.tape.ltfs import LtfsConfig, LtfsDriver  # noqa: E402
from tapetui.engine.tape.labels import unlabelled_id  # noqa: E402

TOOLS = ("mkltfs", "ltfs", "ltfsck", "mt", "mtx", "sg_read_attr", "umount")
#: The sticker of the fresh cartridge in the drive, and a named one.
FRESH, NAMED = "NEW001L8", "LIB001L8"
#: What the drive calls the fresh cartridge until a format gives it its barcode.
FRESH_ID = unlabelled_id(medium_serial(FRESH))


def _settings(root: Path) -> dict[str, object]:
    return {**{name: tool(name) for name in TOOLS}, "mount_point": str(root / "mnt"),
            "unmount_timeout_s": 5.0, "kill_grace_s": 0.2}


def _world(root: Path, loaded: str) -> Path:
    state = root / "standin-state"
    init_state(state, {FRESH: cartridge(mam_barcode=None), NAMED: cartridge()}, loaded=loaded)
    return state


def fresh_cartridge_home(root: Path, *, loaded: str = FRESH) -> tuple[Home, Path]:
    """A home whose driver is `ltfs` on the stand-ins, and the stand-ins' state folder
    (set `STATE_ENV` to it). `loaded` is FRESH (no barcode) or NAMED."""
    state = _world(root, loaded)
    home = Home.single(root / "home")
    home.ensure()
    lines = "".join(f"{k} = {json.dumps(v)}\n" for k, v in _settings(root).items())  # JSON scalars are TOML
    home.config_file.write_text(f'[tape]\ndriver = "ltfs"\n[ltfs]\n{lines}', encoding="utf-8")
    return home, state


def fresh_cartridge_driver(root: Path) -> tuple[LtfsDriver, Path]:
    """The same drive as a driver object, and the stand-ins' state folder."""
    return LtfsDriver(LtfsConfig(**_settings(root))), _world(root, FRESH)


__all__ = ["FRESH", "FRESH_ID", "NAMED", "STATE_ENV", "fresh_cartridge_driver", "fresh_cartridge_home"]
