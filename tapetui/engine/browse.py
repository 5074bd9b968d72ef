"""A backup set as of its point in time, folder by folder, a page at a time.

A set alone is not what was on disk then: an incremental holds only what
changed. What was there is the restore chain (full -> newest differential ->
later incrementals, `backup.chain`) merged: the newest version of each name
wins and names deleted by then drop out. The console's lazy tree and anything
else that lists "the set as of then" ask here, so that rule lives in one place.

Folders are merged a page at a time, each set read by name after a cursor
(the catalog's primary key), so a 100k-entry folder costs one page per set per
request, never the whole folder.
"""

from __future__ import annotations

import asyncio
import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .backup.chain import resolve_chain
from .backup.state import load_versions
from .backup.tapeorder import in_tape_order
from .store.models import Entry, SetRow

if TYPE_CHECKING:
    from .core import Engine

PAGE = 500


@dataclass
class Page:
    entries: list[Entry]  # by name, deleted names left out
    more: bool  # names after `last` exist (they may all turn out deleted)
    last: str  # the last name looked at: the next page starts after it


@dataclass
class RestoreSummary:
    files: int
    bytes: int
    cartridges: list[str]  # in the order the restore needs them
    example: str | None = None  # one file it restores (the first by path), to show where files land

    def lands_at(self, target: str) -> str | None:
        """Where `example` is written when restoring under `target` (absolute): its
        whole path below it, as the restore keeps it ('/' = its original place)."""
        if self.example is None:
            return None
        return self.example if target == "/" else posixpath.join(target, self.example.lstrip("/"))


class PointInTime:
    """One set as of its point in time: its chain (oldest first) and its source folders."""

    def __init__(self, engine: Engine, s: SetRow, chain: list[int], sources: list[str]) -> None:
        self.engine = engine
        self.set = s
        self.chain = chain
        self.sources = sources

    @classmethod
    async def of(cls, engine: Engine, set_id: int) -> PointInTime:
        """Raises `ChainError` (a UserError) when the set cannot be restored as a whole."""
        by_id = {s.id: s for s in await engine.sets.all()}
        chain = resolve_chain(by_id, set_id)
        target = chain[-1]
        sources = (await engine.sets.get_run(target.backup_run_id)).sources if target.backup_run_id else ["/"]
        return cls(engine, target, [s.id for s in chain], sources)

    async def page(self, folder: str, after: str = "", limit: int = PAGE) -> Page:
        """Up to `limit` entries directly inside `folder`, names after `after`, in name order."""
        if limit < 1:
            raise ValueError(f"a page holds at least one entry, not {limit}")
        entries: list[Entry] = []
        cursor, more = after, True
        while more and len(entries) < limit:
            window, more = await self._names(folder, cursor, limit - len(entries))
            entries.extend(e for e in window if not e.deleted)
            cursor = _name(window[-1]) if window else cursor
        return Page(entries, more, cursor)

    async def _names(self, folder: str, after: str, limit: int) -> tuple[list[Entry], bool]:
        """The first `limit` names after `after` across the chain (newest version of each),
        and whether more names follow. Each set gives its first limit+1 names, which
        holds the union's first `limit` and tells whether any name is left."""
        newest: dict[str, Entry] = {}
        for set_id in self.chain:  # oldest first: later sets overwrite
            for e in await self.engine.catalog.list_dir(set_id, folder, after=after, limit=limit + 1):
                newest[_name(e)] = e
        names = sorted(newest)
        return [newest[n] for n in names[:limit]], len(names) > limit

    async def summary(self, paths: list[str]) -> RestoreSummary:
        """What a restore of `paths` (all when empty) reads: files, bytes, cartridges in order."""
        def load() -> RestoreSummary:
            files = [v for v in load_versions(self.engine.home.db_path, self.chain, paths).values()
                     if v.kind in ("file", "hardlink")]
            order = in_tape_order(files, None)
            return RestoreSummary(len(files), sum(v.size for v in files if v.kind == "file"),
                                  [b for b, _ in order if b], min((v.path for v in files), default=None))
        return await asyncio.to_thread(load)


def _name(e: Entry) -> str:
    return e.path.rsplit("/", 1)[-1]
