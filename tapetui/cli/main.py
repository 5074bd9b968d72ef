"""Argument parsing, engine set-up and the one place errors become exit codes.

Each command module registers its subcommands with `register(subparsers)` and
sets `handler=async fn(args, engine) -> int` (or `plain=fn(args) -> int` for
commands that need no engine). A `UserError` prints one line to stderr and exits
1; anything unexpected prints one line too, unless `--debug` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import traceback
from typing import TYPE_CHECKING, NoReturn, Sequence

from .. import __version__
from ..engine.control import Home
from ..engine.errors import UserError
from . import commands_catalog, commands_config, commands_daemon, commands_schedule, commands_tape
from .argtypes import fold_repeated

if TYPE_CHECKING:
    from ..engine.control import Engine

#: Command modules, in the order their subcommands appear in --help.
MODULES = [commands_config, commands_tape, commands_schedule, commands_catalog, commands_daemon]


#: Arguments that are file paths or path globs: they may hold any bytes a file name
#: may (as Python's surrogateescape). Every other text argument must be UTF-8.
PATH_ARGS = frozenset({"home", "source", "exclude", "include", "to", "paths", "path", "pattern", "find",
                       "from_json"})


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # usage errors: one line + exit 2
        self.exit(2, f"{self.prog}: error: {message}\n(try: {self.prog} --help)\n")

    def _get_values(self, action: argparse.Action, arg_strings: list[str]) -> object:
        """Two argparse gaps, closed where every value passes: `--opt=--` gave the
        option a list (argparse drops a `--` value), and text that is not UTF-8
        reached SQLite as an internal error."""
        if action.nargs not in (argparse.PARSER, argparse.REMAINDER) and action.dest not in PATH_ARGS:
            for text in arg_strings:
                if not _is_utf8(text):
                    shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                    raise argparse.ArgumentError(action, f"'{shown}' is not UTF-8 text")
        if arg_strings == ["--"] and action.option_strings and action.nargs is None:
            value = self._get_value(action, "--")
            self._check_value(action, value)
            return value
        return super()._get_values(action, arg_strings)


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="tapetui", description="Keyboard-first console for LTFS tape backups.")
    parser.add_argument("--version", action="version", version=f"tapetui {__version__}")
    parser.add_argument("--home", metavar="DIR", help="keep config, catalog, cartridges and logs under DIR "
                        "(also TAPETUI_HOME)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and log at debug level")
    parser.add_argument("--demo", action="store_true",
                        help="open the console on a throwaway home with sample data")
    parser.add_argument("--keep-demo", action="store_true",
                        help="with --demo: keep the demo home on exit (its path is printed)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for module in MODULES:
        module.register(sub)
    return parser


async def _run_with_engine(args: argparse.Namespace, home: Home) -> int:
    from ..engine.control import Engine

    engine = await Engine.open(home, debug=args.debug)
    try:
        await _recover(engine)
        return await args.handler(args, engine)
    finally:
        await engine.close()


async def _recover(engine: Engine) -> None:
    """What a killed process left running (a `backup --wait` killed with no daemon or
    console to notice) is closed before any command reads or changes it, as a daemon
    or console does when it starts; a failure here never stops the command."""
    from . import route

    try:
        done = await route.reads(engine).recover()
    except Exception as e:  # noqa: BLE001 - e.g. a read-only catalog: the command may still work
        done = [f"could not check for runs left unfinished by ended processes: {e}"]
    for line in done:
        print(f"tapetui: {line}", file=sys.stderr)


def dispatch(args: argparse.Namespace) -> int:
    home = Home.resolve(args.home)
    for warning in home.open_to_others():
        print(f"tapetui: warning: {warning}", file=sys.stderr)
    if args.command is None:
        from ..console.launch import launch

        return launch(home, demo=args.demo, debug=args.debug, keep_demo=args.keep_demo)
    if hasattr(args, "plain"):
        return args.plain(args, home)
    return asyncio.run(_run_with_engine(args, home))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(fold_repeated(list(sys.argv[1:] if argv is None else argv)))
    # Whatever tapetui creates (catalog, logs, sim cartridges holding copies of
    # every backed-up file) is the user's alone; restore sets recorded modes itself.
    umask = os.umask(0o077)
    try:
        return dispatch(args)
    except UserError as e:
        print(f"tapetui: error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `tapetui runs | head`: the reader left; nothing to report
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("tapetui: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the one place that turns surprises into a line
        if args.debug:
            traceback.print_exc()
        else:
            print(f"tapetui: internal error: {type(e).__name__}: {e} (run with --debug for details)",
                  file=sys.stderr)
        return 1
    finally:
        os.umask(umask)


if __name__ == "__main__":
    sys.exit(main())
