"""`tapetui schedule ...`, `runs`, `log`, `template ...` and `backup`.

Every rule lives behind the engine's `Control`; this module only turns arguments
into calls and results into tables or JSON. Commands that change state go
through the daemon when one runs (`route.control`). Without a daemon, `schedule
run --wait` and `backup --wait` run the firing in this process and stream its
log, and without `--wait` the firing runs in a detached `tapetui` process so
this command can return.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from typing import Any, Iterator

from ..engine.control import ANY_CARTRIDGE, PREVIEW_CAP, Control
from ..engine.control.text import local, show
from ..engine.errors import UserError
from ..engine.store.models import LogLine, RunRow, ScheduleRow
from . import route
from .argtypes import AppendEach, count, row_id
from .output import add_json_flag, human_bytes, print_json, print_table

WHEN_FLAGS = {
    "once": ("--once", '"YYYY-MM-DD HH:MM"'),
    "every": ("--every", "30m|6h|2d"),
    "daily": ("--daily", "HH:MM"),
    "weekly": ("--weekly", '"mon,thu HH:MM"'),
    "monthly": ("--monthly", '"DAY HH:MM"'),
    "yearly": ("--yearly", '"MM-DD HH:MM"'),
    "cron": ("--cron", '"m h dom mon dow"'),
}
#: Exit codes of `schedule run --wait` and `backup --wait`.
EXIT = {"success": 0, "warning": 3, "skipped": 4, "cancelled": 5, "failed": 1, "interrupted": 1}
#: How long `schedule run` (no --wait) waits for the detached process to record its run.
DETACH_WAIT_S = 20.0


# -- argument parsing --------------------------------------------------------------
def _backup_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("backup settings")
    g.add_argument("--level", choices=("full", "incremental", "differential"))
    g.add_argument("--source", action=AppendEach, metavar="DIR", help="a folder to back up (repeat for more)")
    g.add_argument("--exclude", action=AppendEach, metavar="GLOB", help="skip paths matching GLOB (repeatable)")
    g.add_argument("--include", action=AppendEach, metavar="GLOB", help="only paths matching GLOB (repeatable)")
    g.add_argument("--cartridge-policy", choices=("auto", "loaded"),
                   help="auto: pick a usable cartridge from the library; loaded: use the one in the drive")
    g.add_argument("--verify", action=argparse.BooleanOptionalAction, default=None,
                   help="re-read and check every hash after the backup")
    g.add_argument("--max-full-days", type=int, metavar="N",
                   help="run a full instead when the last full is older than N days (0: no limit)")


def _schedule_options(p: argparse.ArgumentParser, *, required: bool) -> None:
    when = p.add_mutually_exclusive_group(required=required)
    for kind, (flag, form) in WHEN_FLAGS.items():
        when.add_argument(flag, dest=f"when_{kind}", metavar="WHEN", help=f"{kind}: {form}")
    p.add_argument("--action", choices=("backup", "cleanup", "health_check"), required=required,
                   help="what the schedule does")
    p.add_argument("--template", metavar="T", help="take the backup settings from template T (at run time)")
    p.add_argument("--missed", choices=("run_once", "skip"),
                   help="firings missed while nothing ran: run once when back, or skip (default: config)")
    _backup_options(p)


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("schedule", help="add, change, run and stop schedules")
    ssub = s.add_subparsers(dest="schedule_command", metavar="ACTION", required=True)

    p = ssub.add_parser("add", help="add a schedule")
    p.add_argument("name")
    _schedule_options(p, required=True)
    p.add_argument("--disabled", action="store_true", help="create it disabled")
    p.set_defaults(handler=cmd_add)

    p = ssub.add_parser("list", help="every schedule with its state")
    add_json_flag(p)
    p.set_defaults(handler=cmd_list)

    p = ssub.add_parser("show", help="one schedule in full, with its recent runs")
    p.add_argument("name")
    add_json_flag(p)
    p.set_defaults(handler=cmd_show)

    p = ssub.add_parser("edit", help="change a schedule (only what is given)")
    p.add_argument("name")
    _schedule_options(p, required=False)
    p.add_argument("--rename", metavar="NEW", help="a new name")
    p.add_argument("--no-template", action="store_true", help="stop using a template")
    p.set_defaults(handler=cmd_edit)

    for verb, fn, text in (("enable", cmd_enable, "let a schedule fire again"),
                           ("disable", cmd_disable, "keep a schedule but never fire it"),
                           ("delete", cmd_delete, "delete a schedule (its run logs stay)"),
                           ("stop", cmd_stop, "stop a schedule's running firing")):
        p = ssub.add_parser(verb, help=text)
        p.add_argument("name")
        p.set_defaults(handler=fn)

    p = ssub.add_parser("run", help="fire a schedule now (manual run)")
    p.add_argument("name")
    p.add_argument("--wait", action="store_true", help="stay until it ends, show its log; the exit code tells "
                   "the outcome (0 success, 3 warning, 4 skipped, 5 cancelled, 1 failed)")
    p.add_argument("--quiet", action="store_true", help="with --wait: do not print the log")
    _add_overrides(p)
    p.set_defaults(handler=cmd_run)

    p = ssub.add_parser("preview", help="every firing in the coming days")
    p.add_argument("--days", type=float, default=14, help="how many days ahead (default 14)")
    add_json_flag(p)
    p.set_defaults(handler=cmd_preview)

    p = sub.add_parser("runs", help="the run log: every firing and its outcome")
    p.add_argument("--schedule", metavar="NAME", help="only this schedule's runs")
    p.add_argument("--limit", type=count, default=50, help="how many, newest first (default 50)")
    add_json_flag(p)
    p.set_defaults(handler=cmd_runs)

    p = sub.add_parser("log", help="the log lines of one run")
    p.add_argument("run_id", type=row_id, metavar="RUN_ID")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing until the run ends")
    add_json_flag(p)
    p.set_defaults(handler=cmd_log)

    t = sub.add_parser("template", help="saved backup settings that schedules use")
    tsub = t.add_subparsers(dest="template_command", metavar="ACTION", required=True)
    p = tsub.add_parser("add", help="save a template (replaces one of the same name)")
    p.add_argument("name")
    _backup_options(p)
    p.set_defaults(handler=cmd_template_add)
    p = tsub.add_parser("list", help="every template")
    add_json_flag(p)
    p.set_defaults(handler=cmd_template_list)
    p = tsub.add_parser("show", help="one template and the schedules using it")
    p.add_argument("name")
    add_json_flag(p)
    p.set_defaults(handler=cmd_template_show)
    p = tsub.add_parser("delete", help="delete a template no schedule uses")
    p.add_argument("name")
    p.set_defaults(handler=cmd_template_delete)

    p = sub.add_parser("backup", help="back up now: a one-off schedule, fired at once")
    p.add_argument("--level", required=True, choices=("full", "incremental", "differential"))
    p.add_argument("--source", action=AppendEach, required=True, metavar="DIR", help="repeat for more folders")
    p.add_argument("--name", help="the one-off schedule's name (default: 'backup DATE TIME')")
    p.add_argument("--exclude", action=AppendEach, metavar="GLOB", help="skip paths matching GLOB (repeatable)")
    p.add_argument("--include", action=AppendEach, metavar="GLOB", help="only paths matching GLOB (repeatable)")
    p.add_argument("--cartridge-policy", choices=("auto", "loaded"))
    p.add_argument("--verify", action="store_true", help="re-read and check every hash afterwards")
    p.add_argument("--wait", action="store_true", help="stay until it ends, show its log (exit code as "
                   "for schedule run --wait)")
    p.add_argument("--quiet", action="store_true", help="with --wait: do not print the log")
    _add_overrides(p)
    p.set_defaults(handler=cmd_backup)


def _add_overrides(p: argparse.ArgumentParser) -> None:
    """A manual run's one-off yeses: format the last restorable backup, lift the month check."""
    p.add_argument("--force", action="store_true", help="let a full backup format a cartridge holding the last "
                   "restorable backup of a source (refused without it; a blank or superseded one is taken first)")
    p.add_argument("--no-month-check", action="store_true", help="this run only: write on a cartridge of "
                   "another month, which the month check protects (logged as a warning)")


def _when(args: argparse.Namespace) -> tuple[str, str] | None:
    """The kind and rule of the one --when flag given, if any."""
    for kind in WHEN_FLAGS:
        value = getattr(args, f"when_{kind}", None)
        if value is not None:
            return kind, value
    return None


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    given = {
        "level": args.level, "sources": args.source, "excludes": args.exclude, "includes": args.include,
        "cartridge_policy": args.cartridge_policy, "verify": args.verify, "max_full_days": args.max_full_days,
    }
    return {k: v for k, v in given.items() if v is not None}


# -- shaping output ------------------------------------------------------------------
def _iso(dt: Any) -> str | None:
    return None if dt is None else local(dt).isoformat()


def schedule_json(row: ScheduleRow, rule: str, template: str | None = None) -> dict[str, Any]:
    return {
        "id": row.id, "name": row.name, "type": row.type, "rule": rule, "config": row.config,
        "action": row.action, "action_config": row.action_config, "template": template,
        "enabled": row.enabled, "missed_policy": row.missed_policy, "status": row.status,
        "next_run": _iso(row.next_run), "last_run": _iso(row.last_run), "last_success": _iso(row.last_success),
        "last_result": row.last_result,
    }


def run_json(run: RunRow) -> dict[str, Any]:
    return {
        "id": run.id, "schedule": run.schedule_name, "action": run.action, "trigger": run.trigger,
        "status": run.status, "started_at": _iso(run.started_at), "finished_at": _iso(run.finished_at),
        "message": run.message, "backup_run_id": run.backup_run_id, "set_id": run.set_id, "result": run.result,
    }


def _print_warnings(warnings: list[str]) -> None:
    for w in warnings:
        print(f"note: {w}", file=sys.stderr)


def _print_line(line: LogLine) -> None:
    tag = "" if line.level in ("info", "tool") else f"{line.level.upper()}: "
    print(f"{show(line.ts, seconds=True)[11:]}  {tag}{line.line}", flush=True)


# -- commands ------------------------------------------------------------------------
async def cmd_add(args: argparse.Namespace, engine: Any) -> int:
    given = _when(args)
    if given is None:  # the add parser already requires one
        raise UserError(f"give one of {', '.join(flag for flag, _ in WHEN_FLAGS.values())}")
    kind, when = given
    async with route.control(engine) as service:
        saved = await service.add(args.name, kind=kind, when=when, action=args.action,
                                  action_config=_settings(args), template=args.template,
                                  enabled=not args.disabled, missed_policy=args.missed)
    row = saved.schedule
    print(f"added {row.name!r}: {args.action}, {service.describe(row)}; next run {show(row.next_run)}")
    _print_warnings(saved.warnings)
    return 0


async def cmd_edit(args: argparse.Namespace, engine: Any) -> int:
    kind, when = _when(args) or (None, None)
    if args.no_template and args.template:
        raise UserError("give --template or --no-template, not both")
    async with route.control(engine) as service:
        saved = await service.edit(args.name, kind=kind, when=when, action=args.action, settings=_settings(args),
                                   template="" if args.no_template else args.template,
                                   missed_policy=args.missed, rename=args.rename)
    row = saved.schedule
    print(f"changed {row.name!r}: {row.action}, {service.describe(row)}; next run {show(row.next_run)}")
    _print_warnings(saved.warnings)
    return 0


async def cmd_list(args: argparse.Namespace, engine: Any) -> int:
    service = route.reads(engine)
    rows = await service.list()
    names: dict[int | None, str] = {t.id: t.name for t in await service.templates()}
    if args.json:
        print_json([schedule_json(r, service.describe(r), names.get(r.template_id)) for r in rows])
        return 0
    print_table(
        [(r.name, r.action, service.describe(r), "yes" if r.enabled else "no", r.status, show(r.next_run),
          show(r.last_run), r.last_result or "-") for r in rows],
        ["name", "action", "when", "enabled", "status", "next run", "last run", "last result"],
    )
    return 0


async def cmd_show(args: argparse.Namespace, engine: Any) -> int:
    service = route.reads(engine)
    row = await service.get(args.name)
    template = (await service.template_by_id(row.template_id)).name if row.template_id else None
    runs = await service.runs_of(row.name, limit=10)
    if args.json:
        print_json({**schedule_json(row, service.describe(row), template), "runs": [run_json(r) for r in runs]})
        return 0
    facts = [("name", row.name), ("when", service.describe(row)), ("action", row.action),
             ("settings", ", ".join(f"{k}={v}" for k, v in row.action_config.items()) or "-"),
             ("template", template or "-"), ("enabled", "yes" if row.enabled else "no"),
             ("missed firings", row.missed_policy), ("status", row.status), ("next run", show(row.next_run)),
             ("last run", show(row.last_run)), ("last success", show(row.last_success)),
             ("last result", row.last_result or "-")]
    print_table(facts, ["field", "value"])
    print()
    _print_runs(runs)
    return 0


async def cmd_enable(args: argparse.Namespace, engine: Any) -> int:
    async with route.control(engine) as service:
        row = await service.set_enabled(args.name, True)
    print(f"enabled {row.name!r}; next run {show(row.next_run)}")
    return 0


async def cmd_disable(args: argparse.Namespace, engine: Any) -> int:
    async with route.control(engine) as service:
        row = await service.set_enabled(args.name, False)
    print(f"disabled {row.name!r}")
    return 0


async def cmd_delete(args: argparse.Namespace, engine: Any) -> int:
    async with route.control(engine) as service:
        await service.delete(args.name)
    print(f"deleted {args.name!r}")
    return 0


async def cmd_stop(args: argparse.Namespace, engine: Any) -> int:
    async with route.control(engine) as service:
        run = await service.stop(args.name)
    if run is None:
        print(f"{args.name!r} is not running")
        return 0
    if run.status == "running":
        print(f"asked process {run.pid} to stop run #{run.id}; it stops within seconds "
              f"(tapetui log {run.id} --follow)")
    else:
        print(f"run #{run.id}: {run.status} - {run.message}")
    return 0


async def _wait_and_stream(service: Control, run: RunRow, quiet: bool) -> int:
    """Print the run's log while it runs (here or in the daemon). Ctrl-C or SIGTERM
    stops the run as `schedule stop` does, and the wait goes on until its end is
    recorded: a clean stop, `cancelled`, exit 5."""
    with _stop_on_signals(service, run) as stopping:
        return await _stream_until_ended(service, run, quiet, stopping)


async def _stream_until_ended(service: Control, run: RunRow, quiet: bool,
                              stopping: list[asyncio.Task[Any]]) -> int:
    follower = None
    if not quiet:
        async def follow() -> None:
            async for line in service.follow(run.id, poll_s=0.2):
                _print_line(line)
        follower = asyncio.ensure_future(follow())
    try:
        await service.wait(run.id)
        if follower is not None:
            await asyncio.wait_for(follower, 10)
    except asyncio.CancelledError:
        if service.remote:  # closing only detaches from the daemon: ask it to stop the run
            await service.stop(run.schedule_name)
        raise
    finally:
        if follower is not None:
            follower.cancel()
        if stopping:
            await asyncio.gather(*stopping, return_exceptions=True)
        await service.close()
    for task in stopping:
        task.result()  # a stop that failed says why
    done = await service.run(run.id)
    _print_outcome(done)
    return EXIT.get(done.status, 1)


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextlib.contextmanager
def _stop_on_signals(service: Control, run: RunRow) -> Iterator[list[asyncio.Task[Any]]]:
    """While inside, the first Ctrl-C or SIGTERM stops `run` (later ones change nothing:
    the stop is under way); yields the list the stop's task is put in."""
    loop = asyncio.get_running_loop()
    stopping: list[asyncio.Task[Any]] = []

    def stop() -> None:
        if not stopping:
            stopping.append(loop.create_task(service.stop(run.schedule_name), name="stop-on-signal"))

    before = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    try:
        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, stop)
    except (NotImplementedError, RuntimeError):  # not the main thread, or Windows
        pass
    try:
        yield stopping
    finally:
        for signum, handler in before.items():
            if loop.remove_signal_handler(signum) and handler is not None:
                signal.signal(signum, handler)


def _print_outcome(run: RunRow) -> None:
    links = "".join(f", {k} {v}" for k, v in (("backup run", run.backup_run_id), ("set", run.set_id)) if v)
    print(f"run #{run.id} {run.schedule_name!r}: {run.status} - {run.message}{links}")


def _detach(args: argparse.Namespace, name: str) -> None:
    """Fire in a new `tapetui` process that outlives this command."""
    argv = [sys.executable, "-m", "tapetui"]
    if args.home:
        argv += ["--home", args.home]
    argv += ["schedule", "run", name, "--wait", "--quiet"] + (["--force"] if args.force else []) \
        + (["--no-month-check"] if args.no_month_check else [])
    subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True, close_fds=True, env=os.environ.copy())


def _allowed(args: argparse.Namespace) -> str | None:
    """--force: a full backup may format whichever cartridge it picks, last restorable backups too."""
    return ANY_CARTRIDGE if args.force else None


def _started(service: Control, run: RunRow) -> str:
    where = f" in the daemon (pid {service.daemon_pid})" if service.remote else ""
    return f"run #{run.id} of {run.schedule_name!r} started{where}"


async def cmd_run(args: argparse.Namespace, engine: Any) -> int:
    async with route.control(engine) as service:
        if args.wait or service.remote:
            run = await service.run_now(args.name, allow_format=_allowed(args), skip_month_check=args.no_month_check)
            if run.status != "running":  # a check said no
                _print_outcome(run)
                return EXIT.get(run.status, 1)
            if not args.wait:
                print(f"{_started(service, run)} (follow: tapetui log {run.id} --follow)")
                return 0
            if not args.quiet:
                print(f"{_started(service, run)} (Ctrl-C stops it)", flush=True)
            return await _wait_and_stream(service, run, args.quiet)
    service = route.reads(engine)
    row = await service.get(args.name)
    before = await service.latest_run(row.name)
    _detach(args, row.name)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DETACH_WAIT_S
    while loop.time() < deadline:
        latest = await service.latest_run(row.name)
        if latest is not None and (before is None or latest.id > before.id):
            if latest.status == "running":
                print(f"run #{latest.id} started in the background (follow: tapetui log {latest.id} --follow)")
                return 0
            _print_outcome(latest)
            return EXIT.get(latest.status, 1)
        await asyncio.sleep(0.1)
    raise UserError(f"the background run of {row.name!r} did not start within {DETACH_WAIT_S:g}s; "
                    f"try: tapetui schedule run {row.name!r} --wait")


async def cmd_preview(args: argparse.Namespace, engine: Any) -> int:
    preview = await route.reads(engine).preview(args.days)
    items = preview.items
    if args.json:
        print_json({"firings": [{"at": _iso(i.at), "schedule": i.schedule, "action": i.action, "rule": i.rule}
                                for i in items],
                    "truncated": bool(preview.left_out), "left_out": preview.left_out})
        return 0
    print_table([(show(i.at), local(i.at).strftime("%a"), i.schedule, i.action, i.rule) for i in items],
                ["time", "day", "schedule", "action", "rule"])
    for name, more in preview.left_out.items():
        print(f"({name!r}: its first {PREVIEW_CAP} firings shown, {more} more in the window left out)")
    return 0


def _print_runs(runs: list[RunRow]) -> None:
    print_table(
        [(r.id, r.schedule_name, r.trigger, r.status, show(r.started_at, seconds=True),
          show(r.finished_at, seconds=True), r.backup_run_id, r.set_id, r.message[:70]) for r in runs],
        ["id", "schedule", "trigger", "status", "started", "finished", "backup run", "set", "message"],
    )


async def cmd_runs(args: argparse.Namespace, engine: Any) -> int:
    runs = await route.reads(engine).run_list(args.schedule, limit=args.limit)
    if args.json:
        print_json([run_json(r) for r in runs])
    else:
        _print_runs(runs)
    return 0


async def cmd_log(args: argparse.Namespace, engine: Any) -> int:
    service = route.reads(engine)
    run = await service.run(args.run_id)
    lines: list[LogLine] = []
    emit = lines.append if args.json else _print_line  # JSON: one object once the lines are all read
    if args.follow:
        async for line in service.follow(run.id):
            emit(line)
        run = await service.run(run.id)
    else:
        last = 0
        while batch := await service.run_lines(run.id, after=last):
            for line in batch:
                emit(line)
            last = batch[-1].id
    if args.json:
        print_json({"run": run_json(run), "lines": [{"id": ln.id, "at": _iso(ln.ts), "level": ln.level,
                                                     "text": ln.line} for ln in lines]})
    elif run.status == "running":
        print(f"run #{run.id} is still running")
    else:
        _print_outcome(run)
    return 0


async def cmd_template_add(args: argparse.Namespace, engine: Any) -> int:
    saved = await route.reads(engine).save_template(args.name, _settings(args))
    print(f"saved template {saved.template.name!r}")
    _print_warnings(saved.warnings)
    return 0


async def cmd_template_list(args: argparse.Namespace, engine: Any) -> int:
    templates = await route.reads(engine).templates()
    if args.json:
        print_json([{"id": t.id, "name": t.name, "config": t.config, "updated_at": _iso(t.updated_at)}
                    for t in templates])
        return 0
    print_table([(t.name, t.config.get("level", "-"), ", ".join(t.config.get("sources", [])), show(t.updated_at))
                 for t in templates], ["name", "level", "sources", "updated"])
    return 0


async def cmd_template_show(args: argparse.Namespace, engine: Any) -> int:
    service = route.reads(engine)
    t = await service.template(args.name)
    users = [s.name for s in await service.list() if s.template_id == t.id]
    if args.json:
        print_json({"id": t.id, "name": t.name, "config": t.config, "schedules": users,
                    "updated_at": _iso(t.updated_at)})
        return 0
    rows = [(k, ", ".join(v) if isinstance(v, list) else v) for k, v in t.config.items()]
    print_table(rows + [("used by", ", ".join(users) or "-")], ["setting", "value"])
    return 0


async def cmd_template_delete(args: argparse.Namespace, engine: Any) -> int:
    await route.reads(engine).delete_template(args.name)
    print(f"deleted template {args.name!r}")
    return 0


async def cmd_backup(args: argparse.Namespace, engine: Any) -> int:
    if not args.wait:
        # The firing must outlive this command: record the schedule, fire it detached (or in the daemon).
        async with route.control(engine) as service:
            saved = await service.add_once_backup(
                level=args.level, sources=args.source, name=args.name, excludes=args.exclude,
                includes=args.include, cartridge_policy=args.cartridge_policy, verify=args.verify or None)
        args.name = saved.name
        return await cmd_run(argparse.Namespace(**{**vars(args), "wait": False}), engine)
    async with route.control(engine) as service:
        run = await service.backup_now(level=args.level, sources=args.source, name=args.name,
                                       excludes=args.exclude, includes=args.include,
                                       cartridge_policy=args.cartridge_policy, verify=args.verify or None,
                                       allow_format=_allowed(args), skip_month_check=args.no_month_check)
        if run.status != "running":
            _print_outcome(run)
            return EXIT.get(run.status, 1)
        if not args.quiet:
            print(f"{_started(service, run)} (Ctrl-C stops it)", flush=True)
        code = await _wait_and_stream(service, run, args.quiet)
    result = (await service.run(run.id)).result
    if not args.quiet and "files" in result:
        print(f"  {result['files']} files, {human_bytes(result.get('bytes'))}")
    return code
