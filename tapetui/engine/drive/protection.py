"""The last restorable state of each source: the sets a full backup's format must
not destroy unless the operator said yes (a barcode, or ANY_CARTRIDGE)."""

from __future__ import annotations

from dataclasses import dataclass

from ..backup.chain import restorable_states
from ..backup.levels import source_text
from ..errors import UserError
from ..store.models import SetRow

#: `allow_format` for "whichever cartridge the run picks" (the CLI's --force).
ANY_CARTRIDGE = "*"
#: How many usable cartridges a refusal names.
NAMED = 5


class LastStateAtRisk(UserError):
    """A full backup would format a cartridge holding the newest restorable state of
    a source, and nobody said yes to that."""


@dataclass
class LastState:
    """Sets on one cartridge that the newest restorable state of one source needs."""

    held: list[SetRow]  # the sets on the cartridge, oldest first
    head: SetRow  # the newest set of that state: what a restore of the source brings back

    def text(self) -> str:
        folders = source_text(self.head.source_key) or repr(self.head.name)
        if [s.id for s in self.held] == [self.head.id]:
            return f"set {self.head.id} ({self.head.level}), the last restorable backup of {folders}"
        sets = ", ".join(f"{s.id} ({s.level})" for s in self.held)
        return (f"{'set' if len(self.held) == 1 else 'sets'} {sets}, needed to restore set {self.head.id}, "
                f"the last restorable backup of {folders}")


def last_states_among(lost: list[SetRow], states: dict[int, SetRow]) -> list[LastState]:
    """The sets of `lost` that a source's newest restorable state needs, one entry per source."""
    by_head: dict[int, LastState] = {}
    for s in lost:
        if s.id in states:
            head = states[s.id]
            by_head.setdefault(head.id, LastState([], head)).held.append(s)
    return list(by_head.values())


def format_allowed(allow: str | None, barcode: str) -> bool:
    """Whether the operator's yes (`allow`: a barcode or ANY_CARTRIDGE) covers `barcode`."""
    return allow == ANY_CARTRIDGE or (allow is not None and allow == barcode)


def heads_of(sets: list[SetRow]) -> dict[int, SetRow]:
    """Set id -> the newest restorable set of its source, for every set that state needs."""
    return {s.id: chain[-1] for chain in restorable_states(sets).values() for s in chain}
