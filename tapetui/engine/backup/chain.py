"""Which sets a restore needs: pure rules over set records, no database.

Every set records the set it was compared against (`base_set_id`): an
incremental's base is the previous backup of any level, a differential's the
last full. Following those links from a set back to its full gives the chain
DESIGN.md names -- the full, the newest differential after it, every incremental
after that -- and it stays exact when sets in between are incomplete or gone:
a missing link is reported instead of silently restoring the wrong state.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable, Mapping, Protocol, TypeVar

from ..errors import UserError
from ..timeutil import show

LEVELS = ("full", "incremental", "differential")


class SetLike(Protocol):
    id: int
    level: str
    status: str
    base_set_id: int | None
    source_key: str
    started_at: datetime
    finished_at: datetime | None


S = TypeVar("S", bound=SetLike)


class ChainError(UserError):
    """A restore point whose chain cannot be built (a set is missing, incomplete or overwritten)."""


def _why_unusable(s: SetLike) -> str:
    if s.status == "overwritten":
        return "was overwritten when its cartridge was formatted"
    if s.status == "expired":
        return "has expired from the catalog"
    if s.status == "running":
        return "is still running"
    return "is incomplete (its backup did not finish)"


def resolve_chain(sets: Mapping[int, S], target_id: int) -> list[S]:
    """The sets to apply, oldest first, to restore the state as of `target_id`."""
    chain: list[S] = []
    wanted = target_id
    while True:
        s = sets.get(wanted)
        if s is None:
            if not chain:
                raise ChainError(f"there is no backup set {target_id}")
            raise ChainError(f"set {wanted}, needed to restore set {target_id}, is not in the catalog")
        if s.status != "complete":
            who = f"set {s.id}" if s.id == target_id else f"set {s.id} ({s.level}), needed to restore set {target_id},"
            raise ChainError(f"{who} {_why_unusable(s)}")
        chain.append(s)
        if s.level == "full":
            return chain[::-1]
        if s.base_set_id is None:
            raise ChainError(f"set {s.id} ({s.level}) records no base set")
        if len(chain) > len(sets):
            raise ChainError(f"the base links of set {target_id} form a loop")
        wanted = s.base_set_id


def _order(s: SetLike) -> tuple[datetime, int]:
    return s.started_at, s.id


def choose_base(sets: Iterable[S], requested: str) -> tuple[str, S | None]:
    """(effective level, base set) for a new backup of one source set.

    Only complete sets count. With no complete full, any level becomes full."""
    complete = sorted((s for s in sets if s.status == "complete"), key=_order)
    fulls = [s for s in complete if s.level == "full"]
    if requested == "full" or not fulls:
        return "full", None
    if requested == "differential":
        return "differential", fulls[-1]
    return "incremental", complete[-1]


def newest_by(sets: Iterable[S], at: datetime) -> list[S]:
    """Per source set, the newest complete set finished by `at` (restore "as of T")."""
    best: dict[str, S] = {}
    for s in sets:
        if s.status != "complete" or s.finished_at is None or s.finished_at > at:
            continue
        cur = best.get(s.source_key)
        if cur is None or (s.finished_at, s.id) > (cur.finished_at, cur.id):  # type: ignore[operator]
            best[s.source_key] = s
    if not best:
        raise ChainError(f"no complete backup set had finished by {show(at, seconds=True)}")
    return sorted(best.values(), key=_order)

