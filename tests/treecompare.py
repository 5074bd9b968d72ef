"""What `rsync -aHAXS` keeps of a tree, as one dict two trees can be compared by.

Per entry (its path relative to the root, as bytes): the type; permission bits;
owner; modification time in ns; a file's size and SHA-256; a symlink's text; a
device's number; every extended attribute (ACLs and file capabilities are
attributes too); and the other names of its inode (hard links). Walked with
folder fds (`os.fwalk`), so entries deeper than PATH_MAX are read as well.

Run as a script, `python tests/treecompare.py A B` prints the differences and
exits 1 if there are any.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys


def _xattrs(dir_fd: int, name: bytes) -> tuple:
    where = b"/proc/self/fd/%d/%s" % (dir_fd, name) if name else b"/proc/self/fd/%d" % dir_fd
    try:
        names = os.listxattr(where, follow_symlinks=False)
    except OSError:
        return ()
    return tuple(sorted((n, os.getxattr(where, n, follow_symlinks=False)) for n in names))


def _content(dir_fd: int, name: bytes) -> str:
    h = hashlib.sha256()
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)
    with os.fdopen(fd, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _entry(st: os.stat_result, dir_fd: int, name: bytes) -> list:
    kind = stat.S_IFMT(st.st_mode)
    out = [kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns, _xattrs(dir_fd, name)]
    if stat.S_ISREG(kind):
        out += [st.st_size, _content(dir_fd, name)]
    elif stat.S_ISLNK(kind):
        out += [os.readlink(name, dir_fd=dir_fd)]
    elif stat.S_ISCHR(kind) or stat.S_ISBLK(kind):
        out += [st.st_rdev]
    return out


def describe(root: str) -> dict[bytes, tuple]:
    """relative path -> what a faithful copy keeps."""
    found: dict[bytes, list] = {}
    inodes: dict[tuple[int, int], list[bytes]] = {}
    broot = os.fsencode(root)
    top = os.open(broot, os.O_RDONLY | os.O_DIRECTORY)
    try:
        found[b"."] = _entry(os.fstat(top), top, b"")
    finally:
        os.close(top)
    for dirpath, dirnames, filenames, dir_fd in os.fwalk(broot):
        rel_dir = os.path.relpath(dirpath, broot)
        for name in dirnames + filenames:
            rel = name if rel_dir == b"." else rel_dir + b"/" + name
            st = os.lstat(name, dir_fd=dir_fd)
            found[rel] = _entry(st, dir_fd, name)
            if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
                inodes.setdefault((st.st_dev, st.st_ino), []).append(rel)
    for names in inodes.values():
        for rel in names:
            found[rel].append(tuple(sorted(names)))
    return {rel: tuple(v) for rel, v in found.items()}


def differences(expected: dict[bytes, tuple], actual: dict[bytes, tuple]) -> list[str]:
    out = [f"missing {p!r}" for p in sorted(set(expected) - set(actual))]
    out += [f"extra {p!r}" for p in sorted(set(actual) - set(expected))]
    fields = ("type", "mode", "uid", "gid", "mtime_ns", "xattrs", "size/link/rdev", "content", "links")
    for p in sorted(set(expected) & set(actual)):
        a, b = expected[p], actual[p]
        if a != b:
            what = [f"{fields[i] if i < len(fields) else i}: {x!r} != {y!r}"
                    for i, (x, y) in enumerate(zip(a, b)) if x != y]
            out.append(f"{p[-80:]!r}: " + ("; ".join(what) or f"{a!r} != {b!r}"))
    return out


def allocated(path: str) -> int:
    """Bytes of disk the file uses (a sparse file: its data, not its size)."""
    return os.lstat(path).st_blocks * 512


if __name__ == "__main__":
    diff = differences(describe(sys.argv[1]), describe(sys.argv[2]))
    print("\n".join(diff) or "identical")
    sys.exit(1 if diff else 0)
