"""A throwaway demo home: sample files, a few schedules, a history of backups.

`tapetui --demo` and the console's tests and screenshots start from it, so a
newcomer (or a snapshot) sees every screen with something on it.
"""

from __future__ import annotations

from pathlib import Path

from .paths import Home

DEMO_CONFIG = """\
# The demo home: a small simulated library, so everything is quick.
[tape]
driver = "sim"

[sim]
slots = 6
initial_cartridges = 3
generation = "LTO-8"
capacity_bytes = 268435456
"""


def write_config(home: Home, *, throughput_mb_s: float = 0) -> None:
    """The demo's config; a throughput limit makes backups slow enough to watch (or stop)."""
    home.ensure()
    extra = f"throughput_mb_s = {throughput_mb_s}\n" if throughput_mb_s else ""
    home.config_file.write_text(DEMO_CONFIG + extra, encoding="utf-8")
    home.config_file.chmod(0o600)
