"""Bad input, fuzzed: every CLI argument and the schedule service get hostile
values (unicode, control characters, huge numbers, very long text) and answer
with one clear line -- never a traceback, never a stored schedule that cannot
be evaluated. Hostile catalog paths never escape a restore target, labels never
reach a tape tool as an option, and a corrupt config or database is reported
and left as it was."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_backup_support import open_engine, run_log, write

from tapetui.cli import main
from tapetui.engine.backup.engine import BackupRequest, run_backup
from tapetui.engine.backup.restore import RestoreRequest, run_restore
from tapetui.engine.errors import UserError
from tapetui.engine.paths import Home
from tapetui.engine.schedule import ScheduleError, next_run, spec_from_dict
from tapetui.engine.control import LocalControl

sys.path.insert(0, str(Path(__file__).parent / "standins"))
from standin_state import cartridge, init_state, tool  # noqa: E402

from tapetui.engine.tape.args import InvalidArgument  # noqa: E402
from tapetui.engine.tape.ltfs import LtfsConfig, LtfsDriver  # noqa: E402

FUZZ = settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

#: Values a careless or hostile user might type: unicode, controls, option-like,
#: huge numbers, traversal, escape sequences, very long text.
NASTY = st.one_of(
    st.text(max_size=80),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=200, max_size=5000),
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from([
        "", " ", "\x00", "\n", "\r\n", "\t", "-x", "--", "--help", "-1", "0", "1e309", "nan", "inf", "../..",
        "/", "/etc/passwd", "\x1b[31mred", "a" * 5000, "* * * * *", "61 * * * *", "0 0 30 2 *",
        "2026-02-30 10:00", "24:00", "mon,thu 25:00", "$(rm -rf /)", "; rm -rf /", "`id`", "%s%n",
        "TP20261101", "ABC123L8", "\u202eevil", "\ud7ff", "名字", "🙂" * 100,
    ]),
)


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as e:  # argparse usage errors and --help
        code = e.code if isinstance(e.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def assert_clean_error(code: int, err: str) -> None:
    assert code != 0
    assert "Traceback" not in err and "internal error" not in err, err
    lines = err.rstrip("\n").split("\n")
    if code != 2:  # a UserError: exactly one line
        assert len(lines) == 1 and lines[0].startswith("tapetui: error: "), err
    else:  # argparse: "tapetui SUBCOMMAND: error: ..." and a hint where to look
        assert lines[0].startswith("tapetui") and ": error: " in lines[0], err
        assert len(lines) == 2 and lines[1].startswith("(try: tapetui"), err


async def assert_every_schedule_evaluable(service: LocalControl) -> None:
    """Nothing stored may be a schedule the scheduler cannot evaluate."""
    for row in await service.list():
        spec = spec_from_dict(row.type, row.config)
        next_run(spec, service.engine.clock())
        await service.preview(days=1)


# --------------------------------------------------------------- the CLI ---

def cli_templates(src: str, home: str) -> list[list[str]]:
    """Every argument of every subcommand that takes a value, one `{}` each.
    (`backup` and `schedule run` without --wait would detach a real run, so
    their values are fuzzed through `schedule add`, which checks the same way.)"""
    add = ["schedule", "add", "fz", "--action", "backup", "--level", "full", "--source", src]
    return [
        ["schedule", "add", "{}", "--daily", "02:00", "--action", "health_check"],
        *[["schedule", "add", "fz", flag, "{}", "--action", "health_check"]
          for flag in ("--once", "--every", "--daily", "--weekly", "--monthly", "--yearly", "--cron")],
        ["schedule", "add", "fz", "--daily", "02:00", "--action", "{}"],
        ["schedule", "add", "fz", "--daily", "02:00", "--action", "health_check", "--missed", "{}"],
        add[:5] + ["--daily", "02:00", "--level", "full", "--source", "{}"],
        add + ["--daily", "02:00", "--exclude", "{}"],
        add + ["--daily", "02:00", "--include", "{}"],
        add + ["--daily", "02:00", "--max-full-days", "{}"],
        add + ["--daily", "02:00", "--cartridge-policy", "{}"],
        add[:5] + ["--daily", "02:00", "--template", "{}"],
        ["schedule", "edit", "base", "--rename", "{}"],
        ["schedule", "edit", "base", "--every", "{}"],
        ["schedule", "edit", "{}", "--daily", "03:00"],
        ["schedule", "show", "{}"], ["schedule", "delete", "{}"], ["schedule", "enable", "{}"],
        ["schedule", "disable", "{}"], ["schedule", "stop", "{}"],
        ["schedule", "preview", "--days", "{}"],
        ["runs", "--limit", "{}"], ["runs", "--schedule", "{}"], ["log", "{}"],
        ["template", "add", "{}", "--level", "full", "--source", src], ["template", "show", "{}"],
        ["template", "delete", "{}"],
        ["ls", "{}"], ["ls", "1", "{}"], ["find", "{}"], ["find", "x", "--limit", "{}"],
        ["restore", "--to", "{}", "--set", "1"], ["restore", "--to", home + "/r", "--at", "{}"],
        ["restore", "--to", home + "/r", "--set", "{}"], ["restore", "--to", home + "/r", "{}"],
        ["restore", "--to", home + "/r", "--conflict", "{}"],
        ["verify", "{}"], ["tape", "load", "{}"], ["tape", "format", "--label", "{}"],
        ["{}"], ["schedule", "{}"], ["tape", "{}"],
    ]


@pytest.mark.slow
@settings(FUZZ, max_examples=200)
@given(data=st.data())
def test_every_cli_argument_fuzzed_gives_one_clear_line(
    data: st.DataObject, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, home = tmp_path / "src", tmp_path / "home"
    src.mkdir(exist_ok=True)
    if not home.exists():
        assert cli(["schedule", "add", "base", "--daily", "02:00", "--action", "health_check"], capsys)[0] == 0
    template = data.draw(st.sampled_from(cli_templates(str(src), str(home))), label="command")
    value = data.draw(NASTY, label="value")
    argv = [value if a == "{}" else a for a in template]
    code, _, err = cli(argv, capsys)
    if code != 0:
        assert_clean_error(code, err)
        return
    if template[:2] == ["schedule", "add"]:
        assert cli(["schedule", "delete", argv[2].strip()], capsys)[0] == 0
    if template[:3] == ["schedule", "edit", "base"] and "--rename" in template:
        cli(["schedule", "edit", value, "--rename", "base"], capsys)

    async def check() -> None:
        from tapetui.engine.core import Engine
        from tapetui.engine.paths import Home

        engine = await Engine.open(Home.resolve(None))
        try:
            await assert_every_schedule_evaluable(LocalControl(engine))
        finally:
            await engine.close()

    asyncio.run(check())


# ------------------------------------------------------- the service --------

KINDS = st.sampled_from(["once", "every", "daily", "weekly", "monthly", "yearly", "cron", "interval", "", "x"])
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.floats() | NASTY,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=6,
)
BACKUP_KEYS = st.sampled_from(["sources", "level", "excludes", "includes", "cartridge_policy", "verify",
                               "max_full_days", "name", "other"])


@pytest.mark.slow
@FUZZ
@given(
    name=NASTY, kind=KINDS, when=NASTY, action=st.sampled_from(["backup", "cleanup", "health_check", "nope"]),
    config=st.dictionaries(BACKUP_KEYS, JSONISH, max_size=4), template=st.none() | NASTY,
    missed=st.none() | NASTY,
)
def test_schedule_and_template_validation_fuzzed(
    tmp_path: Path, name: str, kind: str, when: str, action: str, config: dict[str, Any],
    template: str | None, missed: str | None,
) -> None:
    """LocalControl.add/edit/save_template: a UserError with one line, or a schedule the
    scheduler can evaluate -- never another exception, never a bad stored row."""

    async def scenario() -> None:
        engine = await open_engine(tmp_path / "home")
        service = LocalControl(engine)
        try:
            if not await service.list():
                await service.add("base", kind="daily", when="02:00", action="health_check")
            calls = [
                lambda: service.add(name, kind=kind, when=when, action=action, action_config=config,
                                    template=template, missed_policy=missed),
                lambda: service.edit("base", kind=kind, when=when),
                lambda: service.edit("base", action=action, settings=config, template=template),
                lambda: service.edit("base", rename=name, missed_policy=missed),
                lambda: service.save_template(name, config),
            ]
            for call in calls:
                try:
                    await call()
                except (UserError, ScheduleError) as e:
                    assert str(e) and "\n" not in str(e).strip(), repr(str(e))
            await assert_every_schedule_evaluable(service)
        finally:
            await engine.close()

    asyncio.run(scenario())


# ---------------------------------------------- restore never escapes ------

SEGMENT = st.sampled_from(["..", ".", "", "x", "up", "link", "..\\..", "a/../..", "\x00", " ", "~"])
HOSTILE_DIR = st.lists(SEGMENT, min_size=0, max_size=4).map(lambda parts: "/".join(parts))
HOSTILE_TARGET = st.sampled_from(["../../../../outside", "/outside-abs", "..", "/", "x/../../..", "."])


@pytest.mark.slow
@settings(FUZZ, max_examples=40)
@given(
    rows=st.lists(st.tuples(HOSTILE_DIR, st.sampled_from(["f", "..", "link", "x", "", "a/b"]),
                            st.sampled_from(["file", "dir", "symlink"]), HOSTILE_TARGET, st.booleans()),
                  min_size=1, max_size=6),
)
def test_hostile_catalog_paths_never_escape_the_target(tmp_path: Path, rows: list[tuple]) -> None:
    """Rows a damaged or forged catalog could hold -- `..`, relative or absolute
    folders, symlinks out followed by files through them -- write nothing outside."""

    async def scenario() -> None:
        root = tmp_path / "case"
        if root.exists():
            import shutil
            shutil.rmtree(root)
        src, out, outside = root / "src", root / "out", root / "outside"
        write(src / "f", "data")
        outside.mkdir(parents=True)
        engine = await open_engine(root / "home")
        try:
            log = run_log(engine)
            result = await run_backup(engine, BackupRequest(sources=[str(src)]), log)
            [real] = [e for e in await engine.catalog.list_dir(result.set_id, str(src)) if e.kind == "file"]
            s = str(src)
            forged = []
            for folder, name, kind, target, absolute in rows:
                d = folder if absolute else s + "/" + folder
                data = (real.checksum, None, real.cartridge_id, 0) if kind == "file" else (None, None, None, None)
                link = target.replace("/outside", str(outside)) if kind == "symlink" else None
                forged.append((d, name, kind, 4 if kind == "file" else 0, 0, 0o755, 0, 0, 0, 0,
                               data[0], link, data[2], data[3], 0))
            await engine.catalog.add_rows(result.set_id, forged)
            r = await run_restore(engine, RestoreRequest(target=str(out), set_id=result.set_id), log)
            assert r.status in ("success", "warning", "failed")
            assert list(outside.iterdir()) == []
            assert sorted(p.name for p in root.iterdir()) == ["home", "out", "outside", "src"]
            for dirpath, dirnames, filenames in os.walk(out):
                for name in dirnames + filenames:
                    p = Path(dirpath, name)
                    if not p.is_symlink():
                        assert os.path.realpath(p).startswith(str(out) + "/")
            assert (out / s.lstrip("/") / "f").read_text() == "data"
        finally:
            await engine.close()

    asyncio.run(scenario())


# ---------------------------------- values never become tool options -------

RECORDER = """#!{python}
import json, os, sys
with open({log!r}, "a") as f:
    f.write(json.dumps([{name!r}, *sys.argv[1:]]) + "\\n")
os.execv({real!r}, [{real!r}, *sys.argv[1:]])
"""
TOOLS = ("mkltfs", "ltfs", "ltfsck", "mt", "mtx", "sg_read_attr", "umount")


@pytest.fixture
def recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, str], Path]:
    """Stand-in tools behind wrappers that log the argv each one received."""
    state, log, bin_dir = tmp_path / "state", tmp_path / "argv.log", tmp_path / "bin"
    monkeypatch.setenv("TAPETUI_STANDIN_STATE", str(state))
    monkeypatch.delenv("TAPETUI_STANDIN_FAULT", raising=False)
    bin_dir.mkdir()
    paths = {}
    for name in TOOLS:
        wrapper = bin_dir / name
        wrapper.write_text(RECORDER.format(python=sys.executable, log=str(log), name=name, real=tool(name)))
        wrapper.chmod(0o755)
        paths[name] = str(wrapper)
    init_state(state, {"AAA001L8": cartridge()}, loaded="AAA001L8")
    return paths, log


def _argvs(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.slow
@FUZZ
@given(label=NASTY)
def test_labels_reach_mkltfs_only_as_the_value_of_n(
    label: str, recorded: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    paths, log = recorded
    log.unlink(missing_ok=True)
    driver = LtfsDriver(LtfsConfig(**paths, mount_point=str(tmp_path / "mnt"), kill_grace_s=0.2))
    try:
        result = asyncio.run(driver.format(label, force=True))
    except InvalidArgument as e:
        assert "\n" not in str(e)
        assert _argvs(log) == [], "a refused label must not start any tool"
        return
    assert result.returncode is not None
    calls = [argv for argv in _argvs(log) if argv[0] == "mkltfs"]
    assert len(calls) == 1
    argv = calls[0]
    assert argv[argv.index("-n") + 1] == label and argv.count(label) == 1
    assert not label.startswith("-") and label.isprintable() and "," not in label


@pytest.mark.parametrize("value", ["-o", "--help", "a,b", "TP 1;rm", "$(id)", "x\ny", "ABC123L8 -f", "../AB"])
async def test_barcodes_are_refused_before_any_tool_runs(
    value: str, recorded: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    paths, log = recorded
    driver = LtfsDriver(LtfsConfig(**paths, mount_point=str(tmp_path / "mnt"), kill_grace_s=0.2))
    with pytest.raises(InvalidArgument):
        await driver.load(value)
    assert _argvs(log) == []


@pytest.mark.parametrize("value", ["-o", "--help", "relative/dir", "/mnt/a,allow_other", "/mnt/x\ny", "/mnt/\x1b"])
def test_mount_points_and_devices_that_could_become_options_are_refused(value: str) -> None:
    """Tools run without a shell, so spaces and `;` are only characters; what
    is refused is what a tool could read as an option or an `-o` list item."""
    with pytest.raises(InvalidArgument):
        LtfsConfig(mount_point=value)
    with pytest.raises(InvalidArgument):
        LtfsConfig(device=value)


# ------------------------------------ corrupt config and database ----------

CORRUPT_CONFIGS = {
    "binary": b"\x00\xff\xfe garbage \x89PNG",
    "truncated": b"[backup]\nhash = \"sha2",
    "bad value": b"[backup]\nreaders = \"many\"\n",
    "unknown section": b"[tapes]\nx = 1\n",
}


@pytest.mark.parametrize("kind", sorted(CORRUPT_CONFIGS))
def test_a_corrupt_config_is_named_and_left_as_it_is(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)  # a home open to others adds a warning line
    config = home / "config.toml"
    config.write_bytes(CORRUPT_CONFIGS[kind])
    config.chmod(0o600)
    for argv in (["sets"], ["schedule", "list"], ["config", "check"]):
        code, _, err = cli(argv, capsys)
        assert_clean_error(code, err)
        assert str(config) in err
    assert config.read_bytes() == CORRUPT_CONFIGS[kind]


@pytest.mark.parametrize("damage", ["truncated", "garbage header", "zero length tail"])
def test_a_corrupt_database_is_named_with_a_way_out_and_never_replaced(
    damage: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    assert cli(["schedule", "add", "n", "--daily", "02:00", "--action", "health_check"], capsys)[0] == 0
    db = Home.single(home).db_path
    for side in (db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        side.unlink(missing_ok=True)
    data = db.read_bytes()
    if damage == "truncated":
        data = data[: len(data) // 3]
    elif damage == "garbage header":
        data = b"this is not sqlite" + data[18:]
    else:
        data = data[:100] + b"\x00" * (len(data) - 100)
    db.write_bytes(data)
    code, out, err = cli(["schedule", "list"], capsys)
    assert_clean_error(code, err)
    assert str(db) in err
    assert "move it aside" in err or "restore" in err or "backup" in err.lower(), err
    assert db.read_bytes() == data, "the database must never be silently replaced"
    assert stat.S_ISREG(db.stat().st_mode)


@pytest.mark.parametrize("argv", [
    ["runs", "--limit", "99999999999999999999"], ["log", "99999999999999999999"], ["ls", "-5"],
    ["verify", "99999999999999999999"], ["find", "x", "--limit", "-1"], ["schedule", "preview", "--days", "1e309"],
    ["schedule", "preview", "--days", "nan"], ["schedule", "preview", "--days", "99999999999999999999"],
    ["schedule", "add", "m", "--daily", "02:00", "--action", "backup", "--level", "full", "--source", "/",
     "--max-full-days", "99999999999"],
])
def test_numbers_out_of_range_are_usage_errors_not_overflows(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by the fuzzer: these were 'internal error: OverflowError' (SQLite's
    64-bit integers, timedelta's range) -- or, for max-full-days, a stored
    schedule that would have failed at every firing."""
    code, _, err = cli(argv, capsys)
    assert_clean_error(code, err)


def test_a_restore_user_error_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(["restore", "--to", str(tmp_path / "out"), "--set", "1"], capsys)
    assert_clean_error(code, err)
