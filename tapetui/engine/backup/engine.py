"""One backup run: level and base, scan, pre-flight, the writer, the catalog copy,
and the set's status -- complete only after its last file and row are committed.

The caller (the scheduler's backup handler) has already done its month check and,
for a full backup, its format; this module never formats a cartridge that holds
data. A cancelled run (its task is cancelled) stops its threads, marks the set
incomplete and re-raises (catalog writes are shielded, so a cancellation never
lands inside a half-begun transaction); a run that fails is returned with status "failed".
Either way the set stays incomplete and earlier sets are untouched.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, TypeVarTuple, Unpack

from ..errors import UserError
from ..runlog import RunLog
from ..store.runs import Runs
from ..tape.base import TapeError
from ..units import human_bytes
from . import layout, signatures
from .cartridge import mark_full, open_for_write
from .catalog_copy import write_copy
from .errors import RunFailed
from .levels import LevelPlan, normalize_sources, plan_level, source_key
from .patterns import compile_patterns
from .progress import Ticker
from .scan import Scanner, ScanResult
from .writer import Stopped, TapeTarget, Writer

if TYPE_CHECKING:
    from ..core import Engine

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


@dataclass
class BackupRequest:
    sources: list[str]
    level: str = "full"
    includes: list[str] = field(default_factory=list)
    excludes: list[str] = field(default_factory=list)
    name: str = ""
    verify: bool | None = None  # None: the config's backup.verify_after
    #: "auto": a library may load another cartridge when the loaded one cannot take
    #: the run; "loaded": use the loaded cartridge or fail (spanning still loads the next).
    cartridge_policy: str = "auto"
    schedule_run_id: int | None = None


@dataclass
class BackupResult:
    status: str  # success | warning | failed | cancelled
    message: str
    backup_run_id: int | None = None
    set_id: int | None = None
    level: str = ""
    requested_level: str = ""
    base_set_id: int | None = None
    files: int = 0
    bytes: int = 0
    warnings: int = 0
    unchanged: int = 0
    deleted: int = 0
    special: int = 0  # sockets, FIFOs and devices recorded
    unreadable: int = 0
    cartridges: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    verify_ok: bool | None = None


class _Run:
    def __init__(self, engine: Engine, request: BackupRequest, log: RunLog, plan: LevelPlan,
                 sources: list[str], key: str, run_id: int, set_id: int) -> None:
        self.engine, self.request, self.log, self.plan = engine, request, log, plan
        self.sources, self.key, self.run_id, self.set_id = sources, key, run_id, set_id
        self.tape_dir = layout.set_dir(set_id)
        self.algo = engine.config.backup.hash
        self.loop = asyncio.get_running_loop()
        self.stop = threading.Event()
        self.done = threading.Event()  # worker thread finished (cancel waits for it)
        self.done.set()
        self.scan = ScanResult()
        self.writer: Writer | None = None
        self.target: TapeTarget | None = None
        self.barcodes: list[str] = []
        self.warnings = 0
        self._pending: concurrent.futures.Future | None = None

    # -- threads ------------------------------------------------------------------
    def _warn(self, text: str) -> None:
        self.warnings += 1  # writer/scanner thread; read after they finish
        self.log.emit_threadsafe("warning", text)

    async def _in_thread(self, fn: Callable[[Unpack[Ts]], T], *args: Unpack[Ts]) -> T:
        self.done.clear()

        def call() -> T:
            try:
                return fn(*args)
            finally:
                self.done.set()

        return await asyncio.to_thread(call)

    async def settle(self) -> None:
        """Stop the worker threads and wait (bounded) until they have."""
        self.stop.set()
        for _ in range(200):
            if self.done.is_set():
                break
            await asyncio.sleep(0.05)
        if self._pending is not None:  # its error, if any, is the one being handled
            await asyncio.gather(asyncio.wrap_future(self._pending), return_exceptions=True)

    def _call_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        """From the writer thread: run `coro` on the event loop and wait, unless stopped."""
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        while True:
            try:
                return fut.result(timeout=0.2)
            except concurrent.futures.TimeoutError:
                if self.stop.is_set():
                    fut.cancel()
                    raise Stopped from None

    def _submit_rows(self, rows: list[tuple]) -> None:
        """Writer thread: one batch in flight while the next is gathered."""
        if self._pending is not None:
            self._pending.result()
        self._pending = asyncio.run_coroutine_threadsafe(
            self.engine.catalog.add_rows(self.set_id, rows), self.loop)

    def _next_target(self) -> TapeTarget:
        return self._call_loop(self._switch())

    async def _switch(self) -> TapeTarget:
        assert self.target is not None
        full = self.target.barcode
        await mark_full(self.engine, self.target)
        self.log.info(f"cartridge {full} is full; set {self.set_id} continues on the next cartridge")
        await self.engine.driver.unmount()
        await self._use(await open_for_write(self.engine, self.log, exclude=set(self.barcodes), continuing=True))
        assert self.target is not None
        return self.target

    async def _use(self, target: TapeTarget) -> None:
        self.target = target
        self.barcodes.append(target.barcode)
        await asyncio.shield(self.engine.sets.add_cartridge(self.set_id, target.cartridge_id))
        self.log.info(f"writing set {self.set_id} to {target.barcode} "
                      f"({human_bytes(target.volume.free_bytes())} free)")

    # -- phases -------------------------------------------------------------------
    def _scan(self) -> None:
        chain = [s.id for s in self.plan.chain]
        base = signatures.load_state(self.engine.home.db_path, chain) if chain else None
        scanner = Scanner(
            self.sources, self.request.includes, self.request.excludes, base,
            info=lambda t: self.log.emit_threadsafe("info", t), warn=self._warn, stop=self.stop,
        )
        scanner.result = self.scan
        scanner.run()

    async def run(self) -> None:
        ticker = Ticker(self.log, "scanning", lambda: (self.scan.seen, 0, 0, 0, ""))
        try:
            await self._in_thread(self._scan)
        finally:
            ticker.stop()
        s = self.scan
        self.log.info(
            f"scan: {len(s.paths)} files to copy ({human_bytes(s.bytes_total)}), {s.unchanged} unchanged, "
            f"{s.deleted} deleted, {len(s.rows) - s.deleted} folders/symlinks/special files recorded"
            + (f" ({s.special} sockets, FIFOs or devices)" if s.special else "")
            + (f", {len(s.links)} further names of files (hard links)" if s.links else "")
            + (f", {s.unreadable} unreadable" if s.unreadable else "")
        )
        batch = self.engine.config.backup.batch_rows
        for i in range(0, len(s.rows), batch):
            await asyncio.shield(self.engine.catalog.add_rows(self.set_id, s.rows[i : i + batch]))
        if s.paths or s.rows or s.links:
            await self._write()

    async def _write(self) -> None:
        engine, log = self.engine, self.log
        status = await engine.driver.status()
        if self.request.cartridge_policy == "loaded" and status.loaded is None:
            raise RunFailed("the drive is empty and the cartridge policy is 'loaded'")
        await self._use(await open_for_write(engine, log, exclude=set(), continuing=False))
        assert self.target is not None
        free = self.target.volume.free_bytes()
        need = self.scan.bytes_total
        if need > free:
            then = ("the library will load the next cartridge when it fills" if engine.driver.has_changer
                    else "you will be asked for another cartridge when it fills")
            log.warning(f"pre-flight: this backup needs about {human_bytes(need)} but {self.target.barcode} has "
                        f"{human_bytes(free)} free; the set will span cartridges ({then})")
        else:
            log.info(f"pre-flight: {human_bytes(need)} to write, {human_bytes(free)} free on {self.target.barcode}")
        paths = self.scan.paths
        cfg = engine.config.backup
        self.writer = w = Writer(
            paths=paths, sizes=self.scan.sizes, set_id=self.set_id, tape_dir=self.tape_dir, algo=self.algo,
            readers=cfg.readers, batch_rows=cfg.batch_rows, target=self.target, next_target=self._next_target,
            submit_rows=self._submit_rows, warn=self._warn, stop=self.stop, links=self.scan.links,
        )
        ticker = Ticker(log, "writing", lambda: (w.files_done, len(paths), w.bytes_done, need, w.current))
        try:
            await self._in_thread(w.run)
        finally:
            ticker.stop()
        if self._pending is not None:
            await asyncio.wrap_future(self._pending)
            self._pending = None
        self.target = w.target

    async def _save_state(self) -> None:
        """The state this set leaves, for the next run to start from (a cache: the
        catalog entries say the same, so failing to store it only costs speed)."""
        engine, chain = self.engine, [s.id for s in self.plan.chain]
        try:
            unchanged = bool(chain) and not await engine.states.has_entries(self.set_id)
            if unchanged and await asyncio.to_thread(signatures.has_snapshot, engine.home.db_path, chain):
                await asyncio.shield(engine.states.save_same(self.set_id, [*chain, self.set_id], chain[-1]))
                return
            parts = await asyncio.to_thread(signatures.state_after, engine.home.db_path, chain, self.set_id)
            await asyncio.shield(engine.states.save(self.set_id, [*chain, self.set_id], signatures.SCHEME, parts))
        except (sqlite3.Error, ValueError, OSError) as e:
            self.log.info(f"the set's change signatures were not stored ({e}); the next run reads them "
                          "from the catalog instead")

    async def _prune_states(self) -> None:
        """After the set is complete: a failure here must not fail the run."""
        try:
            await asyncio.shield(self.engine.states.prune(self.key))
        except sqlite3.Error as e:
            self.log.info(f"older change-signature states were not removed ({e}); the next run removes them")

    async def _write_copy(self, finished: datetime, files: int, nbytes: int) -> None:
        if self.target is None:
            return
        try:
            await write_copy(self.engine, self.target.volume, self.set_id, finished_at=finished,
                             files=files, bytes_=nbytes)
        except (OSError, TapeError) as e:
            self.warnings += 1
            self.log.warning(f"could not write the catalog copy to {self.target.barcode}: {e}; "
                             "the catalog database still holds every row")

    async def finish(self) -> BackupResult:
        """Catalog copy on the last cartridge, then -- only then -- the set is complete."""
        finished = self.engine.clock()
        w = self.writer
        files, nbytes = (w.files_written, w.bytes_written) if w else (0, 0)
        await self._write_copy(finished, files, nbytes)
        self.scan.paths.clear()  # the writer's list too: a million paths are 100 MB, and the state comes next
        del self.scan.sizes[:]
        await self._save_state()  # after, not beside: two threads contending for the GIL took longer
        await self.engine.sets.complete(self.set_id, files=files, bytes_=nbytes, finished_at=finished)
        await self._prune_states()
        s = self.scan
        unreadable = s.unreadable + (w.unreadable if w else 0)
        result = BackupResult(
            status="warning" if self.warnings else "success", message="",
            backup_run_id=self.run_id, set_id=self.set_id, level=self.plan.level,
            requested_level=self.request.level, base_set_id=self.plan.base.id if self.plan.base else None,
            files=files, bytes=nbytes, warnings=self.warnings, unchanged=s.unchanged, deleted=s.deleted,
            special=s.special, unreadable=unreadable, cartridges=list(self.barcodes),
        )
        result.message = (f"{self.plan.level} backup, set {self.set_id}: {files} files, {human_bytes(nbytes)}"
                          + (f" on {', '.join(self.barcodes)}" if self.barcodes else " (nothing changed)")
                          + (f"; completed with {self.warnings} warning(s)" if self.warnings else ""))
        return result


#: Recording a failed run is retried this often, this far apart, when the catalog
#: is locked or full: the failure that ended the run is often the same one.
RECORD_ATTEMPTS = 5
RECORD_RETRY_S = 1.0


async def _retry_locked(fn: Callable[[], Awaitable[None]], log: RunLog) -> None:
    """Run the bookkeeping `fn`, retrying while the database is busy or full; if it
    never gets through, say so -- the set stays 'running' and the next start marks
    it incomplete (never complete)."""
    for attempt in range(RECORD_ATTEMPTS):
        try:
            return await fn()
        except sqlite3.OperationalError as e:
            if attempt == RECORD_ATTEMPTS - 1:
                log.error(f"could not record the failed run in the catalog ({e}); "
                          "the next start marks its set incomplete")
                return None
            await asyncio.sleep(RECORD_RETRY_S)
    return None


async def run_backup(engine: Engine, request: BackupRequest, log: RunLog) -> BackupResult:
    """Run one backup to the end (or to cancellation) and record it."""
    started = time.monotonic()
    sources = normalize_sources(request.sources)
    compile_patterns(request.includes)
    compile_patterns(request.excludes)
    key = source_key(sources, request.includes, request.excludes)
    plan = await plan_level(engine, key, request.level)
    sets = engine.sets
    async with engine.store.transaction():  # all or nothing (a full disk): no run left 'running' unrecorded
        run_id = await sets.start_run(
            requested_level=request.level, level=plan.level, sources=sources,
            options={"includes": request.includes, "excludes": request.excludes, "name": request.name},
            schedule_run_id=request.schedule_run_id,
        )
        set_id = await sets.create(
            backup_run_id=run_id, source_key=key, name=request.name, level=plan.level,
            base_set_id=plan.base.id if plan.base else None, hash_algo=engine.config.backup.hash,
            started_at=engine.clock(),
        )
        await sets.set_tape_dir(set_id, layout.set_dir(set_id))
        if request.schedule_run_id is not None:  # at once: a run cancelled or killed later still names its set
            await Runs(engine.store).link(request.schedule_run_id, backup_run_id=run_id, set_id=set_id)
    log.info(plan.note)
    job = _Run(engine, request, log, plan, sources, key, run_id, set_id)

    async def give_up(status: str, message: str) -> BackupResult:
        await job.settle()
        w = job.writer
        files, nbytes = (w.files_written, w.bytes_written) if w else (0, 0)
        async def record() -> None:
            await sets.mark_incomplete(set_id, files=files, bytes_=nbytes)
            await sets.finish_run(run_id, status=status, files=files, bytes_=nbytes, warnings=job.warnings,
                                  error=message, level=plan.level)

        await _retry_locked(record, log)
        return BackupResult(status=status, message=message, backup_run_id=run_id, set_id=set_id, level=plan.level,
                            requested_level=request.level, files=files, bytes=nbytes, warnings=job.warnings,
                            cartridges=list(job.barcodes), duration_s=time.monotonic() - started)

    try:
        try:
            await job.run()
            result = await job.finish()
        except asyncio.CancelledError:
            await asyncio.shield(give_up("cancelled", f"cancelled; set {set_id} is incomplete"))
            log.warning(f"backup cancelled; set {set_id} is marked incomplete")
            raise
        except (RunFailed, TapeError, UserError, OSError, sqlite3.OperationalError) as e:
            what = f"the catalog database could not be written ({e})" if isinstance(e, sqlite3.Error) else str(e)
            message = f"{what}; set {set_id} is incomplete"
            log.error(message)
            return await give_up("failed", message)
        except BaseException as e:
            await asyncio.shield(give_up("failed", f"internal error: {type(e).__name__}: {e}"))
            raise
        verify = engine.config.backup.verify_after if request.verify is None else request.verify
        if verify and result.files:
            from .verify import verify_set

            checked = await verify_set(engine, set_id, log)
            result.verify_ok = checked.ok
            if not checked.ok:
                result.status = "failed"
                result.message += f"; verify found {len(checked.problems)} problem(s)"
        result.duration_s = time.monotonic() - started
        await sets.finish_run(run_id, status=result.status, files=result.files, bytes_=result.bytes,
                              warnings=result.warnings, level=plan.level,
                              error=result.message if result.status == "failed" else None)
        log.info(result.message)
        return result
    finally:
        if job.barcodes:
            try:
                await engine.driver.unmount()
            except TapeError as e:
                log.warning(f"unmounting after the backup failed: {e}")
        await log.flush()
