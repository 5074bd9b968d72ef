"""The writer's two paths and the sim index's buffered records.

Small files are read by the writer itself, large ones stream from reader threads,
and the sim volume keeps its per-file index records in memory until a flush: all
must stay invisible to what a backup records (order, hashes, bytes on the volume,
warnings) and to what the volume answers (positions, hashes, counters), before
and after a flush.
"""

from __future__ import annotations

import errno
import hashlib
import os
import threading
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tapetui.engine.backup import writer as writer_module
from tapetui.engine.backup.writer import CHUNK, SMALL, TapeTarget, Writer
from tapetui.engine.tape.sim import SimConfig, SimDriver
from tapetui.engine.tape.sim_media import MediaIndex

NOV_2026 = datetime(2026, 11, 2, 9, 30).astimezone()


async def mounted(root: Path):  # noqa: ANN201
    drv = SimDriver(root, SimConfig(capacity_bytes=1 << 30), clock=lambda: NOV_2026)
    await drv.load("TPA001L8")
    await drv.format("TP20261101")
    return drv, await drv.mount()


def run_writer(volume, paths: list[str], readers: int, batch_rows: int = 7,  # noqa: ANN001
               sizes: list[int] | None = None) -> tuple[list[tuple], list[str]]:
    """`sizes`: what the scan saw (default: the sizes now)."""
    rows: list[tuple] = []
    warnings: list[str] = []
    if sizes is None:
        sizes = [os.path.getsize(p) if os.path.exists(p) else 0 for p in paths]
    w = Writer(paths=paths, sizes=sizes, set_id=1, tape_dir="tapetui/set-1", algo="sha256", readers=readers,
               batch_rows=batch_rows, target=TapeTarget(volume, 1, "TPA001L8"), next_target=lambda: None,
               submit_rows=rows.extend, warn=warnings.append, stop=threading.Event())
    t = threading.Thread(target=w.run)
    t.start()
    t.join(timeout=60)
    assert not t.is_alive()
    return rows, warnings


SIZES = [0, 1, 100, SMALL - 1, SMALL, SMALL + 1, 3 * CHUNK + 5]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(st.sampled_from(SIZES + [-1]), min_size=1, max_size=60),
       readers=st.integers(1, 4))
async def test_every_file_is_recorded_in_order_with_its_hash_and_bytes(
    tmp_path_factory: pytest.TempPathFactory, plan: list[int], readers: int
) -> None:
    """-1 stands for a file that vanished after the scan: a warning, no row, the rest unaffected."""
    root = tmp_path_factory.mktemp("datapath")
    src = root / "src"
    src.mkdir()
    paths, expected = [], []
    for i, size in enumerate(plan):
        p = src / f"f{i:04d}"
        if size >= 0:
            data = os.urandom(size)
            p.write_bytes(data)
            expected.append((str(p), hashlib.sha256(data).digest(), data))
        paths.append(str(p))
    drv, volume = await mounted(root / "lib")
    try:
        rows, warnings = run_writer(volume, paths, readers)
        assert [(f"{r[0]}/{r[1]}", r[10]) for r in rows] == [(p, h) for p, h, _ in expected]
        assert len(warnings) == plan.count(-1)
        assert all("cannot read" in w for w in warnings)
        positions = [r[13] for r in rows]
        assert positions == sorted(positions) and len(set(positions)) == len(positions)
        for path, digest, data in expected:
            rel = "tapetui/set-1" + path
            assert (volume.root / rel.lstrip("/")).read_bytes() == data
            assert volume.get_xattr(rel, "ltfs.hash.sha256") == digest.hex().encode()  # text, as LTFS tools use
    finally:
        await drv.close()


async def test_files_that_changed_kind_or_size_since_the_scan(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """A small file that grew large is copied in chunks (never read whole into
    memory), and one replaced by a FIFO is skipped with a warning (its open must
    not wait for a writer on the pipe)."""
    whole: list[int] = []
    original = writer_module._read_all

    def read_all(fd: int, size: int) -> bytes:
        data = original(fd, size)
        whole.append(len(data))
        return data

    monkeypatch.setattr(writer_module, "_read_all", read_all)
    src = tmp_path / "src"
    src.mkdir()
    grew, fifo, after = src / "grew.bin", src / "fifo", src / "after.txt"
    data = os.urandom(3 * CHUNK + 7)
    grew.write_bytes(data)
    os.mkfifo(fifo)
    after.write_bytes(b"after")
    drv, volume = await mounted(tmp_path / "lib")
    try:
        rows, warnings = run_writer(volume, [str(grew), str(fifo), str(after)], readers=2, sizes=[10, 10, 5])
        assert [(r[1], r[3], r[10]) for r in rows] == [("grew.bin", len(data), hashlib.sha256(data).digest()),
                                                       ("after.txt", 5, hashlib.sha256(b"after").digest())]
        assert (volume.root / f"tapetui/set-1{grew}".lstrip("/")).read_bytes() == data
        assert warnings == [f"{fifo} is no longer a regular file; skipped"]
        assert whole == [5]  # only after.txt was read whole
    finally:
        await drv.close()


class _FullAtClose:
    """A volume whose first file's close() finds the cartridge full, as a buffered
    LTFS file flushing its last few KiB at close does."""

    def __init__(self, volume, fail: str) -> None:  # noqa: ANN001
        self.volume, self.fail = volume, fail

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self.volume, name)

    def open_write(self, relpath: str):  # noqa: ANN201
        out = self.volume.open_write(relpath)
        if relpath != self.fail:
            return out
        self.fail = ""
        real_close = out.close

        def close() -> None:
            real_close()
            raise OSError(errno.ENOSPC, "No space left on device")

        out.close = close
        return out


async def test_a_cartridge_full_at_close_rewrites_that_file_and_only_it(tmp_path: Path) -> None:
    """The end of the file was already taken when close() failed: the next file's
    items must stay for the next file (once they were skipped, every later row of
    that reader carried the following file's hash)."""
    src = tmp_path / "src"
    src.mkdir()
    paths = []
    for i in range(4):
        p = src / f"big{i}"
        p.write_bytes(bytes([65 + i]) * (SMALL + 1000 + i))
        paths.append(str(p))
    drv, volume = await mounted(tmp_path / "lib")
    try:
        rows: list[tuple] = []
        warnings: list[str] = []
        first = _FullAtClose(volume, "tapetui/set-1" + paths[0])
        w = Writer(paths=paths, sizes=[SMALL + 1] * 4, set_id=1, tape_dir="tapetui/set-1", algo="sha256",
                   readers=1, batch_rows=1, target=TapeTarget(first, 1, "TPA001L8"),
                   next_target=lambda: TapeTarget(volume, 2, "TPA002L8"), submit_rows=rows.extend,
                   warn=warnings.append, stop=threading.Event())
        t = threading.Thread(target=w.run)
        t.start()
        t.join(timeout=30)
        assert not t.is_alive()
        assert [(f"{r[0]}/{r[1]}", r[10], r[12]) for r in rows] == [
            (p, hashlib.sha256(Path(p).read_bytes()).digest(), 2) for p in paths]  # all after the switch
        assert warnings == []
    finally:
        await drv.close()


def test_index_answers_from_pending_records_and_keeps_them(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite"
    index = MediaIndex(path, sync_interval_s=3600)
    index.record_file("a/x", 0, 10, 10, 1)
    index.record_file("a/y", 1, 20, 30, 2)
    index.set_xattr("a/x", "ltfs.hash.sha256", b"h1")
    assert index.block_of("a/y") == 1
    assert index.get_xattr("a/x", "ltfs.hash.sha256") == b"h1"
    assert index.counters() == (30, 2)
    assert index.files() == {"a/x": 10, "a/y": 20}  # a read of everything flushes first
    index.record_file("a/z", 2, 5, 35, 3)
    index.set_xattr("a/z", "ltfs.hash.sha256", b"h3")
    index.forget_files(["a/x", "a/z"])  # pending and written records alike
    assert index.block_of("a/z") is None and index.get_xattr("a/z", "ltfs.hash.sha256") is None
    assert index.get_xattr("a/x", "ltfs.hash.sha256") is None
    index.record_file("a/w", 3, 7, 42, 4)
    index.close()
    again = MediaIndex(path)
    try:
        assert again.files() == {"a/y": 20, "a/w": 7}
        assert again.counters() == (42, 4)
        assert again.block_of("a/w") == 3
    finally:
        again.close()


def test_index_flushes_when_enough_files_are_pending(tmp_path: Path) -> None:
    """Memory stays bounded even when the interval never comes round."""
    path = tmp_path / "index.sqlite"
    index = MediaIndex(path, sync_interval_s=3600)
    for i in range(MediaIndex.FLUSH_ROWS):
        index.record_file(f"f{i}", i, 1, i + 1, i + 1)
    other = MediaIndex(path)  # another connection sees only what was written
    try:
        assert len(other.files()) == MediaIndex.FLUSH_ROWS
    finally:
        other.close()
        index.close()
