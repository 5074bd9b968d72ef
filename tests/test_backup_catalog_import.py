"""`catalog import` treats a tape as foreign input: a damaged or hostile catalog copy
refuses its set whole (the other sets still import), a crash mid-import leaves no
half-filled set, and no set folder read from a tape or the catalog leads out of the
volume."""

from __future__ import annotations

import asyncio
import json
import os
import posixpath
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_backup_support import open_engine, run_log, write

from tapetui.cli.main import main
from tapetui.engine.backup.catalog_copy import import_cartridge
from tapetui.engine.backup.engine import BackupRequest, run_backup
from tapetui.engine.backup.errors import BackupInputError
from tapetui.engine.backup.layout import checked_tape_dir
from tapetui.engine.backup.restore import RestoreRequest, run_restore
from tapetui.engine.core import Engine

BARCODE = "TPA001L8"
COPY = "tapetui/set-3.catalog.jsonl"


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with three sets on one cartridge: a full and two incrementals, the
    last holding a folder, a changed file, a new symlink and a deleted-marker."""
    base = tmp_path_factory.mktemp("library")
    src = base / "src"
    write(src / "a", "one")
    write(src / "sub" / "b", "two")
    write(src / "c", "three")

    async def go() -> None:
        engine = await open_engine(base / "home")
        try:
            log = run_log(engine)
            await run_backup(engine, BackupRequest(sources=[str(src)], level="full"), log)
            write(src / "a", "one, changed")
            await run_backup(engine, BackupRequest(sources=[str(src)], level="incremental"), log)
            write(src / "sub" / "b", "two, changed too")
            (src / "c").unlink()
            os.symlink("a", src / "sub" / "link")
            await run_backup(engine, BackupRequest(sources=[str(src)], level="incremental"), log)
        finally:
            await engine.close()

    asyncio.run(go())
    return base / "home" / "library"


def new_host(library: Path, home: Path) -> Path:
    """An empty catalog beside a copy of the library: the cartridges alone."""
    home.mkdir()
    shutil.copytree(library, home / "library", symlinks=True)
    return home


def volume(home: Path) -> Path:
    return home / "library" / "cartridges" / BARCODE / "volume"


def edit_copy(home: Path, change: Callable[[list[dict]], None]) -> None:
    """Rewrite set 3's copy with `change` applied to its parsed lines (header first)."""
    path = volume(home) / COPY
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    change(lines)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def last_file(lines: list[dict]) -> dict:
    return [e for e in lines[1:] if e["kind"] == "file" and not e["deleted"]][-1]


def cut_mid_line(home: Path) -> None:
    path = volume(home) / COPY
    path.write_bytes(path.read_bytes()[:-30])


def drop_last_line(home: Path) -> None:
    path = volume(home) / COPY
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))


def garble_header(home: Path) -> None:
    path = volume(home) / COPY
    text = path.read_text()
    path.write_text(text[:40] + text[text.index("\n"):])


def edits(change: Callable[[list[dict]], None]) -> Callable[[Path], None]:
    return lambda home: edit_copy(home, change)


DAMAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "missing mode": (edits(lambda ls: last_file(ls).pop("mode")), "'mode' is missing"),
    "cut mid-line": (cut_mid_line, "cut short"),
    "last line lost": (drop_last_line, "the header announces"),
    "size as text": (edits(lambda ls: last_file(ls).update(size="16")), "'size' is '16', not int"),
    "uid as true": (edits(lambda ls: last_file(ls).update(uid=True)), "'uid' is True, not int"),
    "huge integer": (edits(lambda ls: last_file(ls).update(mtime_ns=1 << 70)), "out of range"),
    "bad checksum": (edits(lambda ls: last_file(ls).update(checksum="zz" * 32)), "not hexadecimal"),
    "short checksum": (edits(lambda ls: last_file(ls).update(checksum="ab" * 4)), "not a hash of 32 bytes"),
    "unknown kind": (edits(lambda ls: last_file(ls).update(kind="fifo")), "'kind' is 'fifo'"),
    "path escapes": (edits(lambda ls: last_file(ls).update(path="/../../etc/passwd")), "not a plain absolute"),
    "foreign cartridge": (edits(lambda ls: last_file(ls).update(cartridge="XYZ999L8")), "not one of the set's"),
    "header counts another size": (edits(lambda ls: ls[0]["set"].update(bytes=ls[0]["set"]["bytes"] + 1)),
                                   "the header says"),
    "header without its count, a file row lost": (
        edits(lambda ls: (ls[0]["set"].pop("entries"), ls.remove(last_file(ls)))), "the header says"),
    "a path twice": (edits(lambda ls: (ls[0]["set"].pop("entries"),
                                       ls.append(next(e for e in ls[1:] if e["kind"] == "dir")))), "appears twice"),
    "header level": (edits(lambda ls: ls[0]["set"].update(level="weekly")), "'set.level' is 'weekly'"),
    "header time": (edits(lambda ls: ls[0]["set"].update(started_at="yesterday")), "not a time"),
    "header time empty": (edits(lambda ls: ls[0]["set"].update(started_at="")), "not a time"),
    "header hash": (edits(lambda ls: ls[0]["set"].update(hash_algo="shake_128")), "'set.hash_algo' is 'shake_128'"),
    "symlink without target": (edits(lambda ls: [e for e in ls[1:] if e["kind"] == "symlink"][0].update(
        link_target=None)), "a symlink without its target"),
    "garbled header": (garble_header, "line 1: not valid JSON"),
    "hostile tape_dir": (edits(lambda ls: ls[0]["set"].update(tape_dir="../../etc")),
                         "not a plain relative path inside the volume"),
    "another set's tape_dir": (edits(lambda ls: ls[0]["set"].update(tape_dir="tapetui/set-1")), "belongs to"),
}


async def entry_counts(engine: Engine) -> dict[str, int]:
    return {s.level + (f"@{s.base_set_id}" if s.base_set_id else ""): await engine.catalog.count(s.id)
            for s in await engine.sets.all()}


@pytest.mark.parametrize("damage", DAMAGES)
async def test_a_damaged_copy_refuses_its_set_whole_and_the_others_import(
    library: Path, tmp_path: Path, damage: str
) -> None:
    home = new_host(library, tmp_path / "other")
    spoil, why = DAMAGES[damage]
    spoil(home)
    engine = await open_engine(home)
    log = run_log(engine)
    try:
        result = await import_cartridge(engine, log)
        assert len(result.added) == 2 and result.known == []
        [refused] = result.refused
        assert refused.startswith(f"{COPY} line ") and why in refused, refused
        assert "\n" not in refused
        sets = await engine.sets.all()
        assert sorted(s.level for s in sets) == ["full", "incremental"]  # nothing of set 3, not even its row
        assert all(s.status == "complete" and s.files == (3 if s.level == "full" else 1) for s in sets)
        again = await import_cartridge(engine, log)  # still refused: never "already in the catalog"
        assert again.added == [] and len(again.known) == 2 and len(again.refused) == 1
    finally:
        await engine.close()


async def test_an_intact_copy_imports_every_row(library: Path, tmp_path: Path) -> None:
    """The checks refuse no good copy: all three sets, each with the rows it was written with."""
    engine = await open_engine(library.parent)
    try:
        written = await entry_counts(engine)
    finally:
        await engine.close()
    engine = await open_engine(new_host(library, tmp_path / "other"))
    try:
        result = await import_cartridge(engine, run_log(engine))
        assert len(result.added) == 3 and result.refused == [] and result.without_copy == []
        assert await entry_counts(engine) == written
    finally:
        await engine.close()


def test_cli_import_exits_non_zero_naming_the_refused_set(
    library: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = new_host(library, tmp_path / "other")
    edit_copy(home, lambda ls: last_file(ls).pop("mode"))
    args = ["--home", str(home)]
    assert main([*args, "catalog", "import"]) == 1
    out = capsys.readouterr()
    assert "2 set(s) imported" in out.out and "1 refused" in out.out
    assert f"{COPY} line " in out.err and "'mode' is missing" in out.err and "refused" in out.err
    assert "internal error" not in out.err
    assert main([*args, "restore", "--set", "3", "--to", str(tmp_path / "out")]) != 0
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


_CRASH = """
import asyncio, os, signal, sys
sys.path[:0] = [{tests!r}, {repo!r}]
from pathlib import Path
from test_backup_support import open_engine, run_log
from tapetui.engine.backup.catalog_copy import import_cartridge

async def go():
    engine = await open_engine(Path({home!r}), batch_rows=1)
    dir_ids = engine.catalog.dir_ids
    batches = 0

    async def die_at_the_second_batch(paths):
        nonlocal batches
        batches += 1
        if batches == 2:
            os.kill(os.getpid(), signal.SIGKILL)  # a crash after the first batch of the first set
        return await dir_ids(paths)

    engine.catalog.dir_ids = die_at_the_second_batch
    await import_cartridge(engine, run_log(engine))

asyncio.run(go())
"""


async def test_a_crash_mid_import_leaves_no_half_filled_set(library: Path, tmp_path: Path) -> None:
    home = new_host(library, tmp_path / "other")
    script = _CRASH.format(tests=str(Path(__file__).parent), repo=str(Path(__file__).parent.parent), home=str(home))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()
    engine = await open_engine(home)
    try:
        assert await engine.sets.all() == []  # the first set's row went with its rows
        result = await import_cartridge(engine, run_log(engine))  # and the import can simply run again
        assert len(result.added) == 3 and result.refused == []
    finally:
        await engine.close()


@pytest.mark.parametrize("tape_dir", [
    "", "/etc", "../etc", "tapetui/../../etc", "tapetui/set-1/..", "./tapetui", "tapetui//set-1", "tapetui/",
    "tapetui\\..\\..\\etc", "C:/tapetui", "C:tapetui", "tapetui/set\0-1",
])
def test_a_set_folder_outside_the_volume_is_refused(tape_dir: str) -> None:
    with pytest.raises(BackupInputError, match="not a plain relative path inside the volume"):
        checked_tape_dir(tape_dir)


@given(st.text(alphabet="ab./\\:", max_size=12))
def test_an_accepted_set_folder_stays_inside_the_volume(tape_dir: str) -> None:
    try:
        checked_tape_dir(tape_dir)
    except BackupInputError:
        return
    inside = posixpath.normpath(posixpath.join("/vol", tape_dir + "/x/y"))
    assert inside.startswith("/vol/") and "\\" not in tape_dir and tape_dir[1:2] != ":"


async def test_restore_refuses_a_stored_set_folder_outside_the_volume(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src / "secret", "what restore must not read from outside the volume")
    engine = await open_engine(tmp_path / "home")
    log = run_log(engine)
    try:
        backup = await run_backup(engine, BackupRequest(sources=[str(src)], level="full"), log)
        # the same bytes outside the volume, where '../outside' leads: only the check stops a read there
        outside = volume(tmp_path / "home").parent / "outside" / str(src / "secret").lstrip("/")
        outside.parent.mkdir(parents=True)
        shutil.copy(src / "secret", outside)
        await engine.sets.set_tape_dir(backup.set_id, "../outside")
        out = tmp_path / "out"
        r = await run_restore(engine, RestoreRequest(target=str(out), set_id=backup.set_id), log)
        assert r.status == "failed" and r.files == 0
        assert any("'../outside' is not a plain relative path inside the volume" in e for e in r.errors), r.errors
        assert not (out / str(src / "secret").lstrip("/")).exists()
    finally:
        await engine.close()
