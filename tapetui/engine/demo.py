"""A throwaway demo home: sample files, a few schedules, a history of backups.

`tapetui --demo` and the console's tests and screenshots start from it, so a
newcomer (or a snapshot) sees every screen with something on it. The history is
made by the real engine -- schedules fired through the scheduler, real backups
to the simulated library -- with the engine clock set to each firing's time:
last month's full and differential on one cartridge, this month's full,
differential and two nightly incrementals on a second one, with files added,
changed and deleted between. The history ends the night before "now", so the
demo opens with every next firing ahead of it (nothing fires at once).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from .paths import Home

if TYPE_CHECKING:
    from .core import Engine

DEMO_CONFIG = """\
# The demo home: a small simulated library.
[tape]
driver = "sim"

[sim]
slots = 6
initial_cartridges = 3
generation = "LTO-8"
capacity_bytes = 268435456
"""

#: "Now" for tests and screenshots: a fixed moment (the history ends the night before).
DEMO_NOW = datetime(2025, 6, 20, 9, 30, tzinfo=timezone.utc)
#: A folder big enough to need paging in the catalog tree.
BIG_FOLDER_FILES = 1200
#: What the opened demo's drive feels like: slow enough to watch a run, format or load.
WATCHABLE = {"throughput_mb_s": 2.0, "load_delay_s": 3.0, "format_delay_s": 4.0}


def write_config(home: Home, **sim: float) -> None:
    """The demo's config; `sim` adds drive settings (throughput_mb_s, load_delay_s,
    format_delay_s), e.g. a throughput limit makes backups slow enough to watch (or stop)."""
    home.ensure()
    extra = "".join(f"{key} = {value}\n" for key, value in sim.items() if value)
    home.config_file.write_text(DEMO_CONFIG + extra, encoding="utf-8")
    home.config_file.chmod(0o600)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def make_source_tree(root: Path, *, mail_files: int = BIG_FOLDER_FILES, photo_scale: int = 1) -> Path:
    """A small office share: projects, photos, a mail archive with many files.

    `photo_scale` multiplies the photos' sizes (the opened demo's are big enough
    that a full backup through the throttled drive takes a few seconds)."""
    for p in ("atlas", "borealis"):
        for i in range(6):
            _write(root / "projects" / p / f"notes-{i:02d}.md", f"# {p} notes {i}\n" + "lorem ipsum\n" * (40 * i + 5))
        _write(root / "projects" / p / "budget.csv", "item,amount\n" + "".join(f"line{i},{i * 7}\n" for i in range(200)))
    for i in range(8):
        (root / "photos" / "2025").mkdir(parents=True, exist_ok=True)
        (root / "photos" / "2025" / f"IMG_{1000 + i}.jpg").write_bytes(bytes([i]) * (50_000 + 9_000 * i) * photo_scale)
    for i in range(mail_files):
        _write(root / "mail" / "archive" / f"msg-{i:05d}.eml", f"Subject: message {i}\n\nbody {i}\n")
    return root


def _change(root: Path, step: int) -> None:
    """What happens to the share between two backups."""
    _write(root / "projects" / "atlas" / f"notes-{step:02d}.md", f"# atlas notes {step}, revised\n" * (step + 3))
    _write(root / "projects" / "cassini" / f"plan-{step}.txt", f"plan {step}\n" * 50)
    old = root / "projects" / "borealis" / f"notes-{step:02d}.md"
    if old.exists():
        old.unlink()


@dataclass
class _Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


def _first_of_month(day: datetime) -> datetime:
    return day.replace(day=1, hour=1, minute=0, second=0, microsecond=0)


def _sunday_after(at: datetime) -> datetime:
    """The first Sunday 03:00 at least a day after `at`."""
    day = (at + timedelta(days=1)).replace(hour=3, minute=0, second=0, microsecond=0)
    return day + timedelta(days=(6 - day.weekday()) % 7)


def history(now: datetime) -> list[tuple[datetime, str]]:
    """(when, schedule fired) for the demo, oldest first, all before `now`.

    The month of `now` minus ten days holds the second full (so its differential
    on the following Sunday is always before the two nightly incrementals of the
    last two nights); the month before it holds the first full and differential.
    Times are wall times in `now`'s zone, like the schedules'."""
    second = _first_of_month(now - timedelta(days=10))
    first = _first_of_month(second - timedelta(days=1))
    nights = [(now - timedelta(days=d)).replace(hour=22, minute=0, second=0, microsecond=0) for d in (2, 1)]
    return [
        (first, "monthly-full"),  # on the first cartridge
        (_sunday_after(first), "weekly-diff"),
        (second, "monthly-full"),  # on a blank cartridge
        (_sunday_after(second), "weekly-diff"),
        *((night, "nightly-incr") for night in nights),
    ]


async def seed_demo(home: Home, data: Path, *, now: datetime | None = None, watchable: bool = False,
                    mail_files: int = BIG_FOLDER_FILES) -> None:
    """Build the demo home under `home` with its sample share under `data`.

    The history ends the night before `now` (the real time when not given).
    `watchable` leaves the drive throttled (`WATCHABLE`) for the opened demo; the
    history itself is made at full speed."""
    from .control.local import LocalControl
    from .core import Engine
    from .scheduler import Scheduler

    now = now or datetime.now().astimezone()
    fired = history(now)
    write_config(home)
    source = str(make_source_tree(data / "share", mail_files=mail_files, photo_scale=20 if watchable else 1))
    clock = _Clock(fired[0][0] - timedelta(days=1))
    engine = await Engine.open(home, clock=clock)
    scheduler = Scheduler(engine)  # not started: the history is fired by hand, in order
    service = LocalControl(engine, scheduler)
    try:
        backup = {"sources": [source]}
        await service.add("monthly-full", kind="monthly", when="1 01:00", action="backup",
                          action_config={**backup, "level": "full"})
        await service.add("weekly-diff", kind="weekly", when="sun 03:00", action="backup",
                          action_config={**backup, "level": "differential"})
        await service.add("nightly-incr", kind="daily", when="22:00", action="backup",
                          action_config={**backup, "level": "incremental"})
        await service.add("cleanup", kind="monthly", when="2 04:00", action="cleanup")
        await service.add("drive-check", kind="every", when="6h", action="health_check")
        for step, (at, name) in enumerate(fired):
            if step:
                _change(data / "share", step)
            clock.now = at
            run = await service.run_now(name, wait=True)
            if run.status not in ("success", "warning"):
                raise RuntimeError(f"demo run of {name} failed: {run.message}")
        clock.now = now  # the history is over: every schedule's next firing is after "now"
        for row in await service.list():
            await service.set_enabled(row.name, row.name != "nightly-incr")
        await _stamp_history(engine)
    finally:
        await scheduler.close()
        await engine.close()
    if watchable:
        write_config(home, **WATCHABLE)


async def _stamp_history(engine: Engine) -> None:
    """Give each backup run and set the time of the firing that made it.

    The store stamps backup runs and sets with the wall clock, the scheduler
    stamps firings with the engine clock; the demo's history is in the past, so
    the former follow the latter (each run lasting a plausible few seconds)."""
    async with engine.store.transaction() as conn:
        await conn.execute(
            "UPDATE schedule_runs SET finished_at = strftime('%Y-%m-%dT%H:%M:%f000+00:00', started_at, "
            "'+' || (7 + id * 3) || ' seconds') WHERE finished_at IS NOT NULL")
        for table, key in (("backup_runs", "r.id"), ("backup_sets", "t.backup_run_id")):
            await conn.execute(
                f"UPDATE {table} AS t SET started_at = r.started_at, finished_at = r.finished_at "
                f"FROM (SELECT b.id AS bid, s.started_at, s.finished_at FROM backup_runs b "
                f"JOIN schedule_runs s ON s.id = b.schedule_run_id) AS r WHERE {key.replace('r.id', 't.id')} = r.bid"
            )
        await conn.execute("UPDATE backup_sets SET verified_at = finished_at WHERE verified_at IS NOT NULL")
