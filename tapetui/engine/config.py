"""The TOML config file: documented defaults, strict validation.

Each section is a dataclass whose fields are the allowed keys and whose defaults
are the documented defaults (`tapetui config defaults` prints them). An unknown
section or key, or a value of the wrong type, is a `ConfigError` that names the
file, the key and what is allowed -- never a traceback.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import re
import stat
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import ConfigError


@dataclass
class TapeConfig:
    #: Which driver talks to the drive: the simulated library, the Linux LTFS
    #: tools, or the Windows LtfsCmd tools.
    driver: Literal["sim", "ltfs", "ltfs-windows"] = "sim"
    #: Refuse every backup onto tape, scheduled or manual, when the cartridge is not
    #: this month's (the month of its TP{YYYY}{MM} label, else of its format date); a
    #: blank one passes. A manual run may lift it once (--no-month-check).
    month_check: bool = True
    #: How long a run waits for an operator to insert a cartridge (a standalone
    #: drive) before it fails naming the cartridge it waited for.
    operator_wait_s: float = 3600.0


@dataclass
class BackupConfig:
    #: Per-file hash recorded in the catalog and on the tape.
    hash: Literal["sha256", "blake2b"] = "sha256"
    #: Threads that read and hash large files (over 256 KiB) ahead of the single tape writer.
    readers: int = 4
    #: Catalog rows written per transaction.
    batch_rows: int = 5000
    #: Re-read and check every hash right after a backup.
    verify_after: bool = False


@dataclass
class SchedulerConfig:
    #: What to do with firings missed while nothing was running:
    #: run once when we start again, or skip them (logged either way).
    missed_policy: Literal["run_once", "skip"] = "run_once"


@dataclass
class RetentionConfig:
    #: The cleanup action prunes run logs and their lines older than this.
    run_log_days: int = 180
    #: Backup sets older than this are expired from the catalog (0 = never).
    set_days: int = 0


@dataclass
class DaemonConfig:
    #: On SIGTERM, a running backup is cancelled cleanly or allowed to finish.
    on_sigterm: Literal["cancel", "finish"] = "cancel"


#: section name -> the dataclass that holds it ("module:Class" for sections
#: defined next to the code they configure).
SECTIONS: dict[str, type | str] = {
    "tape": TapeConfig,
    "sim": "tapetui.engine.tape.sim:SimConfig",
    "ltfs": "tapetui.engine.tape.ltfs:LtfsConfig",
    "ltfs_windows": "tapetui.engine.tape.ltfs_windows:LtfsWindowsConfig",
    "backup": BackupConfig,
    "scheduler": SchedulerConfig,
    "retention": RetentionConfig,
    "daemon": DaemonConfig,
    "notify": "tapetui.engine.notify:NotifyConfig",
}

#: Keys whose values are secrets: never logged, and the file holding them must
#: not be readable by others.
SECRET_KEYS = {("notify", "dingtalk_secret"), ("notify", "dingtalk_webhook"), ("notify", "webhook_url")}


def section_class(name: str) -> type:
    target = SECTIONS[name]
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        target = getattr(importlib.import_module(module), attr)
    return target


@dataclass
class Config:
    sections: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def __getattr__(self, name: str) -> Any:
        sections = self.__dict__.get("sections", {})
        if name in sections:
            return sections[name]
        if name in SECTIONS:
            sections[name] = section_class(name)()
            return sections[name]
        raise AttributeError(name)

    @classmethod
    def defaults(cls) -> Config:
        return cls({name: section_class(name)() for name in SECTIONS})


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)(i?)B?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """'64MiB' -> 67108864, '1.5TB' -> 1500000000000, '4096' -> 4096."""
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a size (examples: 4096, 64MiB, 1.5TB)")
    number, unit, binary = m.groups()
    power = "KMGTP".find(unit.upper()) + 1 if unit else 0
    base = 1024 if binary else 1000
    return int(float(number) * base**power)


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is list:
        return f"a list of {_describe(typing.get_args(tp)[0])}"
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}.get(
        tp, str(tp)
    )


def _coerce(key: str, tp: Any, value: Any) -> Any:
    """Check `value` against the field type; sizes may be given as text."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        if value in typing.get_args(tp):
            return value
        raise ValueError
    if origin in (types.UnionType, typing.Union):
        for arm in typing.get_args(tp):
            try:
                return _coerce(key, arm, value)
            except ValueError:
                continue
        raise ValueError
    if origin is list:
        (inner,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ValueError
        return [_coerce(key, inner, v) for v in value]
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ValueError
    if tp is int:
        if isinstance(value, str) and key.endswith("_bytes"):
            return parse_size(value)
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 0:
                raise ValueError
            return value
        raise ValueError
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if value < 0:
                raise ValueError
            return float(value)
        raise ValueError
    if tp is str:
        if isinstance(value, str):
            return value
        raise ValueError
    if tp is type(None):
        if value is None:
            return None
        raise ValueError
    raise ValueError


def _build_section(path: Path, name: str, raw: Any) -> Any:
    cls = section_class(name)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: [{name}] must be a table of keys")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    values = {}
    for key, value in raw.items():
        if key not in fields:
            raise ConfigError(
                f"{path}: unknown key {key!r} in [{name}]; allowed: {', '.join(sorted(fields))}"
            )
        try:
            values[key] = _coerce(key, hints[key], value)
        except ValueError:
            suffix = " (or a size such as '64MiB')" if key.endswith("_bytes") else ""
            shown = "<hidden>" if (name, key) in SECRET_KEYS else repr(value)
            raise ConfigError(
                f"{path}: bad value {shown} for {name}.{key}; allowed: "
                f"{_describe(hints[key])}{suffix}"
                + (" (not negative)" if hints[key] in (int, float) else "")
            ) from None
    try:
        return cls(**values)
    except ValueError as e:  # a section's own cross-field checks
        raise ConfigError(f"{path}: [{name}]: {e}") from None


def _check_secret_permissions(path: Path, raw: dict[str, Any]) -> None:
    has_secret = any(raw.get(sec, {}).get(key) for sec, key in SECRET_KEYS if isinstance(raw.get(sec), dict))
    if not has_secret:
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"{path}: holds webhook secrets but is readable by others (mode {mode:o}); "
            f"run: chmod 600 {path}"
        )


def load(path: Path) -> Config:
    """Read and validate the config; a missing file means all defaults."""
    if not path.exists():
        return Config.defaults()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    _check_secret_permissions(path, raw)
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise ConfigError(
            f"{path}: unknown section [{unknown[0]}]; allowed: {', '.join(sorted(SECTIONS))}"
        )
    cfg = Config.defaults()
    cfg.path = path
    for name, section in raw.items():
        cfg.sections[name] = _build_section(path, name, section)
    return cfg


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if value is None:
        return '""'
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


_FIELD = re.compile(r"^\s+(\w+)\s*:[^=]*=(?P<rest>.*)$")


def field_docs(cls: type) -> dict[str, str]:
    """Each field's comment in the source: `#:` lines above it, or a trailing `# ...`.

    The comments next to the defaults are the documentation; this keeps the
    generated config file and `docs/config.md` in step with them."""
    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):
        return {}
    docs: dict[str, str] = {}
    pending: list[str] = []
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
            continue
        m = _FIELD.match(line)
        if m and not stripped.startswith(("def ", "return", "@")):
            trailing = m.group("rest").split("  # ", 1)
            text = " ".join(pending) or (trailing[1].strip() if len(trailing) == 2 else "")
            if text:
                docs[m.group(1)] = text
        pending = []
    return docs


def render_defaults() -> str:
    """The documented default config, all comments: section headers too, so that an
    operator who appends `[retention]` with a key below it, or uncomments one
    section, never declares a table twice (invalid TOML)."""
    out = ["# tapetui configuration. Every key is optional; shown are the defaults.",
           "# To change one, uncomment its [section] line and the key (or add them at the end).", ""]
    for name in SECTIONS:
        cls = section_class(name)
        docs = field_docs(cls)
        out.append(f"# [{name}]")
        for f in dataclasses.fields(cls):
            default = f.default_factory() if callable(f.default_factory) else f.default
            if f.name in docs:
                out.append(f"# {docs[f.name]}")
            out.append(f"# {f.name} = {_toml_value(default)}")
        out.append("")
    return "\n".join(out)


def write_initial(path: Path) -> None:
    """Create the config file (mode 0600: it may come to hold secrets)."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(render_defaults())
