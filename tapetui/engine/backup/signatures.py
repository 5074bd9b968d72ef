"""What an incremental or differential compares the tree against: the base's state.

The state of a chain of sets is, per folder, each name's *signature* in the
newest version the chain holds (deleted paths dropped): `{folder: {name: sig}}`.
Per folder, so the scan never builds a path for an unchanged entry, and names
take less memory than whole paths.

A signature is a small int over size, mtime, inode and ctime (and a symlink's
target), with the entry's kind in its low two bits (so a deleted-marker can name
it). It hashes ints only: CPython's hash of ints and of tuples of ints is the
same in every process, unlike that of str (randomised) or of None (its address,
before 3.12). That is what lets a state be stored.

Reading a state from the catalog costs about 4 µs a row (0.4 s for 100k
files), so when a set completes its state is stored as a snapshot
(`store.states`), and the next run whose chain ends at that set loads it in
tens of milliseconds. A snapshot is used only for exactly the chain it was made
for and the signature scheme of this Python; anything else (an imported set, a
set from before snapshots, another Python) reads the catalog as before.
"""

from __future__ import annotations

import json
import marshal
import sqlite3
import sys
import zlib
from pathlib import Path

from ..names import from_catalog
from .state import connect as connect_ro

#: A hardlink is a file to the scan (every name of an inode has the same stat);
#: sockets, FIFOs and devices are `special`.
KIND_CODES = {"file": 0, "dir": 1, "symlink": 2, "special": 3}
KIND_NAMES = {v: k for k, v in KIND_CODES.items()}

#: Snapshots made under another scheme are not used (their signatures may differ).
SCHEME = f"tuple-hash/{sys.implementation.name}-{sys.version_info[0]}.{sys.version_info[1]}/{sys.hash_info.width}"
#: Entries per stored part (whole folders), so loading one never holds a
#: million-entry blob beside the state it becomes.
PART_ENTRIES = 50_000

State = dict[str, dict[str, int]]


def link_code(target: str) -> int:
    """A symlink target as an int that is the same in every process."""
    return zlib.crc32(target.encode("utf-8", "surrogateescape"))


def signature(kind: str, size: int, mtime_ns: int, inode: int, ctime_ns: int, link: str | None = None) -> int:
    """(`Scanner` inlines the case of a regular file: keep the two the same.)"""
    return (hash((size, mtime_ns, inode, ctime_ns, 0 if link is None else link_code(link))) << 2) | KIND_CODES[kind]


def connect(db_path: Path) -> sqlite3.Connection:
    conn = connect_ro(db_path)
    conn.create_function("link_code", 1, lambda text: link_code(from_catalog(text)), deterministic=True)
    return conn


#: Per row: folder, name, kind code (-1 for a deleted-marker), then exactly the
#: ints `signature` hashes; no call per row except for symlinks.
_ROWS_SQL = ("SELECT d.path, e.name, CASE WHEN e.deleted THEN -1 "
             + " ".join(f"WHEN e.kind = '{k}' THEN {v}" for k, v in KIND_CODES.items())
             + " WHEN e.kind = 'hardlink' THEN 0"
             " END, CASE e.kind WHEN 'dir' THEN 0 ELSE e.size END, e.mtime_ns, e.inode, e.ctime_ns, "
             "CASE WHEN e.kind = 'symlink' AND e.link_target IS NOT NULL THEN link_code(e.link_target) ELSE 0 END "
             "FROM entries e JOIN dirs d ON d.id = e.dir_id WHERE e.set_id = ?")


def apply_sets(conn: sqlite3.Connection, state: State, set_ids: list[int]) -> None:
    """Lay each set's entries over `state`, oldest first (a deleted-marker removes)."""
    for set_id in set_ids:
        folder, names = None, {}
        for r in conn.execute(_ROWS_SQL, (set_id,)):
            if r[0] != folder:  # rows come folder by folder
                folder = r[0]
                names = state.setdefault(from_catalog(folder), {})
            if r[2] < 0:
                names.pop(from_catalog(r[1]), None)
            else:
                names[from_catalog(r[1])] = (hash(r[3:]) << 2) | r[2]


def _parts(conn: sqlite3.Connection, chain: list[int]) -> int | None:
    """How many parts the snapshot stored for exactly `chain` has; None when there is
    none for this chain and this signature scheme."""
    row = conn.execute("SELECT chain, scheme, parts FROM set_states WHERE set_id = ?", (chain[-1],)).fetchone()
    try:
        return row[2] if row is not None and row[1] == SCHEME and json.loads(row[0]) == chain else None
    except ValueError:
        return None


def _snapshot(conn: sqlite3.Connection, chain: list[int]) -> State | None:
    """The stored state of exactly `chain`, or None (absent, other chain, other scheme, damaged)."""
    conn.execute("BEGIN")  # one read snapshot: a prune committing meanwhile is not half seen
    try:
        parts = _parts(conn, chain)
        if parts is None:
            return None
        state: State = {}
        count = 0
        for (data,) in conn.execute("SELECT data FROM set_state_parts WHERE set_id = ? ORDER BY part", (chain[-1],)):
            state.update(marshal.loads(zlib.decompress(data)))
            count += 1
        return state if count == parts else None
    except (ValueError, EOFError, TypeError, zlib.error):
        return None
    finally:
        conn.execute("COMMIT")


def load_state(db_path: Path, chain: list[int]) -> State:
    """The merged state of `chain` (oldest set first), from its snapshot when it has one."""
    conn = connect(db_path)
    try:
        return _load(conn, chain)
    finally:
        conn.close()


def _load(conn: sqlite3.Connection, chain: list[int]) -> State:
    if not chain:
        return {}
    state = _snapshot(conn, chain)
    if state is None:
        state = {}
        apply_sets(conn, state, chain)
    return state


def has_snapshot(db_path: Path, chain: list[int]) -> bool:
    conn = connect(db_path)
    try:
        return _parts(conn, chain) is not None
    finally:
        conn.close()


def state_after(db_path: Path, chain: list[int], set_id: int) -> list[bytes]:
    """The snapshot parts of `chain` + `set_id`: the chain's state with the set's entries laid over."""
    conn = connect(db_path)
    try:
        state = _load(conn, chain)
        apply_sets(conn, state, [set_id])
    finally:
        conn.close()
    return pack(state)


def pack(state: State) -> list[bytes]:
    parts: list[bytes] = []
    part: State = {}
    n = 0
    for folder, names in state.items():
        if not names:
            continue
        part[folder] = names
        n += len(names)
        if n >= PART_ENTRIES:
            parts.append(zlib.compress(marshal.dumps(part), 1))
            part, n = {}, 0
    if part or not parts:
        parts.append(zlib.compress(marshal.dumps(part), 1))
    return parts
