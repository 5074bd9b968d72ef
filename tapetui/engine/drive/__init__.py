"""Drive policy: what the project does with a drive, above the drivers in `tape/`.

`TapeOps` (`ops.py`: loading the cartridge a run may use, the `cartridges` table
in step with the library) with the month check (`month.py`), the format flow
(`format.py`) and the protection of each source's last restorable state
(`protection.py`); the lock that gives the drive to one run at a time
(`lock.py`). `tape/` only talks to drives; this package is where the drive meets
the catalog, the events and the engine.
"""

from .format import FormatOutcome
from .month import MonthCheckFailed, month_refusal
from .ops import CartridgeView, TapeOps
from .protection import ANY_CARTRIDGE, LastStateAtRisk

__all__ = ["ANY_CARTRIDGE", "CartridgeView", "FormatOutcome", "LastStateAtRisk", "MonthCheckFailed", "TapeOps",
           "month_refusal"]
