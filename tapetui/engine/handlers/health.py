"""The `health_check` action: drive, the loaded cartridge's medium, catalog integrity,
free space, tools.

Each check gives ok / warning / failed with a line of detail; the run's status
is the worst of them, and the structured result lists them all. The medium check
reports the TapeAlert flags set on the loaded cartridge (any flag is a warning, a
critical one fails) and the error counters the driver can read.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from typing import TYPE_CHECKING, Any

from ..errors import UserError
from ..notify import human_size
from ..tape import medium_health as mh
from ..tape.base import DriveStatus
from .base import Action, Firing, Outcome

if TYPE_CHECKING:
    from ..core import Engine

KEYS = {"full_integrity", "min_free_bytes"}
DEFAULT_MIN_FREE = 1 << 30
#: Tools each driver runs, by their key in the driver's config section.
TOOLS: dict[str, tuple[str, ...]] = {
    "ltfs": ("mkltfs", "ltfs", "ltfsck", "mt", "sg_read_attr", "umount"),
}
STATUS_TIMEOUT_S = 120.0
_RANK = {"ok": 0, "warning": 1, "failed": 2}


async def check(engine: Engine, config: dict[str, Any], template: dict[str, Any] | None = None) -> dict[str, Any]:
    bad = set(config) - KEYS
    if bad:
        raise UserError(f"health_check: unknown setting(s) {', '.join(sorted(bad))}; "
                        f"allowed: {', '.join(sorted(KEYS))}")
    if not isinstance(config.get("full_integrity", False), bool):
        raise UserError("health_check: full_integrity must be true or false")
    free = config.get("min_free_bytes", DEFAULT_MIN_FREE)
    if isinstance(free, bool) or not isinstance(free, int) or free < 0:
        raise UserError(f"health_check: min_free_bytes must be a whole number of bytes, got {free!r}")
    return dict(config)


Check = tuple[str, str, dict[str, Any]]


async def _status(engine: Engine) -> DriveStatus | str:
    """The drive's status, or why it could not be read."""
    try:
        return await asyncio.wait_for(engine.driver.status(), STATUS_TIMEOUT_S)
    except TimeoutError:
        return f"the drive did not answer within {STATUS_TIMEOUT_S:g}s"
    except Exception as e:  # any driver error is a finding, not a crash of the check
        return f"drive status failed: {e}"


def _drive(engine: Engine, st: DriveStatus | str) -> Check:
    if isinstance(st, str):
        return "failed", st, {}
    info = dataclasses.asdict(st)
    if not st.drive_present:
        return "failed", "no drive found", info
    if not st.loaded:  # normal for a library between runs; worth a look for a lone drive
        return ("ok" if engine.driver.has_changer else "warning"), "the drive is empty", info
    return "ok", f"{st.loaded} loaded (label {st.label or 'none'})", info


def _medium(engine: Engine, st: DriveStatus | str) -> Check:
    """TapeAlert flags set on the loaded cartridge, by name, and its error counters."""
    if isinstance(st, str) or not st.loaded:
        return "ok", "no cartridge in the drive", {}
    flags, counters = mh.tapealert_set(st.health), mh.counters(st.health)
    critical = [name for name, severity in flags if severity == mh.CRITICAL]
    info = {"cartridge": st.loaded, "tapealert": [name for name, _ in flags], "critical": critical,
            "counters": counters}
    driver = engine.driver.name
    text = (f"{st.loaded}: TapeAlert {mh.flags_text(flags)}" if mh.TAPEALERT in st.health
            else f"{st.loaded}: the {driver} driver cannot read its TapeAlert flags")
    text += "; " + (", ".join(f"{key} {n}" for key, n in counters.items()) if counters
                    else f"no error counters readable by the {driver} driver")
    return ("failed" if critical else "warning" if flags else "ok"), text, info


async def _database(engine: Engine, full: bool) -> tuple[str, str, dict[str, Any]]:
    pragma = "integrity_check" if full else "quick_check"
    rows = [r[0] for r in await engine.store.fetchall(f"PRAGMA {pragma}")]
    if rows == ["ok"]:
        return "ok", f"{pragma}: ok", {"pragma": pragma}
    return "failed", f"{pragma}: {rows[0]}" + (f" (+{len(rows) - 1} more)" if len(rows) > 1 else ""), \
        {"pragma": pragma, "problems": rows[:50]}


def _space(engine: Engine, minimum: int) -> tuple[str, str, dict[str, Any]]:
    usage = shutil.disk_usage(engine.home.data_dir)
    info = {"path": str(engine.home.data_dir), "free_bytes": usage.free, "total_bytes": usage.total}
    text = f"{human_size(usage.free)} free of {human_size(usage.total)} at {engine.home.data_dir}"
    return ("warning" if usage.free < minimum else "ok"), text, info


def _tools(engine: Engine) -> tuple[str, str, dict[str, Any]]:
    kind = engine.config.tape.driver
    section = getattr(engine.config, kind.replace("-", "_"))  # every driver has its section
    if kind in TOOLS:
        keys = TOOLS[kind]
    elif kind == "sim":
        keys = ()
    else:  # drivers not listed: every configured value naming an .exe
        keys = tuple(f.name for f in dataclasses.fields(section) if str(getattr(section, f.name)).endswith(".exe"))
    if kind == "ltfs" and getattr(section, "changer", ""):
        keys = (*keys, "mtx")
    found = {k: shutil.which(str(getattr(section, k))) for k in keys}
    missing = [str(getattr(section, k)) for k, path in found.items() if path is None]
    if not keys:
        return "ok", f"the {kind} driver needs no external tools", {"driver": kind}
    if missing:
        return "warning", f"missing: {', '.join(missing)}", {"driver": kind, "found": found}
    return "ok", f"all {len(keys)} tools found", {"driver": kind, "found": found}


async def run(engine: Engine, firing: Firing) -> Outcome:
    cfg = firing.schedule.action_config
    status = await _status(engine)
    checks = {
        "drive": _drive(engine, status),
        "medium": _medium(engine, status),
        "database": await _database(engine, cfg.get("full_integrity", False)),
        "free_space": _space(engine, cfg.get("min_free_bytes", DEFAULT_MIN_FREE)),
        "tools": _tools(engine),
    }
    for name, (state, text, _) in checks.items():
        line = f"{name}: {state} - {text}"
        {"ok": firing.log.info, "warning": firing.log.warning, "failed": firing.log.error}[state](line)
    worst = max((c[0] for c in checks.values()), key=_RANK.__getitem__)
    problems = [f"{n}: {c[1]}" for n, c in checks.items() if c[0] != "ok"]
    result = {n: {"state": s, "detail": t, **info} for n, (s, t, info) in checks.items()}
    status = {"ok": "success", "warning": "warning", "failed": "failed"}[worst]
    return Outcome(status, "; ".join(problems) or "all checks passed", result)


ACTION = Action("health_check", run, check, "drive, cartridge health, catalog integrity, free space and tools")
