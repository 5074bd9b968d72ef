"""The month check: a run writes on this month's cartridge only, so last month's
archive is never overwritten (seed 计划任务执行细节文档, 2.3)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from ..errors import UserError
from ..tape.base import LabelInfo, NoCartridge, TapeError
from ..tape.labels import label_month
from ..timeutil import show
from .base import ModuleLog, OpLog, TapeOpFailed

if TYPE_CHECKING:
    from .ops import TapeOps


class MonthCheckFailed(UserError):
    """The loaded cartridge is not this month's: a run must not write on it."""


def ym(now: datetime) -> str:
    return (now if now.tzinfo is None else now.astimezone()).strftime("%Y-%m")


def label_name(info: LabelInfo) -> str:
    return info.label or info.serial or info.barcode or "(unlabelled)"


def month_refusal(name: str, label: LabelInfo | str | None, now: datetime,
                  formatted_at: datetime | None = None) -> str | None:
    """Why the month check protects a formatted cartridge ("TP20261001 is last month's
    (2026-10); the month check protects it"), None when it is this month's."""
    month = label_month(label, formatted_at)
    t = now if now.tzinfo is None else now.astimezone()
    if month == (t.year, t.month):
        return None
    if month is None:
        return f"{name} has no month (its label is not TP{{YYYY}}{{MM}}… and its format date is unknown); " \
            "the month check protects it"
    shown = f"{month[0]:04d}-{month[1]:02d}"
    last = (t.year, t.month - 1) if t.month > 1 else (t.year - 1, 12)
    whose = f"last month's ({shown})" if month == last else f"from {shown}"
    return f"{name} is {whose}; the month check protects it"


async def month_check(
    ops: TapeOps, now: datetime, *, override: bool = False, log: OpLog | None = None
) -> LabelInfo | None:
    """Refuse a cartridge from another month; returns the label it checked.

    A blank cartridge passes (it holds nothing to protect). `override` lets an
    operator run anyway; that is logged as a warning, never silent."""
    log = log or ModuleLog()
    if not ops.engine.config.tape.month_check:
        log.info("month check is disabled (tape.month_check = false)")
        return None
    try:
        info = await ops.driver.read_label()
    except NoCartridge as e:
        raise UserError(f"no cartridge in the drive; load this month's tape ({ym(now)})") from e
    except TapeError as e:
        raise TapeOpFailed(f"cannot read the tape label: {e}") from e
    if info is None:
        log.info("month check: the cartridge is blank, nothing to protect")
        return None
    if info.formatted_at is not None and label_month(info.label) is None:
        log.info(f"month check: label {info.label or '(none)'} is not TP{{YYYY}}{{MM}}…, so its month "
                 f"({ym(info.formatted_at)}) came from its format date ({show(info.formatted_at)})")
    why = month_refusal(label_name(info), info, now)
    if why is None:
        log.info(f"month check: tape {label_name(info)} is this month's ({ym(now)})")
        return info
    if override:
        log.warning(f"month check lifted for this run by the operator (--no-month-check): {why}")
        return info
    raise MonthCheckFailed(f"{why}. This month is {ym(now)}: change the tape, "
                           "or run it by hand with --no-month-check")
