"""`tapetui sets|ls|find|restore|verify|catalog import`: the catalog side of the CLI.

Scripts and monitoring use these; the JSON keys are documented in
docs/cli.md and kept stable. Exit code 0 only on full success.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from typing import Any, Awaitable, Callable

from ..engine.backup.errors import BackupInputError
from ..engine.control import CONFLICTS, Control, Engine, RestoreRequest, verify_summary
from ..engine.control.text import is_glob, show, shown, sources_of, to_db
from ..engine.errors import UserError
from ..engine.events import LogLine, RunStarted
from ..engine.store.models import Entry, SetRow
from . import route
from .argtypes import INT64_MAX, AppendEach, count, glob, row_id
from .output import add_json_flag, human_bytes, print_json, print_table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sets", help="list backup sets")
    add_json_flag(p)
    p.set_defaults(handler=cmd_sets)

    p = sub.add_parser("ls", help="list what one set holds in a folder")
    p.add_argument("set_id", type=row_id, metavar="SET_ID")
    p.add_argument("path", nargs="?", metavar="PATH", help="folder or file (default: the set's source folders)")
    add_json_flag(p)
    p.set_defaults(handler=cmd_ls)

    p = sub.add_parser("find", help="find files in every set by name or path glob")
    p.add_argument("pattern", type=glob, metavar="PATTERN", help="'*.conf' matches names; '/etc/*/x' whole paths")
    p.add_argument("--limit", type=count, default=1000, help="at most this many results (default 1000)")
    add_json_flag(p)
    p.set_defaults(handler=cmd_find)

    p = sub.add_parser("restore", help="restore files as of a set or a time")
    p.add_argument("--to", required=True, metavar="DIR",
                   help="restore under DIR (each file keeps its absolute path below it); '/' = original place")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--set", type=row_id, dest="set_id", metavar="ID", help="as of this set (default: now)")
    when.add_argument("--at", metavar="TIME", help="as of this time, e.g. '2026-11-02 09:30' (local)")
    p.add_argument("--conflict", choices=CONFLICTS, default="skip", help="existing files: skip (default), "
                   "overwrite, or rename the restored copy")
    p.add_argument("--include", action=AppendEach, metavar="GLOB", help="of the selection, only paths matching "
                   "GLOB (a whole path, or a name; a matching folder brings its contents; repeatable)")
    p.add_argument("--exclude", action=AppendEach, metavar="GLOB", help="leave out paths matching GLOB "
                   "(and what a matching folder holds; repeatable)")
    p.add_argument("--find", action="append", type=glob, default=[], metavar="PATTERN",
                   help="restore what 'tapetui find PATTERN' lists (repeatable)")
    p.add_argument("--from-json", metavar="FILE", help="restore the paths of 'find --json' or 'ls --json' "
                   "output saved in FILE ('-': standard input)")
    p.add_argument("paths", nargs="*", metavar="PATH", help="folders or files to restore, or whole-path globs "
                   "('/home/*/.bashrc'; '[[]' is a literal '['); default: all")
    p.set_defaults(handler=cmd_restore)

    p = sub.add_parser("verify", help="re-read a set from tape and check every hash")
    p.add_argument("set_id", type=row_id, metavar="SET_ID")
    p.set_defaults(handler=cmd_verify)

    c = sub.add_parser("catalog", help="catalog maintenance")
    csub = c.add_subparsers(dest="catalog_command", metavar="ACTION", required=True)
    i = csub.add_parser("import", help="rebuild catalog rows from the loaded cartridge alone")
    i.set_defaults(handler=cmd_import)


def _time(dt: datetime | None) -> str | None:
    return None if dt is None else to_db(dt)


def set_json(s: SetRow) -> dict[str, Any]:
    return {
        "id": s.id, "name": s.name, "level": s.level, "status": s.status, "complete": s.complete,
        "started_at": _time(s.started_at), "finished_at": _time(s.finished_at), "files": s.files,
        "bytes": s.bytes, "cartridges": s.cartridges, "base_set_id": s.base_set_id,
        "sources": sources_of(s.source_key), "hash": s.hash_algo,
        "verified_at": _time(s.verified_at), "verify_ok": s.verify_ok,
    }


def entry_json(e: Entry) -> dict[str, Any]:
    return {
        "path": e.path, "kind": e.kind, "size": e.size, "mtime": e.mtime_ns / 1e9, "mtime_ns": e.mtime_ns,
        "mode": f"{e.mode & 0o7777:04o}", "set_id": e.set_id, "cartridge": e.cartridge,
        "deleted": e.deleted, "link_target": e.link_target,
        "checksum": e.checksum.hex() if e.checksum else None,
    }


async def cmd_sets(args: argparse.Namespace, engine: Engine) -> int:
    sets = await route.reads(engine).sets()
    if args.json:
        print_json({"sets": [set_json(s) for s in sets]})
        return 0
    print_table(
        [(s.id, s.level, s.status, show(s.started_at), show(s.finished_at), s.files, human_bytes(s.bytes),
          " ".join(s.cartridges) or None, s.name or None) for s in sets],
        ["id", "level", "status", "started", "finished", "files", "size", "cartridges", "name"],
    )
    return 0


def _print_entries(entries: list[Entry], as_json: bool, **extra: Any) -> None:
    """As a table, or as `{"entries": [...]}` with `extra` keys."""
    if as_json:
        print_json({"entries": [entry_json(e) for e in entries], **extra})
        return
    print_table(
        [(shown(e.path) + ("/" if e.kind == "dir" else ""), "deleted" if e.deleted else e.kind,
          human_bytes(e.size) if e.kind == "file" and not e.deleted else None,
          show(datetime.fromtimestamp(e.mtime_ns / 1e9).astimezone()) if not e.deleted else None,
          e.set_id, e.cartridge) for e in entries],
        ["path", "kind", "size", "modified", "set", "cartridge"],
    )


async def cmd_ls(args: argparse.Namespace, engine: Engine) -> int:
    control = route.reads(engine)
    s = await control.set(args.set_id)
    entries: list[Entry] = []
    if args.path is None:
        for source in sources_of(s.source_key):
            entries += await control.list_dir(s.id, source)
    else:
        path = args.path.rstrip("/") or "/"
        if not path.startswith("/"):
            raise BackupInputError(f"catalog paths are absolute, not {args.path!r}")
        entries = await control.list_dir(s.id, path)
        if not entries and path != "/":
            entries = [v for v in await control.versions(path) if v.set_id == s.id]
        if not entries:
            raise BackupInputError(f"set {s.id} holds nothing at {path}")
    _print_entries(entries, args.json)
    return 0


async def cmd_find(args: argparse.Namespace, engine: Engine) -> int:
    found = await route.reads(engine).find(args.pattern, limit=min(args.limit + 1, INT64_MAX))  # one more: any left?
    truncated = len(found) > args.limit
    _print_entries(found[:args.limit], args.json, truncated=truncated)
    if truncated and not args.json:
        print(f"(stopped at --limit {args.limit}: more entries match; raise --limit to see them)")
    return 0


def _parse_time(text: str) -> datetime:
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise BackupInputError(f"{text!r} is not a time; use e.g. '2026-11-02 09:30' or '2026-11-02'") from None
    return dt if dt.tzinfo is not None else dt.astimezone()


def _show_line(event: LogLine) -> None:
    """A line of work that is no run's (a catalog import) to stderr; stdout keeps the summary."""
    if event.run_id is None and event.level != "tool":
        print(f"{event.level}: {event.text}" if event.level != "info" else event.text, file=sys.stderr)


def _run_printer(action: str, errors: set[str]) -> Callable[[LogLine | RunStarted], None]:
    """Prints the log lines of the `action` runs started from now on to stderr as they
    happen (a daemon may be running other work), adding their errors to `errors`."""
    mine: set[int] = set()

    def show(event: LogLine | RunStarted) -> None:  # one subscriber: events stay in order
        if isinstance(event, RunStarted):
            if event.action == action:
                mine.add(event.run_id)
        elif event.run_id in mine and event.level != "tool":
            prefix = {"info": "", "error": "tapetui: error: "}.get(event.level, f"{event.level}: ")
            print(prefix + event.text, file=sys.stderr)
            errors.add(event.text)

    return show


async def _as_run(engine: Engine, action: str, op: Callable[[Control], Awaitable[Any]]) -> Any:
    """`op` on the daemon if one runs, else here, its run's lines printed as they come;
    None when it failed with an error its log already printed (one line per error)."""
    errors: set[str] = set()
    try:
        async with route.control(engine) as control:
            control.subscribe(_run_printer(action, errors), RunStarted, LogLine)
            try:
                return await op(control)
            finally:
                await control.drain()
    except UserError as e:
        if str(e) in errors:
            return None
        raise


def _request(args: argparse.Namespace) -> RestoreRequest:
    """PATHs with glob characters are globs; `--find` patterns are globs whatever they hold;
    the paths of `--from-json` are exact (a name may hold `*` or `[`)."""
    paths = [p for p in args.paths if not is_glob(p)]
    if args.from_json is not None:
        paths += _json_paths(args.from_json)
    return RestoreRequest(target=os.path.abspath(args.to), set_id=args.set_id,
                          at=_parse_time(args.at) if args.at else None, conflict=args.conflict,
                          paths=list(dict.fromkeys(paths)),
                          globs=[p for p in args.paths if is_glob(p)] + args.find,
                          include=args.include or [], exclude=args.exclude or [])


def _json_paths(source: str) -> list[str]:
    """The paths of `find --json` / `ls --json` output (deleted-markers left out). Refused
    when it lists none (no paths would mean everything) or `find` stopped at its limit."""
    where = "standard input" if source == "-" else shown(source)
    try:
        if source == "-":
            data = json.loads(sys.stdin.buffer.read())
        else:
            with open(source, "rb") as f:
                data = json.loads(f.read())
    except OSError as e:
        raise BackupInputError(f"cannot read {where}: {e.strerror}") from None
    except ValueError as e:
        raise BackupInputError(f"{where} is not JSON: {e}") from None
    entries = data.get("entries") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("path"), str)
                                                for e in entries):
        raise BackupInputError(f"{where} is not the output of 'tapetui find --json' or 'ls --json' "
                               "(an object with \"entries\", each with a \"path\")")
    if data.get("truncated"):
        raise BackupInputError(f"the find output in {where} stopped at its --limit, so it lists only some of "
                               "the matches: raise --limit, or use 'restore --find PATTERN'")
    paths = [e["path"] for e in entries if not e.get("deleted")]
    if not paths:
        raise BackupInputError(f"{where} lists no paths: nothing to restore")
    return paths


async def cmd_restore(args: argparse.Namespace, engine: Engine) -> int:
    request = _request(args)
    result = await _as_run(engine, "restore", lambda control: control.restore(request))
    if result is None:
        return 1
    print(result.message)
    return 0 if result.status == "success" else 1


async def cmd_verify(args: argparse.Namespace, engine: Engine) -> int:
    """A recorded run (action 'verify'), by the daemon when one runs, as restore is."""
    result = await _as_run(engine, "verify", lambda control: control.verify(args.set_id))
    if result is None:
        return 1
    print(verify_summary(result))
    return 0 if result.ok else 1


async def cmd_import(args: argparse.Namespace, engine: Engine) -> int:
    async with route.control(engine) as control:
        control.subscribe(_show_line, LogLine)
        result = await control.import_catalog()
        await control.drain()
    print(f"{result.barcode}: {len(result.added)} set(s) imported, {len(result.known)} already in the catalog, "
          + (f"{len(result.refused)} refused, " if result.refused else "") + f"{result.entries} entries")
    return 0 if not (result.without_copy or result.refused) else 1
