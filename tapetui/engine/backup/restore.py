"""Restore: a point in time (as of a set, or as of a time), whole or in part, to
the original place or under another folder (each file keeps its absolute path
beneath it, like Bareos's `where=`).

Folders are made first, then files are read cartridge by cartridge in tape
order, each written to a temporary name, hash-checked, given its mode, owner
and times, and only then renamed into place; symlinks come last, and folder
modes and times are set deepest first at the very end (so a read-only folder
does not stop its own restore). A catalog path can never write outside the
target: `..`, relative or odd paths, parents that are symlinks leading out, and
symlinks pointing out are refused and logged.

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
import posixpath
import stat
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from ..errors import UserError
from ..runlog import RunLog
from ..tape.base import TapeError
from .cartridge import open_for_read
from .chain import merge_newest, newest_by, overwritten_newer, resolve_chain
from .errors import BackupInputError, RunFailed
from .layout import file_relpath, safe_relpath
from .levels import sources_of
from .progress import Ticker
from .state import Version, load_versions
from .tapeorder import Hasher, in_tape_order
from .writer import Stopped

if TYPE_CHECKING:
    from ..core import Engine

CONFLICTS = ("skip", "overwrite", "rename")


@dataclass
class RestoreRequest:
    target: str  # a folder; "/" restores to the original location
    set_id: int | None = None  # as of this set ...
    at: datetime | None = None  # ... or as of this time (neither: now)
    paths: list[str] = field(default_factory=list)  # folders or files; empty: everything
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
    skipped: int = 0
    renamed: int = 0
    identical: int = 0  # with "rename": already there, byte for byte (no copy made)
    refused: int = 0
    errors: list[str] = field(default_factory=list)


def _normalize_selection(paths: list[str]) -> list[str]:
    out = []
    for p in paths:
        if not p.startswith("/"):
            raise BackupInputError(f"restore paths are absolute paths as backed up, not {p!r}")
        norm = posixpath.normpath(p)
        out.append("/" if norm == "//" else norm)
    return out


class _Restorer:
    """The file-system side, run in a worker thread."""

    def __init__(self, root: str, conflict: str, result: RestoreResult, log: RunLog, stop: threading.Event,
                 algo: str) -> None:
        self.root = root
        self.conflict = conflict
        self.result = result
        self.log = log
        self.hasher = Hasher(algo, stop)
        self._checker = Hasher(algo, stop)  # existing files; its byte count is not restore progress
        self._inside_ok: set[str] = set()
        self._tmp = itertools.count()
        self.is_root = hasattr(os, "geteuid") and os.geteuid() == 0
        self.current = ""

    # -- safety ---------------------------------------------------------------------
    def _refuse(self, path: str, why: str) -> None:
        self.result.refused += 1
        self.log.emit_threadsafe("warning", f"refused {path!r}: {why}")

    def _error(self, text: str) -> None:
        self.result.errors.append(text)
        self.log.emit_threadsafe("error", text)

    def dest(self, path: str) -> str | None:
        rel = safe_relpath(path)
        if rel is None:
            self._refuse(path, "not a plain absolute path (it could escape the target)")
            return None
        return os.path.join(self.root, rel)

    def _inside(self, folder: str) -> bool:
        """True when `folder` (as it resolves now, symlinks followed) is inside the root."""
        if self.root == "/" or folder in self._inside_ok:
            return True
        if self._within(os.path.realpath(folder)):
            self._inside_ok.add(folder)
            return True
        return False

    def _parent_ready(self, path: str, dest: str) -> bool:
        parent = os.path.dirname(dest)
        if not self._inside(parent):
            self._refuse(path, "a folder on its way is a symlink leading out of the target")
            return False
        try:
            os.makedirs(parent, exist_ok=True)
        except OSError as e:
            self._error(f"{path}: cannot make its folder: {e.strerror}")
            return False
        return True

    def _identical(self, dest: str, v: Version) -> bool:
        """Whether `dest` is a regular file holding exactly `v`'s bytes."""
        try:
            st = os.lstat(dest)
            return (stat.S_ISREG(st.st_mode) and st.st_size == v.size
                    and self._checker.run(dest) == (v.checksum, v.size))
        except OSError:
            return False

    def _place(self, path: str, dest: str, v: Version) -> str | None:
        """Where to put `path` given what exists (None: skip it)."""
        if not os.path.lexists(dest):
            return dest
        if self.conflict == "skip":
            self.result.skipped += 1
            return None
        if self.conflict == "rename":
            for n in itertools.count(0):
                candidate = dest if n == 0 else f"{dest}.restored" + ("" if n == 1 else f".{n}")
                if not os.path.lexists(candidate):
                    self.result.renamed += 1
                    return candidate
                if self._identical(candidate, v):  # the file or an earlier restored copy: a twin helps nobody
                    self.result.identical += 1
                    return None
        if os.path.isdir(dest) and not os.path.islink(dest):
            self._error(f"{path}: a folder is in the way (it is not overwritten by a file)")
            return None
        return dest

    # -- metadata ---------------------------------------------------------------------
    def _meta(self, target: str, v: Version, link: bool = False) -> None:
        if self.is_root:
            try:
                os.chown(target, v.uid, v.gid, follow_symlinks=False)
            except OSError as e:
                self.log.emit_threadsafe("warning", f"{v.path}: cannot set its owner: {e.strerror}")
        if not link:
            os.chmod(target, v.mode & 0o7777)
        if link and os.utime not in os.supports_follow_symlinks:
            return
        os.utime(target, ns=(v.mtime_ns, v.mtime_ns), follow_symlinks=not link)

    # -- phases -----------------------------------------------------------------------
    def make_dirs(self, dirs: list[Version]) -> list[tuple[str, Version]]:
        made = []
        for v in sorted(dirs, key=lambda v: v.path):
            dest = self.dest(v.path)
            if dest is None or not self._parent_ready(v.path, dest):
                continue
            if os.path.isdir(dest) and not os.path.islink(dest):
                made.append((dest, v))
                continue
            if os.path.lexists(dest):
                self._error(f"{v.path}: something that is not a folder is in the way")
                continue
            try:
                os.mkdir(dest, 0o700)
            except OSError as e:
                self._error(f"{v.path}: cannot make the folder: {e.strerror}")
                continue
            self.result.dirs += 1
            made.append((dest, v))
        return made

    def files(self, volume_root: str, items: list[Version]) -> None:
        for v in items:
            self.current = v.path
            dest = self.dest(v.path)
            if dest is None or not self._parent_ready(v.path, dest):
                continue
            dest = self._place(v.path, dest, v)
            if dest is None:
                continue
            folder, name = os.path.split(dest)
            tmp = os.path.join(folder, f".tapetui-restore-{os.getpid()}-{next(self._tmp)}")
            source = os.path.join(volume_root, file_relpath(v.tape_dir, v.path))
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
                with io.FileIO(fd, "wb") as out:
                    digest, size = self.hasher.run(source, out)
                if size != v.size or digest != v.checksum:
                    os.unlink(tmp)
                    self._error(f"{v.path}: hash mismatch reading it from {v.cartridge} (not restored)")
                    continue
                self._meta(tmp, v)
                os.replace(tmp, dest)
            except Stopped:
                _unlink(tmp)
                raise
            except OSError as e:
                _unlink(tmp)
                where = "on the cartridge" if e.filename == source else "in the target"
                self._error(f"{v.path}: {e.strerror} {where}")
                continue
            self.result.files += 1
            self.result.bytes += size

    def _link_escapes(self, folder: str, link: str) -> str | None:
        """Why the symlink text `link`, placed in `folder`, could lead out of the root (None: it cannot).

        Walked from the folder's real path: `..` steps up from a real folder are
        exact and must stay inside; a `..` after a name that is not a real folder
        here (a symlink, possibly one this restore makes later, or a missing
        name) is refused, as it could go anywhere; a name that is already a
        symlink must resolve inside. Links that pass only go up from real folders
        and then down, so they stay inside whatever order links are made in."""
        if os.path.isabs(link):
            return f"symlink to {link!r} points outside the target"
        cur, through = os.path.realpath(folder), None
        for part in link.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if through is not None:
                    return (f"symlink to {link!r} goes up ('..') after {through!r}, which is not a plain folder "
                            "here (a symlink, a file or missing): it could lead outside the target")
                cur = os.path.dirname(cur)
                if not self._within(cur):
                    return f"symlink to {link!r} points outside the target"
                continue
            cur = os.path.join(cur, part)
            is_link = os.path.islink(cur)
            if is_link and not self._within(os.path.realpath(cur)):
                return f"symlink to {link!r} goes through {part!r}, a symlink leading outside the target"
            if through is None and (is_link or not os.path.isdir(cur)):
                through = part
        return None

    def _within(self, real: str) -> bool:
        return real == self.root or real.startswith(self.root + "/")

    def symlinks(self, links: list[Version]) -> None:
        for v in links:
            dest = self.dest(v.path)
            if dest is None or not self._parent_ready(v.path, dest):
                continue
            link = v.link_target or ""
            if self.root != "/" and (why := self._link_escapes(os.path.dirname(dest), link)):
                self._refuse(v.path, why)
                continue
            dest = self._place(v.path, dest, v)
            if dest is None:
                continue
            try:
                if os.path.lexists(dest):
                    os.unlink(dest)
                os.symlink(link, dest)
                self._meta(dest, v, link=True)
            except OSError as e:
                self._error(f"{v.path}: cannot make the symlink: {e.strerror}")
                continue
            self.result.symlinks += 1

    def dir_meta(self, made: list[tuple[str, Version]]) -> None:
        for dest, v in sorted(made, key=lambda p: p[0], reverse=True):
            try:
                self._meta(dest, v)
            except OSError as e:
                self.log.emit_threadsafe("warning", f"{v.path}: cannot set its mode or times: {e.strerror}")


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
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


async def run_restore(engine: Engine, request: RestoreRequest, log: RunLog) -> RestoreResult:
    if request.conflict not in CONFLICTS:
        raise BackupInputError(f"unknown conflict rule {request.conflict!r}; expected one of {', '.join(CONFLICTS)}")
    if request.set_id is not None and request.at is not None:
        raise BackupInputError("restore as of a set or as of a time, not both")
    selection = _normalize_selection(request.paths)
    plan = await resolve_sets(engine, request.set_id, request.at)
    chains = plan.chains
    for note in plan.notes:
        log.warning(note)

    def load() -> dict[str, Version]:
        return merge_newest([(folders, load_versions(engine.home.db_path, chain, selection))
                             for folders, chain in zip(plan.folders, chains)])

    state = await asyncio.to_thread(load)
    for p in selection:
        if not any(path == p or path.startswith(p.rstrip("/") + "/") for path in state):
            raise BackupInputError(f"nothing under {p} in the catalog at that point in time")
    target = os.path.abspath(os.path.expanduser(request.target))
    try:
        os.makedirs(target, exist_ok=True)
    except OSError as e:
        raise BackupInputError(f"cannot use {target} as the restore folder: {e.strerror}") from None
    root = os.path.realpath(target)
    job_id = await asyncio.shield(engine.sets.start_restore(
        set_id=request.set_id, at_time=request.at, target=root, conflict=request.conflict, paths=selection,
        schedule_run_id=request.schedule_run_id,
    ))
    result = RestoreResult(job_id, "running", "", sets=[i for c in chains for i in c])
    versions = list(state.values())
    files = [v for v in versions if v.kind == "file"]
    total = sum(v.size for v in files)
    stop = threading.Event()
    algo = (await engine.sets.get(chains[-1][-1])).hash_algo
    worker = _Restorer(root, request.conflict, result, log, stop, algo)
    log.info(f"restoring {len(files)} files ({total} bytes) from set(s) {', '.join(map(str, result.sets))} "
             f"to {root} (existing files: {request.conflict})")
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
        await asyncio.to_thread(worker.symlinks, [v for v in versions if v.kind == "symlink"])
        await asyncio.to_thread(worker.dir_meta, made)
        result.status = "failed" if result.errors else ("warning" if result.refused else "success")
    except asyncio.CancelledError:
        stop.set()
        result.status, result.message = "cancelled", "cancelled"
        await asyncio.shield(_finish(engine, result))
        raise
    except (RunFailed, TapeError, UserError) as e:
        result.errors.append(str(e))
        log.error(str(e))
        result.status = "failed"
    finally:
        ticker.stop()
        try:
            await engine.driver.unmount()
        except TapeError:
            pass
    result.message = (f"restored {result.files} files ({result.bytes} bytes), {result.dirs} folders, "
                      f"{result.symlinks} symlinks to {root}"
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
