"""Self-describing cartridges: a copy of each set's catalog on the tape itself.

At the end of a set, `tapetui/set-<id>.catalog.jsonl` is written on the set's last
cartridge: a header line describing the set, then one JSON object per entry
(path, kind, size, times, mode, owner, hash, link target, cartridge, position,
deleted). With each file's `ltfs.hash.<algo>` extended attribute, this lets
`import_cartridge` rebuild the catalog from the tapes alone, as Bareos needs
`bscan` for. A set that spans cartridges has its copy on the last one only (the
earlier ones filled up); importing an earlier cartridge says so.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from ..errors import UserError
from ..runlog import RunLog
from ..tape.base import Volume
from ..timeutil import from_db, to_db
from . import layout
from .state import PATH_SQL, connect

if TYPE_CHECKING:
    from ..core import Engine

FORMAT = "tapetui-catalog"
VERSION = 1


#: One entry per row as JSON text, encoded by SQLite (a tenth of the time of
#: json.dumps per entry): the keys and values `_import_set` reads.
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
            "cartridges": s.cartridges,
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


def _read_copy(path: str) -> tuple[dict, list[dict]]:
    with open(path, encoding="utf-8") as f:
        header = json.loads(f.readline())
        if header.get("format") != FORMAT:
            raise ValueError("not a tapetui catalog copy")
        return header["set"], [json.loads(line) for line in f if line.strip()]


async def import_cartridge(engine: Engine, log: RunLog) -> ImportResult:
    """Rebuild the catalog rows of the loaded cartridge's sets from its catalog copies."""
    status = await engine.driver.status()
    if status.loaded is None:
        raise UserError("the drive is empty: load the cartridge to import first")
    if status.label is None:
        raise UserError(f"{status.loaded} is blank: there is nothing to import")
    volume = await engine.driver.mount()
    result = ImportResult(status.loaded)
    root = os.path.join(str(volume.root), layout.ROOT)
    try:
        names = sorted(os.listdir(root)) if os.path.isdir(root) else []
        copies = [n for n in names if n.endswith(".catalog.jsonl")]
        folders = [n for n in names if os.path.isdir(os.path.join(root, n))]
        parsed = []
        for name in copies:
            try:
                parsed.append(await asyncio.to_thread(_read_copy, os.path.join(root, name)))
            except (OSError, ValueError, KeyError) as e:
                log.warning(f"{name} on {status.loaded} cannot be read: {e}")
        parsed.sort(key=lambda p: p[0]["started_at"])  # bases before the sets built on them
        for header, entries in parsed:
            await _import_set(engine, log, header, entries, result)
        for folder in folders:
            if not await engine.sets.holds(f"{layout.ROOT}/{folder}", status.loaded):
                result.without_copy.append(folder)
                log.warning(f"{layout.ROOT}/{folder} on {status.loaded} has no catalog copy here: its set "
                            "continued on another cartridge (import that one) or its backup did not finish")
    finally:
        await engine.driver.unmount()
    log.info(f"import of {status.loaded}: {len(result.added)} set(s) added, {len(result.known)} already "
             f"known, {result.entries} entries")
    return result


async def _import_set(engine: Engine, log: RunLog, h: dict, entries: list[dict], result: ImportResult) -> None:
    started = from_db(h["started_at"])
    assert started is not None
    known = await engine.sets.find_same(h["source_key"], started)
    if known is not None:
        result.known.append(known)
        return
    base = h.get("base")
    set_id = await engine.sets.add_imported(
        source_key=h["source_key"], name=h.get("name", ""), level=h["level"], status=h.get("status", "complete"),
        started_at=started, finished_at=from_db(h.get("finished_at")), files=h.get("files", 0),
        bytes_=h.get("bytes", 0), hash_algo=h.get("hash_algo", "sha256"), tape_dir=h["tape_dir"],
        base=(base["source_key"], from_db(base["started_at"])) if base else None,
    )
    if base and (await engine.sets.get(set_id)).base_set_id is None:
        log.warning(f"set {h['id']}'s base set is not in the catalog yet: import its cartridge too")
    ids: dict[str, int] = {}
    for barcode in h.get("cartridges", []):
        ids[barcode] = (await engine.cartridges.upsert(barcode)).id
        await engine.sets.add_cartridge(set_id, ids[barcode])
    rows = []
    for e in entries:
        barcode = e.get("cartridge")
        if barcode and barcode not in ids:
            ids[barcode] = (await engine.cartridges.upsert(barcode)).id
        folder, name = layout.split(e["path"])
        rows.append((folder, name, e["kind"], e["size"], e["mtime_ns"], e["mode"], e["uid"], e["gid"],
                     e.get("inode", 0), e.get("ctime_ns", 0),
                     bytes.fromhex(e["checksum"]) if e.get("checksum") else None, e.get("link_target"),
                     ids.get(barcode) if barcode else None, e.get("position"), int(bool(e.get("deleted")))))
    batch = engine.config.backup.batch_rows
    for i in range(0, len(rows), batch):
        await engine.catalog.add_rows(set_id, rows[i : i + batch])
    result.added.append(set_id)
    result.entries += len(rows)
    log.info(f"imported set {h['id']} ({h['level']}, {len(rows)} entries) as set {set_id}")
