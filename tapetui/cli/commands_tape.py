"""`tapetui tape ...`: the library and the drive from a shell or a script.

Each command is a thin wrapper over the engine's `Control`, so it follows the same
rules as a scheduled run (catalog kept in step, sets marked overwritten, events published).
Load, unload, format and check go through the daemon when one runs (`route`).
JSON output keys are documented in docs/cli.md; scripts rely on them.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from ..engine.control import CartridgeView, Engine
from ..engine.control.text import show, shown_id
from ..engine.events import LogLine
from . import route
from .output import add_json_flag, human_bytes, print_json, print_table


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("tape", help="cartridges and the drive: list, status, load, unload, format, check")
    tsub = t.add_subparsers(dest="tape_command", metavar="ACTION", required=True)

    p = tsub.add_parser("list", help="every cartridge: barcode, label, status, used/capacity, slot")
    add_json_flag(p)
    p.set_defaults(handler=cmd_list)

    p = tsub.add_parser("status", help="the drive: loaded cartridge, label, mount, space left")
    add_json_flag(p)
    p.set_defaults(handler=cmd_status)

    p = tsub.add_parser("load", help="move a cartridge from its slot into the drive")
    p.add_argument("barcode", metavar="BARCODE")
    p.set_defaults(handler=cmd_load)

    p = tsub.add_parser("unload", help="return the loaded cartridge to its slot")
    p.set_defaults(handler=cmd_unload)

    p = tsub.add_parser("format", help="format the loaded cartridge (LTFS), streaming the tool's output")
    p.add_argument("--label", metavar="L", help="volume label (default: keep the current one; "
                   "a blank cartridge gets this month's TPyyyymm01)")
    p.add_argument("--force", action="store_true",
                   help="format even if the cartridge is formatted or holds catalogued backups")
    p.add_argument("--barcode", metavar="XXXXXX", help="the barcode on the sticker of a cartridge the drive "
                   "cannot name (shown as '(no barcode)'): written to the tape, so the drive names it from now on")
    p.set_defaults(handler=cmd_format)

    p = tsub.add_parser("check", help="consistency check of the loaded cartridge (ltfsck)")
    p.set_defaults(handler=cmd_check)


def _view_json(v: CartridgeView) -> dict[str, Any]:
    data = dataclasses.asdict(v)
    data["formatted_at"] = v.formatted_at.isoformat() if v.formatted_at else None
    return data


async def cmd_list(args: argparse.Namespace, engine: Engine) -> int:
    views = await route.reads(engine).cartridges()
    if args.json:
        print_json([_view_json(v) for v in views])
        return 0
    print_table(
        [(v.barcode, v.label, v.status, human_bytes(v.used_bytes), human_bytes(v.capacity_bytes),
          v.location, v.sets, show(v.formatted_at)) for v in views],
        ["barcode", "label", "status", "used", "capacity", "where", "sets", "formatted"],
    )
    return 0


async def cmd_status(args: argparse.Namespace, engine: Engine) -> int:
    control = route.reads(engine)
    status = await control.drive_status()
    data = {"driver": control.driver_name, **dataclasses.asdict(status)}
    if args.json:
        print_json(data)
        return 0
    rows = [(k, human_bytes(v) if k.endswith("_bytes") else v) for k, v in data.items() if k != "health"]
    rows += sorted(status.health.items())
    print_table(rows, ["what", "value"])
    return 0


async def cmd_load(args: argparse.Namespace, engine: Engine) -> int:
    async with route.control(engine) as control:
        await control.load(args.barcode)
    print(f"loaded {args.barcode}")
    return 0


async def cmd_unload(args: argparse.Namespace, engine: Engine) -> int:
    async with route.control(engine) as control:
        barcode = await control.unload()
    print(f"unloaded {barcode}" if barcode else "the drive is already empty")
    return 0


def _print_line(event: LogLine) -> None:
    if event.run_id is not None:  # a run's line (the daemon's events include its runs)
        return
    if event.level in ("warning", "error"):
        print(f"{event.level}: {event.text}", file=sys.stderr, flush=True)
    else:
        print(event.text, flush=True)


async def cmd_format(args: argparse.Namespace, engine: Engine) -> int:
    async with route.control(engine) as control:
        printer = control.subscribe(_print_line, LogLine)
        try:
            done = await control.format(label=args.label, force=args.force, barcode=args.barcode)
            await control.drain()
        finally:
            printer.close()
    outcome = done.outcome
    if not outcome.ok:
        return 1
    named = f"; the drive now names it {done.named}" if done.named else ""
    print(f"formatted {shown_id(done.barcode)} as {outcome.new_label}{named}")
    if outcome.overwritten_sets:
        print("marked overwritten: " + ", ".join(f"set {i}" for i in outcome.overwritten_sets))
    return 0


async def cmd_check(args: argparse.Namespace, engine: Engine) -> int:
    async with route.control(engine) as control:
        printer = control.subscribe(_print_line, LogLine)
        try:
            result = await control.check()
            await control.drain()
        finally:
            printer.close()
    print(result.message)
    return 0 if result.success else 1
