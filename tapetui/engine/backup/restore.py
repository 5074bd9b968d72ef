"""Restore: a point in time (as of a set, or as of a time), whole or in part, to
the original place or under another folder (each file keeps its absolute path
beneath it, like Bareos's `where=`).

Folders are made first, then files are read cartridge by cartridge in tape
order, each written to a temporary name, hash-checked, given its owner, mode,
extended attributes and times, and only then renamed into place (a sparse
file with its holes; a further name of a file as a hard link to the name
restored first). Symlinks, sockets, FIFOs and devices come last, and folder
metadata is set deepest first at the very end (so a read-only folder does not
stop its own restore). A catalog path can never write outside the target:
`..`, relative or odd paths are refused, and no name on the way is followed if
it is a symlink (see `_Restorer`).

A restore as of now or as of a time takes, per source set (folders and
patterns), its newest complete set and that set's chain; when several source
sets cover the same folder, the newest one says what the folder holds (see
`chain.merge_newest`). A newer set passed over because its cartridge was
formatted is named in the log, with the set used instead.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import os
import stat
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, TypedDict

from ..errors import UserError
from ..folders import Folders, is_in_the_way
from ..names import shown
from ..runlog import RunLog
from ..store.models import special_kind
from ..tape.base import TapeError
from ..units import human_bytes
from . import sparse, xattrs
from .cartridge import open_for_read
from .chain import merge_newest, newest_by, overwritten_newer, resolve_chain
from .errors import BackupInputError, RunFailed
from .layout import safe_relpath
from .levels import sources_of
from .progress import Ticker
from .selection import Selection
from .state import Version, load_versions
from .tapeorder import Hasher, in_tape_order, open_regular
from .writer import Stopped

if TYPE_CHECKING:
    from ..core import Engine

CONFLICTS = ("skip", "overwrite", "rename")


class _At(TypedDict, total=False):
    """Where a metadata call acts when not on an open file: a name in folder `dir_fd`."""

    dir_fd: int
    follow_symlinks: bool


@dataclass
class RestoreRequest:
    target: str  # a folder; "/" restores to the original location
    set_id: int | None = None  # as of this set ...
    at: datetime | None = None  # ... or as of this time (neither: now)
    paths: list[str] = field(default_factory=list)  # folders or files, exactly; empty: everything
    globs: list[str] = field(default_factory=list)  # whole-path globs naming what to restore, as paths do
    include: list[str] = field(default_factory=list)  # of that, only what these globs match ...
    exclude: list[str] = field(default_factory=list)  # ... and not what these match (see selection.py)
    conflict: str = "skip"  # what to do with a path that exists: skip | overwrite | rename
    schedule_run_id: int | None = None


@dataclass
class RestoreResult:
    job_id: int
    status: str  # success | warning | failed | cancelled
    message: str
    sets: list[int] = field(default_factory=list)  # the sets applied, oldest first
    files: int = 0
    bytes: int = 0
    dirs: int = 0
    symlinks: int = 0
    hardlinks: int = 0
    specials: int = 0  # sockets, FIFOs, devices
    unmade: int = 0  # what could not be made as it was (a device as non-root, an attribute): warnings
    skipped: int = 0
    renamed: int = 0
    identical: int = 0  # with "rename": already there, byte for byte (no copy made)
    refused: int = 0
    errors: list[str] = field(default_factory=list)


def selection_of(request: RestoreRequest) -> Selection:
    """The request's selection, checked (one line naming what is wrong)."""
    return Selection.of(request.paths, request.globs, request.include, request.exclude)


class _Restorer:
    """The file-system side, run in a worker thread.

    Everything in the target is reached a name at a time from open folders
    (`folders.Folders`) with O_NOFOLLOW: no write ever goes through a symlink,
    so symlinks are restored verbatim (absolute or not, as tar and rsync do) and
    a path deeper than PATH_MAX under the target still fits. A restore to '/'
    follows symlinks on the way: that is the live system's own layout."""

    def __init__(self, root: str, conflict: str, result: RestoreResult, log: RunLog, stop: threading.Event,
                 algo: str) -> None:
        self.root = root
        self.conflict = conflict
        self.result = result
        self.log = log
        self.hasher = Hasher(algo, stop)
        self._checker = Hasher(algo, stop)  # existing files; its byte count is not restore progress
        self.target = Folders(root, follow=root == "/")
        self._tmp = itertools.count()
        self.is_root = hasattr(os, "geteuid") and os.geteuid() == 0
        self.current = ""
        self._placed: dict[str, tuple[str, str]] = {}  # path -> (folder, name) it was restored as

    def close(self) -> None:
        self.target.close()

    # -- safety ---------------------------------------------------------------------
    def _refuse(self, path: str, why: str) -> None:
        self.result.refused += 1
        self.log.emit_threadsafe("warning", f"refused {path!r}: {why}")

    def _error(self, text: str) -> None:
        self.result.errors.append(text)
        self.log.emit_threadsafe("error", text)

    def _folder_of(self, v: Version) -> tuple[int, str, str] | None:
        """(open folder, folder, name) where `v` goes, its folders made; None when refused."""
        rel = safe_relpath(v.path)
        if rel is None:
            self._refuse(v.path, "not a plain absolute path (it could escape the target)")
            return None
        folder, _, name = rel.rpartition("/")
        try:
            return self.target.fd(folder, create=True), folder, name
        except OSError as e:
            if is_in_the_way(e):
                self._refuse(v.path, "a folder on its way is a symlink or not a folder (writing there could "
                             "leave the target)")
            else:
                self._error(f"{v.path}: cannot make its folder: {e.strerror}")
            return None

    def _identical(self, at: int, name: str, v: Version) -> bool:
        """Whether `name` is a regular file holding exactly `v`'s bytes."""
        try:
            fd = os.open(name, _READ_EXISTING, dir_fd=at)
        except OSError:
            return False
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size != v.size:  # no read where the size tells
                os.close(fd)
                return False
        except OSError:
            os.close(fd)
            return False
        try:
            return self._checker.run(fd, limit=v.size) == (v.checksum, v.size)
        except OSError:
            return False

    def _place(self, v: Version, at: int, name: str) -> str | None:
        """The name to put `v` under given what exists (None: leave it)."""
        try:
            existing = os.lstat(name, dir_fd=at)
        except FileNotFoundError:
            return name
        if self.conflict == "skip":
            self.result.skipped += 1
            return None
        if self.conflict == "rename":
            for n in itertools.count(0):
                candidate = name if n == 0 else f"{name}.restored" + ("" if n == 1 else f".{n}")
                if not _lexists(at, candidate):
                    self.result.renamed += 1
                    return candidate
                if self._identical(at, candidate, v):  # the file or an earlier restored copy: a twin helps nobody
                    self.result.identical += 1
                    return None
        if stat.S_ISDIR(existing.st_mode):
            self._error(f"{v.path}: a folder is in the way (it is not overwritten by a file)")
            return None
        return name

    def _tmp_name(self) -> str:
        return f".tapetui-restore-{os.getpid()}-{next(self._tmp)}"

    # -- metadata ---------------------------------------------------------------------
    def _meta(self, v: Version, fd: int | None = None, at: int = -1, name: str = "") -> None:
        """Owner, mode, extended attributes (ACLs after the mode, capabilities after the
        owner: each resets the other), then times. On `fd`, or on `name` in folder
        `at` without following it (a symlink, a FIFO, a device)."""
        where: _At = {} if fd is not None else {"dir_fd": at, "follow_symlinks": False}
        target: int | str = name if fd is None else fd
        if self.is_root:
            try:
                os.chown(target, v.uid, v.gid, **where)
            except OSError as e:
                self.log.emit_threadsafe("warning", f"{v.path}: cannot set its owner: {e.strerror}")
        if v.kind != "symlink":
            os.chmod(target, v.mode & 0o7777, **({} if fd is not None else _At(dir_fd=at)))
        if v.xattrs:
            failed = xattrs.apply(self.target_path(at, name) if fd is None else fd, v.xattrs)
            if failed:
                self.result.unmade += 1
                self.log.emit_threadsafe("warning", f"{v.path}: extended attributes not set: {'; '.join(failed)}")
        os.utime(target, ns=(v.mtime_ns, v.mtime_ns), **where)

    @staticmethod
    def target_path(at: int, name: str) -> str:
        """A path to `name` in the open folder `at`, for the calls that take no folder fd."""
        return f"/proc/self/fd/{at}/{name}"

    # -- phases -----------------------------------------------------------------------
    def make_dirs(self, dirs: list[Version]) -> list[tuple[str, Version]]:
        made = []
        for v in sorted(dirs, key=lambda v: v.path):
            where = self._folder_of(v)
            if where is None:
                continue
            at, folder, name = where
            rel = f"{folder}/{name}" if folder else name
            try:
                os.mkdir(name, 0o700, dir_fd=at)
                self.result.dirs += 1
            except FileExistsError:
                if not stat.S_ISDIR(os.lstat(name, dir_fd=at).st_mode):
                    self._error(f"{v.path}: something that is not a folder is in the way")
                    continue
            except OSError as e:
                self._error(f"{v.path}: cannot make the folder: {e.strerror}")
                continue
            made.append((rel, v))
        return made

    def files(self, volume_root: str, items: list[Version]) -> None:
        """Files and hard links read from one cartridge, in tape order."""
        with Folders(volume_root) as on_tape:
            for v in items:
                self.current = v.path
                where = self._folder_of(v)
                if where is None:
                    continue
                at, folder, name = where
                placed = self._place(v, at, name)
                if placed is not None and self._file(v, on_tape, at, folder, placed):
                    self._placed[v.path] = (folder, placed)

    def _file(self, v: Version, on_tape: Folders, at: int, folder: str, name: str) -> bool:
        tmp = self._tmp_name()
        try:
            if v.kind == "hardlink":
                linked = self._link(v, folder, tmp)
                at = self.target.fd(folder)  # again: linking may have closed it to open others
                if linked:
                    os.replace(tmp, name, src_dir_fd=at, dst_dir_fd=at)
                    self.result.hardlinks += 1
                    return True
            try:
                source = open_regular(on_tape, v.tape_path)
            except OSError as e:
                self._error(f"{v.path}: cannot read it on {v.cartridge}: {e.strerror}")
                return False
            fd = os.open(tmp, _CREATE_NEW, 0o600, dir_fd=at)
            try:
                out = sparse.HoleWriter(fd) if v.sparse else io.FileIO(fd, "wb", closefd=False)
                digest, size = self.hasher.run(source, out, limit=v.size)
                if size != v.size or digest != v.checksum:
                    os.unlink(tmp, dir_fd=at)
                    self._error(f"{v.path}: hash mismatch reading it from {v.cartridge} (not restored)")
                    return False
                if isinstance(out, sparse.HoleWriter):
                    out.finish()
                self._meta(v, fd)
            finally:
                os.close(fd)
            os.replace(tmp, name, src_dir_fd=at, dst_dir_fd=at)
        except Stopped:
            _unlink(at, tmp)
            raise
        except (OSError, OverflowError, ValueError) as e:
            _unlink(at, tmp)
            self._error(f"{v.path}: {getattr(e, 'strerror', None) or e} in the target")
            return False
        self.result.files += 1
        self.result.bytes += v.size
        return True

    def _link(self, v: Version, folder: str, tmp: str) -> bool:
        """A hard link `tmp` in `folder` to the name holding its bytes, if this restore made that one."""
        placed = self._placed.get(v.link_target or "")
        if placed is None:
            return False
        source = os.dup(self.target.fd(placed[0]))  # opening `folder` may close the one open for it
        try:
            os.link(placed[1], tmp, src_dir_fd=source, dst_dir_fd=self.target.fd(folder), follow_symlinks=False)
        except OSError as e:
            self.log.emit_threadsafe("info", f"{v.path}: cannot link it to {v.link_target} ({e.strerror}); "
                                             "restored as a copy")
            return False
        finally:
            os.close(source)
        return True

    def others(self, items: list[Version]) -> None:
        """Symlinks, verbatim, and sockets, FIFOs and devices (after the files: nothing is
        written through them, and a FIFO is never opened)."""
        for v in items:
            where = self._folder_of(v)
            if where is None:
                continue
            at, _, wanted = where
            name = self._place(v, at, wanted)
            if name is None:
                continue
            tmp = self._tmp_name()
            try:
                if v.kind == "symlink":
                    os.symlink(v.link_target or "", tmp, dir_fd=at)
                elif stat.S_ISFIFO(v.mode):
                    os.mkfifo(tmp, 0o600, dir_fd=at)
                else:
                    os.mknod(tmp, stat.S_IFMT(v.mode) | 0o600, v.rdev or 0, dir_fd=at)
            except (OSError, OverflowError, ValueError) as e:
                what = "symlink" if v.kind == "symlink" else special_kind(v.mode)
                self.result.unmade += 1
                self.log.emit_threadsafe("warning", f"{v.path}: cannot make the {what}: "
                                                    f"{getattr(e, 'strerror', None) or e}; not restored")
                continue
            try:
                self._meta(v, at=at, name=tmp)
                os.replace(tmp, name, src_dir_fd=at, dst_dir_fd=at)
            except (OSError, OverflowError, ValueError) as e:
                _unlink(at, tmp)
                self._error(f"{v.path}: {getattr(e, 'strerror', None) or e} in the target")
                continue
            if v.kind == "symlink":
                self.result.symlinks += 1
            else:
                self.result.specials += 1

    def dir_meta(self, made: list[tuple[str, Version]]) -> None:
        """Deepest first, so a read-only folder is made so after its contents."""
        self.target.forget()
        for rel, v in sorted(made, key=lambda p: p[0], reverse=True):
            try:
                fd = self.target.fd(rel)
            except OSError as e:
                self.log.emit_threadsafe("warning", f"{v.path}: cannot set its mode or times: {e.strerror}")
                continue
            try:
                self._meta(v, fd)
            except (OSError, OverflowError, ValueError) as e:
                self.log.emit_threadsafe("warning", f"{v.path}: cannot set its mode or times: "
                                                    f"{getattr(e, 'strerror', None) or e}")


_READ_EXISTING = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
_CREATE_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _lexists(at: int, name: str) -> bool:
    try:
        os.lstat(name, dir_fd=at)
    except FileNotFoundError:
        return False
    return True


def _unlink(at: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=at)
    except OSError:
        pass


@dataclass
class RestorePlan:
    chains: list[list[int]]  # one per source set, oldest first, each oldest set first
    folders: list[list[str]]  # each chain's source folders
    notes: list[str] = field(default_factory=list)  # warnings for the restore log


async def resolve_sets(engine: Engine, set_id: int | None, at: datetime | None) -> RestorePlan:
    """The chains to apply (one per source set) and what the log must say about them."""
    sets = await engine.sets.all()
    by_id = {s.id: s for s in sets}
    if set_id is not None:
        return RestorePlan([[s.id for s in resolve_chain(by_id, set_id)]], [sources_of(by_id[set_id].source_key)])
    when = at or engine.clock()
    tops = newest_by(sets, when)
    notes = [f"set {lost.id} ({', '.join(sources_of(lost.source_key))}) was overwritten when its cartridge was "
             "formatted: " + (f"restoring those folders as of set(s) {', '.join(str(s.id) for s in instead)} instead"
                              if instead else "nothing else holds those folders: they are not restored")
             for lost, instead in overwritten_newer(sets, when, lambda s: sources_of(s.source_key))]
    return RestorePlan([[s.id for s in resolve_chain(by_id, t.id)] for t in tops],
                       [sources_of(t.source_key) for t in tops], notes)


@dataclass
class PreparedRestore:
    """What a restore will write, found before anything of it is recorded: bad input
    (an unknown set, a path or pattern that names nothing) leaves no run behind."""

    plan: RestorePlan
    selection: Selection
    state: dict[str, Version]


async def prepare_restore(engine: Engine, request: RestoreRequest) -> PreparedRestore:
    if request.conflict not in CONFLICTS:
        raise BackupInputError(f"unknown conflict rule {request.conflict!r}; expected one of {', '.join(CONFLICTS)}")
    if request.set_id is not None and request.at is not None:
        raise BackupInputError("restore as of a set or as of a time, not both")
    selection = selection_of(request)
    plan = await resolve_sets(engine, request.set_id, request.at)

    def load() -> dict[str, Version]:
        prefixes = selection.prefixes()
        return selection.apply(merge_newest([(folders, load_versions(engine.home.db_path, chain, prefixes))
                                             for folders, chain in zip(plan.folders, plan.chains, strict=True)]))

    return PreparedRestore(plan, selection, await asyncio.to_thread(load))


async def run_restore(engine: Engine, request: RestoreRequest, log: RunLog,
                      prepared: PreparedRestore | None = None) -> RestoreResult:
    prepared = prepared or await prepare_restore(engine, request)
    plan, selection, state = prepared.plan, prepared.selection, prepared.state
    chains = plan.chains
    for note in plan.notes:
        log.warning(note)
    if selection.patterns_text():
        log.info(f"selected by pattern: {selection.patterns_text()}")
    target = os.path.abspath(os.path.expanduser(request.target))
    try:
        os.makedirs(target, exist_ok=True)
    except OSError as e:
        raise BackupInputError(f"cannot use {target} as the restore folder: {e.strerror}") from None
    root = os.path.realpath(target)
    job_id = await asyncio.shield(engine.sets.start_restore(
        set_id=request.set_id, at_time=request.at, target=root, conflict=request.conflict, paths=selection.named,
        schedule_run_id=request.schedule_run_id,
    ))
    result = RestoreResult(job_id, "running", "", sets=[i for c in chains for i in c])
    versions = list(state.values())
    files = [v for v in versions if v.kind in ("file", "hardlink")]
    total = sum(v.size for v in files)
    stop = threading.Event()
    algo = (await engine.sets.get(chains[-1][-1])).hash_algo
    worker = _Restorer(root, request.conflict, result, log, stop, algo)
    log.info(f"restoring {len(files)} files ({human_bytes(total)}) from set(s) "
             f"{', '.join(map(str, result.sets))} to {root} (existing files: {request.conflict})")
    ticker = Ticker(log, "restoring", lambda: (result.files, len(files), worker.hasher.bytes_done, total,
                                                worker.current))
    try:
        made = await asyncio.to_thread(worker.make_dirs, [v for v in versions if v.kind == "dir"])
        loaded = (await engine.driver.status()).loaded
        for barcode, items in in_tape_order(files, loaded):
            if barcode is None:
                for v in items:
                    worker._error(f"{v.path}: the catalog names no cartridge for it")
                continue
            volume = await open_for_read(engine, log, barcode)
            await asyncio.to_thread(worker.files, str(volume.root), items)
        await asyncio.to_thread(worker.others, [v for v in versions if v.kind in ("symlink", "special")])
        await asyncio.to_thread(worker.dir_meta, made)
        result.status = "failed" if result.errors else ("warning" if result.refused or result.unmade else "success")
    except asyncio.CancelledError:
        stop.set()
        result.status, result.message = "cancelled", "cancelled"
        await asyncio.shield(_finish(engine, result))
        raise
    except (RunFailed, TapeError, UserError) as e:
        result.errors.append(str(e))
        log.error(str(e))
        result.status = "failed"
    except Exception as e:  # a bug must still end the job, not leave it 'running'
        result.errors.append(f"restore stopped by an internal error: {type(e).__name__}: {e}")
        log.error(result.errors[-1])
        result.status = "failed"
    finally:
        ticker.stop()
        await asyncio.to_thread(worker.close)
        try:
            await engine.driver.unmount()
        except TapeError:
            pass
    result.message = (f"restored {result.files} files ({human_bytes(result.bytes)}), {result.dirs} folders, "
                      f"{result.symlinks} symlinks to {shown(root)}"
                      + (f"; {result.hardlinks} hard links" if result.hardlinks else "")
                      + (f"; {result.specials} sockets, FIFOs or devices" if result.specials else "")
                      + (f"; {result.unmade} not made as they were" if result.unmade else "")
                      + (f"; {result.skipped} skipped (existing)" if result.skipped else "")
                      + (f"; {result.renamed} renamed" if result.renamed else "")
                      + (f"; {result.identical} already there, identical" if result.identical else "")
                      + (f"; {result.refused} refused" if result.refused else "")
                      + (f"; {len(result.errors)} error(s)" if result.errors else ""))
    log.info(result.message)
    await _finish(engine, result)
    await log.flush()
    return result


async def _finish(engine: Engine, result: RestoreResult) -> None:
    await engine.sets.finish_restore(result.job_id, status=result.status, files=result.files, bytes_=result.bytes,
                                     errors=len(result.errors) + result.refused, message=result.message)
