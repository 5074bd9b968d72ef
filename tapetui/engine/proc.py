"""Run an external tool safely: no shell, a timeout, live output, nothing left behind.

Tape tools can run for hours, print megabytes, hang on a stuck drive or spawn
children. Every call here streams both pipes concurrently (so a chatty tool can
never deadlock on a full pipe), keeps only a bounded tail of the output, and on
timeout or cancellation kills the tool's whole process group and reaps it with a
bounded wait — nothing waits forever.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

#: Receives (stream name "stdout"/"stderr", line without its newline).
OnLine = Callable[[str, str], None]

#: Default tail kept per stream; every line still reaches on_line.
CAPTURE_LIMIT_BYTES = 4 * 1024 * 1024
#: A "line" longer than this is cut into pieces, so memory stays bounded.
MAX_LINE_BYTES = 256 * 1024
#: After the tool exits, how long to keep reading pipes still held open by a
#: daemon it left behind (e.g. the ltfs FUSE process).
DRAIN_AFTER_EXIT_S = 2.0
#: How long to wait for the process to disappear after SIGKILL.
REAP_TIMEOUT_S = 5.0
#: How often to look whether the tool has exited.
POLL_S = 0.02


class ToolNotFound(OSError):
    """The executable could not be started (missing, not executable)."""


@dataclass
class ProcResult:
    success: bool
    returncode: int | None  # negative: killed by that signal; None: never reaped
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool
    argv: list[str]
    #: Lines dropped from the front of stdout/stderr to respect the capture limit.
    dropped_lines: int = 0

    @property
    def lines(self) -> list[str]:
        """stderr then stdout, split in lines (LTFS tools speak on stderr)."""
        return self.stderr.splitlines() + self.stdout.splitlines()


@dataclass
class _Tail:
    """The last `limit` bytes' worth of lines of one stream."""

    limit: int
    lines: deque[str] = field(default_factory=deque)
    size: int = 0
    dropped: int = 0

    def add(self, line: str) -> None:
        self.lines.append(line)
        self.size += len(line) + 1
        while self.size > self.limit and len(self.lines) > 1:
            self.size -= len(self.lines.popleft()) + 1
            self.dropped += 1

    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines)


async def _pump(
    name: str, stream: asyncio.StreamReader, tail: _Tail, on_line: OnLine | None
) -> None:
    """Split a pipe into lines as they arrive; never blocks on a missing newline."""
    pending = b""
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            break
        pending += chunk
        *complete, pending = pending.split(b"\n")
        while len(pending) > MAX_LINE_BYTES:
            complete.append(pending[:MAX_LINE_BYTES])
            pending = pending[MAX_LINE_BYTES:]
        for raw in complete:
            _emit(name, raw, tail, on_line)
    if pending:
        _emit(name, pending, tail, on_line)


def _emit(name: str, raw: bytes, tail: _Tail, on_line: OnLine | None) -> None:
    line = raw.rstrip(b"\r").decode("utf-8", errors="replace")
    tail.add(line)
    if on_line is not None:
        on_line(name, line)


def _signal_group(proc: asyncio.subprocess.Process, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


async def _stop(proc: asyncio.subprocess.Process, grace_s: float) -> None:
    """SIGTERM the group, give it `grace_s`, then SIGKILL the group and reap."""
    if proc.returncode is None:
        _signal_group(proc, signal.SIGTERM)
        await _wait_exit(proc, [], grace_s)
    # Children may ignore SIGTERM or outlive the leader: always finish the group.
    _signal_group(proc, signal.SIGKILL)
    await _wait_exit(proc, [], REAP_TIMEOUT_S)  # else stuck in the kernel: returncode None


async def _wait_exit(
    proc: asyncio.subprocess.Process, readers: list[asyncio.Task[None]], timeout: float
) -> bool:
    """True when the tool exited within `timeout`; an on_line error surfaces at once.

    Polls `returncode` rather than awaiting `proc.wait()`: on Python 3.11 that
    also waits for the pipes to close, which a daemon the tool left may never do."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while proc.returncode is None:
        for task in readers:
            failed = task.exception() if task.done() and not task.cancelled() else None
            if failed is not None:
                raise failed
        remaining = deadline - loop.time()
        if remaining <= 0:
            return False
        live = [t for t in readers if not t.done()]
        if live:
            await asyncio.wait(live, timeout=min(remaining, POLL_S),
                               return_when=asyncio.FIRST_COMPLETED)
        else:
            await asyncio.sleep(min(remaining, POLL_S))
    return True


async def _finish_readers(readers: list[asyncio.Task[None]], wait_s: float) -> None:
    """Let the readers reach EOF, but never wait on a pipe held by a stray daemon."""
    done, pending = await asyncio.wait(readers, timeout=wait_s)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        task.result()  # re-raise an on_line error


async def run(
    argv: Sequence[str],
    *,
    timeout: float,
    on_line: OnLine | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    stdin_data: bytes | None = None,
    ok_codes: Sequence[int] = (0,),
    kill_grace_s: float = 2.0,
    capture_limit: int = CAPTURE_LIMIT_BYTES,
) -> ProcResult:
    """Run `argv` (never through a shell) for at most `timeout` seconds.

    Raises ToolNotFound when the executable cannot be started. On timeout the
    process group is killed and the result has timed_out=True. If the awaiting
    task is cancelled, the process group is killed and reaped, then the
    cancellation propagates."""
    argv = [os.fspath(a) for a in argv]
    if not argv:
        raise ValueError("empty command line")
    started = time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin_data is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
        reason = "not found" if isinstance(exc, FileNotFoundError) else exc.strerror
        raise ToolNotFound(f"cannot run {argv[0]}: {reason}") from None

    tails = {"stdout": _Tail(capture_limit), "stderr": _Tail(capture_limit)}
    assert proc.stdout is not None and proc.stderr is not None
    readers = [
        asyncio.create_task(_pump("stdout", proc.stdout, tails["stdout"], on_line)),
        asyncio.create_task(_pump("stderr", proc.stderr, tails["stderr"], on_line)),
    ]
    feeder = asyncio.create_task(_feed(proc, stdin_data)) if stdin_data is not None else None
    try:
        exited = await _wait_exit(proc, readers, timeout)
        if not exited:
            await _stop(proc, kill_grace_s)
        await _finish_readers(readers, DRAIN_AFTER_EXIT_S)
    except BaseException:
        # Cancellation ("stop the backup") or an on_line error: leave nothing running.
        await _stop(proc, kill_grace_s)
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        raise
    finally:
        if feeder is not None:
            feeder.cancel()
            await asyncio.gather(feeder, return_exceptions=True)
        # Close pipes a stray daemon may still hold; asyncio offers no public
        # handle for this, and leaving them to the GC warns after loop close.
        transport = getattr(proc, "_transport", None)
        if transport is not None:
            transport.close()

    rc = proc.returncode
    return ProcResult(
        success=exited and rc in tuple(ok_codes),
        returncode=rc,
        stdout=tails["stdout"].text(),
        stderr=tails["stderr"].text(),
        duration_s=time.monotonic() - started,
        timed_out=not exited,
        argv=argv,
        dropped_lines=tails["stdout"].dropped + tails["stderr"].dropped,
    )


async def _feed(proc: asyncio.subprocess.Process, data: bytes) -> None:
    assert proc.stdin is not None
    try:
        proc.stdin.write(data)
        await proc.stdin.drain()
        proc.stdin.close()
    except (BrokenPipeError, ConnectionResetError):
        pass
