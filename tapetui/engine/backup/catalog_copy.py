"""Self-describing cartridges: a copy of each set's catalog on the tape itself.

At the end of a set, `tapetui/set-<id>.catalog.jsonl` is written on the set's last
cartridge: a header line describing the set, then one JSON object per entry (the
keys of `_FIELDS`). With each file's `ltfs.hash.<algo>` extended attribute, this
lets `import_cartridge` rebuild the catalog from the tapes alone, as Bareos needs
`bscan` for. A set that spans cartridges has its copy on the last one only (the
earlier ones filled up); importing an earlier cartridge says so.

A tape is foreign input. A copy is opened only if it is a regular file (a symlink
to /dev/zero or a FIFO would never end), read one bounded line at a time (a copy
may hold millions), and every field of its header and entries is checked against
exact ranges, each entry's path against the set's source folders (restore writes
it there), and the header's counts against its rows. Rows are stored as they are
read, in one transaction: a copy that fails anywhere is refused whole, naming its
file and line, and nothing of its set is kept. The header's `entries` count (added
after the first copies were written, so optional) catches a copy cut short at a
line's end.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import errno
import hashlib
import json
import os
import sqlite3
import stat
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import IO, TYPE_CHECKING, Any, Callable, get_args, get_type_hints

from ..config import BackupConfig
from ..errors import UserError
from ..names import from_catalog
from ..runlog import RunLog
from ..tape.args import InvalidArgument, validate_barcode
from ..tape.base import Volume
from ..timeutil import to_db
from . import layout
from .chain import LEVELS
from .errors import BackupInputError
from .state import PATH_SQL, connect

if TYPE_CHECKING:
    from ..core import Engine

FORMAT = "tapetui-catalog"
VERSION = 1
#: The longest line a copy may hold: room for a header with many patterns, or an
#: entry with large extended attributes or a long sparse map. A longer line is
#: damage, and reading stops there instead of filling memory.
MAX_LINE = 16 << 20
#: A symlink's target is at most PATH_MAX bytes; in catalog form (names that are
#: not UTF-8 escaped) a byte may take up to 4 characters.
MAX_LINK = 4 * 4096
MAX_NAME = 4096  # a set's name
MAX_XATTR_NAME = 255  # bytes, as Linux allows
MAX_XATTR_VALUE = 64 << 10  # bytes, decoded
_I64 = 1 << 63
_ID_MAX = (1 << 32) - 2  # uid/gid: (uid_t)-1 means "no change" to chown, never an owner
_HASHES = get_args(get_type_hints(BackupConfig)["hash"])  # the hashes a backup can record
#: The file types (`S_IFMT` of st_mode) each kind of entry may have.
_KIND_TYPES = {
    "file": frozenset({stat.S_IFREG}),
    "dir": frozenset({stat.S_IFDIR}),
    "symlink": frozenset({stat.S_IFLNK}),
    "hardlink": frozenset({stat.S_IFREG}),  # a further name of a file, its bytes under the first
    "special": frozenset({stat.S_IFIFO, stat.S_IFSOCK, stat.S_IFCHR, stat.S_IFBLK}),
}


class CopyError(UserError, ValueError):
    """A catalog copy that cannot be trusted (damaged, truncated, hostile): its set is refused whole."""


Check = Callable[[Any], Any]


def _show(value: Any) -> str:
    """`value` for a one-line message: a hostile copy's megabyte string is cut."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _int(lo: int, hi: int, *, null: bool = False) -> Check:
    def check(value: Any) -> int | None:
        if value is None and null:
            return None
        if type(value) is not int:  # not isinstance: JSON true is no integer here
            raise CopyError(f"is {_show(value)}, not {'null or ' if null else ''}int")
        if not lo <= value <= hi:
            raise CopyError(f"is {value}, out of range {lo}..{hi}")
        return value
    return check


def _typed(kind: type) -> Check:
    def check(value: Any) -> Any:
        if type(value) is not kind:
            raise CopyError(f"is {_show(value)}, not {kind.__name__}")
        return value
    return check


def _text(limit: int) -> Check:
    is_text = _typed(str)

    def check(value: Any) -> str:
        if "\0" in is_text(value) or len(value) > limit:
            raise CopyError(f"is {_show(value)}: text without NUL of at most {limit} characters expected")
        return value
    return check


def _one_of(allowed: tuple[str, ...] | dict[str, Any]) -> Check:
    def check(value: Any) -> str:
        if type(value) is not str or value not in allowed:
            raise CopyError(f"is {_show(value)}, not one of {', '.join(allowed)}")
        return value
    return check


def _nullable(check: Check) -> Check:
    return lambda value: None if value is None else check(value)


def _host_form(text: str) -> str:
    """`text` (a name or path in catalog form, see `names`) as the host's, or
    CopyError: restore turns every name back, and must not fail doing it."""
    try:
        return from_catalog(text)
    except ValueError:
        raise CopyError(f"is {_show(text)}, not a name in catalog form") from None


def _path(value: Any) -> str:
    """A plain absolute path ('/a/b'); whether it lies in the set's sources is `_Entries.inside`."""
    if type(value) is not str or layout.safe_relpath(value) is None:
        raise CopyError(f"is {_show(value)}, not a plain absolute path")
    _host_form(value)
    return value


def _link(value: Any) -> str:
    """A symlink's target or a hardlink's first name (`_NEEDS` checks each kind's)."""
    _host_form(_text(MAX_LINE)(value))
    return value


def _hex(value: Any) -> bytes:
    """A hash as lowercase hex (its length is the set's hash's: `_Entries._check`)."""
    try:
        digest = bytes.fromhex(_typed(str)(value))
    except ValueError:
        digest = b""
    if 2 * len(digest) != len(value) or value != value.lower():  # fromhex skips spaces
        raise CopyError(f"is {_show(value)}, not hexadecimal")
    return digest


def _barcode(value: Any) -> str:
    try:
        return validate_barcode(value)
    except InvalidArgument as e:
        raise CopyError(f"is {_show(value)}: {e}") from None


def _xattrs(value: Any) -> dict[str, str]:
    """{name: base64 value}: names as Linux allows them, values up to its 64 KiB."""
    if type(value) is not dict:
        raise CopyError(f"is {_show(value)}, not an object")
    for name, data in value.items():
        try:
            size = len(_host_form(name).encode("utf-8", "surrogateescape"))
        except UnicodeEncodeError:  # a surrogate no name holds
            size = 0
        if not 0 < size <= MAX_XATTR_NAME or "\0" in name:
            raise CopyError(f"names {_show(name)}, not an attribute name of 1 to {MAX_XATTR_NAME} bytes")
        try:
            size = len(base64.b64decode(data, validate=True)) if type(data) is str else -1
        except binascii.Error:
            size = -1
        if not 0 <= size <= MAX_XATTR_VALUE:
            raise CopyError(f"{_show(name)} is {_show(data)}, not base64 of at most {MAX_XATTR_VALUE} bytes")
    return value


def _sparse(value: Any) -> list[list[int]]:
    """The data extents of a sparse file: [[offset, length], ...], sorted, apart."""
    if type(value) is not list:
        raise CopyError(f"is {_show(value)}, not a list")
    end = 0
    for extent in value:
        if (type(extent) is not list or len(extent) != 2 or type(extent[0]) is not int
                or type(extent[1]) is not int or extent[0] < end or extent[1] <= 0
                or extent[0] + extent[1] >= _I64):
            raise CopyError(f"holds {_show(extent)}, not an [offset, length] after {end} with length > 0")
        end = extent[0] + extent[1]
    return value


def _time(value: Any) -> datetime:
    """A time with its zone, as `to_db` writes it (a naive one would be read as local)."""
    try:
        when = datetime.fromisoformat(_typed(str)(value))
        to_db(when)  # out of range once moved to UTC (year 1 or 9999)?
    except (ValueError, OverflowError):
        raise CopyError(f"is {_show(value)}, not a time") from None
    if when.tzinfo is None:
        raise CopyError(f"is {_show(value)}, a time without its zone")
    return when


def _checked(obj: Any, checks: dict[str, Check], optional: frozenset[str] = frozenset()) -> dict[str, Any]:
    """`obj`'s fields, each passed through its check (a key in `optional` may be
    absent: it is read as null, so its check must take null); CopyError naming the
    first missing, bad or unknown field."""
    if type(obj) is not dict:
        raise CopyError(f"{_show(obj)} is not a JSON object")
    if len(obj) < len(checks):
        obj = dict.fromkeys(optional) | obj
    if not obj.keys() <= checks.keys():
        raise CopyError(f"unknown field {_show(min(obj.keys() - checks.keys()))}")
    try:
        return {key: check(obj[key]) for key, check in checks.items()}  # one pass (a million rows)
    except (KeyError, CopyError):
        pass
    for key, check in checks.items():  # again, to say which field is wrong
        if key not in obj:
            raise CopyError(f"{key!r} is missing")
        try:
            check(obj[key])
        except CopyError as e:
            why = str(e)  # "is 3, not str", or a field inside: "'x' is ..." -> "'key.x' is ..."
            raise CopyError(f"'{key}.{why[1:]}" if why.startswith("'") else f"{key!r} {why}") from None
    raise AssertionError("a check failed once only")


@dataclass(frozen=True)
class _Field:
    """One key of an entry line: how the copy writes it and how import checks and stores it."""

    key: str
    check: Check
    sql: str  # its value in `_ENTRY_SQL` (e: the entry, c: its cartridge)
    stored: bool = True  # a column of the same name (path and cartridge are stored as ids)
    optional: bool = False  # added after the first copies were written: may be absent
    as_json: bool = False  # stored as JSON text


_I64_RANGE = _int(-_I64, _I64 - 1)
_SIZE = _int(0, _I64 - 1)
#: An entry's keys, in the order `_ENTRY_SQL` writes them. A new field is one line here.
_FIELDS = (
    _Field("path", _path, PATH_SQL, stored=False),
    _Field("kind", _one_of(_KIND_TYPES), "e.kind"),
    _Field("size", _SIZE, "e.size"),
    _Field("mtime_ns", _I64_RANGE, "e.mtime_ns"),
    _Field("mode", _int(0, 0o177777), "e.mode"),
    _Field("uid", _int(0, _ID_MAX), "e.uid"),
    _Field("gid", _int(0, _ID_MAX), "e.gid"),
    _Field("inode", _SIZE, "e.inode"),  # SQLite's INTEGER is signed: what a backup could store
    _Field("ctime_ns", _I64_RANGE, "e.ctime_ns"),
    _Field("checksum", _nullable(_hex), "CASE WHEN e.checksum IS NULL THEN NULL ELSE lower(hex(e.checksum)) END"),
    _Field("link_target", _nullable(_link), "e.link_target"),
    _Field("cartridge", _nullable(_typed(str)), "c.barcode", stored=False),  # one of the header's
    _Field("position", _int(0, _I64 - 1, null=True), "e.position"),
    _Field("deleted", _typed(bool), "json(CASE WHEN e.deleted THEN 'true' ELSE 'false' END)"),
    _Field("xattrs", _nullable(_xattrs), "json(e.xattrs)", optional=True, as_json=True),
    _Field("rdev", _int(0, _I64 - 1, null=True), "e.rdev", optional=True),
    _Field("sparse", _nullable(_sparse), "json(e.sparse)", optional=True, as_json=True),
)
_ENTRY_CHECKS = {f.key: f.check for f in _FIELDS}
_ENTRY_OPTIONAL = frozenset(f.key for f in _FIELDS if f.optional)
_STORED = tuple(f for f in _FIELDS if f.stored)
_stored_values = itemgetter(*(f.key for f in _STORED))
_AS_JSON = tuple(f.key for f in _FIELDS if f.as_json)
#: One entry per row as JSON text, encoded by SQLite (a tenth of the time of
#: json.dumps per entry).
_ENTRY_SQL = (
    "SELECT json_object(" + ", ".join(f"'{f.key}', {f.sql}" for f in _FIELDS) + ") "
    "FROM entries e JOIN dirs d ON d.id = e.dir_id LEFT JOIN cartridges c ON c.id = e.cartridge_id "
    "WHERE e.set_id = ?"
)
#: A plain INSERT: a path twice in one copy fails on the primary key (which one would be true?).
_INSERT = (f"INSERT INTO entries(set_id, dir_id, name, cartridge_id, {', '.join(f.key for f in _STORED)}) "
           f"VALUES ({', '.join('?' * (4 + len(_STORED)))})")


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


@dataclass
class SetCopy:
    """The header of one catalog copy, every field checked."""

    path: str  # where it is read from
    file: str  # 'tapetui/set-3.catalog.jsonl', for messages
    id: int  # the set's id on the host that wrote it
    source_key: str
    roots: tuple[str, ...]  # its source folders: every entry lies in one (or is one)
    name: str
    level: str
    started_at: datetime
    finished_at: datetime | None
    files: int
    bytes: int
    hash_algo: str
    tape_dir: str
    cartridges: list[str]
    base: tuple[str, datetime] | None
    entries: int | None  # rows the header announces (copies written before it was added have none)


def _sources(source_key: str) -> list[str]:
    try:
        sources = json.loads(source_key).get("sources")
    except (ValueError, AttributeError, RecursionError):
        return []
    if type(sources) is not list or not all(type(s) is str and (s == "/" or layout.safe_relpath(s)) for s in sources):
        return []
    return sources


def _source_key(value: Any) -> str:
    """The sources and patterns a set backed up, as JSON: restore writes entries
    under its source folders, so each must be a plain absolute path."""
    if type(value) is not str or not _sources(value):
        raise CopyError(f"is {_show(value)}, not the JSON of a set's source folders")
    return value


def _tape_dir(value: Any) -> str:
    try:
        return layout.checked_tape_dir(_typed(str)(value))
    except BackupInputError:
        raise CopyError(f"is {_show(value)}, not a plain relative path inside the volume") from None


def _barcodes(value: Any) -> list[str]:
    if type(value) is not list or not value:
        raise CopyError(f"is {_show(value)}, not a list of barcodes")
    for barcode in value:
        _barcode(barcode)
    return value


_BASE_CHECKS: dict[str, Check] = {"source_key": _source_key, "started_at": _time}
_SET_CHECKS: dict[str, Check] = {
    "id": _SIZE, "source_key": _source_key, "name": _text(MAX_NAME), "level": _one_of(LEVELS),
    "status": _one_of(("complete",)),  # only a complete set has a copy
    "started_at": _time, "finished_at": _nullable(_time), "files": _SIZE, "bytes": _SIZE,
    "hash_algo": _one_of(_HASHES), "tape_dir": _tape_dir, "cartridges": _barcodes,
    "entries": _int(0, _I64 - 1, null=True),
    "base": _nullable(lambda base: _checked(base, _BASE_CHECKS)),
}
_FILE_TYPES = {stat.S_IFLNK: "symbolic link", stat.S_IFIFO: "FIFO", stat.S_IFSOCK: "socket",
               stat.S_IFCHR: "character device", stat.S_IFBLK: "block device", stat.S_IFDIR: "folder"}


def _open_copy(path: str, file: str) -> IO[bytes]:
    """The copy at `path` for reading, if it is a regular file: a symlink is not
    followed (to /dev/zero it never ends), nor a FIFO waited on, nor a device opened."""
    kind = stat.S_IFMT(os.lstat(path).st_mode)
    if kind == stat.S_IFREG:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as e:
            if e.errno != errno.ELOOP:
                raise
            kind = stat.S_IFLNK  # replaced since the lstat
        else:
            kind = stat.S_IFMT(os.fstat(fd).st_mode)  # the same name, but replaced since the lstat?
            if kind == stat.S_IFREG:
                return os.fdopen(fd, "rb")
            os.close(fd)
    raise CopyError(f"{file}: a {_FILE_TYPES.get(kind, 'special file')}, not a regular file")


def _line(f: IO[bytes]) -> bytes:
    """The next line of a copy (b'' at its end), never more than MAX_LINE bytes read."""
    raw = f.readline(MAX_LINE + 1)
    if len(raw) > MAX_LINE:
        raise CopyError(f"a line longer than {MAX_LINE >> 20} MiB")
    return raw


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode())
    except (ValueError, RecursionError) as e:  # truncated or garbled; a bad UTF-8 byte; [[[[...]]]]
        raise CopyError(f"not valid JSON ({str(e)[:80]})") from None


def _read_header(path: str, file: str) -> SetCopy:
    """The header line of the copy at `path` (shown as `file`), checked field by field."""
    with _open_copy(path, file) as f:
        try:
            return _header(_line(f), path, file)
        except CopyError as e:
            raise CopyError(f"{file} line 1: {e}") from None


def _header(raw: bytes, path: str, file: str) -> SetCopy:
    top = _json(raw)
    if type(top) is not dict or top.get("format") != FORMAT:
        raise CopyError("not a tapetui catalog copy")
    if top.get("version") != VERSION:
        raise CopyError(f"version {_show(top.get('version'))} is not {VERSION} (written by another tapetui release)")
    h = _checked(top, {"format": _typed(str), "version": _typed(int),
                       "set": lambda s: _checked(s, _SET_CHECKS, frozenset({"entries"}))})["set"]
    if layout.catalog_copy_relpath(h["tape_dir"]) != file:
        raise CopyError(f"names set folder {h['tape_dir']!r}, but this copy belongs to "
                        f"{file.removesuffix(layout.COPY_SUFFIX)!r}")
    base = h["base"]
    return SetCopy(
        path=path, file=file, id=h["id"], source_key=h["source_key"], roots=tuple(_sources(h["source_key"])),
        name=h["name"], level=h["level"], started_at=h["started_at"], finished_at=h["finished_at"],
        files=h["files"], bytes=h["bytes"], hash_algo=h["hash_algo"], tape_dir=h["tape_dir"],
        cartridges=h["cartridges"], base=None if base is None else (base["source_key"], base["started_at"]),
        entries=h["entries"],
    )


class _Entries:
    """The entry lines of one copy, read and checked a batch at a time (a copy may
    hold millions), each as (line, (folder, name, barcode, stored values)); `end`
    checks that they add up to what the header says."""

    def __init__(self, copy: SetCopy, f: IO[bytes]) -> None:
        self.copy, self.f = copy, f
        self.digest = hashlib.new(copy.hash_algo).digest_size
        self.barcodes = frozenset(copy.cartridges)
        self.prefixes = tuple(root.rstrip("/") + "/" for root in copy.roots)
        self.count = self.files = self.bytes = 0
        _line(f)  # the header, checked already
        self.line = 1

    def batch(self, size: int) -> list[tuple[int, tuple]]:
        out: list[tuple[int, tuple]] = []
        try:
            while len(out) < size:
                self.line += 1
                if not (raw := _line(self.f)):
                    self.line -= 1  # there is no such line: `end` names the last
                    break
                out.append((self.line, self._row(raw)))
        except CopyError as e:
            raise CopyError(f"{self.copy.file} line {self.line}: {e}") from None
        return out

    def end(self) -> None:
        copy = self.copy
        try:
            if copy.entries is not None and self.count != copy.entries:
                raise CopyError(f"the header announces {copy.entries} entries, the copy holds {self.count}")
            if (self.files, self.bytes) != (copy.files, copy.bytes):
                raise CopyError(f"the header says {copy.files} files of {copy.bytes} bytes, "
                                f"the entries hold {self.files} files of {self.bytes} bytes")
        except CopyError as e:
            raise CopyError(f"{copy.file} line {self.line}: {e}") from None

    def _row(self, raw: bytes) -> tuple:
        if not raw.endswith(b"\n"):
            raise CopyError("the copy ends mid-line (cut short)")
        e = _checked(_json(raw), _ENTRY_CHECKS, _ENTRY_OPTIONAL)
        self._check(e)
        self.count += 1
        if self.copy.entries is not None and self.count > self.copy.entries:
            raise CopyError(f"the header announces {self.copy.entries} entries, the copy holds more")
        if e["kind"] == "file" and not e["deleted"]:
            self.files += 1
            self.bytes += e["size"]
        for key in _AS_JSON:
            if e[key] is not None:
                e[key] = json.dumps(e[key], separators=(",", ":"))  # as a backup stores them
        return (*layout.split(e["path"]), e["cartridge"], _stored_values(e))

    def inside(self, path: str) -> bool:
        return path.startswith(self.prefixes) or path in self.copy.roots

    def _check(self, e: dict[str, Any]) -> None:
        """What one field says of another, and of the set."""
        path, kind, mode, deleted = e["path"], e["kind"], e["mode"], e["deleted"]
        if not self.inside(path):
            raise CopyError(f"path {_show(path)} is outside the set's source folders ({', '.join(self.copy.roots)})")
        if stat.S_IFMT(mode) not in _KIND_TYPES[kind] and not (deleted and mode == 0):
            raise CopyError(f"'mode' is {mode:#o}, not a {kind}'s")
        if e["checksum"] is not None and len(e["checksum"]) != self.digest:
            raise CopyError(f"'checksum' is not a hash of {self.digest} bytes")
        if e["cartridge"] is not None and e["cartridge"] not in self.barcodes:
            raise CopyError(f"cartridge {e['cartridge']!r} is not one of the set's {', '.join(sorted(self.barcodes))}")
        if e["sparse"] and sum(e["sparse"][-1]) > e["size"]:
            raise CopyError(f"'sparse' reaches past the file's {e['size']} bytes")
        if not deleted:
            _NEEDS[kind](self, e)


def _file_needs(entries: _Entries, e: dict[str, Any]) -> None:
    if e["checksum"] is None or e["cartridge"] is None:
        raise CopyError("a file without its hash or cartridge")


def _symlink_needs(entries: _Entries, e: dict[str, Any]) -> None:
    if not e["link_target"] or len(e["link_target"]) > MAX_LINK:
        raise CopyError(f"a symlink without its target (or one longer than {MAX_LINK} characters)")


def _hardlink_needs(entries: _Entries, e: dict[str, Any]) -> None:
    target = e["link_target"]
    if target is None or layout.safe_relpath(target) is None or not entries.inside(target) or target == e["path"]:
        raise CopyError(f"a hardlink to {_show(target)}, not to another path in the set's source folders")


def _special_needs(entries: _Entries, e: dict[str, Any]) -> None:
    if stat.S_IFMT(e["mode"]) in (stat.S_IFCHR, stat.S_IFBLK) and e["rdev"] is None:
        raise CopyError("a device without its number ('rdev')")


#: What a live (not deleted) entry of each kind must carry.
_NEEDS: dict[str, Callable[[_Entries, dict[str, Any]], None]] = {
    "file": _file_needs, "dir": lambda entries, e: None, "symlink": _symlink_needs,
    "hardlink": _hardlink_needs, "special": _special_needs,
}


async def import_cartridge(engine: Engine, log: RunLog) -> ImportResult:
    """Rebuild the catalog rows of the loaded cartridge's sets from its catalog copies.

    Each set and its rows are stored in one transaction as its copy is read and
    checked: a bad copy (or a crash half-way) adds nothing of its set, never a set
    marked complete with rows missing. Other sets still import; `refused` says
    which were not, and why."""
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
                await _import_set(engine, log, copy, result)
            except OSError as e:
                refuse(f"{copy.file}: cannot be read: {e.strerror or e}")
            except CopyError as e:
                refuse(str(e))
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


async def _import_set(engine: Engine, log: RunLog, copy: SetCopy, result: ImportResult) -> None:
    """The set, its cartridges and all its rows in one transaction, the rows
    stored a batch at a time as they are read (never the whole copy in memory):
    a bad line anywhere rolls all of it back."""
    f = await asyncio.to_thread(_open_copy, copy.path, copy.file)
    try:
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
                ids[barcode] = cartridge_id = (await engine.cartridges.upsert(barcode)).id
                await engine.sets.add_cartridge(set_id, cartridge_id)
            entries = await asyncio.to_thread(_Entries, copy, f)
            while batch := await asyncio.to_thread(entries.batch, engine.config.backup.batch_rows):
                await _store(engine, copy, set_id, ids, batch)
            entries.end()
            await _check_links(engine, copy, set_id, entries.line)
            unlinked = copy.base is not None and (await engine.sets.get(set_id)).base_set_id is None
    finally:
        f.close()
    if unlinked:
        log.warning(f"set {copy.id}'s base set is not in the catalog yet: import the cartridge that holds "
                    "it (unless its copy was refused above)")
    result.added.append(set_id)
    result.entries += entries.count
    log.info(f"imported set {copy.id} ({copy.level}, {entries.count} entries) as set {set_id}")


#: The first live hardlink of a set whose target is no live file of that set.
#: (The target's folder and name by SQL: rtrim by every character but '/' leaves
#: the text up to its last '/'.)
_LOST_LINK = (
    "SELECT h.link_target FROM entries h WHERE h.set_id = ?1 AND h.kind = 'hardlink' AND NOT h.deleted "
    "AND NOT EXISTS (SELECT 1 FROM dirs d JOIN entries t ON t.set_id = ?1 AND t.dir_id = d.id "
    "AND t.name = substr(h.link_target, length(rtrim(h.link_target, replace(h.link_target, '/', ''))) + 1) "
    "WHERE d.path = coalesce(nullif(rtrim(rtrim(h.link_target, replace(h.link_target, '/', '')), '/'), ''), '/') "
    "AND t.kind = 'file' AND NOT t.deleted) LIMIT 1"
)


async def _check_links(engine: Engine, copy: SetCopy, set_id: int, last_line: int) -> None:
    """Every hardlink names a file of its own set: restore reads its bytes there."""
    target = await engine.store.scalar(_LOST_LINK, (set_id,))
    if target is not None:
        raise CopyError(f"{copy.file} line {last_line}: a hardlink names {_show(target)}, "
                        "which is no file of this set")


async def _store(engine: Engine, copy: SetCopy, set_id: int, ids: dict[str | None, int | None],
                 batch: list[tuple[int, tuple]]) -> None:
    """One batch of checked rows (inside `_import_set`'s transaction)."""
    conn = engine.store.conn
    dirs = await engine.catalog.dir_ids({row[0] for _, row in batch})
    before = conn.total_changes
    try:
        await conn.executemany(_INSERT, [(set_id, dirs[folder], name, ids[barcode], *values)
                                         for _, (folder, name, barcode, values) in batch])
    except sqlite3.IntegrityError:  # the primary key: the first row not stored is one seen before
        line, (folder, name, _, _) = batch[conn.total_changes - before]
        raise CopyError(f"{copy.file} line {line}: path {folder.rstrip('/') + '/' + name!r} appears twice") from None
