"""The `backup` action (seed 计划任务执行细节 §2.3-6).

Order: parameters (from the schedule's template at run time, then the
schedule's own settings) -> the drive (waiting while another backup, restore or
verify uses it) -> max-full-interval upgrade -> a usable cartridge in
the drive -> month check -> format once if the level is full (never a cartridge
holding a source's last restorable state unless the operator's yes names it:
the run fails naming the cartridges it could use instead; a scheduled run
labels the tape TP{YYYY}{MM}01, a manual run keeps the label; a failed format
is a warning and the backup goes on) -> the backup engine, which records the
backup run and writes the set -> a result with the backup run, set and
cartridges -> a success or failure notification.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..drive.lock import using_drive
from ..errors import UserError
from ..notify import Notification
from ..timeutil import show
from .base import Action, Firing, Outcome

if TYPE_CHECKING:
    from ..core import Engine
    from ..store.models import ScheduleRow

LEVELS = ("full", "incremental", "differential")
POLICIES = ("auto", "loaded")
#: The longest max-full interval (a century); larger values overflow date arithmetic at run time.
MAX_FULL_DAYS_LIMIT = 36500
KEYS = {"sources", "level", "excludes", "includes", "cartridge_policy", "verify", "max_full_days", "name"}
ADVICE = ("for tape, a monthly full and a weekly differential is advised: an incremental chain "
          "needs every cartridge since the last differential to restore")


def _strings(key: str, value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise UserError(f"backup: {key} must be a list of non-empty texts")
    return list(value)


async def check(engine: Engine, config: dict[str, Any], template: dict[str, Any] | None = None) -> dict[str, Any]:
    """Normalise a schedule's (or template's) backup settings; the merge with
    the template must name the sources and the level."""
    bad = set(config) - KEYS
    if bad:
        raise UserError(f"backup: unknown setting(s) {', '.join(sorted(bad))}; allowed: {', '.join(sorted(KEYS))}")
    out = dict(config)
    if "sources" in out:
        sources = [os.path.abspath(os.path.expanduser(s)) for s in _strings("sources", out["sources"])]
        if not sources:
            raise UserError("backup: give at least one source folder")
        for s in sources:
            if not os.path.isdir(s):
                raise UserError(f"backup: source folder {s} does not exist" if not os.path.exists(s)
                                else f"backup: source {s} is not a folder")
        out["sources"] = list(dict.fromkeys(sources))
    for key in ("excludes", "includes"):
        if key in out:
            out[key] = _strings(key, out[key])
    if "level" in out and out["level"] not in LEVELS:
        raise UserError(f"backup: level {out['level']!r} is not one of {', '.join(LEVELS)}")
    if "cartridge_policy" in out and out["cartridge_policy"] not in POLICIES:
        raise UserError(f"backup: cartridge policy {out['cartridge_policy']!r} is not one of {', '.join(POLICIES)}")
    if "verify" in out and not isinstance(out["verify"], bool):
        raise UserError("backup: verify must be true or false")
    days = out.get("max_full_days")
    if days is not None and (isinstance(days, bool) or not isinstance(days, int)
                             or not 0 <= days <= MAX_FULL_DAYS_LIMIT):
        raise UserError(f"backup: max_full_days must be a whole number of days from 0 (no limit) "
                        f"to {MAX_FULL_DAYS_LIMIT}, got {days!r}")
    if "name" in out and not isinstance(out["name"], str):
        raise UserError("backup: name must be a text")
    merged = {**(template or {}), **out}
    if not merged.get("sources"):
        raise UserError("backup: give the source folder(s) to back up (--source DIR), or a template that has them")
    if not merged.get("level"):
        raise UserError(f"backup: choose a level ({', '.join(LEVELS)})")
    return out


async def schedule_parameters(engine: Engine, schedule: ScheduleRow) -> tuple[dict[str, Any], str | None]:
    """The template's parameters as they are now, overridden by the schedule's own;
    and the template's name (None without one)."""
    params: dict[str, Any] = {}
    template_name = None
    if schedule.template_id is not None:
        template = await engine.templates.get(schedule.template_id)
        params.update(template.config)
        template_name = template.name
    params.update(schedule.action_config)
    return params, template_name


async def parameters(engine: Engine, firing: Firing) -> dict[str, Any]:
    params, template_name = await schedule_parameters(engine, firing.schedule)
    if template_name is not None:
        firing.log.info(f"parameters from template {template_name!r}")
    return params


async def last_full(engine: Engine, key: str) -> datetime | None:
    """When the newest complete full backup of this source key started."""
    return max((s.started_at for s in await engine.sets.all(source_key=key) if s.level == "full" and s.complete),
               default=None)


async def decide_level(engine: Engine, params: dict[str, Any], now: datetime) -> tuple[str, str]:
    """The level a run with `params` takes at `now`, and why when it is not the one
    asked for ("" otherwise): the max-full-interval upgrade, then the engine's own
    rule (no usable base -> full). Decided before the format: a full formats."""
    from ..backup.levels import normalize_sources, plan_level, source_key

    requested = params["level"]
    key = source_key(normalize_sources(params["sources"]), params.get("includes", []), params.get("excludes", []))
    max_days = params.get("max_full_days") or 0
    if requested != "full" and max_days:
        last = await last_full(engine, key)
        if last is not None and now - last > timedelta(days=max_days):
            return "full", (f"{requested} upgraded to full: the last full backup ({show(last)}) is older than "
                            f"the limit of {max_days} days")
    plan = await plan_level(engine, key, requested)
    return plan.level, plan.note if plan.level != requested else ""


async def choose_level(engine: Engine, firing: Firing, params: dict[str, Any]) -> str:
    level, why = await decide_level(engine, params, firing.now)
    if why:
        firing.log.info(why)
    return level


async def run(engine: Engine, firing: Firing) -> Outcome:
    """Wait for the drive (another backup, restore or verify may hold it), then back up."""
    params = await parameters(engine, firing)
    log = firing.log
    async with using_drive(engine.home.drive_lock_path, f"run #{firing.run_id} {firing.schedule.name!r} (backup)",
                           lambda who: log.info(f"waiting for the drive: {who} is using it")):
        return await _backup(engine, firing, params)


async def _backup(engine: Engine, firing: Firing, params: dict[str, Any]) -> Outcome:
    """The run once it has the drive: level (decided now: a backup it waited for
    may have made the base), cartridge, month check, format, backup."""
    from ..backup.engine import BackupRequest, run_backup
    from ..drive import LastStateAtRisk, MonthCheckFailed, TapeOps

    log, name = firing.log, firing.schedule.name
    sources, requested = params["sources"], params["level"]
    level = await choose_level(engine, firing, params)
    policy = params.get("cartridge_policy", "auto")
    log.info(f"{level} backup of {', '.join(sources)} (cartridge policy {policy})")
    ops = TapeOps(engine)
    try:
        cartridge = await ops.ensure_loaded(policy, log, for_level=level, allow=firing.allow_format)
        await ops.month_check(firing.now, override=firing.skip_month_check and not firing.automatic, log=log)
        allowed = await ops.refuse_format(cartridge, firing.allow_format) if level == "full" else []
    except MonthCheckFailed as e:
        return _refused(firing, level, "month", str(e), "change the tape")
    except LastStateAtRisk as e:
        return _refused(firing, level, "last_state", str(e), "insert a blank cartridge")

    warnings: list[str] = []
    formatted: dict[str, Any] | None = None
    if level == "full":  # once per run, here; the backup engine never formats
        if allowed:
            log.warning(f"formatting {cartridge.barcode} destroys {', '.join(x.text() for x in allowed)}: "
                        "the operator allowed it")
        fmt = await ops.format_flow(scheduled=firing.automatic, now=firing.now, log=log, in_run=True)
        warnings += fmt.warnings
        formatted = {"ok": fmt.ok, "old_label": fmt.old_label, "new_label": fmt.new_label,
                     "overwritten_sets": fmt.overwritten_sets}
        if fmt.overwritten_sets:  # superseded or incomplete ones, or what the operator allowed
            lost = ", ".join(f"#{i}" for i in fmt.overwritten_sets)
            warnings.append(f"the format before this full backup destroyed {len(fmt.overwritten_sets)} "
                            f"catalogued backup set(s) on the cartridge: {lost}")
            log.warning(warnings[-1])
        if not fmt.ok:
            log.warning("the format before the full backup failed; the backup goes on")

    request = BackupRequest(
        sources=sources, level=level, excludes=params.get("excludes", []), includes=params.get("includes", []),
        name=params.get("name") or name, verify=params.get("verify"),
        cartridge_policy=policy, schedule_run_id=firing.run_id,
    )
    result = await run_backup(engine, request, log)  # it links this run to its backup run and set

    status = result.status if result.status in ("success", "warning", "failed") else "failed"
    if status == "success" and warnings:
        status = "warning"
    summary = {
        "backup_run_id": result.backup_run_id, "set_id": result.set_id, "level": result.level,
        "requested_level": requested, "files": result.files, "bytes": result.bytes,
        "warnings": result.warnings, "cartridges": list(result.cartridges), "duration_s": result.duration_s,
        "format": formatted, "format_warnings": warnings,
    }
    cartridges = ", ".join(result.cartridges) or None
    if status == "failed":
        message = result.message or "the backup failed"
        note = Notification("failure", f"Backup {name} failed", message, schedule=name, error=message,
                            cartridge=cartridges, duration_s=result.duration_s)
    else:
        message = result.message or f"{result.level} backup: {result.files} files"
        if warnings:  # the format's: the run's one line must say what it destroyed
            message = f"{message}; {'; '.join(warnings)}"
        note = Notification("success", f"Backup {name} succeeded", message, schedule=name,
                            size_bytes=result.bytes, files=result.files, duration_s=result.duration_s,
                            cartridge=cartridges)
    return Outcome(status, message, summary, backup_run_id=result.backup_run_id, set_id=result.set_id,
                   notification=note)


def _refused(firing: Firing, level: str, check: str, message: str, action: str) -> Outcome:
    """A run the drive policy refused before anything was written: failed, and notified."""
    firing.log.error(message)
    name = firing.schedule.name
    return Outcome("failed", message, {"check": check, "level": level}, notification=Notification(
        "failure", f"Backup {name} failed", message, schedule=name, error=message, action=action))


ACTION = Action("backup", run, check, "back up folders to tape")
