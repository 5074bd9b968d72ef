"""The host's time zone and the mapping from local wall-clock times to instants.

Schedules are written in wall-clock terms ("every day 02:30"); the scheduler
needs instants. Two rules make that mapping total and single-valued:

* a wall time that does not exist (clocks spring forward over it) maps to the
  first valid instant after the gap: 02:30 on a 02:00->03:00 day is 03:00;
* a wall time that occurs twice (clocks fall back) maps to its first
  occurrence (``fold=0``), so it fires once.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def local_zone(localtime: Path = Path("/etc/localtime")) -> tzinfo:
    """The host's zone as a DST-aware ``ZoneInfo``.

    ``datetime.now().astimezone().tzinfo`` is a fixed offset and would be wrong
    half the year, so read the zone *name*: ``$TZ`` if it names a zone, else the
    target of the ``localtime`` link (or the file itself), else UTC.
    """
    key = os.environ.get("TZ", "").lstrip(":")
    if key:
        try:
            return ZoneInfo(key)
        except (ZoneInfoNotFoundError, ValueError):
            pass  # not a zone name (e.g. a POSIX rule string): use the system zone
    # Every next-run computation asks; resolving the link costs a dozen system
    # calls, so the answer is kept while both the link and the file at the end
    # of its chain are unchanged (a replaced link or file has a new inode; one
    # rewritten in place, even with its old mtime, a new ctime).
    try:
        link, target = os.lstat(localtime), os.stat(localtime)
    except OSError:
        return timezone.utc
    stamp = (str(localtime), link.st_ino, link.st_ctime_ns, target.st_ino, target.st_ctime_ns, target.st_size)
    zone = _ZONES.get(stamp)
    if zone is None:
        zone = _ZONES[stamp] = _read_zone(localtime)
    return zone


_ZONES: dict[tuple[object, ...], tzinfo] = {}


def _read_zone(localtime: Path) -> tzinfo:
    try:
        target = localtime.resolve(strict=True)
    except OSError:
        return timezone.utc
    parts = target.parts
    if "zoneinfo" in parts:
        try:
            return ZoneInfo("/".join(parts[parts.index("zoneinfo") + 1 :]))
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        with target.open("rb") as f:
            return ZoneInfo.from_file(f, key="localtime")
    except (OSError, ValueError):
        return timezone.utc


def exists(wall: datetime, tz: tzinfo) -> bool:
    """Whether the naive wall time ``wall`` is shown by clocks in ``tz`` at all."""
    aware = wall.replace(tzinfo=tz, fold=0)
    return aware.astimezone(timezone.utc).astimezone(tz).replace(tzinfo=None) == wall


def is_ambiguous(wall: datetime, tz: tzinfo) -> bool:
    """Whether the naive wall time ``wall`` occurs twice in ``tz`` (a fall-back hour)."""
    return (
        wall.replace(tzinfo=tz, fold=0).utcoffset()
        != wall.replace(tzinfo=tz, fold=1).utcoffset()
        and exists(wall, tz)
    )


def resolve(wall: datetime, tz: tzinfo) -> datetime:
    """The instant (aware, in ``tz``) at which the naive wall time ``wall`` fires.

    Existing and doubled wall times fire at their first occurrence; a wall time
    in a spring-forward gap fires at the end of the gap.
    """
    first = wall.replace(tzinfo=tz, fold=0)
    if exists(wall, tz):
        return first
    # In a gap, fold=0 uses the offset before the change and lands after it,
    # fold=1 the offset after and lands before it: the change lies between.
    lo = wall.replace(tzinfo=tz, fold=1).astimezone(timezone.utc)
    hi = first.astimezone(timezone.utc)
    after = hi.astimezone(tz).utcoffset()
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).utcoffset() == after:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0).astimezone(tz)


def wall_of(instant: datetime, tz: tzinfo) -> datetime:
    """The naive wall-clock time an aware ``instant`` shows in ``tz``."""
    return require_aware(instant, "time").astimezone(tz).replace(tzinfo=None)


def require_aware(value: datetime, what: str) -> datetime:
    """``value`` itself, after checking it carries a time zone (naive times are ambiguous)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} {value:%Y-%m-%d %H:%M} has no time zone")
    return value
