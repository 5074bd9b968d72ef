"""One way to write times to the database and read them back.

Stored as UTC ISO-8601 text with microseconds, so string order is time order;
shown in the host's local zone.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import overload


def now() -> datetime:
    return datetime.now(timezone.utc)


@overload
def to_db(dt: datetime) -> str: ...
@overload
def to_db(dt: None) -> None: ...
def to_db(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.astimezone()  # naive means local wall time
    return dt.astimezone(timezone.utc).isoformat(timespec="microseconds")


def from_db(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text)


@overload
def local(dt: datetime) -> datetime: ...
@overload
def local(dt: None) -> None: ...
def local(dt: datetime | None) -> datetime | None:
    return None if dt is None else dt.astimezone()


def show(dt: datetime | None, seconds: bool = False) -> str:
    """Local time for tables and logs; '-' for never."""
    if dt is None:
        return "-"
    return local(dt).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
