"""Every file comes back as it was: what `rsync -aHAXS` keeps, a backup keeps.

A tree holding extended attributes (user, trusted, security: an ACL and a file
capability), three names of one file, a 1 GiB sparse file with 4 KiB of data,
a FIFO, a socket, a device node, names that are not UTF-8, a backslash in a
name, a 4,080-byte path and an absolute symlink goes through full ->
incremental -> differential and is restored to another folder; the restore is
compared (tests/treecompare.py) with the source and with `rsync -aHAXS` of it.
f8fad7c failed this at the first non-UTF-8 name (UnicodeEncodeError) and, past
that, at the long path (ENAMETOOLONG), and lost the rest silently.
"""

from __future__ import annotations

import os
import shutil
import stat
import struct
import subprocess
from pathlib import Path

import pytest
from test_backup_support import open_engine, run_log, write
from treecompare import allocated, describe, differences

from tapetui.engine.backup.engine import BackupRequest, run_backup
from tapetui.engine.backup.restore import RestoreRequest, run_restore

ROOT = os.geteuid() == 0
GiB = 1 << 30


def _acl(*entries: tuple[int, int, int]) -> bytes:
    """A POSIX ACL as the kernel stores it in system.posix_acl_* (version 2)."""
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", tag, perm, uid) for tag, perm, uid in entries)


#: user::rw- user:1000:r-- group::r-- mask::r-- other::---
ACL = _acl((0x01, 6, 0xFFFFFFFF), (0x02, 4, 1000), (0x04, 4, 0xFFFFFFFF), (0x10, 4, 0xFFFFFFFF),
           (0x20, 0, 0xFFFFFFFF))
#: cap_net_bind_service=ep as `setcap` writes it (VFS_CAP_REVISION_2, effective)
CAPABILITY = struct.pack("<IIIII", 0x02000001, 1 << 10, 0, 0, 0)


def long_path(base: Path, total: int) -> Path:
    """A file path of exactly `total` bytes under `base`, in folders of up to 200 bytes."""
    path = str(base)
    while total - len(path) > 256:  # the file's own name stays within NAME_MAX
        path += "/" + "d" * min(199, total - len(path) - 102)
    return Path(path + "/" + "f" * (total - len(path) - 1))


def make_deep(path: Path, data: bytes) -> None:
    """Create `path` (longer than PATH_MAX allows whole) a folder at a time."""
    parts = str(path).split("/")
    fd = os.open("/", os.O_RDONLY)
    try:
        for part in parts[1:-1]:
            try:
                os.mkdir(part, dir_fd=fd)
            except FileExistsError:
                pass
            nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nxt
        out = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640, dir_fd=fd)
        os.write(out, data)
        os.close(out)
    finally:
        os.close(fd)


def build(src: Path, sparse_size: int = GiB) -> None:
    write(src / "plain.txt", "plain")
    write(src / "attrs.txt", "has attributes")
    os.setxattr(src / "attrs.txt", "user.comment", b"kept \x00\xff binary")
    write(src / "acl.txt", "has an ACL", mode=0o640)
    os.setxattr(src / "acl.txt", "system.posix_acl_access", ACL)
    (src / "shared").mkdir()
    os.setxattr(src / "shared", "system.posix_acl_default", ACL)
    os.setxattr(src / "shared", "user.folder", b"on a folder")
    if ROOT:
        write(src / "bin" / "server", "#!/bin/sh\n", mode=0o755)
        os.setxattr(src / "bin" / "server", "security.capability", CAPABILITY)
        os.setxattr(src / "bin" / "server", "trusted.origin", b"root only")
    write(src / "h1", "one inode, three names")
    (src / "sub").mkdir()
    os.link(src / "h1", src / "sub" / "h2")
    os.link(src / "h1", src / "h3")
    with open(src / "sparse.img", "wb") as f:
        f.truncate(sparse_size)
        f.seek(sparse_size // 2)
        f.write(os.urandom(4096))
    os.mkfifo(src / "fifo")
    os.mknod(src / "socket", stat.S_IFSOCK | 0o644)
    if ROOT:
        os.mknod(src / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    raw = os.fsencode(src)
    with open(raw + b"/caf\xe9 \xff.txt", "wb") as f:  # Latin-1 bytes: not UTF-8
        f.write(b"latin-1 name")
    os.mkdir(raw + b"/\xfe folder")
    with open(raw + b"/\xfe folder/inside", "wb") as f:
        f.write(b"in a folder whose name is not UTF-8")
    write(src / "back\\slash.txt", "a backslash is a name's own character")
    os.symlink("/etc/localtime", src / "localtime")
    os.symlink("plain.txt", src / "relative")
    os.symlink("/nowhere/at/all", src / "dangling")
    make_deep(long_path(src / "deep", 4080), b"at the end of a 4,080-byte path")


def change_for_incremental(src: Path) -> None:
    write(src / "plain.txt", "plain, changed")
    os.setxattr(src / "attrs.txt", "user.second", b"added later")
    os.link(src / "h1", src / "h4")  # a fourth name: every name of the inode changes
    with open(os.fsencode(src) + b"/new \x80.txt", "wb") as f:
        f.write(b"added in the incremental")


def change_for_differential(src: Path) -> None:
    os.unlink(src / "h3")
    os.unlink(os.fsencode(src) + b"/new \x80.txt")
    os.removexattr(src / "shared", "user.folder")
    write(src / "sub" / "late.txt", "added in the differential")


@pytest.mark.skipif(not hasattr(os, "setxattr") or not hasattr(os, "SEEK_DATA"), reason="needs Linux")
async def test_a_chain_of_every_kind_of_entry_restores_as_rsync_copies_it(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    try:
        build(src)
    except OSError as e:  # a file system without xattrs or ACLs
        pytest.skip(f"cannot build the tree here: {e}")
    engine = await open_engine(tmp_path / "home", capacity=3 * GiB)
    log = run_log(engine)
    try:
        results = [await run_backup(engine, BackupRequest(sources=[str(src)], level="full"), log)]
        change_for_incremental(src)
        results.append(await run_backup(engine, BackupRequest(sources=[str(src)], level="incremental"), log))
        change_for_differential(src)
        results.append(await run_backup(engine, BackupRequest(sources=[str(src)], level="differential"), log))
        assert [r.status for r in results] == ["success"] * 3, [r.message for r in results]
        assert [r.level for r in results] == ["full", "incremental", "differential"]
        out = tmp_path / "out"
        restored = await run_restore(engine, RestoreRequest(target=str(out)), log)
        assert restored.status == "success", restored.errors
    finally:
        await engine.close()
    copy = str(out) + str(src)
    want = describe(str(src))
    assert differences(want, describe(copy)) == []
    assert allocated(os.path.join(copy, "sparse.img")) <= 1 << 20
    assert want[b"h1"][-1] == (b"h1", b"h4", b"sub/h2")  # the tree did hold what the test says
    if shutil.which("rsync"):
        ref = tmp_path / "rsync"
        subprocess.run(["rsync", "-aHAXS", f"{src}/", f"{ref}/"], check=True, capture_output=True)
        assert differences(describe(str(ref)), describe(copy)) == []
