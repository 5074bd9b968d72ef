"""Where a state-changing command runs: in the daemon when one serves this home, else here.

So nothing runs twice: with a daemon up, `schedule run`, `tape format`, `restore`
and the others are requests to it (its pid shows in the run records), and the
daemon's events are published on this process's bus, so the command prints the
daemon's log lines as if it ran them itself.
"""

from __future__ import annotations

import contextlib
from typing import AsyncIterator

from ..engine.core import Engine
from ..engine.daemon.client import attach
from ..engine.daemon.control import LocalControl


@contextlib.asynccontextmanager
async def control(engine: Engine) -> AsyncIterator[LocalControl]:
    """A `RemoteControl` on the daemon if one listens, else a `LocalControl` in this
    process; closed on the way out (a remote one detaches, a local one cancels its firings)."""
    ctl = await attach(engine) or LocalControl(engine)
    try:
        yield ctl
    finally:
        await ctl.close()
