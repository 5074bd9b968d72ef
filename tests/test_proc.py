"""The subprocess manager: real processes, real signals, real pipes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest

from tapetui.engine import proc

PY = sys.executable


def script(tmp_path: Path, body: str) -> list[str]:
    path = tmp_path / "tool.py"
    path.write_text(textwrap.dedent(body))
    return [PY, str(path)]


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


STUBBORN = """
    import os, signal, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(60)
        os._exit(0)
    open(sys.argv[1], "w").write(str(pid))
    print("ready", flush=True)
    time.sleep(60)
"""


async def test_success_streams_both_pipes_in_order(tmp_path):
    argv = script(tmp_path, """
        import sys
        for i in range(50):
            print(f"out {i}", flush=True)
            print(f"err {i}", file=sys.stderr, flush=True)
    """)
    seen: list[tuple[str, str]] = []
    res = await proc.run(argv, timeout=10, on_line=lambda s, line: seen.append((s, line)))
    assert res.success and res.returncode == 0 and not res.timed_out
    assert [line for s, line in seen if s == "stdout"] == [f"out {i}" for i in range(50)]
    assert [line for s, line in seen if s == "stderr"] == [f"err {i}" for i in range(50)]
    assert res.stdout.splitlines()[-1] == "out 49" and res.argv == argv


async def test_exit_code_and_ok_codes(tmp_path):
    argv = script(tmp_path, "import sys; sys.exit(1)")
    assert not (await proc.run(argv, timeout=10)).success
    res = await proc.run(argv, timeout=10, ok_codes=(0, 1))
    assert res.success and res.returncode == 1


async def test_no_shell_metacharacters_reach_a_shell(tmp_path):
    marker = tmp_path / "pwned"
    argv = script(tmp_path, "import sys, json; print(json.dumps(sys.argv[1:]))")
    evil = f"; touch {marker} $(touch {marker}) `touch {marker}`"
    res = await proc.run([*argv, evil], timeout=10)
    assert json.loads(res.stdout) == [evil]
    assert not marker.exists()


async def test_timeout_kills_the_whole_group_even_a_child_ignoring_sigterm(tmp_path):
    pidfile = tmp_path / "child.pid"
    argv = script(tmp_path, STUBBORN)
    res = await proc.run([*argv, str(pidfile)], timeout=1.0, kill_grace_s=0.2)
    assert res.timed_out and not res.success
    assert res.returncode == -9  # SIGKILL, after SIGTERM was ignored
    assert res.stdout == "ready\n"
    child = int(pidfile.read_text())
    for _ in range(100):  # the orphaned child is reaped by init, not by us
        if not alive(child):
            break
        await asyncio.sleep(0.02)
    assert not alive(child)


async def test_cancellation_kills_and_reaps_then_propagates(tmp_path):
    pidfile = tmp_path / "child.pid"
    argv = script(tmp_path, STUBBORN)
    ready = asyncio.Event()
    task = asyncio.create_task(
        proc.run([*argv, str(pidfile)], timeout=60, kill_grace_s=0.2,
                 on_line=lambda _s, _l: ready.set())
    )
    await asyncio.wait_for(ready.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    child = int(pidfile.read_text())
    for _ in range(100):
        if not alive(child):
            break
        await asyncio.sleep(0.02)
    assert not alive(child)


async def test_missing_executable_names_the_tool(tmp_path):
    with pytest.raises(proc.ToolNotFound, match="no-such-tool: not found"):
        await proc.run([str(tmp_path / "no-such-tool")], timeout=5)
    plain = tmp_path / "plain.txt"
    plain.write_text("not a program")
    with pytest.raises(proc.ToolNotFound, match="plain.txt"):
        await proc.run([str(plain)], timeout=5)


async def test_flood_on_both_pipes_does_not_deadlock_and_capture_is_bounded(tmp_path):
    argv = script(tmp_path, """
        import sys
        line = "x" * 100 + "\\n"
        for _ in range(30000):
            sys.stdout.write(line)
            sys.stderr.write(line)
    """)
    count = 0

    def sink(_s: str, _l: str) -> None:
        nonlocal count
        count += 1

    res = await proc.run(argv, timeout=30, on_line=sink, capture_limit=64 * 1024)
    assert res.success and count == 60000
    assert len(res.stdout) <= 64 * 1024 + 102 and len(res.stderr) <= 64 * 1024 + 102
    assert res.dropped_lines == 60000 - len(res.stdout.splitlines()) - len(res.stderr.splitlines())


async def test_a_line_without_newline_and_a_huge_line_arrive(tmp_path):
    argv = script(tmp_path, """
        import sys
        sys.stdout.write("y" * (600 * 1024) + "\\n" + "tail without newline")
    """)
    lines: list[str] = []
    res = await proc.run(argv, timeout=10, on_line=lambda _s, line: lines.append(line))
    assert res.success
    assert "".join(lines[:-1]) == "y" * (600 * 1024)
    assert all(len(line) <= proc.MAX_LINE_BYTES for line in lines)
    assert lines[-1] == "tail without newline"


async def test_returns_when_the_tool_exits_though_its_daemon_keeps_the_pipes(tmp_path):
    """As `ltfs` does: the launcher exits 0, the FUSE daemon lives on (own session)."""
    pidfile = tmp_path / "daemon.pid"
    argv = script(tmp_path, """
        import os, sys, time
        pid = os.fork()
        if pid == 0:
            os.setsid()
            time.sleep(60)
            os._exit(0)
        open(sys.argv[1], "w").write(str(pid))
        print("launched")
    """)
    try:
        res = await asyncio.wait_for(proc.run([*argv, str(pidfile)], timeout=30), 20)
        assert res.success and not res.timed_out and res.stdout == "launched\n"
    finally:
        os.kill(int(pidfile.read_text()), signal.SIGKILL)


async def test_stdin_env_and_cwd(tmp_path):
    argv = script(tmp_path, """
        import os, sys
        print(sys.stdin.read().upper(), os.environ["PROC_TEST"], os.getcwd())
    """)
    res = await proc.run(argv, timeout=10, stdin_data=b"abc", cwd=tmp_path,
                         env={**os.environ, "PROC_TEST": "yes"})
    assert res.stdout.split() == ["ABC", "yes", str(tmp_path)]


async def test_on_line_error_stops_the_tool_and_surfaces(tmp_path):
    argv = script(tmp_path, """
        import time
        print("first", flush=True)
        time.sleep(60)
    """)

    def boom(_s: str, _l: str) -> None:
        raise RuntimeError("sink broke")

    with pytest.raises(RuntimeError, match="sink broke"):
        await asyncio.wait_for(proc.run(argv, timeout=60, on_line=boom, kill_grace_s=0.2), 20)
