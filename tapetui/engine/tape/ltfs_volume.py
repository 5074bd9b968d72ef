"""A mounted LTFS volume seen through the file system (Linux FUSE mount or a Windows drive).

Files are plain files under the mount root; LTFS's own facts come as virtual
extended attributes with the `user.` prefix on Linux (docs/architecture.md,
"Tool facts"). Where a platform or file system has no xattrs, the
answers degrade to None/False and statvfs, never to an error.
"""

from __future__ import annotations

import errno
import os
import re
from datetime import datetime, timezone
from pathlib import Path

from ..folders import Folders
from . import medium_health as mh
from .base import TapeOut, Volume
from .ltfs_parse import MIB
from .sim_volume import volume_key

#: errno values that mean "no such attribute here" rather than a failure.
_NO_XATTR = {errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP}
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
_TIME = re.compile(r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?")


def _attr_name(name: str) -> str:
    return name if name.startswith("user.") else "user." + name


def read_xattr(path: str | Path, name: str) -> bytes | None:
    if not hasattr(os, "getxattr"):
        return None
    try:
        return os.getxattr(path, _attr_name(name))
    except OSError as exc:
        if exc.errno in _NO_XATTR:
            return None
        raise


def root_text(root: Path, name: str) -> str | None:
    """A root xattr as text; None when absent, empty or `-1` (LTFS: unsupported)."""
    raw = read_xattr(root, name)
    value = raw.decode("utf-8", errors="replace").strip() if raw is not None else ""
    return value if value and value != "-1" else None


def is_ltfs_root(root: Path) -> bool:
    """True when `root` answers LTFS's volume name attribute (a live LTFS mount)."""
    try:
        return read_xattr(root, "ltfs.volumeName") is not None
    except OSError:
        return False


def parse_ltfs_time(text: str | None) -> datetime | None:
    """`2026-11-22T18:05:45.195215938Z` or `2026-11-22 18:05:45.19 UTC` -> aware UTC."""
    m = _TIME.search(text or "")
    if not m:
        return None
    micro = (m.group(3) or "0")[:6].ljust(6, "0")
    return datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}.{micro}").replace(
        tzinfo=timezone.utc
    )


def root_health(root: Path) -> dict[str, str]:
    """Medium health the mounted volume reports (TapeAlert, loads, error counters)."""
    health = {}
    alert = root_text(root, "ltfs.mediaStorageAlert")
    if alert is not None:
        health[mh.TAPEALERT] = mh.tapealert_text(mh.ltfs_flags(int(alert, 0)))
    for key, label in (
        ("ltfs.mediaLoads", mh.LOAD_COUNT),
        ("ltfs.mediaRecoveredWriteErrors", mh.RECOVERED_WRITE_ERRORS),
        ("ltfs.mediaPermanentWriteErrors", mh.PERMANENT_WRITE_ERRORS),
        ("ltfs.mediaRecoveredReadErrors", mh.RECOVERED_READ_ERRORS),
        ("ltfs.mediaPermanentReadErrors", mh.PERMANENT_READ_ERRORS),
    ):
        value = root_text(root, key)
        if value is not None:
            health[label] = value
    return health


def root_mib(root: Path, name: str) -> int | None:
    value = root_text(root, name)
    return int(value) * MIB if value and value.isdigit() else None


class LtfsVolume(Volume):
    """Files are made a name at a time from open folders (`folders`): a path deeper
    than PATH_MAX under the mount point still fits, and each folder is made once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._folders: Folders | None = None  # opened at the first write, closed before an unmount

    def _at(self) -> Folders:
        if self._folders is None:
            self._folders = Folders(str(self.root))
        return self._folders

    def release(self) -> None:
        if self._folders is not None:
            self._folders.close()
            self._folders = None

    def _path(self, relpath: str) -> str:
        return self._at().short_path(volume_key(relpath))

    def open_write(self, relpath: str) -> TapeOut:
        fd = self._at().open(volume_key(relpath), _CREATE_FLAGS, 0o666, create_dirs=True)
        return open(fd, "wb")

    def free_bytes(self) -> int:
        space = root_mib(self.root, "ltfs.mediaDataPartitionAvailableSpace")
        if space is not None:
            return space
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize

    def set_xattr(self, relpath: str, name: str, value: bytes) -> bool:
        if not hasattr(os, "setxattr"):
            return False
        try:
            os.setxattr(self._path(relpath), _attr_name(name), value)
        except OSError as exc:
            if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
                return False
            raise
        return True

    def get_xattr(self, relpath: str, name: str) -> bytes | None:
        return read_xattr(self._path(relpath), name)

    def position(self, relpath: str) -> int | None:
        raw = self.get_xattr(relpath, "ltfs.startblock")
        return int(raw) if raw is not None and raw.strip().isdigit() else None
