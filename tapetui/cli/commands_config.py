"""`tapetui paths` and `tapetui config ...`: where state lives and what is set."""

from __future__ import annotations

import argparse
import dataclasses

from ..engine import config as config_mod
from ..engine.control import Home
from .output import add_json_flag, print_json, print_table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("paths", help="where the config, catalog, cartridges and logs are")
    add_json_flag(p)
    p.set_defaults(plain=cmd_paths)

    c = sub.add_parser("config", help="show or check the configuration")
    csub = c.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    d = csub.add_parser("defaults", help="print the documented default config file")
    d.set_defaults(plain=cmd_defaults)
    k = csub.add_parser("check", help="validate the config file and print the values in force")
    add_json_flag(k)
    k.set_defaults(plain=cmd_check)


def cmd_paths(args: argparse.Namespace, home: Home) -> int:
    paths = home.as_dict()
    if args.json:
        print_json(paths)
    else:
        print_table(paths.items(), ["what", "path"])
    return 0


def cmd_defaults(args: argparse.Namespace, home: Home) -> int:
    print(config_mod.render_defaults())
    return 0


def cmd_check(args: argparse.Namespace, home: Home) -> int:
    cfg = config_mod.load(home.config_file)
    values = {}
    for name in config_mod.SECTIONS:
        section = dataclasses.asdict(getattr(cfg, name))
        for key in section:
            if (name, key) in config_mod.SECRET_KEYS and section[key]:
                section[key] = "<hidden>"
        values[name] = section
    exists = home.config_file.exists()
    if args.json:
        print_json({"file": str(home.config_file), "exists": exists, "values": values})
    else:
        print(f"{home.config_file}: OK" if exists else
              f"{home.config_file}: no such file; the defaults below are in force (it is written on first use)")
        rows = [(f"{n}.{k}", v) for n, sec in values.items() for k, v in sec.items()]
        print_table(rows, ["key", "value"])
    return 0
