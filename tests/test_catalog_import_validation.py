"""`catalog import` reads a tape's catalog copy as hostile input: only a regular file
is opened (a symlink to /dev/zero or a FIFO is refused at once, in bounded memory),
lines are read with a bound, and every field of the header and of each entry is
checked against its exact range, each path against the set's source folders; a copy
that fails refuses its own set whole, naming the file and the line, and stores
nothing of it. The fields a catalog gained in schema 6 (xattrs, rdev, sparse map;
hardlink and special entries) travel through the copy into the same columns."""

from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest
from test_backup_catalog_import import COPY, library, new_host, volume  # noqa: F401 (library: a fixture)
from test_backup_support import open_engine, run_log

from tapetui.engine.backup.catalog_copy import MAX_LINE, import_cartridge, write_copy
from tapetui.engine.core import Engine

__all__ = ["library"]

Lines = list[dict[str, Any]]


def lines_of(home: Path) -> Lines:
    return [json.loads(line) for line in (volume(home) / COPY).read_text().splitlines()]


def rewrite(home: Path, lines: Lines) -> None:
    (volume(home) / COPY).write_text("".join(json.dumps(line) + "\n" for line in lines))


def source(lines: Lines) -> str:
    [root] = json.loads(lines[0]["set"]["source_key"])["sources"]
    return root


def first(kind: str) -> Callable[[Lines], int]:
    """The line index (0 = header) of the copy's first live entry of `kind`."""
    return lambda lines: next(i for i, e in enumerate(lines) if i and e["kind"] == kind and not e["deleted"])


def header(lines: Lines) -> int:
    return 0


Spoil = Callable[[dict[str, Any], Lines], None]


def put(**fields: Any) -> Spoil:
    return lambda entry, lines: entry.update(fields)


def in_set(**fields: Any) -> Spoil:
    return lambda top, lines: top["set"].update(fields)


#: name: (which line, what is done to it, what the refusal says)
BAD: dict[str, tuple[Callable[[Lines], int], Spoil, str]] = {
    "gid -5": (first("file"), put(gid=-5), "'gid' is -5, out of range 0..4294967294"),
    "uid 2**63": (first("file"), put(uid=1 << 63), "'uid' is 9223372036854775808, out of range"),
    "uid 2**63-1": (first("file"), put(uid=(1 << 63) - 1), "'uid' is 9223372036854775807, out of range"),
    "uid (uid_t)-1": (first("file"), put(uid=(1 << 32) - 1), "'uid' is 4294967295, out of range"),
    "mode garbage": (first("file"), put(mode=1 << 40), "'mode' is 1099511627776, out of range"),
    "mode of no file type": (first("file"), put(mode=0o170644), "'mode' is 0o170644, not a file's"),
    "mode of a folder on a file": (first("file"), put(mode=0o40755), "'mode' is 0o40755, not a file's"),
    "mode of a file on a symlink": (first("symlink"), put(mode=0o100644), "not a symlink's"),
    "size 2**63": (first("file"), put(size=1 << 63), "'size' is 9223372036854775808, out of range"),
    "negative size": (first("file"), put(size=-1), "'size' is -1, out of range"),
    "negative inode": (first("file"), put(inode=-1), "'inode' is -1, out of range"),
    "mtime past int64": (first("file"), put(mtime_ns=1 << 63), "'mtime_ns' is 9223372036854775808"),
    "ctime as float": (first("file"), put(ctime_ns=1.5), "'ctime_ns' is 1.5, not int"),
    "negative position": (first("file"), put(position=-1), "'position' is -1, out of range"),
    "uppercase checksum": (first("file"), lambda e, ls: e.update(checksum=e["checksum"].upper()), "not hexadecimal"),
    "checksum with spaces": (first("file"), lambda e, ls: e.update(checksum=" " + e["checksum"][1:]),
                             "not hexadecimal"),
    "deleted as 0": (first("file"), put(deleted=0), "'deleted' is 0, not bool"),
    "kind as a list": (first("file"), put(kind=["file"]), "'kind' is ['file'], not one of"),
    "unknown field": (first("file"), put(owner="root"), "unknown field 'owner'"),
    "NUL in a link target": (first("symlink"), put(link_target="a\0b"), "'link_target' is 'a\\x00b'"),
    "a symlink target past PATH_MAX": (first("symlink"), put(link_target="x" * 20000), "a symlink without its target"),
    "path outside the sources": (first("file"), put(path="/etc/passwd"),
                                 "path '/etc/passwd' is outside the set's source folders"),
    "path beside the source": (first("file"), lambda e, ls: e.update(path=source(ls) + "x/a"),
                               "is outside the set's source folders"),
    "the source's parent": (first("dir"), lambda e, ls: e.update(path=os.path.dirname(source(ls))),
                            "is outside the set's source folders"),
    "../ in a path": (first("file"), lambda e, ls: e.update(path=source(ls) + "/../../etc/passwd"),
                      "not a plain absolute path"),
    "relative path": (first("file"), put(path="etc/passwd"), "not a plain absolute path"),
    "xattr value not base64": (first("file"), put(xattrs={"user.a": "!!"}), "'xattrs.user.a' is '!!', not base64"),
    "xattr value over 64 KiB": (first("file"), put(xattrs={"user.a": base64.b64encode(bytes(65537)).decode()}),
                                "not base64 of at most 65536 bytes"),
    "xattr name over 255 bytes": (first("file"), put(xattrs={"user." + "a" * 251: ""}), "not an attribute name"),
    "xattr name with NUL": (first("file"), put(xattrs={"user.a\0": ""}), "not an attribute name"),
    "a bad escape in a path": (first("file"), lambda e, ls: e.update(path=source(ls) + "/a\U0010ffffb"),
                               "not a name in catalog form"),
    "a bad escape in a link target": (first("symlink"), put(link_target="\U0010ffff"), "not a name in catalog form"),
    "a bad escape in an xattr name": (first("file"), put(xattrs={"user.\U0010ffff": ""}), "not a name in catalog form"),
    "an xattr name of 256 bytes in host form": (first("file"), put(xattrs={"user." + "\U0010ffff\xff" * 251: ""}),
                                                "not an attribute name"),
    "xattrs as a list": (first("file"), put(xattrs=[["user.a", ""]]), "'xattrs' is [['user.a', '']], not an object"),
    "negative rdev": (first("file"), put(rdev=-1), "'rdev' is -1, out of range"),
    "sparse extents overlap": (first("file"), put(sparse=[[0, 2], [1, 1]]), "'sparse' holds [1, 1]"),
    "sparse extent of length 0": (first("file"), put(sparse=[[0, 0]]), "'sparse' holds [0, 0]"),
    "sparse past the size": (first("file"), lambda e, ls: e.update(sparse=[[0, e["size"] + 1]]),
                             "'sparse' reaches past the file's"),
    "special with a file's mode": (first("file"), put(kind="special", checksum=None, cartridge=None, position=None),
                                   "not a special's"),
    "hardlink outside the sources": (first("file"), put(kind="hardlink", link_target="/etc/shadow"),
                                     "a hardlink to '/etc/shadow', not to another path in the set's source folders"),
    "device without its number": (first("file"), put(kind="special", mode=stat.S_IFCHR | 0o600, checksum=None,
                                                     cartridge=None, position=None, size=0, sparse=None),
                                  "a device without its number"),
    "header: no source folders": (header, in_set(source_key=json.dumps({"sources": []})),
                                  "'set.source_key' is"),
    "header: a relative source": (header, in_set(source_key=json.dumps({"sources": ["etc"]})),
                                  "not the JSON of a set's source folders"),
    "header: id -1": (header, in_set(id=-1), "'set.id' is -1, out of range"),
    "header: files 2**63": (header, in_set(files=1 << 63), "'set.files' is 9223372036854775808, out of range"),
    "header: a time without its zone": (header, in_set(started_at="2026-01-01T00:00:00"), "a time without its zone"),
    "header: year 1 in another zone": (header, in_set(started_at="0001-01-01T00:00:00+05:00"), "not a time"),
    "header: not a barcode": (header, in_set(cartridges=["-rf"]), "'set.cartridges' is '-rf'"),
    "header: unknown field": (header, in_set(owner="x"), "unknown field 'owner'"),
    "header: a base of no sources": (header, in_set(base={"source_key": "{}"}), "'set.base.source_key' is '{}'"),
}


async def stored(engine: Engine) -> tuple[list[str], int]:
    """The sets' levels and the entry rows the catalog holds."""
    sets = sorted(s.level for s in await engine.sets.all())
    return sets, int(await engine.store.scalar("SELECT count(*) FROM entries"))


async def assert_refused(home: Path, line: int, why: str) -> None:
    """Set 3 is refused naming the copy and `line`, and nothing of it is stored."""
    engine = await open_engine(home)
    try:
        result = await import_cartridge(engine, run_log(engine))
        [refused] = result.refused
        assert refused.startswith(f"{COPY} line {line}: ") and why in refused, refused
        assert "\n" not in refused and len(refused) < 400
        assert len(result.added) == 2
        levels, rows = await stored(engine)
        assert levels == ["full", "incremental"]
        assert rows == sum([await engine.catalog.count(s) for s in result.added])
    finally:
        await engine.close()


@pytest.mark.parametrize("bad", BAD)
async def test_a_bad_field_refuses_the_set_naming_file_and_line(library: Path, tmp_path: Path, bad: str) -> None:
    home = new_host(library, tmp_path / "other")
    where, spoil, why = BAD[bad]
    lines = lines_of(home)
    index = where(lines)
    spoil(lines[index], lines)
    rewrite(home, lines)
    await assert_refused(home, index + 1, why)


async def test_a_path_twice_is_named_at_its_second_line(library: Path, tmp_path: Path) -> None:
    home = new_host(library, tmp_path / "other")
    lines = lines_of(home)
    index = first("file")(lines)
    lines.insert(index + 1, dict(lines[index], deleted=True, checksum=None, cartridge=None, position=None))
    lines[0]["set"]["entries"] += 1
    rewrite(home, lines)
    await assert_refused(home, index + 2, "appears twice")


@pytest.mark.parametrize("target", ["/sub", "/nothing", "/sub/link"])
async def test_a_hardlink_to_no_file_of_its_set_is_refused(library: Path, tmp_path: Path, target: str) -> None:
    """Restore reads a hardlink's bytes at its target's place in the set: a folder, a
    path the set lacks or a symlink there is refused (a file there: the round trip below)."""
    home = new_host(library, tmp_path / "other")
    lines = lines_of(home)
    link = dict(lines[first("file")(lines)], kind="hardlink", path=source(lines) + "/again",
                link_target=source(lines) + target)
    lines.append(link)
    lines[0]["set"]["entries"] += 1
    rewrite(home, lines)
    await assert_refused(home, len(lines), f"a hardlink names {source(lines) + target!r}, which is no file")


@pytest.mark.parametrize("line", ["long", "nested"])
async def test_a_huge_or_deep_line_is_refused_without_reading_on(library: Path, tmp_path: Path, line: str) -> None:
    home = new_host(library, tmp_path / "other")
    lines = lines_of(home)
    index = first("file")(lines)
    text = [json.dumps(e) for e in lines]
    if line == "long":  # a line past the bound, then more: the copy is never read whole
        text[index] = text[index][:-1] + ', "pad": "' + "x" * MAX_LINE + '"}'
        why = "a line longer than 16 MiB"
    else:  # within the bound, but deeper than the JSON reader's recursion
        text[index] = "[" * 500_000 + "]" * 500_000
        why = "not valid JSON"
    (volume(home) / COPY).write_text("\n".join(text) + "\n")
    await assert_refused(home, index + 1, why)


_IMPORT = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
sys.path[:0] = [{repo!r}]
from tapetui.cli.main import main
sys.exit(main(["--home", {home!r}, "catalog", "import"]))
"""


def import_in_child(home: Path, limit: int = 1 << 30) -> tuple[subprocess.CompletedProcess[str], float]:
    """`tapetui catalog import` in a process of at most `limit` bytes of memory, and
    its time: a copy that makes it read without end fails here, not on the host."""
    script = _IMPORT.format(limit=limit, repo=str(Path(__file__).parent.parent), home=str(home))
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    return done, time.monotonic() - start


@pytest.mark.parametrize("kind", ["symlink to /dev/zero", "FIFO", "symlink to a good copy"])
async def test_a_copy_that_is_not_a_regular_file_is_refused_at_once(
    library: Path, tmp_path: Path, kind: str
) -> None:
    home = new_host(library, tmp_path / "other")
    path = volume(home) / COPY
    good = tmp_path / "good.jsonl"
    shutil.move(path, good)
    if kind == "FIFO":
        os.mkfifo(path)
    else:
        os.symlink("/dev/zero" if kind.endswith("zero") else good, path)
    done, took = import_in_child(home)
    assert done.returncode == 1, done.stderr
    assert f"{COPY}: a {'FIFO' if kind == 'FIFO' else 'symbolic link'}, not a regular file" in done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    assert "2 set(s) imported" in done.stdout and "1 refused" in done.stdout
    assert took < 60


_COLUMNS = ("d.path, e.name, e.kind, e.size, e.mtime_ns, e.mode, e.uid, e.gid, e.inode, e.ctime_ns, e.checksum, "
            "e.link_target, c.barcode, e.position, e.deleted, e.xattrs, e.rdev, e.sparse")


def rows_of(db: Path, set_id: int) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return sorted(conn.execute(f"SELECT {_COLUMNS} FROM entries e JOIN dirs d ON d.id = e.dir_id "
                                   "LEFT JOIN cartridges c ON c.id = e.cartridge_id WHERE e.set_id = ?", (set_id,)))
    finally:
        conn.close()


#: As `xattrs.read` writes them (the copy keeps their order, import this form).
XATTRS = json.dumps({"security.capability": "", "user.note": base64.b64encode(b"\x00\xffkept").decode(),
                     "user." + "\U0010ffff\xff" * 250: "eA=="}, separators=(",", ":"))  # 255 bytes as the host's


async def test_the_new_fields_travel_through_the_copy_into_their_columns(library: Path, tmp_path: Path) -> None:
    """A set whose rows carry xattrs, a sparse map, a hardlink and three special
    files: its copy, written anew, imports every column of every row unchanged."""
    home = tmp_path / "writer"
    shutil.copytree(library.parent, home, symlinks=True)
    engine = await open_engine(home)
    try:
        s = await engine.sets.get(3)
        folder, name = await engine.store.fetchone(
            "SELECT d.path, e.name FROM entries e JOIN dirs d ON d.id = e.dir_id "
            "WHERE e.set_id = 3 AND e.kind = 'file' AND NOT e.deleted")
        async with engine.store.transaction() as conn:
            await conn.execute("UPDATE entries SET xattrs = ?, sparse = '[[0,4],[8,2]]' WHERE set_id = 3 AND "
                               "kind = 'file' AND NOT deleted", (XATTRS,))
            dir_id = (await engine.catalog.dir_ids([folder]))[folder]
            for extra, kind, mode, rdev, link in [
                ("again", "hardlink", 0o100644, None, f"{folder}/{name}"),
                ("fifo", "special", stat.S_IFIFO | 0o600, 0, None),
                ("sock", "special", stat.S_IFSOCK | 0o755, 0, None),
                ("tty", "special", stat.S_IFCHR | 0o620, os.makedev(136, 3), None),
            ]:
                await conn.execute(
                    "INSERT INTO entries(set_id, dir_id, name, kind, size, mtime_ns, mode, uid, gid, inode, ctime_ns, "
                    "link_target, deleted, xattrs, rdev) VALUES (3, ?, ?, ?, 0, 5, ?, 7, 8, 9, 6, ?, 0, ?, ?)",
                    (dir_id, extra, kind, mode, link, '{"user.x":"eA=="}', rdev))
        volume_ = await engine.driver.mount()
        try:
            await write_copy(engine, volume_, 3, finished_at=s.finished_at, files=s.files, bytes_=s.bytes)
        finally:
            await engine.driver.unmount()
    finally:
        await engine.close()
    written = rows_of(home / "catalog.db", 3)
    assert {r[2] for r in written} >= {"hardlink", "special"} and any(r[15] and r[17] for r in written)

    other = new_host(home / "library", tmp_path / "other")
    engine = await open_engine(other)
    try:
        result = await import_cartridge(engine, run_log(engine))
        assert result.refused == [] and len(result.added) == 3
        assert rows_of(other / "catalog.db", result.added[-1]) == written
    finally:
        await engine.close()
