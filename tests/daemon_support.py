"""A real `tapetui daemon` process on a temporary home, for the daemon tests."""

from __future__ import annotations

import asyncio
import os
import select
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from tapetui.engine.events import Event, RunFinished

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024
#: Small cartridges, a slow drive: a few MB take a couple of seconds to write.
CONFIG = "[sim]\ncapacity_bytes = 200000000\nthroughput_mb_s = 4.0\n[backup]\nbatch_rows = 50\n"


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def tapetui(home: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tapetui", "--home", str(home), *args], capture_output=True,
                          text=True, timeout=timeout, env=env(), cwd=ROOT)


async def atapetui(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`tapetui` without blocking this test's event loop (its clients keep reading)."""
    return await asyncio.to_thread(tapetui, home, *args)


class Daemon:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.proc: subprocess.Popen[str] | None = None
        self.ready = ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 30) -> Daemon:
        err = open(self.home.parent / f"daemon-{len(list(self.home.parent.glob('daemon-*.err')))}.err", "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "tapetui", "--home", str(self.home), "daemon"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, text=True,
                                     env=env(), cwd=ROOT)
        err.close()
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert ready, "the daemon did not say it was ready"
        self.ready = self.proc.stdout.readline()
        assert "schedules for" in self.ready, (self.ready, self.errors())
        return self

    def errors(self) -> str:
        return "".join(p.read_text() for p in sorted(self.home.parent.glob("daemon-*.err")))

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()


def make_home(tmp_path: Path, extra_config: str = "") -> Path:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)  # a home open to others adds a warning line to every command
    (home / "config.toml").write_text(CONFIG + extra_config)
    return home


def write_tree(src: Path, big_mb: int = 0) -> None:
    """A few small files, plus `big_mb` MB of incompressible data in 1 MB files."""
    for i in range(20):
        (src / f"d{i % 3}").mkdir(parents=True, exist_ok=True)
        (src / f"d{i % 3}" / f"small{i}.txt").write_text(f"file {i}\n" * (i + 1))
    for i in range(big_mb):
        (src / f"big{i}.bin").write_bytes(os.urandom(MB))


def db_rows(home: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(home / "catalog.db", timeout=10) as conn:
        return conn.execute(sql, params).fetchall()


async def until_finished(events: list[Event], source: Any, schedule: str) -> RunFinished:
    """Collect events from an async iterator until a (not skipped) run of `schedule` finishes."""
    async for event in source:
        events.append(event)
        if isinstance(event, RunFinished) and event.schedule == schedule and event.status != "skipped":
            return event
    raise AssertionError(f"the event stream ended before a run of {schedule!r} finished")
