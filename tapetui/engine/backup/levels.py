"""Backup levels: which set a new backup is compared against, and the key that
says two backups are "of the same sources" (same folders and patterns)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..names import from_catalog, to_catalog
from ..store.models import SetRow
from .chain import LEVELS, ChainError, choose_base, resolve_chain
from .errors import BackupInputError

if TYPE_CHECKING:
    from ..core import Engine


def normalize_sources(sources: list[str]) -> list[str]:
    """Absolute, normalised, de-duplicated, in the given order; each must be a folder."""
    if not sources:
        raise BackupInputError("a backup needs at least one source folder")
    out: list[str] = []
    for s in sources:
        path = os.path.abspath(os.path.expanduser(s))
        if not os.path.isdir(path):
            raise BackupInputError(f"source {s!r} is not a folder" if os.path.exists(path)
                                   else f"source folder {s!r} does not exist")
        if path not in out:
            out.append(path)
    return out


def source_key(sources: list[str], includes: list[str], excludes: list[str]) -> str:
    """Canonical text of what is backed up: folders and patterns, sorted."""
    return json.dumps(
        {"sources": sorted(map(to_catalog, sources)), "include": sorted(includes), "exclude": sorted(excludes)},
        sort_keys=True, ensure_ascii=False,
    )


def sources_of(key: str) -> list[str]:
    """The source folders of a key, in host form."""
    try:
        return [from_catalog(s) for s in json.loads(key).get("sources", [])]
    except (ValueError, AttributeError, TypeError):
        return []


def source_text(key: str) -> str:
    """A source key for people: '/data, /etc (only *.conf; excluding *.tmp)'; '' if unreadable."""
    try:
        parsed = json.loads(key)
        patterns = [f"{what} {', '.join(parsed[k])}" for k, what in (("include", "only"), ("exclude", "excluding"))
                    if parsed.get(k)]
    except (ValueError, AttributeError, TypeError):
        return ""
    folders = ", ".join(sources_of(key))
    return f"{folders} ({'; '.join(patterns)})" if patterns and folders else folders


@dataclass
class LevelPlan:
    level: str
    base: SetRow | None
    chain: list[SetRow]  # the sets whose merged state the scan compares against
    note: str  # said in the run log


async def plan_level(engine: Engine, key: str, requested: str) -> LevelPlan:
    if requested not in LEVELS:
        raise BackupInputError(f"unknown backup level {requested!r}; expected one of {', '.join(LEVELS)}")
    sets = await engine.sets.all(source_key=key)
    level, base = choose_base(sets, requested)
    if base is None:
        note = ("full backup" if requested == "full" else
                f"{requested} backup requested, but there is no complete full backup of these "
                f"sources yet: running a full backup instead")
        return LevelPlan(level, None, [], note)
    try:
        chain = resolve_chain({s.id: s for s in sets}, base.id)
    except ChainError as e:
        return LevelPlan("full", None, [], f"{requested} backup requested, but its base cannot be "
                         f"restored ({e}): running a full backup instead")
    what = "since the last backup" if level == "incremental" else "since the last full backup"
    return LevelPlan(level, base, chain, f"{level} backup: changes {what} (set {base.id}, {base.level})")
