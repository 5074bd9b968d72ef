"""The data path: reader threads streaming large files to exactly one tape writer.

A tape drive streams only when one writer hands it one file after another. A
small file (up to `SMALL`, as the scan saw it) is read, hashed and written by
the writer itself: handing it to another thread costs more than the work (the
thread hand-offs of 100k small files took a quarter of the run). Large files
are read ahead by `readers` threads: large file i goes to reader i % n, each
reader keeps its files in order in its own bounded queue, so the writer always
knows where the next one comes from and memory stays bounded. They move as
chunks in a small pool of reused buffers; a chunk is hashed on a helper thread
while the reader reads the next one (hashlib lets go of the GIL), so a file
takes max(read, hash), not their sum; a chunk goes to the writer only once
hashed and comes back to the pool only once written, so the hash is always that
of exactly the bytes written.

The writer records each file's hash, cartridge and start position, stores the
hash on the volume as an extended attribute, and hands catalog rows to the
event loop in batches. A row also keeps the file's own extended attributes and,
for a sparse file, its data map. Further names of a file with hard links
(`ScanResult.links`) come last: each becomes a `hardlink` row naming the name
whose bytes are on tape, with that row's hash and position.

When a cartridge fills (ENOSPC; or EROFS, which real LTFS answers once the
volume has reached early warning and turned itself read-only), the file being written is abandoned there (its
partial copy is never catalogued), the next cartridge is obtained through
`next_target`, and the file is written again whole from the source.

A stopped run ends within a second at any drive speed: the writer and the
readers look at the stop between chunks, not only between files, and a volume
cuts short a write waiting on a slow drive (`Volume.stop_waits_on`).
"""

from __future__ import annotations

import concurrent.futures
import errno
import hashlib
import io
import os
import queue
import stat
import threading
from dataclasses import dataclass
from typing import Callable, Sequence, TypeVar

from ..names import to_catalog
from ..tape.base import TapeError, Volume
from . import sparse, xattrs
from .errors import RunFailed
from .layout import file_relpath, hash_xattr, split

#: What a write on a full cartridge fails with (real LTFS: ENOSPC, then EROFS once
#: the volume has switched to read-only at early warning; LTFS_RDONLY_VOLUME).
FULL_ERRNOS = {errno.ENOSPC, errno.EROFS}
#: What creating a file on the volume fails with for a name it cannot hold.
NAME_ERRNOS = {errno.ENAMETOOLONG, errno.EILSEQ, errno.EINVAL}

CHUNK = 256 * 1024  # hashing fresh, cache-warm chunks is faster than big ones
SMALL = CHUNK  # files up to this size are read whole by the writer itself
STREAM_CHUNK = 1024 * 1024  # a large file moves in these: 4x fewer writes than CHUNK, a third less time here
POOL = 8  # chunk buffers per reader (8 MiB)
QUEUE_DEPTH = 32
POLL_S = 0.2

_WHOLE, _CHUNK, _END, _ERROR, _FATAL, _GREW = range(6)
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def _open_source(path: str) -> int:
    """O_NONBLOCK, so a source replaced by a FIFO since the scan cannot hang the open
    (it is then found not regular and skipped; reads of regular files ignore the
    flag). A file under a lease (Samba oplock, NFS delegation) refuses that with
    EAGAIN: it is opened again, waiting for the lease break as a plain open does."""
    try:
        return os.open(path, _OPEN_FLAGS | _NONBLOCK)
    except BlockingIOError:
        return os.open(path, _OPEN_FLAGS)


class Stopped(Exception):
    """The run was cancelled; threads unwind quietly."""


class _SourceError(Exception):
    """A source file failed while being read; its stream has ended."""


@dataclass
class TapeTarget:
    volume: Volume
    cartridge_id: int
    barcode: str


def _put(q: queue.Queue, item: tuple, stop: threading.Event) -> None:
    while True:
        try:
            q.put(item, timeout=POLL_S)
            return
        except queue.Full:
            if stop.is_set():
                raise Stopped from None


T = TypeVar("T")


def _get(q: queue.Queue[T], stop: threading.Event) -> T:
    while True:
        try:
            return q.get(timeout=POLL_S)
        except queue.Empty:
            if stop.is_set():
                raise Stopped from None


class Reader(threading.Thread):
    """Streams its share of the large files, in order, as hashed chunks."""

    def __init__(self, index: int, paths: list[str], algo: str, stop: threading.Event) -> None:
        super().__init__(name=f"backup-reader-{index}", daemon=True)
        self.paths, self.algo, self.stop = paths, algo, stop
        self.out: queue.Queue[tuple] = queue.Queue(maxsize=QUEUE_DEPTH)
        self.free: queue.Queue[bytearray] = queue.Queue()
        self._made = 0
        self._hasher: concurrent.futures.ThreadPoolExecutor | None = None

    def take(self) -> tuple:
        """Writer thread: the next file's first item."""
        return _get(self.out, self.stop)

    def _buffer(self) -> bytearray:
        try:
            return self.free.get_nowait()
        except queue.Empty:
            if self._made < POOL:
                self._made += 1
                return bytearray(STREAM_CHUNK)
        return _get(self.free, self.stop)

    def run(self) -> None:
        stop = self.stop
        self._hasher = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"{self.name}-hash")
        try:
            for path in self.paths:
                if stop.is_set():
                    return
                self._read(path)
        except Stopped:
            return
        except BaseException as e:  # a bug here must not leave the writer waiting
            try:
                _put(self.out, (_FATAL, e, None, None), self.stop)
            except Stopped:
                pass
        finally:
            self._hasher.shutdown()

    def _read(self, path: str) -> None:
        try:
            fd = _open_source(path)
        except OSError as e:
            _put(self.out, (_ERROR, f"cannot read {path}: {e.strerror}", None, None), self.stop)
            return
        try:
            st = os.fstat(fd)
            if stat.S_ISREG(st.st_mode):
                self._stream(path, fd, st)
            else:
                _put(self.out, (_ERROR, f"{path} is no longer a regular file; skipped", None, None), self.stop)
        except OSError as e:
            _put(self.out, (_ERROR, f"cannot read {path}: {e.strerror}", None, None), self.stop)
        finally:
            os.close(fd)

    def _stream(self, path: str, fd: int, st: os.stat_result) -> None:
        """Chunk k is hashed on the helper thread while chunk k+1 is read; it is
        handed to the writer after its hash is done."""
        assert self._hasher is not None
        h = hashlib.new(self.algo)
        hashing: tuple[concurrent.futures.Future, bytearray, int] | None = None
        read = 0
        try:
            with io.FileIO(fd, "rb", closefd=False) as f:
                while True:
                    if self.stop.is_set():
                        raise Stopped
                    buf = self._buffer()
                    try:
                        n = f.readinto(buf)
                    except BaseException:
                        self.free.put(buf)
                        raise
                    if hashing is not None:
                        done, hashing = hashing, None
                        self._forward(*done)
                    if not n:
                        self.free.put(buf)
                        break
                    hashing = (self._hasher.submit(h.update, memoryview(buf)[:n]), buf, n)
                    read += n
                _put(self.out, (_END, h.digest(), read, (st, _changed(st, fd, read))), self.stop)
        except OSError as e:
            _put(self.out, (_ERROR, f"cannot read {path}: {e.strerror}", None, None), self.stop)
        finally:
            if hashing is not None:  # the file ended in an error: wait for the hash, keep the buffer
                hashing[0].exception()
                self.free.put(hashing[1])

    def _forward(self, hashed: concurrent.futures.Future, buf: bytearray, n: int) -> None:
        """Hand a chunk to the writer once its hash is done (a bounded wait: no I/O)."""
        try:
            hashed.result()
        except BaseException:
            self.free.put(buf)
            raise
        _put(self.out, (_CHUNK, buf, n, None), self.stop)


def read_small(path: str, new_hash: Callable[[bytes], "hashlib._Hash"]) -> tuple:
    """A small file whole, hashed: (_WHOLE, data, digest, (stat, changed)), or an _ERROR item.

    On the writer's own thread: a hand-off to another thread costs more than
    reading and hashing a file this small."""
    try:
        fd = _open_source(path)
    except OSError as e:
        return (_ERROR, f"cannot read {path}: {e.strerror}", None, None)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return (_ERROR, f"{path} is no longer a regular file; skipped", None, None)
        if st.st_size > SMALL:  # it grew since the scan: copied in chunks, never held whole
            return (_GREW, None, None, None)
        data = _read_all(fd, st.st_size)
        return (_WHOLE, data, new_hash(data).digest(), (st, _changed(st, fd, len(data))))
    except OSError as e:
        return (_ERROR, f"cannot read {path}: {e.strerror}", None, None)
    finally:
        os.close(fd)


def _read_all(fd: int, size: int) -> bytes:
    """The whole file; one read when it still has the size fstat gave (the usual case)."""
    data = os.read(fd, size + 1)
    if len(data) == size:
        return data
    parts = [data]
    while True:  # it shrank (a short read) or grew: read on to the end, as readall does
        more = os.read(fd, CHUNK)
        if not more:
            return b"".join(parts)
        parts.append(more)


def _changed(before: os.stat_result, fd: int, read: int) -> bool:
    after = os.fstat(fd)
    return read != before.st_size or after.st_mtime_ns != before.st_mtime_ns or after.st_size != before.st_size


class Writer:
    """Runs in one thread (`run`); the event loop reads its counters for progress."""

    def __init__(
        self,
        *,
        paths: list[str],
        sizes: Sequence[int],
        set_id: int,
        tape_dir: str,
        algo: str,
        readers: int,
        batch_rows: int,
        target: TapeTarget,
        next_target: Callable[[], TapeTarget],
        submit_rows: Callable[[list[tuple]], None],
        warn: Callable[[str], None],
        stop: threading.Event,
        links: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.paths = paths
        self.links = links
        #: first name of each file with hard links -> (the name holding its bytes, that row)
        self._holders: dict[str, tuple[str, tuple] | None] = dict.fromkeys(first for _, first in links)
        self.sizes = sizes
        self.set_id = set_id
        self.tape_dir = tape_dir
        self.algo = algo
        self.xattr = hash_xattr(algo)
        self.n_readers = max(1, readers)
        self.batch_rows = max(1, batch_rows)
        self.target = target
        target.volume.stop_waits_on(stop)
        self.next_target = next_target
        self.submit_rows = submit_rows
        self.warn = warn
        self.stop = stop
        # progress, read by the event loop
        self.files_done = 0
        self.bytes_done = 0
        self.current = ""
        # outcome
        self.files_written = 0
        self.bytes_written = 0
        self.unreadable = 0
        self.changed = 0
        self._xattr_ok = True
        self._unended: Reader | None = None  # see _write_stream

    def run(self) -> None:
        large = [path for path, size in zip(self.paths, self.sizes, strict=True) if size > SMALL]  # as the scan saw them
        readers = [Reader(i, large[i :: self.n_readers], self.algo, self.stop)
                   for i in range(min(self.n_readers, len(large)))]
        for r in readers:
            r.start()
        rows: list[tuple] = []
        streamed = 0
        new_hash = getattr(hashlib, self.algo)  # the constructor: hashlib.new(name) costs a lookup per file
        reader: Reader | None
        try:
            for path, size in zip(self.paths, self.sizes, strict=True):
                if self.stop.is_set():
                    raise Stopped
                self.current = path
                if size > SMALL:
                    reader = readers[streamed % len(readers)]
                    streamed += 1
                    item = reader.take()
                else:
                    reader, item = None, read_small(path, new_hash)
                row = self._one(path, item, reader)
                self.files_done += 1
                if row is not None:
                    rows.append(row)
                    if len(rows) >= self.batch_rows:
                        self.submit_rows(rows)
                        rows = []
            for path, first in self.links:
                if self.stop.is_set():
                    raise Stopped
                self.current = path
                row = self._further_name(path, first)
                if row is not None:
                    rows.append(row)
                    if len(rows) >= self.batch_rows:
                        self.submit_rows(rows)
                        rows = []
            if rows:
                self.submit_rows(rows)
        except BaseException:
            self.stop.set()  # release the readers
            raise
        finally:
            for r in readers:
                r.join(timeout=5)

    # -- one file ---------------------------------------------------------------
    def _further_name(self, path: str, first: str) -> tuple | None:
        """A hard link to the name holding the file's bytes; if no name of it could be
        copied yet, this one is copied (and holds them for the names after it)."""
        held = self._holders.get(first)
        if held is None:
            row = self._one(path, (_GREW, None, None, None), None)
            if row is not None:
                self._holders[first] = (path, row)
            return row
        holder, r = held
        folder, name = split(path)
        return (folder, name, "hardlink", *r[3:11], holder, r[12], r[13], 0, r[15], None, r[17])

    def _one(self, path: str, item: tuple, reader: Reader | None) -> tuple | None:
        """Write one file from its first item (a whole small file, or a large file's
        first chunk with the rest to come from `reader`); its catalog row, or None."""
        tag = item[0]
        if tag == _FATAL:
            raise item[1]
        if tag == _ERROR:
            self.unreadable += 1
            self.warn(item[1])
            return None
        relpath = file_relpath(self.tape_dir, to_catalog(path))
        try:
            if tag == _WHOLE:
                _, data, digest, (st, changed) = item
                self._write_whole(relpath, data)
                size = len(data)
            elif tag == _GREW:
                digest, size, st, changed = self._copy_direct(path, relpath)
            else:
                assert reader is not None
                digest, size, (st, changed) = self._write_stream(relpath, item, reader)
        except _SourceError as e:
            self._unreadable(str(e))
            return None
        except TapeError as e:  # e.g. a name the volume refuses; nothing was written
            self._drain_unended()
            self._unreadable(f"cannot store {path} on tape: {e}")
            return None
        except OSError as e:
            if e.errno in NAME_ERRNOS:
                self._drain_unended()
                self._unreadable(f"cannot store {path} on {self.target.barcode}: {e.strerror} "
                                 "(the volume does not take that name or path); not backed up")
                return None
            if e.errno not in FULL_ERRNOS:
                raise RunFailed(f"writing {path} to {self.target.barcode} failed: {e.strerror or e}") from e
            self._drain_unended()
            try:
                digest, size, st, changed = self._rewrite(path, relpath)
            except _SourceError as e:  # gone or unreadable since: the run goes on without it
                self._unreadable(str(e))
                return None
        if changed:
            self.changed += 1
            self.warn(f"{path} changed while it was being read; its copy may not match any one moment")
        return self._finish(path, relpath, digest, size, st)

    def _unreadable(self, message: str) -> None:
        self.unreadable += 1
        self.warn(message)

    def _write_whole(self, relpath: str, data: bytes) -> None:
        self.target.volume.write_whole(relpath, data)
        self.bytes_done += len(data)

    def _write_stream(self, relpath: str, first: tuple, reader: Reader) -> tuple[bytes, int, tuple]:
        """Write a large file's chunks up to its end. Until its last item is taken,
        `_unended` names the reader whose queue still holds the rest of this file
        (a write that fails must skip it, and only it: a failure in `close()`,
        after the end was taken, must not eat the next file's items)."""
        free, out_q, stop = reader.free, reader.out, self.stop
        item = first
        self._unended = reader if first[0] == _CHUNK else None
        with self.target.volume.open_write(relpath) as out:
            write = out.write
            while True:
                tag = item[0]
                if tag == _CHUNK:
                    buf, n = item[1], item[2]
                    try:
                        if stop.is_set():  # between chunks: a large file on a slow drive takes minutes
                            raise Stopped
                        write(memoryview(buf)[:n] if n < STREAM_CHUNK else buf)
                    finally:
                        free.put(buf)
                    self.bytes_done += n
                else:
                    self._unended = None
                    if tag == _END:
                        return item[1], item[2], item[3]
                    if tag == _FATAL:
                        raise item[1]
                    raise _SourceError(item[1])  # _ERROR mid-file: the source went bad while being read
                item = _get(out_q, stop)

    def _drain_unended(self) -> None:
        """Skip the rest of an abandoned large file's chunks, giving the buffers back."""
        reader, self._unended = self._unended, None
        if reader is None:
            return
        while True:
            item = _get(reader.out, self.stop)
            if item[0] == _CHUNK:
                reader.free.put(item[1])
            elif item[0] == _FATAL:
                raise item[1]
            else:
                return

    def _rewrite(self, path: str, relpath: str) -> tuple[bytes, int, os.stat_result, bool]:
        """The cartridge filled during `path`: continue on the next one, writing it whole again."""
        full = self.target.barcode
        self.target = self.next_target()
        self.target.volume.stop_waits_on(self.stop)
        try:
            return self._copy_direct(path, relpath)
        except OSError as e:
            if e.errno in FULL_ERRNOS:
                raise RunFailed(
                    f"{path} did not fit on {self.target.barcode} either, after {full} filled up; "
                    "files larger than a cartridge's free space are not supported"
                ) from None
            raise RunFailed(f"writing {path} to {self.target.barcode} failed: {e.strerror or e}") from e

    def _copy_direct(self, path: str, relpath: str) -> tuple[bytes, int, os.stat_result, bool]:
        """Copy and hash `path` in chunks on this thread: after a cartridge switch, or
        a file that grew past SMALL since the scan. Source failures are _SourceError."""
        try:
            fd = _open_source(path)
        except OSError as e:
            raise _SourceError(f"cannot read {path}: {e.strerror}") from None
        h = hashlib.new(self.algo)
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        size = 0
        with io.FileIO(fd, "rb") as f:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise _SourceError(f"{path} is no longer a regular file; skipped")
            with self.target.volume.open_write(relpath) as out:
                while True:
                    if self.stop.is_set():
                        raise Stopped
                    try:
                        n = f.readinto(buf)
                    except OSError as e:
                        raise _SourceError(f"cannot read {path}: {e.strerror}") from None
                    if not n:
                        break
                    chunk = view[:n]
                    h.update(chunk)
                    out.write(chunk)
                    size += n
            changed = _changed(st, fd, size)
        self.bytes_done += size
        return h.digest(), size, st, changed

    def _finish(self, path: str, relpath: str, digest: bytes, size: int, st: os.stat_result) -> tuple:
        volume = self.target.volume
        if self._xattr_ok:
            try:
                # as lowercase hex text, as other LTFS tools write and read ltfs.hash.* values
                self._xattr_ok = volume.set_xattr(relpath, self.xattr, digest.hex().encode())
            except OSError as e:
                self._xattr_ok = False
                self.warn(f"cannot store file hashes as extended attributes on {self.target.barcode}: {e}")
        self.files_written += 1
        self.bytes_written += size
        folder, name = split(path)
        row = (folder, name, "file", size, st.st_mtime_ns, st.st_mode, st.st_uid, st.st_gid, st.st_ino,
               st.st_ctime_ns, digest, None, self.target.cartridge_id, volume.position(relpath), 0,
               xattrs.read_or_warn(path, self.warn), None, self._data_map(path, st))
        if path in self._holders:
            self._holders[path] = (path, row)
        return row

    def _data_map(self, path: str, st: os.stat_result) -> str | None:
        """A sparse file's data extents (it is written dense; restore makes the holes again)."""
        if not sparse.is_sparse(st):
            return None
        try:
            fd = _open_source(path)
        except OSError:
            return None
        try:
            return sparse.data_map(fd, st.st_size)
        finally:
            os.close(fd)
