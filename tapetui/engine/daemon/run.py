"""The daemon's life: lock, engine, recovery, scheduler, socket; and a clean stop on SIGTERM.

On SIGTERM (or Ctrl-C) the config's `[daemon] on_sigterm` decides: `cancel`
stops the running firings cleanly (their subprocesses killed and reaped, the
runs recorded as cancelled, the catalog consistent); `finish` lets them end
first (a second signal cancels). Either way the socket is removed, the lock
released and the exit code is 0.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from typing import Any, Callable

from ..control.local import LocalControl
from ..core import Engine
from ..errors import UserError
from ..logsetup import FORMAT
from ..paths import Home
from ..scheduler import Scheduler
from .lock import SchedulerLock
from .server import DaemonServer

log = logging.getLogger("tapetui.daemon")


class AlreadyScheduling(UserError):
    """Another process holds this home's scheduler lock."""


def already_message(lock: SchedulerLock, home: Home) -> str:
    holder = lock.holder()
    who = holder.role if holder and holder.role in ("daemon", "console") else "process"
    pid = f" (pid {holder.pid})" if holder and holder.pid else ""
    return f"a tapetui {who} already schedules for {home.data_dir}{pid}"


async def _finish_running(scheduler: Scheduler, again: asyncio.Event) -> None:
    """Wait for this process's firings to end, or for a second signal."""
    while scheduler.running and not again.is_set():
        # shielded: cancelling a wait must not cancel the firing it waits on
        waits = [asyncio.ensure_future(asyncio.shield(scheduler.wait(r))) for r in scheduler.running.values()]
        signalled = asyncio.ensure_future(again.wait())
        either: list[asyncio.Future[Any]] = [*waits, signalled]
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in either:
                t.cancel()
            await asyncio.gather(*either, return_exceptions=True)


async def run_daemon(home: Home, *, debug: bool = False, log_to_stderr: bool = False,
                     ready: Callable[[str], None] | None = None) -> int:
    """Schedule for `home` until SIGTERM or SIGINT; 0 after a clean stop.
    `ready(message)` is called once the socket accepts clients."""
    home.ensure()
    lock = SchedulerLock(home.lock_path)
    if not lock.try_acquire("daemon"):
        raise AlreadyScheduling(already_message(lock, home))
    stderr_handler = None
    try:
        engine = await Engine.open(home, debug=debug)
        if log_to_stderr:
            stderr_handler = logging.StreamHandler(sys.stderr)
            stderr_handler.setFormatter(logging.Formatter(FORMAT))
            logging.getLogger("tapetui").addHandler(stderr_handler)
        try:
            return await _serve(engine, home, ready)
        finally:
            await engine.close()
            if stderr_handler is not None:
                logging.getLogger("tapetui").removeHandler(stderr_handler)
    finally:
        lock.release()


async def _serve(engine: Engine, home: Home, ready: Callable[[str], None] | None) -> int:
    loop = asyncio.get_running_loop()
    stop, again = asyncio.Event(), asyncio.Event()

    def on_signal(signum: int) -> None:
        log.info("received %s", signal.Signals(signum).name)
        (again if stop.is_set() else stop).set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    scheduler = Scheduler(engine)
    control = LocalControl(engine, scheduler)
    server = DaemonServer(control, home.socket_path)
    try:
        await scheduler.recover()  # before clients come: runs of a killed daemon interrupted, sets incomplete
        await server.start()
        await scheduler.start()
        message = (f"tapetui daemon (pid {os.getpid()}) schedules for {home.data_dir}; "
                   f"listening on {home.socket_path} (log: {home.log_file})")
        log.info("%s", message)
        if ready is not None:
            ready(message)
        await stop.wait()
        policy = engine.config.daemon.on_sigterm
        running = ", ".join(f"#{r}" for r in scheduler.running.values()) or "none"
        log.info("stopping (on_sigterm = %s); running firings: %s", policy, running)
        if policy == "finish" and scheduler.running:
            await _finish_running(scheduler, again)
    finally:
        await scheduler.close("the daemon was stopped")
        await server.cancel_requests()
        try:
            await engine.bus.drain(timeout=2.0)  # the last run states reach the attached clients
        except (TimeoutError, asyncio.TimeoutError):
            pass
        await server.close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    log.info("daemon stopped cleanly")
    return 0
