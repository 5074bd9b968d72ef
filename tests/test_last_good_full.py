"""The last good backup of a source is never formatted away unasked (issue 15, item 1).

When blanks ran out, a full backup formatted the loaded cartridge even when it held
the only complete set of its source (killed or failed fulls had each used a blank
before). Now a full never formats a cartridge holding the newest restorable state of
any source -- the newest complete set whose chain restores, and every set of that
chain -- unless the operator's yes names it (--force, the console's confirmation);
incomplete sets protect nothing; a refused run names the cartridges it could use.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tapetui.cli.main import main
from tapetui.engine.backup.chain import choose_base, restorable_states
from tapetui.engine.control import LocalControl
from tapetui.engine.errors import UserError
from tapetui.engine.store.models import SetRow
from tapetui.engine.drive import ANY_CARTRIDGE
from tapetui.engine.tape.sim import SimConfig
from test_handlers_backup import OCT, CountingSim, _add, _fire
from test_scheduler import Rig, SimClock, open_engine


@pytest.fixture
async def lib(home, tmp_path: Path):
    """The sim library with four blank cartridges and a small source folder."""
    clock = SimClock(OCT)
    engine = await open_engine(home, clock)
    await engine.driver.close()
    engine.driver = CountingSim(home.sim_root, SimConfig(capacity_bytes=256 << 20, slots=4, initial_cartridges=4),
                                clock=clock)
    src = tmp_path / "src"
    src.mkdir()
    for i in range(5):
        (src / f"f{i}.bin").write_bytes(bytes([i]) * 5000)
    rig = Rig(engine, clock)
    rig.src = src
    yield rig
    await rig.scheduler.close()
    await engine.close()


async def _stopped_full(rig: Rig, name: str) -> int:
    """A full backup stopped once it writes: its cartridge holds its incomplete set (a
    killed or failed full leaves the same). Returns the set's id."""
    rig.engine.driver.cfg.throughput_mb_s = 0.05  # 25 KB at 50 KB/s: long enough to stop
    await _add(rig, name, level="full")
    await rig.service.run_now(name)
    writing = ("SELECT s.id FROM backup_sets s JOIN set_cartridges sc ON sc.set_id = s.id "
               "WHERE s.status = 'running'")
    for _ in range(1000):
        if await rig.engine.store.scalar(writing):
            break
        await asyncio.sleep(0.01)
    stopped = await asyncio.wait_for(rig.service.stop(name), 30)
    rig.engine.driver.cfg.throughput_mb_s = 0
    assert stopped.status == "cancelled" and stopped.set_id is not None
    return stopped.set_id


async def _into_drive(rig: Rig, barcode: str) -> None:
    """What `tapetui verify` or `tape load` leaves behind: `barcode` in the drive."""
    driver = rig.engine.driver
    if (await driver.status()).loaded != barcode:
        await driver.unload()
        await driver.load(barcode)


async def test_the_last_good_full_survives_when_blanks_run_out(lib: Rig) -> None:
    """The issue's repro: one good full, three killed fulls (each took a blank), the good
    full's cartridge loaded again. A full on the loaded cartridge fails naming it, the
    set it protects and the cartridges it could use, and formats nothing; an 'auto'
    full takes a cartridge holding only an incomplete set; --force formats it."""
    await _add(lib, "good", level="full")
    good = await _fire(lib, "good", OCT)
    assert good.status == "success" and good.result["cartridges"] == ["TPA001L8"]
    killed = [await _stopped_full(lib, f"killed{i}") for i in range(3)]
    held = {s.id: s.cartridges for s in await lib.engine.sets.all()}
    assert [held[i] for i in killed] == [["TPA002L8"], ["TPA003L8"], ["TPA004L8"]]  # each took a blank
    assert not [c for c in await lib.engine.driver.inventory() if not c.formatted]  # no blank left
    await _into_drive(lib, "TPA001L8")
    formats = len(lib.engine.driver.formats)

    await _add(lib, "here", level="full", cartridge_policy="loaded")
    refused = await _fire(lib, "here", OCT + timedelta(hours=1))
    assert refused.status == "failed" and refused.set_id is None
    assert refused.message == (
        f"TPA001L8 holds set {good.set_id} (full), the last restorable backup of {lib.src}, and a full backup "
        "formats its cartridge first: use TPA002L8 (slot 2), TPA003L8 (slot 3), TPA004L8 (slot 4) instead, or "
        "insert a blank cartridge or one whose sets are all superseded; or run it by hand with --force (in the "
        "console: confirm it) to format TPA001L8 anyway")
    assert len(lib.engine.driver.formats) == formats  # nothing was formatted
    assert (await lib.engine.sets.get(good.set_id)).complete

    await _add(lib, "auto", level="full")
    run = await _fire(lib, "auto", OCT + timedelta(hours=2))
    assert run.status == "warning" and run.result["cartridges"] == ["TPA002L8"], run.message
    assert run.result["format"]["overwritten_sets"] == [killed[0]]  # the incomplete set, nothing restorable
    assert (await lib.engine.sets.get(good.set_id)).complete


async def test_force_formats_the_last_good_full_and_says_so(lib: Rig) -> None:
    """Every cartridge holds a source's last restorable state: an 'auto' full fails; with
    the operator's yes naming the loaded one (or --force) it formats that one, and the
    run log says which state it destroyed."""
    for n, src in enumerate(("a", "b", "c", "d")):
        folder = lib.src / src
        folder.mkdir()
        (folder / "x").write_text(src)
        await _add(lib, src, level="full", sources=[str(folder)])
        assert (await _fire(lib, src, OCT + timedelta(minutes=n))).status == "success"
    assert (await lib.engine.driver.status()).loaded == "TPA004L8"
    await _add(lib, "new", level="full")
    refused = await _fire(lib, "new", OCT + timedelta(hours=1))
    assert refused.status == "failed"
    assert refused.message.startswith("TPA001L8 holds set 1 (full), the last restorable backup of "
                                      f"{lib.src / 'a'}; TPA002L8 holds set 2")
    assert "format one of them anyway" in refused.message

    risk = await lib.service.format_risk("new")
    assert risk is not None and risk.barcode == "TPA004L8"
    assert risk.last_states == [f"set 4 (full), the last restorable backup of {lib.src / 'd'}"]
    run = await _fire(lib, "new", OCT + timedelta(hours=3), allow_format=risk.barcode)
    assert run.status == "warning" and run.result["cartridges"] == ["TPA004L8"]
    assert (await lib.engine.sets.get(4)).status == "overwritten"
    lines = [ln.line for ln in await lib.service.runs.lines(run.id)]
    assert (f"formatting TPA004L8 destroys set 4 (full), the last restorable backup of {lib.src / 'd'}: "
            "the operator allowed it") in lines


async def test_incomplete_sets_do_not_protect_a_cartridge(lib: Rig) -> None:
    await _add(lib, "good", level="full")
    good = await _fire(lib, "good", OCT)
    stopped = await _stopped_full(lib, "killed")
    assert (await lib.engine.driver.status()).loaded == "TPA002L8"
    await _add(lib, "here", level="full", cartridge_policy="loaded")
    run = await _fire(lib, "here", OCT + timedelta(hours=1))
    assert run.status == "warning" and run.result["cartridges"] == ["TPA002L8"], run.message
    assert run.result["format"]["overwritten_sets"] == [stopped]
    assert (await lib.engine.sets.get(good.set_id)).complete


async def test_a_chains_full_is_protected_while_the_chain_is_in_use(lib: Rig) -> None:
    """Full on TPA001L8, then a differential and an incremental on TPA002L8: the newest
    state needs all three, so neither cartridge may be formatted. Once a newer full
    completes, that chain is superseded and its cartridges are free again."""
    await _add(lib, "full", level="full")
    full = await _fire(lib, "full", OCT)
    await _into_drive(lib, "TPA002L8")
    (lib.src / "new.txt").write_text("new")
    for n, level in enumerate(("differential", "incremental")):
        await _add(lib, level, level=level, cartridge_policy="loaded")
        (lib.src / f"{level}.txt").write_text(level)
        run = await _fire(lib, level, OCT + timedelta(hours=n + 1))
        assert run.status == "success" and run.result["cartridges"] == ["TPA002L8"], run.message
    newest = run.set_id

    await _into_drive(lib, "TPA001L8")
    await _add(lib, "again", level="full", cartridge_policy="loaded")
    refused = await _fire(lib, "again", OCT + timedelta(hours=3))
    assert refused.status == "failed"
    assert refused.message.startswith(f"TPA001L8 holds set {full.set_id} (full), needed to restore set {newest}, "
                                      f"the last restorable backup of {lib.src}, and a full backup")
    assert "use TPA003L8 (blank, slot 3), TPA004L8 (blank, slot 4) instead" in refused.message
    await _into_drive(lib, "TPA002L8")
    refused = await _fire(lib, "again", OCT + timedelta(hours=4))
    assert refused.status == "failed" and refused.message.startswith(
        f"TPA002L8 holds sets {full.set_id + 1} (differential), {newest} (incremental), needed to restore set "
        f"{newest}, the last restorable backup of {lib.src}, and a full backup")

    await _into_drive(lib, "TPA003L8")
    assert (await _fire(lib, "again", OCT + timedelta(hours=5))).status == "success"  # a blank: a newer full
    await _into_drive(lib, "TPA001L8")
    await _add(lib, "later", level="full", cartridge_policy="loaded")
    superseded = await _fire(lib, "later", OCT + timedelta(hours=6))
    assert superseded.status == "warning" and superseded.result["format"]["overwritten_sets"] == [full.set_id]


async def test_tape_format_names_the_last_restorable_state_it_would_destroy(lib: Rig) -> None:
    await _add(lib, "full", level="full")
    full = await _fire(lib, "full", OCT)
    with pytest.raises(UserError, match=(
            f"TPA001L8 holds catalogued backups that formatting would destroy: set {full.set_id} 'full' "
            rf"\(full, .*\); set {full.set_id} \(full\), the last restorable backup of {lib.src}; "
            "add --force to format it anyway")):
        await LocalControl(lib.engine).format()
    assert (await lib.engine.sets.get(full.set_id)).complete


def test_cli_backup_refuses_the_last_good_full_and_force_formats_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home, src = tmp_path / "home", tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("alpha")

    def backup(*extra: str) -> int:
        return main(["--home", str(home), "backup", "--level", "full", "--source", str(src), "--wait", "--quiet",
                     *extra])

    assert backup() == 0  # 'auto': loads a blank, TPA001L8
    capsys.readouterr()
    assert backup("--cartridge-policy", "loaded") == 1
    out = capsys.readouterr().out
    assert f"failed - TPA001L8 holds set 1 (full), the last restorable backup of {src}, and a full" in out
    assert "TPA002L8 (blank, slot 2)" in out
    assert main(["--home", str(home), "sets", "--json"]) == 0
    assert [(s["id"], s["complete"]) for s in json.loads(capsys.readouterr().out)["sets"]] == [(1, True)]
    assert backup("--cartridge-policy", "loaded", "--force") == 3  # a warning: the format destroyed set 1, as asked
    assert "destroyed 1 catalogued backup set(s) on the cartridge: #1" in capsys.readouterr().out
    assert main(["--home", str(home), "sets", "--json"]) == 0
    assert [s["status"] for s in json.loads(capsys.readouterr().out)["sets"]][-1] == "overwritten"


# -- the rule over random histories ---------------------------------------------------

CARTRIDGES = ("C1", "C2", "C3")
T0 = datetime(2026, 10, 1).astimezone()


def _format(sets: list[SetRow], cartridge: str) -> list[SetRow]:
    return [dataclasses.replace(s, status="overwritten") if s.cartridges == [cartridge]
            and s.status not in ("overwritten", "expired") else s for s in sets]


_step = st.one_of(
    st.tuples(st.just("backup"), st.sampled_from(("/a", "/b")), st.sampled_from(("full", "incremental",
              "differential")), st.sampled_from(("complete", "complete", "incomplete")), st.sampled_from(CARTRIDGES)),
    st.tuples(st.just("format"), st.sampled_from(CARTRIDGES)),
    st.tuples(st.just("expire"), st.integers(1, 30)),
)


def _history(steps: list[Any]) -> list[SetRow]:
    """Sets as the engine makes them: each backup's level and base from `choose_base`."""
    sets: list[SetRow] = []
    for n, step in enumerate(steps):
        at = T0 + timedelta(hours=n)
        if step[0] == "backup":
            _, key, requested, status, cartridge = step
            level, base = choose_base([s for s in sets if s.source_key == key], requested)
            sets.append(SetRow(len(sets) + 1, None, key, key, level, base.id if base else None, status, at,
                               at + timedelta(minutes=30), 0, 0, "sha256", None, None, None, [cartridge]))
        elif step[0] == "format":
            sets = _format(sets, step[1])
        elif step[1] <= len(sets):
            sets[step[1] - 1] = dataclasses.replace(sets[step[1] - 1], status="expired")
    return sets


def _heads(sets: list[SetRow]) -> dict[str, int]:
    return {key: chain[-1].id for key, chain in restorable_states(sets).items()}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_step, max_size=25))
def test_only_formats_that_lose_a_sources_newest_restorable_state_are_protected(steps: list[Any]) -> None:
    """Formatting a cartridge the rule leaves unprotected never changes what any source
    restores to; formatting a protected one always does. Only complete sets protect."""
    sets = _history(steps)
    protected = {s.id: s for chain in restorable_states(sets).values() for s in chain}
    assert all(s.status == "complete" for s in protected.values())
    heads = _heads(sets)
    for cartridge in CARTRIDGES:
        after = _heads(_format(sets, cartridge))
        if any(s.cartridges == [cartridge] for s in protected.values()):
            assert after != heads, cartridge
        else:
            assert after == heads, cartridge


async def test_the_consoles_run_now_names_the_last_restorable_backup_and_its_yes_allows_it(tmp_path: Path) -> None:
    """Every cartridge holds some source's only full: run-now's confirmation says the
    loaded one holds the last restorable backup of c; a yes formats it, a no leaves it."""
    from tapetui.console.dialogs.confirm import ConfirmScreen
    from test_console_flows import SIZE, every_cartridge_used, new_app, until

    async with new_app(tmp_path).run_test(size=SIZE) as pilot:
        app, made = await every_cartridge_used(pilot, tmp_path)
        loaded = (await app.engine.driver.status()).loaded
        for answer in ("n", "y"):
            await pilot.press("r")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            body = str(app.screen.query_one("#confirm-body").render())
            assert (f"! {loaded} holds set {made['c']} (full), the last restorable backup of {tmp_path / 'c'}: "
                    "after this format nothing restores that state.") in body.replace("\n", " ").replace("  ", " ")
            await pilot.press(answer)
            await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        for _ in range(600):  # the yes started it (the no did not)
            runs = [r for r in await app.service.run_list() if r.schedule_name == "d"]
            if runs and runs[0].status != "running":
                break
            await pilot.pause(0.05)
        (run,) = runs
        assert run.status == "warning" and run.result["format"]["overwritten_sets"] == [made["c"]], run.message
