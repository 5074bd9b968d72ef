"""Extended attributes as the catalog keeps them: user.*, trusted.*, security.*
(file capabilities, SELinux labels) and system.posix_acl_* (ACLs), what
`rsync -X -A` keeps.

Stored per entry as JSON {name: base64 value}, names sorted and in catalog
form (`names`), so the catalog copy on tape carries them too. A file system
with no xattrs gives None, as does a file with none.
"""

from __future__ import annotations

import base64
import errno
import json
import os
from typing import Callable

from ..names import from_catalog, to_catalog

#: What a file system without extended attributes answers.
_NONE = {errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENODATA}


def read(path: str | int) -> str | None:
    """The attributes of `path` (never through a symlink) or of an open fd, as catalog
    JSON; None when it has none. Raises OSError when they cannot be read."""
    if not hasattr(os, "listxattr"):
        return None
    follow = isinstance(path, int)  # an fd: follow_symlinks must stay True
    try:
        names = os.listxattr(path, follow_symlinks=follow)
        if not names:
            return None
        found = {}
        for name in sorted(names):
            try:
                found[to_catalog(name)] = base64.b64encode(os.getxattr(path, name, follow_symlinks=follow)).decode()
            except OSError as e:
                if e.errno != errno.ENODATA:  # removed since the listing
                    raise
    except OSError as e:
        if e.errno in _NONE:
            return None
        raise
    return json.dumps(found, separators=(",", ":")) if found else None


def read_or_warn(path: str, warn: Callable[[str], None]) -> str | None:
    """`read`, with a failure a warning: the entry is backed up without them."""
    try:
        return read(path)
    except OSError as e:
        warn(f"cannot read the extended attributes of {path}: {e.strerror}; backed up without them")
        return None


def decode(text: str | None) -> dict[str, bytes]:
    """Catalog JSON -> {host-form name: value}."""
    if not text:
        return {}
    return {from_catalog(k): base64.b64decode(v) for k, v in json.loads(text).items()}


def apply(target: str | int, text: str | None) -> list[str]:
    """Set every attribute of `text` on `target` (a path, never followed, or an fd);
    the ones that failed, each as 'name: reason'. ACLs are attributes too, so this
    comes after chmod (which would otherwise rewrite the ACL's mask)."""
    failed = []
    follow = isinstance(target, int)
    for name, value in decode(text).items():
        try:
            os.setxattr(target, name, value, follow_symlinks=follow)
        except OSError as e:
            failed.append(f"{name}: {e.strerror}")
    return failed
