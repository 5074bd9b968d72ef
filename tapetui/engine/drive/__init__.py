"""Drive policy: what the project does with a drive, above the drivers in `tape/`.

Loading the cartridge a run may use, the month check, the format flow, the
protection of each source's last restorable state (`ops.py`) and the lock that
gives the drive to one run at a time (`lock.py`). `tape/` only talks to drives;
this package is where the drive meets the catalog, the events and the engine.
"""

from .ops import ANY_CARTRIDGE, CartridgeView, FormatOutcome, TapeOps

__all__ = ["ANY_CARTRIDGE", "CartridgeView", "FormatOutcome", "TapeOps"]
