"""Where a set's files live on a volume (simple and documented, so a tape can be
read with nothing but `ls` and `cp`)."""

from __future__ import annotations

import os
from functools import lru_cache

from .errors import BackupInputError

ROOT = "tapetui"
COPY_SUFFIX = ".catalog.jsonl"


def set_dir(set_id: int) -> str:
    return f"{ROOT}/set-{set_id}"


#: A backslash is a name's own character on POSIX, a separator on Windows.
_WINDOWS = os.sep == "\\"


def safe_relpath(path: str) -> str | None:
    """'/a/b' -> 'a/b'; None for anything that is not a plain absolute path."""
    if not path.startswith("/") or "\0" in path or (_WINDOWS and "\\" in path):
        return None
    parts = path[1:].split("/")
    if any(p in ("", ".", "..") for p in parts):
        return None
    return "/".join(parts)


@lru_cache(maxsize=64)
def checked_tape_dir(tape_dir: str) -> str:
    """`tape_dir` if it is a plain relative folder inside the volume, else BackupInputError.

    A set's folder comes from the catalog, which `catalog import` fills from a
    tape's own catalog copy: a damaged or hostile tape naming '../../etc' must not
    make restore or verify read files outside the volume. Cached: restore and the
    backup writer call this once per file, always with the same few folders."""
    # '\\' and ':' (a drive, C:...): a set folder must not leave a Windows volume either
    if safe_relpath("/" + tape_dir) is None or "\\" in tape_dir or tape_dir[1:2] == ":":
        raise BackupInputError(f"set folder {tape_dir!r} is not a plain relative path inside the volume")
    return tape_dir


def file_relpath(tape_dir: str, path: str) -> str:
    """'/home/a/b' in set folder 'tapetui/set-7' -> 'tapetui/set-7/home/a/b'."""
    return checked_tape_dir(tape_dir) + path


def catalog_copy_relpath(tape_dir: str) -> str:
    return checked_tape_dir(tape_dir) + COPY_SUFFIX


def hash_xattr(algo: str) -> str:
    """The LTFS convention for a file's hash: `ltfs.hash.sha256`."""
    return f"ltfs.hash.{algo}"


def split(path: str) -> tuple[str, str]:
    """'/a/b/c' -> ('/a/b', 'c'); '/a' -> ('/', 'a'). Plain string work (hot path)."""
    head, _, tail = path.rpartition("/")
    return head or "/", tail
