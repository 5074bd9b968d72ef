"""Restore as of now / as of a time when a folder has more than one source set
(changing the include/exclude patterns makes a new one), and when the newest
set was overwritten."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from test_backup_support import open_engine, write

from tapetui.engine.backup.engine import BackupRequest, run_backup
from tapetui.engine.backup.restore import RestoreRequest, run_restore
from tapetui.engine.core import Engine
from tapetui.engine.runlog import RunLog


class Lines(RunLog):
    """A run log that also keeps (level, text) for the test to read."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine.store, engine.bus, None)
        self.lines: list[tuple[str, str]] = []

    def emit(self, level: str, text: str) -> None:
        self.lines.append((level, text))
        super().emit(level, text)


def restored(out: Path, folder: Path) -> list[str]:
    base = out / str(folder).lstrip("/")
    return sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file())


async def test_the_newest_source_set_of_a_folder_says_what_it_holds(tmp_path: Path) -> None:
    k, other = tmp_path / "k", tmp_path / "other"
    write(k / "X", "x")
    write(k / "Y", "y")
    write(other / "O", "o")
    engine = await open_engine(tmp_path / "home")
    log = Lines(engine)
    try:
        first = await run_backup(engine, BackupRequest(sources=[str(k)]), log)
        (k / "X").unlink()
        elsewhere = await run_backup(engine, BackupRequest(sources=[str(other)]), log)  # a disjoint folder
        again = await run_backup(engine, BackupRequest(sources=[str(k)], excludes=["*.tmp"]), log)  # a new key
        assert first.status == elsewhere.status == again.status == "success"
        newest = await engine.sets.get(again.set_id)
        before = await engine.sets.get(elsewhere.set_id)
        cases = {
            "now": RestoreRequest(target=str(tmp_path / "now")),
            "at-newest": RestoreRequest(target=str(tmp_path / "at-newest"), at=newest.finished_at),
            "at-before": RestoreRequest(target=str(tmp_path / "at-before"),
                                        at=before.finished_at + timedelta(microseconds=1)),
            "set-first": RestoreRequest(target=str(tmp_path / "set-first"), set_id=first.set_id),
        }
        want = {"now": ["Y"], "at-newest": ["Y"], "at-before": ["X", "Y"], "set-first": ["X", "Y"]}
        for name, request in cases.items():
            r = await run_restore(engine, request, log)
            assert r.status == "success", name
            assert restored(Path(request.target), k) == want[name], name
            assert restored(Path(request.target), other) == ([] if name == "set-first" else ["O"]), name
    finally:
        await engine.close()


async def test_a_restore_says_when_the_newest_set_was_overwritten(tmp_path: Path) -> None:
    k = tmp_path / "k"
    write(k / "X", "x")
    write(k / "Y", "y")
    engine = await open_engine(tmp_path / "home")
    log = Lines(engine)
    try:
        first = await run_backup(engine, BackupRequest(sources=[str(k)]), log)
        (k / "X").unlink()
        await engine.driver.unload()
        await engine.driver.load("TPA002L8")
        second = await run_backup(engine, BackupRequest(sources=[str(k)], cartridge_policy="loaded"), log)
        assert (await engine.sets.get(second.set_id)).cartridges == ["TPA002L8"]
        cartridge = await engine.cartridges.by_barcode("TPA002L8")
        assert await engine.sets.mark_overwritten(cartridge.id) == [second.set_id]  # what formatting it does
        log.lines.clear()
        r = await run_restore(engine, RestoreRequest(target=str(tmp_path / "out")), log)
        assert r.status == "success" and r.sets == [first.set_id]
        assert restored(tmp_path / "out", k) == ["X", "Y"]
        warnings = [text for level, text in log.lines if level == "warning"]
        assert warnings == [f"set {second.set_id} ({k}) was overwritten when its cartridge was formatted: "
                            f"restoring those folders as of set(s) {first.set_id} instead"]
    finally:
        await engine.close()
