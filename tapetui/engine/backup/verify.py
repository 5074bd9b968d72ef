"""Verify: re-read every file a set wrote and check its hash (Bareos's
VolumeToCatalog does not checksum file data; this does)."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..folders import Folders
from ..manual_run import manual_run
from ..runlog import RunLog
from ..store.models import SetRow
from ..units import human_bytes
from .cartridge import open_for_read
from .errors import BackupInputError
from .progress import Ticker
from .state import Version, load_set
from .tapeorder import Hasher, in_tape_order, open_regular
from .writer import Stopped

if TYPE_CHECKING:
    from ..core import Engine


@dataclass
class VerifyResult:
    set_id: int
    ok: bool
    files: int = 0
    bytes: int = 0
    problems: list[str] = field(default_factory=list)  # "path: what is wrong"


def _check(root: str, items: list[Version], hasher: Hasher, counts: list[int], problems: list[str]) -> None:
    with Folders(root) as on_tape:
        for v in items:
            try:
                digest, size = hasher.run(open_regular(on_tape, v.tape_path), limit=v.size)
            except FileNotFoundError:
                problems.append(f"{v.path}: missing from cartridge {v.cartridge}")
                continue
            except OSError as e:
                problems.append(f"{v.path}: cannot read it on {v.cartridge}: {e.strerror}")
                continue
            _compare(v, digest, size, counts, problems)


def _compare(v: Version, digest: bytes, size: int, counts: list[int], problems: list[str]) -> None:
    if size != v.size:
        more = "more than " if size > v.size else ""
        problems.append(f"{v.path}: {more}{size if not more else v.size} bytes on {v.cartridge}, "
                        f"the catalog says {v.size}")
    elif digest != v.checksum:
        problems.append(f"{v.path}: hash mismatch on {v.cartridge} (the copy on tape is damaged)")
    counts[0] += 1


def _refuse_unverifiable(s: SetRow) -> None:
    if s.status in ("overwritten", "expired", "running"):
        raise BackupInputError(f"set {s.id} cannot be verified: it is {s.status}")


def summary(result: VerifyResult) -> str:
    """'set 3: 120 files, 10.7 MB checked; every hash matches' (or how many problems)."""
    return (f"set {result.set_id}: {result.files} files, {human_bytes(result.bytes)} checked; "
            + ("every hash matches" if result.ok else f"{len(result.problems)} problem(s)"))


async def run_verify(engine: Engine, set_id: int) -> VerifyResult:
    """Verify a set as a run of its own (action 'verify'), as the console's `v` and
    `tapetui verify` ask: it shows in Runs with its log, and holds the drive.
    A set that cannot be verified is refused before a run exists."""
    _refuse_unverifiable(await engine.sets.get(set_id))
    async with manual_run(engine, "verify", set_id=set_id) as run:
        result = await verify_set(engine, set_id, run.log)
        run.end("success" if result.ok else "failed", summary(result),
                {"files": result.files, "bytes": result.bytes, "problems": len(result.problems)})
    return result


async def verify_set(engine: Engine, set_id: int, log: RunLog) -> VerifyResult:
    s = await engine.sets.get(set_id)
    _refuse_unverifiable(s)
    versions = await asyncio.to_thread(load_set, engine.home.db_path, set_id)
    files = [v for v in versions if v.kind == "file" and not v.deleted]
    result = VerifyResult(set_id, ok=True)
    total = sum(v.size for v in files)
    stop = threading.Event()
    hasher = Hasher(s.hash_algo, stop)
    counts = [0]
    log.info(f"verifying set {set_id}: {len(files)} files, {human_bytes(total)}")
    ticker = Ticker(log, "verifying", lambda: (counts[0], len(files), hasher.bytes_done, total, ""))
    try:
        loaded = (await engine.driver.status()).loaded
        for barcode, items in in_tape_order(files, loaded):
            if barcode is None:
                result.problems += [f"{v.path}: the catalog names no cartridge for it" for v in items]
                continue
            volume = await open_for_read(engine, log, barcode)
            await asyncio.to_thread(_check, str(volume.root), items, hasher, counts, result.problems)
    except asyncio.CancelledError:
        stop.set()
        raise
    except Stopped:
        raise asyncio.CancelledError from None
    finally:
        ticker.stop()
    result.files, result.bytes = counts[0], hasher.bytes_done
    for problem in result.problems:
        log.error(problem)
    result.ok = not result.problems
    await asyncio.shield(engine.sets.set_verified(set_id, result.ok))
    log.info(f"verify of set {set_id}: " + ("every hash matches" if result.ok else
                                             f"{len(result.problems)} problem(s)"))
    return result
