"""Where a command runs: in the daemon when one serves this home, else here.

So nothing runs twice: with a daemon up, `schedule run`, `tape format`, `restore`
and the others are requests to it (its pid shows in the run records), and the
daemon's events are published on this process's bus, so the command prints the
daemon's log lines as if it ran them itself. A command that only reads asks a
`LocalControl`, which builds no scheduler and connects to nothing.
"""

from __future__ import annotations

import contextlib
from typing import AsyncIterator

from ..engine.control import Control, Engine, LocalControl, open_control


@contextlib.asynccontextmanager
async def control(engine: Engine) -> AsyncIterator[Control]:
    """The daemon's `Control` if one listens, else one in this process; closed on the way
    out (a remote one detaches, a local one cancels its firings)."""
    ctl = await open_control(engine)
    try:
        yield ctl
    finally:
        await ctl.close()


def reads(engine: Engine) -> Control:
    """A `Control` for questions (lists, the catalog, the drive's state): this process's."""
    return LocalControl(engine)
