"""Self-describing cartridges: a copy of each set's catalog on the tape itself.

At the end of a set, `tapetui/set-<id>.catalog.jsonl` is written on the set's last
cartridge: a header line describing the set, then one JSON object per entry
(path, kind, size, times, mode, owner, hash, link target, cartridge, position,
deleted). With each file's `ltfs.hash.<algo>` extended attribute, this lets
`import_cartridge` rebuild the catalog from the tapes alone, as Bareos needs
`bscan` for. A set that spans cartridges has its copy on the last one only (the
earlier ones filled up); importing an earlier cartridge says so.

A tape is foreign input: every field of a copy is checked, and the header's
counts against its rows, before anything of its set is stored; a copy that fails
is refused whole, and the header's `entries` count (added after the first copies
were written, so optional) catches a copy cut short at a line's end.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from itertools import product
from operator import itemgetter
from typing import TYPE_CHECKING, Any, get_args, get_type_hints

from ..config import BackupConfig
from ..errors import UserError
from ..runlog import RunLog
from ..tape.base import Volume
from ..timeutil import to_db
from . import layout
from .chain import LEVELS
from .errors import BackupInputError
from .signatures import KIND_CODES
from .state import PATH_SQL, connect

if TYPE_CHECKING:
    from ..core import Engine

FORMAT = "tapetui-catalog"
VERSION = 1


#: One entry per row as JSON text, encoded by SQLite (a tenth of the time of
#: json.dumps per entry): the keys and values `_read_rows` checks.
_ENTRY_SQL = (
    f"SELECT json_object('path', {PATH_SQL}, 'kind', e.kind, 'size', e.size, 'mtime_ns', e.mtime_ns, "
    "'mode', e.mode, 'uid', e.uid, 'gid', e.gid, 'inode', e.inode, 'ctime_ns', e.ctime_ns, "
    "'checksum', CASE WHEN e.checksum IS NULL THEN NULL ELSE lower(hex(e.checksum)) END, "
    "'link_target', e.link_target, 'cartridge', c.barcode, 'position', e.position, "
    "'deleted', json(CASE WHEN e.deleted THEN 'true' ELSE 'false' END)) "
    "FROM entries e JOIN dirs d ON d.id = e.dir_id LEFT JOIN cartridges c ON c.id = e.cartridge_id "
    "WHERE e.set_id = ?"
)


async def write_copy(engine: Engine, volume: Volume, set_id: int, *, finished_at: datetime, files: int,
                     bytes_: int) -> None:
    s = await engine.sets.get(set_id)
    tape_dir = await engine.sets.tape_dir(set_id)
    base = await engine.sets.get(s.base_set_id) if s.base_set_id else None
    header = {
        "format": FORMAT, "version": VERSION,
        "set": {
            "id": s.id, "source_key": s.source_key, "name": s.name, "level": s.level, "status": "complete",
            "started_at": to_db(s.started_at), "finished_at": to_db(finished_at), "files": files,
            "bytes": bytes_, "hash_algo": s.hash_algo, "tape_dir": tape_dir,
            "cartridges": s.cartridges, "entries": await engine.catalog.count(set_id),
            "base": {"source_key": base.source_key, "started_at": to_db(base.started_at)} if base else None,
        },
    }

    def write() -> None:
        conn = connect(engine.home.db_path)
        try:
            cur = conn.execute(_ENTRY_SQL, (set_id,))
            with volume.open_write(layout.catalog_copy_relpath(tape_dir)) as out:
                out.write((json.dumps(header, ensure_ascii=False) + "\n").encode())
                while batch := cur.fetchmany(5000):  # a million-entry set is never held whole
                    out.write(("\n".join(row[0] for row in batch) + "\n").encode())
        finally:
            conn.close()

    await asyncio.to_thread(write)


@dataclass
class ImportResult:
    barcode: str
    added: list[int] = field(default_factory=list)  # new set ids
    known: list[int] = field(default_factory=list)  # sets the catalog already had
    entries: int = 0
    without_copy: list[str] = field(default_factory=list)  # set folders with no catalog copy here
    refused: list[str] = field(default_factory=list)  # one line per copy refused: which and why


class CopyError(UserError, ValueError):
    """A catalog copy that cannot be trusted (damaged, truncated, hostile): its set is refused whole."""


@dataclass
class SetCopy:
    """The header of one catalog copy, every field checked."""

    path: str  # where it is read from
    file: str  # 'tapetui/set-3.catalog.jsonl', for messages
    id: int  # the set's id on the host that wrote it
    source_key: str
    name: str
    level: str
    started_at: datetime
    finished_at: datetime | None
    files: int
    bytes: int
    hash_algo: str
    tape_dir: str
    cartridges: list[str]
    base: tuple[str, datetime | None] | None
    entries: int | None  # rows the header announces (copies written before it was added have none)


_I64 = 1 << 63
_KINDS = tuple(KIND_CODES)
_HASHES = get_args(get_type_hints(BackupConfig)["hash"])  # the hashes a backup can record
#: An entry's keys in the order `_ENTRY_SQL` writes them, each with its type and
#: whether it may be null.
_ROW_SPEC = (
    ("path", str, False), ("kind", str, False), ("size", int, False), ("mtime_ns", int, False),
    ("mode", int, False), ("uid", int, False), ("gid", int, False), ("inode", int, False),
    ("ctime_ns", int, False), ("checksum", str, True), ("link_target", str, True), ("cartridge", str, True),
    ("position", int, True), ("deleted", bool, False),
)
_row_values = itemgetter(*(key for key, _, _ in _ROW_SPEC))
#: Every combination of types a good entry can have: checked in one set lookup per
#: row (a million-row copy), with `_get` run only to word the error.
_ROW_TYPES = frozenset(product(*((kind, type(None)) if null else (kind,) for _, kind, null in _ROW_SPEC)))


def _get(obj: dict, key: str, kind: type, *, null: bool = False) -> Any:
    """obj[key] if it is a `kind` (None too with `null`), else CopyError saying what is wrong."""
    if key not in obj:
        raise CopyError(f"{key!r} is missing")
    value = obj[key]
    if value is None and null:
        return None
    if type(value) is not kind:  # not isinstance: JSON true is no integer here
        raise CopyError(f"{key!r} is {value!r}, not {'null or ' if null else ''}{kind.__name__}")
    if kind is int and not -_I64 <= value < _I64:
        raise CopyError(f"{key!r} is {value}, out of range")
    return value


def _time(obj: dict, key: str, *, null: bool = False) -> datetime | None:
    text = _get(obj, key, str, null=null)
    try:
        return None if text is None else datetime.fromisoformat(text)  # as from_db, but "" is no time either
    except ValueError:
        raise CopyError(f"{key!r} is {text!r}, not a time") from None


def _json(raw: bytes) -> dict:
    try:
        value = json.loads(raw.decode())
    except ValueError as e:  # truncated or garbled; a bad UTF-8 byte too
        raise CopyError(f"not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise CopyError("not a JSON object")
    return value


def _read_header(path: str, file: str) -> SetCopy:
    """The header line of the copy at `path` (shown as `file`), checked field by field."""
    with open(path, "rb") as f:
        raw = f.readline()
    try:
        return _header(raw, path, file)
    except CopyError as e:
        raise CopyError(f"{file} line 1: {e}") from None


def _header(raw: bytes, path: str, file: str) -> SetCopy:
    top = _json(raw)
    if top.get("format") != FORMAT:
        raise CopyError("not a tapetui catalog copy")
    if (version := _get(top, "version", int)) != VERSION:
        raise CopyError(f"version {version} is not {VERSION} (written by another tapetui release)")
    h = _get(top, "set", dict)
    if (level := _get(h, "level", str)) not in LEVELS:
        raise CopyError(f"level {level!r} is not one of {', '.join(LEVELS)}")
    if (status := _get(h, "status", str)) != "complete":
        raise CopyError(f"status {status!r}: only a complete set has a catalog copy")
    if (algo := _get(h, "hash_algo", str)) not in _HASHES:
        raise CopyError(f"unknown hash {algo!r}")
    try:
        tape_dir = layout.checked_tape_dir(_get(h, "tape_dir", str))
    except BackupInputError as e:
        raise CopyError(str(e)) from None
    if layout.catalog_copy_relpath(tape_dir) != file:
        raise CopyError(f"names set folder {tape_dir!r}, but this copy belongs to "
                        f"{file.removesuffix(layout.COPY_SUFFIX)!r}")
    cartridges = _get(h, "cartridges", list)
    if not cartridges or not all(type(c) is str and c for c in cartridges):
        raise CopyError(f"'cartridges' is {cartridges!r}, not a list of barcodes")
    base = _get(h, "base", dict, null=True)
    started = _time(h, "started_at")
    assert started is not None
    copy = SetCopy(
        path=path, file=file, id=_get(h, "id", int), source_key=_get(h, "source_key", str),
        name=_get(h, "name", str), level=level, started_at=started, finished_at=_time(h, "finished_at", null=True),
        files=_get(h, "files", int), bytes=_get(h, "bytes", int), hash_algo=algo, tape_dir=tape_dir,
        cartridges=cartridges,
        base=None if base is None else (_get(base, "source_key", str), _time(base, "started_at")),
        entries=_get(h, "entries", int) if "entries" in h else None,
    )
    if copy.files < 0 or copy.bytes < 0:
        raise CopyError("negative 'files' or 'bytes'")
    return copy


def _read_rows(copy: SetCopy) -> list[tuple]:
    """The copy's entry lines as `Catalog.add_rows` tuples, with the cartridge's
    barcode where its id goes (ids are this host's). Each line is checked and, at
    the end, that the rows add up to what the header says (a copy cut short at a
    line's end is still valid JSON line by line)."""
    digest_hex = 2 * hashlib.new(copy.hash_algo).digest_size
    barcodes = set(copy.cartridges)
    rows: list[tuple] = []
    seen: set[tuple[str, str]] = set()
    files = nbytes = 0
    n = 1
    try:
        with open(copy.path, "rb") as f:
            f.readline()
            for n, raw in enumerate(f, 2):
                row = _row(raw, barcodes, digest_hex)
                if row[:2] in seen:  # a set holds one version of a path: which one would be true?
                    raise CopyError(f"path {row[0].rstrip('/') + '/' + row[1]!r} appears twice")
                seen.add(row[:2])
                if row[2] == "file" and not row[14]:
                    files += 1
                    nbytes += row[3]
                rows.append(row)
        if copy.entries is not None and len(rows) != copy.entries:
            raise CopyError(f"the header announces {copy.entries} entries, the copy holds {len(rows)}")
        if (files, nbytes) != (copy.files, copy.bytes):
            raise CopyError(f"the header says {copy.files} files of {copy.bytes} bytes, "
                            f"the entries hold {files} files of {nbytes} bytes")
    except CopyError as e:
        raise CopyError(f"{copy.file} line {n}: {e}") from None
    return rows


def _row(raw: bytes, barcodes: set[str], digest_hex: int) -> tuple:
    """One entry line as an `add_rows` tuple (barcode for cartridge id), or CopyError."""
    if not raw.endswith(b"\n"):
        raise CopyError("the copy ends mid-line (cut short)")
    e = _json(raw)
    try:
        values = _row_values(e)
    except KeyError:
        values = ()
    if tuple(map(type, values)) not in _ROW_TYPES or not -_I64 <= min(values[2:9]) <= max(values[2:9]) < _I64:
        for key, kind, null in _ROW_SPEC:
            _get(e, key, kind, null=null)  # raises, naming the first bad field
    path, kind, size, mtime_ns, mode, uid, gid, inode, ctime_ns, checksum, link, barcode, position, deleted = values
    if layout.safe_relpath(path) is None:
        raise CopyError(f"path {path!r} is not a plain absolute path")
    if kind not in _KINDS:
        raise CopyError(f"kind {kind!r} is not one of {', '.join(_KINDS)}")
    if size < 0:
        raise CopyError(f"'size' is {size}")
    if position is not None and not -_I64 <= position < _I64:
        raise CopyError(f"'position' is {position}, out of range")
    if barcode is not None and barcode not in barcodes:
        raise CopyError(f"cartridge {barcode!r} is not one of the set's {', '.join(sorted(barcodes))}")
    digest = None
    if checksum is not None:
        if len(checksum) != digest_hex:
            raise CopyError(f"'checksum' is not a hash of {digest_hex // 2} bytes")
        try:
            digest = bytes.fromhex(checksum)
        except ValueError:
            raise CopyError("'checksum' is not hexadecimal") from None
    if not deleted:
        if kind == "file" and (digest is None or barcode is None):
            raise CopyError("a file without its hash or cartridge")
        if kind == "symlink" and link is None:
            raise CopyError("a symlink without its target")
    folder, name = layout.split(path)
    return (folder, name, kind, size, mtime_ns, mode, uid, gid, inode, ctime_ns, digest, link, barcode, position,
            int(deleted))


async def import_cartridge(engine: Engine, log: RunLog) -> ImportResult:
    """Rebuild the catalog rows of the loaded cartridge's sets from its catalog copies.

    Each copy is read and checked whole before anything of its set is stored, and
    its set and rows are then stored in one transaction: a bad copy (or a crash
    half-way) adds nothing of its set, never a set marked complete with rows
    missing. Other sets still import; `refused` says which were not, and why."""
    status = await engine.driver.status()
    if status.loaded is None:
        raise UserError("the drive is empty: load the cartridge to import first")
    if status.label is None:
        raise UserError(f"{status.loaded} is blank: there is nothing to import")
    volume = await engine.driver.mount()
    result = ImportResult(status.loaded)
    root = os.path.join(str(volume.root), layout.ROOT)

    def refuse(why: str) -> None:
        result.refused.append(why)
        log.error(f"{why} (on {status.loaded}): its set is refused, nothing of it was imported")

    try:
        names = sorted(os.listdir(root)) if os.path.isdir(root) else []
        copies = [n for n in names if n.endswith(layout.COPY_SUFFIX)]
        folders = [n for n in names if os.path.isdir(os.path.join(root, n))]
        headers = []
        for name in copies:
            file = f"{layout.ROOT}/{name}"
            try:
                headers.append(await asyncio.to_thread(_read_header, os.path.join(root, name), file))
            except OSError as e:
                refuse(f"{file}: cannot be read: {e.strerror or e}")
            except CopyError as e:
                refuse(str(e))
        headers.sort(key=lambda c: to_db(c.started_at) or "")  # bases before the sets built on them
        for copy in headers:
            if (known := await engine.sets.find_same(copy.source_key, copy.started_at)) is not None:
                result.known.append(known)
                continue
            try:
                rows = await asyncio.to_thread(_read_rows, copy)
            except OSError as e:
                refuse(f"{copy.file}: cannot be read: {e.strerror or e}")
                continue
            except CopyError as e:
                refuse(str(e))
                continue
            await _import_set(engine, log, copy, rows, result)
        for folder in folders:
            if folder + layout.COPY_SUFFIX in copies:
                continue  # imported, known or refused above
            if not await engine.sets.holds(f"{layout.ROOT}/{folder}", status.loaded):
                result.without_copy.append(folder)
                log.warning(f"{layout.ROOT}/{folder} on {status.loaded} has no catalog copy here: its set "
                            "continued on another cartridge (import that one) or its backup did not finish")
    finally:
        await engine.driver.unmount()
    log.info(f"import of {status.loaded}: {len(result.added)} set(s) added, {len(result.known)} already "
             f"known, {len(result.refused)} refused, {result.entries} entries")
    return result


async def _import_set(engine: Engine, log: RunLog, copy: SetCopy, rows: list[tuple], result: ImportResult) -> None:
    """The set, its cartridges and all its rows in one transaction."""
    async with engine.store.transaction():
        if (known := await engine.sets.find_same(copy.source_key, copy.started_at)) is not None:
            result.known.append(known)  # another import stored it meanwhile
            return
        set_id = await engine.sets.add_imported(
            source_key=copy.source_key, name=copy.name, level=copy.level, status="complete",
            started_at=copy.started_at, finished_at=copy.finished_at, files=copy.files, bytes_=copy.bytes,
            hash_algo=copy.hash_algo, tape_dir=copy.tape_dir, base=copy.base,
        )
        ids: dict[str | None, int | None] = {None: None}
        for barcode in copy.cartridges:
            ids[barcode] = (await engine.cartridges.upsert(barcode)).id
            await engine.sets.add_cartridge(set_id, ids[barcode])
        batch = engine.config.backup.batch_rows
        for i in range(0, len(rows), batch):
            await engine.catalog.add_rows(set_id, [(*r[:12], ids[r[12]], *r[13:]) for r in rows[i : i + batch]])
        unlinked = copy.base is not None and (await engine.sets.get(set_id)).base_set_id is None
    if unlinked:
        log.warning(f"set {copy.id}'s base set is not in the catalog yet: import the cartridge that holds "
                    "it (unless its copy was refused above)")
    result.added.append(set_id)
    result.entries += len(rows)
    log.info(f"imported set {copy.id} ({copy.level}, {len(rows)} entries) as set {set_id}")
