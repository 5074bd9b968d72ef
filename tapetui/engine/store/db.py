"""Opening the database: pragmas, corruption checks and forward migrations."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import sqlite3
import stat
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Iterable, Iterator, NoReturn, Sequence

import aiosqlite

from ..errors import StoreError
from ..paths import make_private_dir
from .schema import LATEST, MIGRATIONS

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA cache_size=-65536",
    "PRAGMA temp_store=MEMORY",
)


log = logging.getLogger("tapetui.store")


class DiskFull(StoreError, sqlite3.OperationalError):
    """The catalog's file system is full. SQLite says 'database or disk is full' (or
    only 'disk I/O error'); this names the folder. Still an OperationalError, so
    callers that retry a busy database retry this too (space may come back)."""


def _disk_full(e: BaseException, folder: Path) -> DiskFull | None:
    """`e` as a DiskFull naming `folder` when it is SQLite failing for want of space."""
    if isinstance(e, DiskFull) or not isinstance(e, sqlite3.OperationalError):
        return None
    code = getattr(e, "sqlite_errorcode", None) or 0
    if code == sqlite3.SQLITE_FULL or (code & 0xFF == sqlite3.SQLITE_IOERR and _no_space(folder)):
        return DiskFull(f"no space left on {folder}")
    return None


def _no_space(folder: Path) -> bool:
    try:
        return os.statvfs(folder).f_bavail == 0
    except OSError:
        return False


#: Space kept aside beside the catalog (`catalog.db-reserve`) and given back when
#: the disk fills, so the failed run's end can still be written.
RESERVE_BYTES = 1 << 20


def _fill(fd: int, size: int) -> None:
    """Allocate `size` bytes to the file (written out where the file system cannot
    preallocate; random, so a compressing one cannot make them free)."""
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as e:
        if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
            raise
        os.pwrite(fd, os.urandom(size), 0)


#: Rows per multi-row statement: at up to 9 values a row, under the 999 values
#: per statement of the oldest SQLite builds (32,766 or more in newer ones).
CHUNK_ROWS = 100


def chunks(items: Sequence[Any], size: int = CHUNK_ROWS) -> Iterator[Sequence[Any]]:
    """`items` in slices of at most `size`, for statements that bind values per item."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


class Store:
    """The one connection to the catalog database, with small query helpers.

    Repositories (cartridges, sets, catalog, schedules, runs, templates) take a
    Store and hold the SQL; screens never see SQL.
    """

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        # One connection serves every coroutine: transactions take turns, and a
        # task already inside one joins it (so repositories can nest).
        self._tx_lock = asyncio.Lock()
        #: Counts rollbacks, so caches of ids (catalog folders) know when ids
        #: they hold may have been rolled back.
        self.rollbacks = 0
        self._tx_owner: asyncio.Task | None = None
        real = Path(os.path.realpath(path))  # the file system that can fill is the file's own
        #: The folder a full disk is reported on, and the space kept aside for it.
        self.folder, self.reserve = real.parent, real.with_name(real.name + "-reserve")
        self.keep_reserve()

    def keep_reserve(self) -> None:
        """Set `RESERVE_BYTES` aside for the bookkeeping of a write that fails on a full
        disk (a failed run's end); quietly nothing while there is no room for it."""
        try:
            if os.stat(self.reserve).st_size >= RESERVE_BYTES:
                return
        except OSError:
            pass
        try:
            fd = os.open(self.reserve, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError:
            return
        try:
            _fill(fd, RESERVE_BYTES)
        except OSError:  # no room yet: a part would only take space from the catalog
            self.reserve.unlink(missing_ok=True)
        finally:
            os.close(fd)

    def _give_back_reserve(self) -> None:
        if os.path.lexists(self.reserve):
            log.warning("no space left on %s: the space kept aside is given back, so this run's end "
                        "can be recorded", self.folder)
            self.reserve.unlink(missing_ok=True)

    async def close(self) -> None:
        await self.conn.close()

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Every row, read to the end on the connection's thread in one step.

        A read must never be cancelled half-way (a console worker replaced by a
        newer one is): a query left open on the shared connection keeps its read
        snapshot, and every later read on it then misses commits made since by
        another process (a console saw a daemon's finished run as still running)."""
        return list(await self.conn.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """The first row (queries here return one or a few), read as `fetchall` is."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement in its own transaction; returns lastrowid."""
        async with self.transaction():
            cur = await self.conn.execute(sql, params)
            return cur.lastrowid or 0

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self.transaction():
            await self.conn.executemany(sql, rows)

    def owns_transaction(self) -> bool:
        """Whether the calling task is inside `transaction()` now."""
        return self._tx_owner is not None and self._tx_owner is asyncio.current_task()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any error.

        Nested use by the same task joins the outer transaction; other tasks wait."""
        task = asyncio.current_task()
        if self._tx_owner is task:
            yield self.conn
            return
        async with self._tx_lock:
            self._tx_owner = task
            try:
                try:
                    await self.conn.execute("BEGIN IMMEDIATE")
                except BaseException as e:
                    # Cancelled while BEGIN was queued: the connection's thread
                    # still runs it. Its queue is first-in first-out, so a
                    # rollback queued now runs after it (and is a no-op if not).
                    await self._rollback()
                    self._reraise(e)
                try:
                    yield self.conn
                except BaseException as e:
                    await self._rollback()
                    self._reraise(e)
                else:
                    try:
                        await self.conn.commit()
                    except BaseException as e:  # e.g. disk full at commit: nothing was kept
                        await self._rollback()
                        self._reraise(e)
            finally:
                self._tx_owner = None

    async def _rollback(self) -> None:
        """End a failed transaction. SQLite may have ended it already (it does on a full
        disk, at a statement or at COMMIT); the ROLLBACK then fails with 'cannot
        rollback - no transaction is active', which must not hide the error that matters."""
        self.rollbacks += 1
        try:
            await asyncio.shield(self.conn.rollback())
        except sqlite3.Error as e:
            log.debug("rollback after a failed transaction: %s", e)

    def _reraise(self, e: BaseException) -> NoReturn:
        """Raise `e`, a full disk as DiskFull naming the catalog's folder (and with the
        reserve given back, so what records the failure has room)."""
        full = _disk_full(e, self.folder)
        if full is None:
            raise e
        self._give_back_reserve()
        raise full from e

    async def version(self) -> int:
        return int(await self.scalar("PRAGMA user_version"))


async def _migrate(conn: aiosqlite.Connection, path: Path, upto: int) -> None:
    async with conn.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    current = row[0] if row else 0
    if current > LATEST:
        raise StoreError(
            f"{path}: the database is from a newer tapetui (schema {current}, this one knows "
            f"{LATEST}); upgrade tapetui"
        )
    for number in range(current + 1, upto + 1):
        script = MIGRATIONS[number - 1]
        try:
            await conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
        except sqlite3.Error as e:
            await conn.rollback()
            raise StoreError(f"{path}: upgrading the database to schema {number} failed: {e}") from e


_LEFT_AS_IS = "it was left untouched; move it aside to start a new catalog, or restore it from a copy"


async def open_store(path: Path, *, upto: int = LATEST) -> Store:
    """Open (creating if missing) and upgrade the catalog database.

    Anything at `path` that is not a usable database is reported, never replaced:
    it may be the only record of what is on the tapes. That includes an empty
    file, which SQLite would silently take as a new, empty catalog.
    `upto` exists for migration tests."""
    make_private_dir(path.parent)
    if not os.path.exists(path):  # missing, or a symlink to a missing file: made where it points
        await _create(Path(os.path.realpath(path)), upto)
    _check_usable(path)
    return Store(await _connect(path, upto), path)


async def _create(path: Path, upto: int) -> None:
    """A new catalog, made aside (0600) and linked into place whole, so no process
    ever finds (and refuses) an empty catalog.db another one is still making."""
    tmp = path.with_name(f".{path.name}.new-{os.getpid()}")
    _remove_with_sidecars(tmp)
    try:  # SQLite gives the -wal and -shm files the mode of the database file
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as e:
        raise StoreError(f"{path}: cannot create the catalog database: {e.strerror}") from None
    try:
        await (await _connect(tmp, upto)).close()
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process made it first: that one is used
        except OSError:  # a file system without hard links
            if not os.path.lexists(path):
                os.replace(tmp, path)
    finally:
        _remove_with_sidecars(tmp)


def _remove_with_sidecars(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)


def _check_usable(path: Path) -> None:
    """One clear line for what SQLite would report vaguely, late or not at all."""
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise StoreError(f"{path}: the catalog database is a folder, not a file")
        if not stat.S_ISREG(st.st_mode):
            raise StoreError(f"{path}: the catalog database is not a regular file")
        if st.st_size == 0:
            raise StoreError(f"{path}: the catalog database is empty (0 bytes); {_LEFT_AS_IS}")
        os.close(os.open(path, os.O_RDWR))
    except OSError as e:
        hint = " (immutable? see lsattr)" if e.errno == errno.EPERM else ""
        raise StoreError(f"{path}: cannot write the catalog database: {e.strerror}{hint}") from None


async def _connect(path: Path, upto: int) -> aiosqlite.Connection:
    try:
        conn = await aiosqlite.connect(path, isolation_level=None)
    except sqlite3.Error as e:
        raise StoreError(f"{path}: cannot open the catalog database ({e})") from None
    conn.row_factory = sqlite3.Row
    try:
        for pragma in PRAGMAS:
            await conn.execute(pragma)
        # Reading the schema is enough to detect "file is not a database";
        # a full integrity check belongs to the health_check action (it is slow
        # at 10 million rows).
        await (await conn.execute("SELECT count(*) FROM sqlite_master")).close()
        await _migrate(conn, path, upto)
    except sqlite3.DatabaseError as e:
        await conn.close()
        raise StoreError(f"{path}: cannot open the catalog database ({e}); {_LEFT_AS_IS}") from None
    except BaseException:
        await conn.close()
        raise
    return conn
