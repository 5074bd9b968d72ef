"""Which sets a restore needs: pure rules over set records, no database.

Every set records the set it was compared against (`base_set_id`): an
incremental's base is the previous backup of any level, a differential's the
last full. Following those links from a set back to its full gives the chain
docs/architecture.md names ("Backup levels and the restore chain") -- the full,
the newest differential after it, every incremental after that -- and it stays
exact when sets in between are incomplete or gone: a missing link is reported
instead of silently restoring the wrong state.

A restore as of a time takes the newest complete set of each source set
(folders and patterns); where source sets share folders, the newest chain
alone says what those folders hold (`merge_newest`), and newer sets passed
over because they were overwritten are named (`overwritten_newer`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable, Iterable, Mapping, Protocol, Sequence, TypeVar

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
V = TypeVar("V")


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


def _newer(a: SetLike, b: SetLike) -> bool:
    return (a.finished_at, a.id) > (b.finished_at, b.id)


def _newest_complete(sets: Iterable[S], at: datetime) -> dict[str, S]:
    best: dict[str, S] = {}
    for s in sets:
        if s.status != "complete" or s.finished_at is None or s.finished_at > at:
            continue
        cur = best.get(s.source_key)
        if cur is None or _newer(s, cur):
            best[s.source_key] = s
    return best


def newest_by(sets: Iterable[S], at: datetime) -> list[S]:
    """Per source set, the newest complete set finished by `at` (restore "as of T"), oldest first."""
    best = _newest_complete(sets, at)
    if not best:
        raise ChainError(f"no complete backup set had finished by {show(at, seconds=True)}")
    return sorted(best.values(), key=_order)


def overwritten_newer(sets: Iterable[S], at: datetime,
                      folders: Callable[[S], Sequence[str]]) -> list[tuple[S, list[S]]]:
    """(overwritten set, the sets restored instead for its folders), oldest first.

    `newest_by` passes over overwritten sets (their cartridge was formatted), so
    a restore "as of T" quietly falls back to older sets; these are the
    overwritten sets finished by `at` that are newer than every set used for
    any of their folders, so the restore can say so."""
    sets = list(sets)
    used = list(_newest_complete(sets, at).values())
    out = []
    for s in sorted(sets, key=_order):
        if s.status != "overwritten" or s.finished_at is None or s.finished_at > at:
            continue
        mine = folders(s)
        instead = sorted((u for u in used if any(covers(f, g) or covers(g, f) for f in folders(u) for g in mine)),
                         key=_order)
        if all(_newer(s, u) for u in instead):
            out.append((s, instead))
    return out


def covers(folder: str, path: str) -> bool:
    """`path` is `folder` or lies below it."""
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def merge_newest(layers: Sequence[tuple[Sequence[str], Mapping[str, V]]]) -> dict[str, V]:
    """One state from the states of several chains, given oldest first with their source folders.

    Each path comes from the newest chain whose source folders cover it, and
    only from it: when that chain does not hold the path (deleted, or left out
    by its patterns), it is not there, whatever an older chain says. Chains of
    disjoint folders simply add up. So a folder backed up again under new
    include/exclude patterns (a new source set) restores as its newest backup
    saw it, and files deleted before that backup do not come back."""
    out: dict[str, V] = {}
    for i, (_, state) in enumerate(layers):
        newer = [f for folders, _ in layers[i + 1:] for f in folders]
        for path, v in state.items():
            if not any(covers(f, path) for f in newer):
                out[path] = v
    return out


def _restorable(by_id: Mapping[int, S], s: S) -> list[S] | None:
    try:
        return resolve_chain(by_id, s.id)
    except ChainError:
        return None


def restorable_states(sets: Iterable[S]) -> dict[str, list[S]]:
    """Per source set, the chain (oldest first) of its newest set that can be restored now.

    This is the state a format must not destroy unasked (DESIGN: the last
    restorable state of a source): the newest complete set whose whole chain --
    its full, differential and incrementals -- is complete. Incomplete, running,
    overwritten and expired sets are never part of it, and an older chain is
    superseded as soon as a newer one restores."""
    by_id = {s.id: s for s in sets}
    newest_first = sorted((s for s in by_id.values() if s.status == "complete"),
                          key=lambda s: (s.finished_at or s.started_at, s.id), reverse=True)
    out: dict[str, list[S]] = {}
    for s in newest_first:
        if s.source_key not in out and (chain := _restorable(by_id, s)) is not None:
            out[s.source_key] = chain
    return out
