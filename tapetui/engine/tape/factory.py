"""Build the configured tape driver."""

from __future__ import annotations

from ..config import Config
from ..paths import Home
from .base import TapeDriver


def make_driver(cfg: Config, home: Home) -> TapeDriver:
    kind = cfg.tape.driver
    if kind == "sim":
        from .sim import SimDriver

        return SimDriver(home.sim_root, cfg.sim)
    if kind == "ltfs":
        from .ltfs import LtfsDriver

        return LtfsDriver(cfg.ltfs)
    from .ltfs_windows import LtfsWindowsDriver

    return LtfsWindowsDriver(cfg.ltfs_windows)
