"""Where tapetui keeps its state.

By default the platform's own folders (platformdirs); with `--home DIR` or
`TAPETUI_HOME=DIR` everything lives under one folder, which is what tests,
benchmarks and `--demo` use so they never touch a user's real state.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP = "tapetui"
HOME_ENV = "TAPETUI_HOME"


@dataclass(frozen=True)
class Home:
    config_dir: Path
    data_dir: Path
    log_dir: Path

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "catalog.db"

    @property
    def sim_root(self) -> Path:
        """The simulated tape library (cartridges as folders)."""
        return self.data_dir / "library"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "tapetui.log"

    @property
    def socket_path(self) -> Path:
        """Where a running daemon listens for consoles and CLI clients."""
        return self.data_dir / "daemon.sock"

    @property
    def lock_path(self) -> Path:
        """Held by whichever process schedules for this home."""
        return self.data_dir / "scheduler.lock"

    @property
    def drive_lock_path(self) -> Path:
        """Held by the backup, restore or verify using the drive (`tape.drive_lock`)."""
        return self.data_dir / "drive.lock"

    @classmethod
    def single(cls, root: Path) -> Home:
        root = root.expanduser().resolve()
        return cls(config_dir=root, data_dir=root, log_dir=root / "logs")

    @classmethod
    def resolve(cls, home: str | os.PathLike[str] | None = None) -> Home:
        """`--home` wins, then `TAPETUI_HOME`, then the platform folders."""
        chosen = home or os.environ.get(HOME_ENV)
        if chosen:
            return cls.single(Path(chosen))
        return cls(
            config_dir=Path(platformdirs.user_config_dir(APP)),
            data_dir=Path(platformdirs.user_data_dir(APP)),
            log_dir=Path(platformdirs.user_log_dir(APP)),
        )

    def ensure(self) -> None:
        for d in (self.config_dir, self.data_dir, self.log_dir):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)

    def as_dict(self) -> dict[str, str]:
        return {
            "config_file": str(self.config_file),
            "database": str(self.db_path),
            "library": str(self.sim_root),
            "log_file": str(self.log_file),
        }
