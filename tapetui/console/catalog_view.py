"""A backup set as of its point in time, folder by folder, for the lazy tree.

The engine resolves the restore chain (full → newest differential → later
incrementals); this adapter merges one folder's entries across that chain
(the newest version of each name wins, deleted names drop out), a page at a
time, so opening a 100k-entry folder reads only one page per set.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ..engine.backup.restore import resolve_sets
from ..engine.backup.state import load_versions
from ..engine.backup.tapeorder import in_tape_order
from ..engine.store.models import Entry, SetRow


@dataclass
class Page:
    entries: list[Entry]
    more: bool
    last: str  # the last name looked at (the next page starts after it)


@dataclass
class RestoreSummary:
    files: int
    bytes: int
    cartridges: list[str]  # in the order the restore needs them


class PointInTime:
    def __init__(self, engine, s: SetRow, chain: list[int], sources: list[str]) -> None:  # noqa: ANN001
        self.engine = engine
        self.set = s
        self.chain = chain
        self.sources = sources

    @classmethod
    async def of(cls, engine, s: SetRow) -> PointInTime:  # noqa: ANN001
        [chain] = await resolve_sets(engine, s.id, None)
        sources = (await engine.sets.get_run(s.backup_run_id)).sources if s.backup_run_id else ["/"]
        return cls(engine, s, chain, sources)

    async def page(self, folder: str, after: str, limit: int) -> Page:
        newest: dict[str, Entry] = {}
        lists = [await self.engine.catalog.list_dir(set_id, folder, after=after, limit=limit)
                 for set_id in self.chain]  # oldest first, so later sets overwrite
        for entries in lists:
            for e in entries:
                newest[e.path.rsplit("/", 1)[-1]] = e
        names = sorted(newest)
        more = len(names) > limit or any(len(x) == limit for x in lists)
        names = names[:limit]
        return Page([newest[n] for n in names if not newest[n].deleted], more, names[-1] if names else after)

    async def summary(self, paths: list[str]) -> RestoreSummary:
        """What a restore of `paths` (all when empty) reads: files, bytes, cartridges in order."""
        def load() -> RestoreSummary:
            files = [v for v in load_versions(self.engine.home.db_path, self.chain, paths).values()
                     if v.kind == "file"]
            order = in_tape_order(files, None)
            return RestoreSummary(len(files), sum(v.size for v in files), [b for b, _ in order if b])
        return await asyncio.to_thread(load)
