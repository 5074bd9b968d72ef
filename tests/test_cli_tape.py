"""`tapetui tape ...` end to end on a fresh home with the simulated library; giving a
barcode to a cartridge without one on a standalone LTFS drive (stand-in tools),
run here and through a daemon."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from ltfs_world import FRESH, FRESH_ID, NAMED, STATE_ENV, fresh_cartridge_home
from tapetui.cli import route
from tapetui.cli.main import main
from tapetui.engine.core import Engine
from tapetui.engine.control import LocalControl, RemoteControl
from tapetui.engine.daemon.server import DaemonServer
from tapetui.engine.errors import UserError
from tapetui.engine.paths import Home
from tapetui.engine.scheduler import Scheduler
from tapetui.engine.tape.labels import scheduled_label, shown_id
from tapetui.engine.timeutil import now


class Cli:
    def __init__(self, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.home = home
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        code = main(["--home", str(self.home), "tape", *args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def json(self, *args: str) -> Any:
        code, out, err = self(*args, "--json")
        assert code == 0, err
        return json.loads(out)

    def listing(self) -> dict[str, dict[str, Any]]:
        return {c["barcode"]: c for c in self.json("list")}

    def engine_do(self, fn) -> Any:  # noqa: ANN001 - an async fn(engine)
        async def go() -> Any:
            engine = await Engine.open(Home.single(self.home))
            try:
                return await fn(engine)
            finally:
                await engine.close()
        return asyncio.run(go())


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(tmp_path / "cli-home", capsys)


def test_fresh_home_lists_the_new_simulated_library(cli: Cli) -> None:
    code, out, err = cli("list")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["BARCODE", "LABEL", "STATUS", "USED", "CAPACITY", "WHERE", "SETS", "FORMATTED"]
    assert [line.split()[0] for line in lines[1:]] == ["TPA001L8", "TPA002L8", "TPA003L8", "TPA004L8"]
    assert all(" blank " in line and "12.0 TB" in line for line in lines[1:])
    rows = cli.json("list")
    assert {"barcode", "label", "status", "slot", "capacity_bytes", "used_bytes"} <= set(rows[0])
    assert [(r["barcode"], r["slot"], r["status"], r["label"], r["used_bytes"]) for r in rows] == [
        (f"TPA00{i}L8", i, "blank", None, 0) for i in range(1, 5)]
    assert rows[0]["capacity_bytes"] == 12 * 10**12


def test_load_format_unload_are_visible_in_list(cli: Cli) -> None:
    assert cli("load", "TPA002L8")[:2] == (0, "loaded TPA002L8\n")
    loaded = cli.listing()["TPA002L8"]
    assert (loaded["slot"], loaded["in_drive"], loaded["location"]) == (None, True, "drive")

    code, out, err = cli("format", "--label", "PROJECT-X")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "label before format: (blank) on TPA002L8"
    assert "LTFS15024I Medium formatted successfully." in lines
    assert lines.index("LTFS15024I Medium formatted successfully.") < lines.index(
        "formatted TPA002L8 as PROJECT-X") == len(lines) - 1
    formatted = cli.listing()["TPA002L8"]
    assert (formatted["label"], formatted["status"]) == ("PROJECT-X", "active")
    assert formatted["formatted_at"] is not None

    status = cli.json("status")
    assert {"loaded", "label", "mounted", "remaining_bytes"} <= set(status)
    assert (status["loaded"], status["label"], status["mounted"]) == ("TPA002L8", "PROJECT-X", False)
    assert status["remaining_bytes"] == status["capacity_bytes"]

    assert cli("unload")[:2] == (0, "unloaded TPA002L8\n")
    back = cli.listing()["TPA002L8"]
    assert (back["slot"], back["in_drive"], back["label"]) == (2, False, "PROJECT-X")
    assert cli.json("status")["loaded"] is None
    assert cli("unload")[:2] == (0, "the drive is already empty\n")


def test_format_refuses_to_destroy_catalogued_backups(cli: Cli) -> None:
    cli("load", "TPA001L8")
    assert cli("format")[0] == 0  # a blank cartridge: no force needed, this month's label
    label = scheduled_label(now())

    async def add_set(engine: Engine) -> int:
        record = await engine.cartridges.by_barcode("TPA001L8")
        set_id = await engine.sets.create(backup_run_id=None, source_key="/srv", name="nightly",
                                          level="full", base_set_id=None, hash_algo="sha256")
        await engine.sets.add_cartridge(set_id, record.id)
        await engine.sets.complete(set_id, files=3, bytes_=300)
        return set_id

    set_id = cli.engine_do(add_set)
    assert cli.listing()["TPA001L8"]["sets"] == 1

    code, out, err = cli("format", "--label", "OTHER")
    assert code == 1 and out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith("tapetui: error: TPA001L8 holds catalogued backups that formatting would destroy: "
                          f"set {set_id} 'nightly' (full, ")
    assert "--force" in err
    assert cli.listing()["TPA001L8"]["label"] == label

    code, out, err = cli("format", "--label", "OTHER", "--force")
    assert code == 0, err
    assert out.splitlines()[-2:] == ["formatted TPA001L8 as OTHER", f"marked overwritten: set {set_id}"]

    async def set_status(engine: Engine) -> str:
        return (await engine.sets.get(set_id)).status

    assert cli.engine_do(set_status) == "overwritten"
    assert cli.listing()["TPA001L8"]["sets"] == 0


def test_formatted_cartridge_needs_force_even_without_sets(cli: Cli) -> None:
    cli("load", "TPA003L8")
    assert cli("format", "--label", "FIRST")[0] == 0
    code, out, err = cli("format", "--label", "SECOND")
    assert code == 1
    assert "LTFS15047E Medium is already formatted (0)." in out
    assert "warning: format failed: TPA003L8 is already formatted" in err
    assert cli.listing()["TPA003L8"]["label"] == "FIRST"


def test_user_errors_are_one_line(cli: Cli) -> None:
    for args, message in [
        (("load", "NOPE00L8"), "no cartridge NOPE00L8 in the library"),
        (("format",), "the drive is empty; load a cartridge first"),
        (("format", "--label=a/b"), "must not contain /"),
        (("check",), "the drive is empty"),
    ]:
        code, out, err = cli(*args)
        assert code == 1, args
        assert err.startswith("tapetui: error: ") and message in err, (args, err)
        assert len(err.splitlines()) == 1


def test_status_of_an_empty_drive(cli: Cli) -> None:
    status = cli.json("status")
    assert (status["loaded"], status["label"], status["mounted"], status["remaining_bytes"]) == (
        None, None, False, None)
    code, out, _ = cli("status")
    assert code == 0 and "drive_present" in out


def test_check_streams_ltfsck_lines(cli: Cli) -> None:
    cli("load", "TPA004L8")
    code, out, _ = cli("check")
    assert code == 1 and "not LTFS formatted" in out  # blank: nothing to check
    cli("format", "--label", "CHECKED")
    code, out, _ = cli("check")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("LTFS16000I Starting ltfsck")
    assert lines[-2:] == ["LTFS16022I Volume is consistent.", "TPA004L8 is consistent"]


# -- a cartridge without a barcode (standalone LTFS drive, stand-in tools) -----------------


def ltfs_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
             loaded: str = FRESH) -> Cli:
    home, state = fresh_cartridge_home(tmp_path, loaded=loaded)
    monkeypatch.setenv(STATE_ENV, str(state))
    return Cli(home.data_dir, capsys)


def test_format_with_a_barcode_names_a_cartridge_that_had_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = ltfs_cli(tmp_path, capsys, monkeypatch)
    assert list(cli.listing()) == [FRESH_ID]
    code, out, err = cli("format", "--barcode", FRESH)
    assert code == 0, err
    assert out.splitlines()[-1] == (f"formatted {shown_id(FRESH_ID)} as {scheduled_label(now())}; "
                                    "the drive now names it NEW001")
    assert "-s NEW001" in out  # mkltfs wrote the serial
    [(barcode, row)] = cli.listing().items()
    assert (barcode, row["status"], row["in_drive"]) == ("NEW001", "active", True)
    assert cli.json("status")["loaded"] == "NEW001"


def test_a_barcode_is_refused_for_a_cartridge_that_has_another(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = ltfs_cli(tmp_path, capsys, monkeypatch, loaded=NAMED)
    for barcode, message in [
        (FRESH, f"the cartridge in the drive already has barcode {NAMED}; a barcode ({FRESH}) can only be "
                "given to a cartridge without one"),
        ("LIB001L7", "already has barcode LIB001L8"),  # same serial, another media id: another sticker
        ("new-1", "barcode 'new-1' must be 6 digits or capital letters"),
    ]:
        code, out, err = cli("format", "--barcode", barcode)
        assert code == 1 and out == "", barcode
        assert err.startswith("tapetui: error: ") and message in err and len(err.splitlines()) == 1, err
    untouched = cli.listing()[NAMED]
    assert (untouched["label"], untouched["formatted_at"]) == (None, None)  # nothing was formatted
    code, out, err = cli("format", "--barcode", "LIB001")  # its own (serial): nothing to give, it formats
    assert code == 0, err
    assert out.splitlines()[-1] == f"formatted {NAMED} as {scheduled_label(now())}"


async def test_the_barcode_reaches_the_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home, state = fresh_cartridge_home(tmp_path)
    monkeypatch.setenv(STATE_ENV, str(state))
    daemon_engine = await Engine.open(home)
    daemon = LocalControl(daemon_engine, Scheduler(daemon_engine))
    server = DaemonServer(daemon, home.socket_path)
    await server.start()
    engine = await Engine.open(home)
    try:
        async with route.control(engine) as control:
            assert isinstance(control, RemoteControl)
            with pytest.raises(UserError, match="barcode 'x' must be 6 digits"):
                await control.format(barcode="x")
            done = await control.format(label="PROJECT-X", barcode=FRESH)
        assert (done.barcode, done.named, done.outcome.ok, done.outcome.new_label) == (
            FRESH_ID, "NEW001", True, "PROJECT-X")
        [record] = await engine.cartridges.all()
        assert (record.barcode, record.label) == ("NEW001", "PROJECT-X")
    finally:
        await engine.close()
        await server.close()
        await daemon.close()
        await daemon_engine.close()
