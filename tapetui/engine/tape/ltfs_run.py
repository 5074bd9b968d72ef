"""Running a tape tool and turning its outcome into operator-facing words.

Shared by the `ltfs` and `ltfs-windows` drivers: a missing tool becomes a
TapeError naming it, a timeout a ToolTimeout or an OpResult with timed_out, a
failure one line with the exit meaning and the tool's own first error.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Sequence

from .. import proc
from .base import Cartridge, DriveStatus, LineSink, OpResult, TapeError, ToolTimeout
from .labels import has_barcode
from .ltfs_parse import first_error


async def run_tool(
    argv: Sequence[str],
    timeout: float,
    kill_grace_s: float,
    on_line: LineSink | None = None,
    ok_codes: Sequence[int] = (0,),
) -> proc.ProcResult:
    sink = (lambda _stream, line: on_line(line)) if on_line else None
    try:
        return await proc.run(argv, timeout=timeout, on_line=sink, ok_codes=ok_codes,
                              kill_grace_s=kill_grace_s)
    except proc.ToolNotFound as exc:
        raise TapeError(f"{exc} (check the tool paths in the tape driver settings)") from None


async def run_tool_ok(argv: Sequence[str], timeout: float, kill_grace_s: float) -> proc.ProcResult:
    """Run a short tool; a timeout or a failure is an exception."""
    res = await run_tool(argv, timeout, kill_grace_s)
    tool = Path(argv[0]).name
    if res.timed_out:
        raise ToolTimeout(timeout_text(tool, timeout))
    if not res.success:
        raise TapeError(failure_text(tool, res))
    return res


def holds(loaded: str | None, barcode: str) -> bool:
    """Whether the drive's cartridge is `barcode`; its memory may carry only the
    6-character volume serial. A cartridge without a barcode is only ever itself."""
    return loaded == barcode or (has_barcode(barcode) and loaded == barcode[:6])


def cartridge_in_drive(st: DriveStatus) -> Cartridge:
    """The loaded cartridge as an inventory entry, from a status that has one."""
    assert st.loaded is not None
    used = (st.capacity_bytes - st.remaining_bytes
            if st.capacity_bytes is not None and st.remaining_bytes is not None else None)
    return Cartridge(barcode=st.loaded, slot=None, in_drive=True, label=st.label,
                     serial=st.serial, generation=st.generation,
                     capacity_bytes=st.capacity_bytes, used_bytes=used,
                     formatted=st.formatted, formatted_at=st.formatted_at)


def exit_text(rc: int | None, meanings: dict[int, str]) -> str:
    if rc is None:
        return "did not exit"
    if rc < 0:
        try:
            return f"killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"killed by signal {-rc}"
    return f"exit {rc}" + (f", {meanings[rc]}" if rc in meanings else "")


def failure_text(tool: str, res: proc.ProcResult, meanings: dict[int, str] | None = None) -> str:
    reason = first_error(res.lines)
    text = f"{tool} failed ({exit_text(res.returncode, meanings or {})})"
    return f"{text}: {reason}" if reason else text


def timeout_text(tool: str, timeout: float) -> str:
    return f"{tool} did not finish within {timeout:g} s and was killed"


def op_result(res: proc.ProcResult, success: bool, message: str) -> OpResult:
    return OpResult(
        success=success,
        message=message,
        returncode=res.returncode,
        lines=res.lines,
        timed_out=res.timed_out,
        duration_s=res.duration_s,
    )
