"""Stopping a run asks first (No by default): one stray `s` must not end an
overnight full. The question names the run, how far it got and what stays
incomplete. Schedules and Runs (and the palette, which runs their actions) ask
through here."""

from __future__ import annotations

from textual.screen import Screen

from ...engine.events import Progress
from ...engine.store.models import RunRow, SetRow
from ..context import tapp
from ..fmt import human_bytes, when
from ..widgets.progress_panel import percent
from .confirm import ConfirmScreen

STOP_TITLE = "Stop a running run"


def done_so_far(p: Progress | None) -> str:
    """'writing: 1.2 GB of 8.0 GB (15%), 1,204 of 3,000 files'."""
    if p is None:
        return "no progress reported yet"
    size = f"{human_bytes(p.bytes_done)} of {human_bytes(p.bytes_total)}" if p.bytes_total \
        else human_bytes(p.bytes_done)
    files = f"{p.files_done:,} of {p.files_total:,} files" if p.files_total else f"{p.files_done:,} files"
    share = f" ({percent(p)})" if percent(p) else ""
    return f"{p.phase}: {size}{share}, {files}"


def left_incomplete(run: RunRow, backup_set: SetRow | None) -> str:
    """What the stop leaves unfinished, in a sentence."""
    if backup_set is not None:
        on = f" on {', '.join(backup_set.cartridges)}" if backup_set.cartridges else ""
        return (f"Backup set #{backup_set.id} ({backup_set.level}){on} stays incomplete: "
                "nothing can be restored from it.")
    if run.action == "backup":
        return "The backup set it is making stays incomplete: nothing can be restored from it."
    if run.action == "restore":
        return "The files not restored yet stay as they are; the restore is not finished."
    return f"The {run.action} stays unfinished."


def stop_text(run: RunRow, progress: Progress | None, backup_set: SetRow | None) -> str:
    return (f"Stop run #{run.id} of {run.schedule_name!r} ({run.action}, started {when(run.started_at)})?\n\n"
            f"So far: {done_so_far(progress)}.\n"
            f"{left_incomplete(run, backup_set)}\n\n"
            "Its tools are killed at once.")


async def stop_confirmed(screen: Screen, run: RunRow) -> bool:
    """Ask about stopping `run` (from a worker); True only on an explicit yes."""
    app = tapp(screen)
    run = await app.service.run(run.id)  # its set is linked once it begins writing
    backup_set = await app.service.set(run.set_id) if run.set_id is not None else None
    body = stop_text(run, app.live.state.progress.get(run.id), backup_set)
    return await app.push_screen_wait(ConfirmScreen(STOP_TITLE, body, yes="Stop"))


async def schedule_stop_confirmed(screen: Screen, schedule: str) -> bool:
    """Ask about stopping the run `schedule` has going; True also when it has none
    (the stop then says it is not running)."""
    latest = await tapp(screen).service.run_list(schedule, limit=1)
    if not latest or latest[0].status != "running":
        return True
    return await stop_confirmed(screen, latest[0])
