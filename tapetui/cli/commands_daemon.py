"""`tapetui daemon` (schedule with no console) and `tapetui daemon status`."""

from __future__ import annotations

import argparse
import asyncio

from ..engine.control import DaemonGone, Home, attach
from ..engine.control.text import show
from ..engine.daemon.lock import SchedulerLock
from .output import add_json_flag, print_json, print_table


def register(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("daemon", help="schedule and run backups with no console (systemd runs this)")
    d.add_argument("--foreground", action="store_true",
                   help="also copy the log to stderr (for systemd's journal); the daemon never forks either way")
    d.set_defaults(plain=cmd_daemon)
    dsub = d.add_subparsers(dest="daemon_command", metavar="ACTION")
    p = dsub.add_parser("status", help="is a daemon running for this home, and what is it doing")
    add_json_flag(p)
    p.set_defaults(plain=cmd_status)


def cmd_daemon(args: argparse.Namespace, home: Home) -> int:
    from ..engine.daemon.run import run_daemon

    return asyncio.run(run_daemon(home, debug=args.debug, log_to_stderr=args.foreground,
                                  ready=lambda message: print(message, flush=True)))


def cmd_status(args: argparse.Namespace, home: Home) -> int:
    """Exit 0 when a daemon answers, 3 when none runs (scripts and systemd checks)."""
    return asyncio.run(_status(args, home))


async def _status(args: argparse.Namespace, home: Home) -> int:
    from ..engine.control import Engine

    engine = await Engine.open(home, debug=args.debug)
    try:
        control = await attach(engine, forward_events=False)
        if control is None:
            holder = SchedulerLock(home.lock_path).holder()
            data = {"running": False, "socket": str(home.socket_path),
                    "scheduler": None if holder is None else {"pid": holder.pid, "role": holder.role}}
            if args.json:
                print_json(data)
            else:
                print(f"no tapetui daemon runs for {home.data_dir}")
                if holder is not None:
                    print(f"a tapetui {holder.role or 'process'} (pid {holder.pid}) schedules for it")
            return 3
        try:
            status = await control.status()
        finally:
            await control.close()
    except DaemonGone:  # it went away between the connect and the question
        print(f"no tapetui daemon runs for {home.data_dir}")
        return 3
    finally:
        await engine.close()
    data = {"running": True, "pid": status.pid, "home": status.home, "socket": str(home.socket_path),
            "protocol": status.protocol, "started_at": status.started_at.isoformat(), "clients": status.clients,
            "on_sigterm": status.on_sigterm, "firings": status.running}
    if args.json:
        print_json(data)
        return 0
    rows = [("pid", status.pid), ("home", status.home), ("socket", str(home.socket_path)),
            ("started", show(status.started_at, seconds=True)), ("clients attached", status.clients),
            ("on SIGTERM", status.on_sigterm)]
    rows += [(f"running: {name}", f"run #{rid}") for name, rid in status.running.items()]
    print_table(rows, ["what", "value"])
    return 0
