"""TapeOps against the sim library: month check, format flow, cartridge choice, inventory."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from tapetui.engine.bus import Bus
from tapetui.engine.config import Config
from tapetui.engine.core import Engine
from tapetui.engine.errors import UserError
from tapetui.engine.events import Event, OperatorDone, OperatorNeeded, TapeChanged
from tapetui.engine.paths import Home
from tapetui.engine.store import open_store
from tapetui.engine.tape.base import DriveStatus, LabelInfo, LineSink, OpResult
from tapetui.engine.drive import MonthCheckFailed, TapeOps
from tapetui.engine.tape.sim import SimConfig, SimDriver

NOV = datetime(2025, 11, 15, 10, 0).astimezone()
OCT = datetime(2025, 10, 3, 9, 0).astimezone()
CAPACITY = 10_000_000


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Lines:
    """Records what an operation reports, in order, by level."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []
        self.run_id = 7

    def info(self, text: str) -> None:
        self.lines.append(("info", text))

    def warning(self, text: str) -> None:
        self.lines.append(("warning", text))

    def tool(self, text: str) -> None:
        self.lines.append(("tool", text))

    def of(self, level: str) -> list[str]:
        return [t for lvl, t in self.lines if lvl == level]


class FailingFormat(SimDriver):
    """The sim with a drive that fails mkltfs the way a device error does (exit 8)."""

    async def format(self, label: str, serial: str | None = None, force: bool = False,
                     on_line: LineSink | None = None) -> OpResult:
        line = "LTFS12004E Device error: medium error during format."
        if on_line:
            on_line(line)
        return OpResult(False, "mkltfs exited 8: LTFS12004E Device error", 8, [line])


class NoBarcodeReader(SimDriver):
    """A drive that cannot read barcodes: only the LTFS label identifies a tape."""

    async def read_label(self) -> LabelInfo | None:
        info = await super().read_label()
        return None if info is None else LabelInfo(info.label, info.serial, None, info.formatted_at)

    async def status(self) -> DriveStatus:
        status = await super().status()
        status.loaded = None
        return status


class Standalone(SimDriver):
    """One drive without a changer: cartridges go in by hand."""

    has_changer = False


@pytest.fixture
def clock() -> Clock:
    return Clock(NOV)


async def make_engine(home: Home, clock: Clock, driver_cls: type[SimDriver] = SimDriver) -> Engine:
    home.ensure()
    driver = driver_cls(home.sim_root, SimConfig(slots=5, initial_cartridges=4, capacity_bytes=CAPACITY),
                        clock=clock)
    store = await open_store(home.db_path)
    return Engine(home=home, config=Config(), store=store, bus=Bus(), driver=driver, clock=clock)


@pytest.fixture
async def engine(home: Home, clock: Clock):
    engine = await make_engine(home, clock)
    yield engine
    await engine.close()


async def prepare(engine: Engine, clock: Clock, barcode: str, label: str, when: datetime) -> None:
    """Put `label` on a cartridge as if formatted at `when`, leaving it loaded."""
    status = await engine.driver.status()
    if status.loaded not in (None, barcode):
        await engine.driver.unload()
    await engine.driver.load(barcode)
    saved, clock.now = clock.now, when
    try:
        await engine.driver.format(label, force=True)
    finally:
        clock.now = saved


async def add_set(engine: Engine, barcode: str, name: str) -> int:
    record = await engine.cartridges.upsert(barcode)
    set_id = await engine.sets.create(backup_run_id=None, source_key="/data", name=name, level="full",
                                      base_set_id=None, hash_algo="sha256")
    await engine.sets.add_cartridge(set_id, record.id)
    await engine.sets.complete(set_id, files=1, bytes_=10)
    return set_id


def collect(engine: Engine) -> list[Event]:
    seen: list[Event] = []
    engine.bus.subscribe(seen.append)
    return seen


# ---- month check ---------------------------------------------------------------------


async def test_month_check_passes_this_months_tape(engine: Engine, clock: Clock) -> None:
    await prepare(engine, clock, "TPA001L8", "TP20251101", NOV)
    log = Lines()
    info = await TapeOps(engine).month_check(NOV, log=log)
    assert info is not None and info.label == "TP20251101"
    assert log.of("info") == ["month check: tape TP20251101 is this month's (2025-11)"]


async def test_month_check_refuses_last_months_tape(engine: Engine, clock: Clock) -> None:
    await prepare(engine, clock, "TPA001L8", "TP20251001", OCT)
    with pytest.raises(MonthCheckFailed) as e:
        await TapeOps(engine).month_check(NOV)
    assert str(e.value) == ("TP20251001 is last month's (2025-10); the month check protects it. "
                            "This month is 2025-11: change the tape, or run it by hand with --no-month-check")
    assert isinstance(e.value, UserError)


async def test_month_check_label_beats_format_time(engine: Engine, clock: Clock) -> None:
    # Formatted in November but labelled for October (a manual format kept the label).
    await prepare(engine, clock, "TPA001L8", "TP20251001", NOV)
    with pytest.raises(MonthCheckFailed):
        await TapeOps(engine).month_check(NOV)


async def test_month_check_uses_format_time_for_other_labels(engine: Engine, clock: Clock) -> None:
    ops = TapeOps(engine)
    await prepare(engine, clock, "TPA001L8", "ARCHIVE", NOV)
    assert (await ops.month_check(NOV)).label == "ARCHIVE"
    await prepare(engine, clock, "TPA002L8", "ARCHIVE", OCT)
    log = Lines()
    with pytest.raises(MonthCheckFailed, match=r"^ARCHIVE is last month's \(2025-10\); the month check protects it"):
        await ops.month_check(NOV, log=log)
    # the log says where the month came from (a label that is not TP-style)
    assert log.of("info")[0].startswith(
        "month check: label ARCHIVE is not TP{YYYY}{MM}…, so its month (2025-10) came from its format date (2025-10-")


async def test_month_check_passes_a_blank_cartridge(engine: Engine) -> None:
    await engine.driver.load("TPA003L8")
    log = Lines()
    assert await TapeOps(engine).month_check(NOV, log=log) is None
    assert "blank" in log.of("info")[0]


async def test_month_check_override_is_logged(engine: Engine, clock: Clock) -> None:
    await prepare(engine, clock, "TPA001L8", "TP20251001", OCT)
    log = Lines()
    info = await TapeOps(engine).month_check(NOV, override=True, log=log)
    assert info is not None and info.label == "TP20251001"
    assert log.of("warning") == [
        "month check lifted for this run by the operator (--no-month-check): "
        "TP20251001 is last month's (2025-10); the month check protects it"
    ]


async def test_month_check_disabled_in_config(engine: Engine, clock: Clock) -> None:
    await prepare(engine, clock, "TPA001L8", "TP20251001", OCT)
    engine.config.tape.month_check = False
    log = Lines()
    assert await TapeOps(engine).month_check(NOV, log=log) is None
    assert "disabled" in log.of("info")[0]


async def test_month_check_with_an_empty_drive(engine: Engine) -> None:
    with pytest.raises(UserError, match="no cartridge in the drive"):
        await TapeOps(engine).month_check(NOV)


# ---- format flow -----------------------------------------------------------------------


async def test_scheduled_format_labels_this_month_once(engine: Engine, clock: Clock) -> None:
    await prepare(engine, clock, "TPA001L8", "TP20251001", OCT)
    await TapeOps(engine).sync_inventory()
    record_before = await engine.cartridges.by_barcode("TPA001L8")
    seen = collect(engine)
    log = Lines()
    out = await TapeOps(engine).format_flow(scheduled=True, now=NOV, log=log)
    assert (out.ok, out.old_label, out.new_label, out.warnings) == (True, "TP20251001", "TP20251101", [])
    info = await engine.driver.read_label()
    assert info.label == "TP20251101" and info.formatted_at == NOV
    tool = log.of("tool")
    assert sum("Starting mkltfs" in t for t in tool) == 1
    assert tool[-1] == "LTFS15024I Medium formatted successfully."
    record = await engine.cartridges.by_barcode("TPA001L8")
    assert record.id == record_before.id
    assert (record.label, record.status, record.used_bytes, record.formatted_at) == (
        "TP20251101", "active", 0, NOV)
    await engine.bus.drain()
    assert any(isinstance(e, TapeChanged) for e in seen)


async def test_manual_format_keeps_the_label(engine: Engine, clock: Clock) -> None:
    await prepare(engine, clock, "TPA001L8", "ARCHIVE-A", OCT)
    out = await TapeOps(engine).format_flow(scheduled=False, now=NOV, log=Lines())
    assert out.ok and out.new_label == "ARCHIVE-A"
    assert (await engine.driver.read_label()).label == "ARCHIVE-A"


async def test_manual_format_with_a_given_label(engine: Engine, clock: Clock) -> None:
    await prepare(engine, clock, "TPA001L8", "ARCHIVE-A", OCT)
    out = await TapeOps(engine).format_flow(scheduled=False, now=NOV, log=Lines(), label="PROJECT-X")
    assert (out.ok, out.old_label, out.new_label) == (True, "ARCHIVE-A", "PROJECT-X")
    assert (await engine.cartridges.by_barcode("TPA001L8")).label == "PROJECT-X"


async def test_manual_format_of_a_blank_cartridge_gets_the_monthly_label(engine: Engine) -> None:
    await engine.driver.load("TPA002L8")
    log = Lines()
    out = await TapeOps(engine).format_flow(scheduled=False, now=NOV, log=log)
    assert (out.ok, out.old_label, out.new_label) == (True, None, "TP20251101")
    assert log.of("info")[0] == "label before format: (blank) on TPA002L8"
    # No record existed: one is created under the barcode.
    record = await engine.cartridges.by_barcode("TPA002L8")
    assert record.label == "TP20251101" and record.serial == "TPA002"


async def test_record_found_by_old_label_is_renamed(engine: Engine, clock: Clock) -> None:
    # A record from before barcodes were read, keyed by its label.
    legacy = await engine.cartridges.upsert("LEGACY01", label="TP20251001")
    await prepare(engine, clock, "TPA001L8", "TP20251001", OCT)
    out = await TapeOps(engine).format_flow(scheduled=True, now=NOV, log=Lines())
    assert out.ok
    record = await engine.cartridges.by_barcode("TPA001L8")
    assert record.id == legacy.id and record.label == "TP20251101"
    assert await engine.cartridges.by_barcode("LEGACY01") is None


@pytest.fixture
async def labels_only(home: Home, clock: Clock):
    engine = await make_engine(home, clock, NoBarcodeReader)
    await prepare(engine, clock, "TPA001L8", "TP20251001", OCT)
    yield engine
    await engine.close()


async def test_without_barcodes_the_label_is_the_id_rename(labels_only: Engine) -> None:
    old = await labels_only.cartridges.upsert("TP20251001", label="TP20251001")
    log = Lines()
    out = await TapeOps(labels_only).format_flow(scheduled=True, now=NOV, log=log)
    assert out.ok and out.warnings == []
    record = await labels_only.cartridges.get(old.id)
    assert (record.barcode, record.label) == ("TP20251101", "TP20251101")
    assert "cartridge record renamed: TP20251001 -> TP20251101" in log.of("info")


async def test_new_id_already_taken_updates_the_label_only(labels_only: Engine) -> None:
    old = await labels_only.cartridges.upsert("TP20251001", label="TP20251001")
    other = await labels_only.cartridges.upsert("TP20251101", label="TP20251101", serial="ZZZ999")
    out = await TapeOps(labels_only).format_flow(scheduled=True, now=NOV, log=Lines())
    assert out.ok and out.warnings == []
    record = await labels_only.cartridges.get(old.id)
    assert (record.barcode, record.label, record.formatted_at) == ("TP20251001", "TP20251101", NOV)
    untouched = await labels_only.cartridges.get(other.id)
    assert (untouched.barcode, untouched.label, untouched.serial) == ("TP20251101", "TP20251101", "ZZZ999")


async def test_no_record_creates_one(labels_only: Engine) -> None:
    out = await TapeOps(labels_only).format_flow(scheduled=True, now=NOV, log=Lines())
    assert out.ok
    rows = await labels_only.cartridges.all()
    assert [(r.barcode, r.label, r.status) for r in rows] == [("TP20251101", "TP20251101", "active")]


async def test_failed_format_is_a_warning(home: Home, clock: Clock) -> None:
    engine = await make_engine(home, clock, FailingFormat)
    try:
        await engine.driver.load("TPA001L8")
        await SimDriver.format(engine.driver, "TP20251001", force=True)
        await TapeOps(engine).sync_inventory()
        set_id = await add_set(engine, "TPA001L8", "october")
        log = Lines()
        out = await TapeOps(engine).format_flow(scheduled=True, now=NOV, log=log)
        assert (out.ok, out.old_label, out.new_label, out.overwritten_sets) == (False, "TP20251001", None, [])
        assert out.warnings == ["format failed: mkltfs exited 8: LTFS12004E Device error"]
        assert log.of("warning") == out.warnings
        assert log.of("tool") == ["LTFS12004E Device error: medium error during format."]
        assert (await engine.driver.read_label()).label == "TP20251001"
        assert (await engine.cartridges.by_barcode("TPA001L8")).label == "TP20251001"
        assert (await engine.sets.get(set_id)).status == "complete"
    finally:
        await engine.close()


async def test_already_formatted_without_force_fails_softly(engine: Engine, clock: Clock) -> None:
    await prepare(engine, clock, "TPA001L8", "TP20251001", OCT)
    log = Lines()
    out = await TapeOps(engine).format_flow(scheduled=True, now=NOV, log=log, force=False)
    assert not out.ok
    assert "already formatted" in out.warnings[0]
    assert "LTFS15047E Medium is already formatted (0)." in log.of("tool")
    assert (await engine.driver.read_label()).label == "TP20251001"


async def test_format_with_an_empty_drive_fails_softly(engine: Engine) -> None:
    out = await TapeOps(engine).format_flow(scheduled=True, now=NOV, log=Lines())
    assert not out.ok and "load a cartridge" in out.warnings[0]


async def test_format_unmounts_first(engine: Engine, clock: Clock) -> None:
    await prepare(engine, clock, "TPA001L8", "TP20251001", OCT)
    await engine.driver.mount()
    out = await TapeOps(engine).format_flow(scheduled=True, now=NOV, log=Lines())
    assert out.ok and not (await engine.driver.status()).mounted


async def test_failed_record_update_after_a_good_format_is_a_warning(engine: Engine, clock: Clock) -> None:
    await prepare(engine, clock, "TPA001L8", "TP20251001", OCT)
    await TapeOps(engine).sync_inventory()
    set_id = await add_set(engine, "TPA001L8", "october")
    # A real SQLite failure: the catalog refuses every change to cartridges.
    for op in ("UPDATE", "INSERT"):
        await engine.store.execute(
            f"CREATE TRIGGER no_{op.lower()} BEFORE {op} ON cartridges "
            "BEGIN SELECT RAISE(ABORT, 'cartridges are read-only'); END"
        )
    out = await TapeOps(engine).format_flow(scheduled=True, now=NOV, log=Lines())
    assert out.ok and out.new_label == "TP20251101"
    assert len(out.warnings) == 1 and "could not be updated" in out.warnings[0]
    assert "read-only" in out.warnings[0]
    assert (await engine.driver.read_label()).label == "TP20251101"
    assert (await engine.cartridges.by_barcode("TPA001L8")).label == "TP20251001"
    # The tape was rewritten all the same: its sets are gone.
    assert out.overwritten_sets == [set_id]
    assert (await engine.sets.get(set_id)).status == "overwritten"


async def test_format_marks_the_sets_on_that_cartridge_overwritten(engine: Engine, clock: Clock) -> None:
    ops = TapeOps(engine)
    await prepare(engine, clock, "TPA002L8", "TP20251002", OCT)
    await prepare(engine, clock, "TPA001L8", "TP20251001", OCT)
    await ops.sync_inventory()
    first = await add_set(engine, "TPA001L8", "oct-full")
    second = await add_set(engine, "TPA001L8", "oct-diff")
    elsewhere = await add_set(engine, "TPA002L8", "other")
    assert [s.id for s in await ops.would_lose("TPA001L8")] == [first, second]
    out = await ops.format_flow(scheduled=True, now=NOV, log=Lines())
    assert out.overwritten_sets == [first, second]
    assert [(await engine.sets.get(i)).status for i in (first, second, elsewhere)] == [
        "overwritten", "overwritten", "complete"]
    assert await ops.would_lose("TPA001L8") == []
    assert [s.id for s in await ops.would_lose("TPA002L8")] == [elsewhere]
    assert await ops.would_lose("NOSUCH") == []


# ---- choosing and loading cartridges ---------------------------------------------------


async def test_policy_loaded_uses_the_drive(engine: Engine) -> None:
    ops = TapeOps(engine)
    with pytest.raises(UserError, match="the drive is empty"):
        await ops.ensure_loaded("loaded", Lines())
    await engine.driver.load("TPA003L8")
    chosen = await ops.ensure_loaded("loaded", Lines())
    assert (chosen.barcode, chosen.in_drive) == ("TPA003L8", True)


async def test_unknown_policy(engine: Engine) -> None:
    with pytest.raises(UserError, match="unknown tape policy 'sometimes'"):
        await TapeOps(engine).ensure_loaded("sometimes", Lines())


async def test_auto_keeps_an_eligible_loaded_cartridge(engine: Engine, clock: Clock) -> None:
    await prepare(engine, clock, "TPA003L8", "TP20251101", NOV)
    chosen = await TapeOps(engine).ensure_loaded("auto", Lines(), for_level="incremental")
    assert chosen.barcode == "TPA003L8"


async def test_auto_swaps_last_months_tape(engine: Engine, clock: Clock) -> None:
    ops = TapeOps(engine)
    await prepare(engine, clock, "TPA003L8", "TP20251101", NOV)  # this month's, appendable
    await prepare(engine, clock, "TPA001L8", "TP20251001", OCT)  # last month's, in the drive
    # A differential continues this month's tape ...
    chosen = await ops.ensure_loaded("auto", Lines(), for_level="differential")
    assert chosen.barcode == "TPA003L8" and (await engine.driver.status()).loaded == "TPA003L8"
    await engine.driver.unload()
    await engine.driver.load("TPA001L8")
    # ... a full backup takes a blank one (lowest slot), leaving this month's alone.
    log = Lines()
    chosen = await ops.ensure_loaded("auto", log, for_level="full")
    assert chosen.barcode == "TPA002L8"
    assert log.of("info")[0].startswith("unloading TPA001L8 (TP20251001)")
    slots = {c.barcode: c.slot for c in await engine.driver.inventory()}
    assert slots["TPA001L8"] == 1 and slots["TPA002L8"] is None


async def test_auto_skips_a_full_tape_for_appending(engine: Engine, clock: Clock) -> None:
    await prepare(engine, clock, "TPA001L8", "TP20251101", NOV)
    volume = await engine.driver.mount()
    with volume.open_write("big.bin") as fh:
        fh.write(b"x" * (CAPACITY - 1000))
    await engine.driver.unmount()
    chosen = await TapeOps(engine).ensure_loaded("auto", Lines(), for_level="incremental")
    assert chosen.barcode == "TPA002L8"  # a blank one, since this month's is full


async def test_auto_with_nothing_eligible(engine: Engine, clock: Clock) -> None:
    for barcode in ("TPA001L8", "TPA002L8", "TPA003L8", "TPA004L8"):
        await prepare(engine, clock, barcode, "TP20251001", OCT)
    with pytest.raises(UserError, match=r"no usable cartridge .* this month's \(2025-11\)"):
        await TapeOps(engine).ensure_loaded("auto", Lines(), for_level="full")


@pytest.fixture
async def standalone(home: Home, clock: Clock):
    engine = await make_engine(home, clock, Standalone)
    yield engine
    await engine.close()


async def test_standalone_drive_waits_for_the_operator(standalone: Engine) -> None:
    ops = TapeOps(standalone)
    ops.poll_s = 0.01
    seen = collect(standalone)
    log = Lines()
    waiting = asyncio.create_task(ops.ensure_loaded("auto", log))

    async def operator_asked() -> None:
        while not any(isinstance(e, OperatorNeeded) for e in seen):
            await asyncio.sleep(0.01)

    await asyncio.wait_for(operator_asked(), 5)
    assert not waiting.done()
    needed = next(e for e in seen if isinstance(e, OperatorNeeded))
    assert (needed.run_id, needed.action) == (7, "insert_cartridge")
    await standalone.driver.load("TPA002L8")  # the operator inserts a cartridge
    chosen = await asyncio.wait_for(waiting, 5)
    assert chosen.barcode == "TPA002L8"
    await standalone.bus.drain()
    assert any(isinstance(e, OperatorDone) for e in seen)
    assert log.of("warning") == ["waiting for an operator: the drive is empty: insert a cartridge"]


async def test_operator_wait_is_cancellable_and_bounded(standalone: Engine) -> None:
    ops = TapeOps(standalone)
    ops.poll_s = 0.01
    waiting = asyncio.create_task(ops.ensure_loaded("loaded", Lines()))
    await asyncio.sleep(0.05)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(waiting, 5)
    ops.operator_wait_s = 0.05
    with pytest.raises(UserError, match="no cartridge was inserted"):
        await asyncio.wait_for(ops.ensure_loaded("auto", Lines()), 5)


# ---- inventory -------------------------------------------------------------------------


async def test_sync_inventory_records_the_library(engine: Engine, clock: Clock) -> None:
    await prepare(engine, clock, "TPA002L8", "TP20251101", NOV)
    volume = await engine.driver.mount()
    with volume.open_write("a.bin") as fh:
        fh.write(b"y" * CAPACITY)
    await engine.driver.unmount()
    await prepare(engine, clock, "TPA003L8", "TP20251102", NOV)
    await engine.cartridges.upsert("TPA004L8", status="retired")
    rows = {r.barcode: r for r in await TapeOps(engine).sync_inventory()}
    assert sorted(rows) == ["TPA001L8", "TPA002L8", "TPA003L8", "TPA004L8"]
    assert (rows["TPA001L8"].status, rows["TPA001L8"].label) == ("blank", None)
    assert (rows["TPA002L8"].status, rows["TPA002L8"].used_bytes) == ("full", CAPACITY)
    r3 = rows["TPA003L8"]
    assert (r3.status, r3.label, r3.serial, r3.generation, r3.capacity_bytes, r3.formatted_at) == (
        "active", "TP20251102", "TPA003", "LTO-8", CAPACITY, NOV)
    assert rows["TPA004L8"].status == "retired"


async def test_load_unload_and_overview(engine: Engine) -> None:
    ops = TapeOps(engine)
    seen = collect(engine)
    await engine.cartridges.upsert("SHELF1L8", label="TP20240101", status="active")
    await ops.load("TPA004L8")
    views = await ops.overview()
    assert [(v.barcode, v.location) for v in views] == [
        ("TPA004L8", "drive"), ("TPA001L8", "slot 1"), ("TPA002L8", "slot 2"),
        ("TPA003L8", "slot 3"), ("SHELF1L8", "offline")]
    assert await ops.unload() == "TPA004L8"
    assert await ops.unload() is None
    await engine.bus.drain()
    assert [e.reason for e in seen if isinstance(e, TapeChanged)] == ["loaded TPA004L8", "unloaded TPA004L8"]
    with pytest.raises(UserError, match="no cartridge NOPE00L8"):
        await ops.load("NOPE00L8")


async def test_check_reports_through_the_sink(engine: Engine, clock: Clock) -> None:
    await prepare(engine, clock, "TPA001L8", "TP20251101", NOV)
    lines: list[str] = []
    result = await TapeOps(engine).check(on_line=lines.append)
    assert result.success and "LTFS16022I Volume is consistent." in lines
    await engine.driver.mount()
    with pytest.raises(UserError, match="mounted"):
        await TapeOps(engine).check()

