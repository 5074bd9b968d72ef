"""The engine's front door (issue 17): `LocalControl` and `RemoteControl` each offer all of
`Control`, a restore names its run, a command that only reads builds no scheduler, and
`catalog import` runs in the daemon when one serves the home."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

import pytest
from daemon_support import Daemon, atapetui, db_rows
from test_cli_catalog import cli, make_sets

from tapetui.engine import scheduler as scheduler_mod
from tapetui.engine.control import Control, Engine, LocalControl, RemoteControl, RestoreRequest, attach
from tapetui.engine.paths import Home


def members(cls: type) -> dict[str, object]:
    """The operations and properties a class offers, as the Protocol declares them."""
    skip = {"__init__", "__subclasshook__", "__class_getitem__", "__init_subclass__", "_is_protocol",
            "_is_runtime_protocol", "__protocol_attrs__", "__non_callable_proto_members__", "__abstractmethods__"}
    return {n: v for n, v in vars(cls).items() if not n.startswith("__") and n not in skip or n == "remote"}


@pytest.mark.parametrize("impl", [LocalControl, RemoteControl])
def test_each_implementation_offers_all_of_control_with_its_signatures(impl: type) -> None:
    declared = members(Control)
    assert "restore" in declared and "import_catalog" in declared and "format_risk" in declared
    for name, proto in declared.items():
        assert hasattr(impl, name), f"{impl.__name__} has no {name}"
        if inspect.isfunction(proto):
            got, want = inspect.signature(getattr(impl, name)), inspect.signature(proto)
            assert [p for p in got.parameters if p != "self"] == [p for p in want.parameters if p != "self"], name
            assert got.return_annotation.replace("List[", "list[") == want.return_annotation.replace("List[", "list["), name
    assert not getattr(impl, "__abstractmethods__", None)


def test_commands_that_only_read_build_no_scheduler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    home, _ = make_sets(tmp_path)
    built: list[object] = []
    real_init = scheduler_mod.Scheduler.__init__

    def counting_init(self: scheduler_mod.Scheduler, *args: object, **kwargs: object) -> None:
        built.append(self)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(scheduler_mod.Scheduler, "__init__", counting_init)
    for command in (["schedule", "list"], ["runs"], ["sets"], ["ls", "1"], ["find", "*.md"], ["tape", "list"],
                    ["tape", "status"], ["schedule", "preview"], ["template", "list"]):
        assert cli(home, *command) == 0, command
    assert built == []
    assert cli(home, "schedule", "add", "n", "--daily", "02:00", "--action", "health_check") == 0
    assert cli(home, "schedule", "run", "n", "--wait") == 0
    assert len(built) == 1  # a firing needs one


async def test_a_restore_names_its_run_here_and_through_the_daemon(tmp_path: Path) -> None:
    home_dir, src = await asyncio.to_thread(make_sets, tmp_path)
    engine = await Engine.open(Home.single(home_dir))
    try:
        control = LocalControl(engine)
        done = await control.restore(RestoreRequest(target=str(tmp_path / "out"), paths=[str(src / "notes.md")]))
        [run] = await control.run_list()
        assert (done.status, done.run_id, run.id, run.action) == ("success", run.id, done.run_id, "restore")
    finally:
        await engine.close()

    daemon = Daemon(home_dir).start()
    engine = await Engine.open(Home.single(home_dir))
    try:
        remote = await attach(engine)
        assert isinstance(remote, RemoteControl)
        done = await remote.restore(RestoreRequest(target=str(tmp_path / "again"), paths=[str(src / "notes.md")]))
        newest = (await remote.run_list())[0]
        assert (done.status, done.run_id, newest.pid) == ("success", newest.id, daemon.pid)
        await remote.close()
    finally:
        await engine.close()
        daemon.stop()


async def test_catalog_import_runs_in_the_daemon(tmp_path: Path) -> None:
    home, _ = await asyncio.to_thread(make_sets, tmp_path)
    daemon = Daemon(home).start()
    try:
        imported = await atapetui(home, "catalog", "import")
        assert imported.returncode == 0, imported.stderr
        assert "0 set(s) imported, 2 already in the catalog" in imported.stdout
        assert ": import_catalog" in (home / "logs" / "tapetui.log").read_text()  # the daemon's server did it
        assert db_rows(home, "SELECT count(*) FROM backup_sets") == [(2,)]
    finally:
        daemon.stop()
