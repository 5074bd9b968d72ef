"""Where tapetui keeps its state.

By default the platform's own folders (platformdirs); with `--home DIR` or
`TAPETUI_HOME=DIR` everything lives under one folder, which is what tests,
benchmarks and `--demo` use so they never touch a user's real state.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from .errors import UserError

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
        """Held by the backup, restore or verify using the drive (`drive.lock`)."""
        return self.data_dir / "drive.lock"

    @classmethod
    def single(cls, root: Path) -> Home:
        root = root.expanduser().resolve()
        _check_utf8(root)
        return cls(config_dir=root, data_dir=root, log_dir=root / "logs")

    @classmethod
    def resolve(cls, home: str | os.PathLike[str] | None = None) -> Home:
        """`--home` wins, then `TAPETUI_HOME`, then the platform folders."""
        chosen = home or os.environ.get(HOME_ENV)
        if chosen:
            return cls.single(Path(chosen))
        platform = cls(
            config_dir=Path(platformdirs.user_config_dir(APP)),
            data_dir=Path(platformdirs.user_data_dir(APP)),
            log_dir=Path(platformdirs.user_log_dir(APP)),
        )
        for d in platform.folders():
            _check_utf8(d)
        return platform

    def folders(self) -> list[Path]:
        """The home's folders, each once (one folder with `--home`)."""
        return list(dict.fromkeys((self.config_dir, self.data_dir, self.log_dir)))

    def ensure(self) -> None:
        """Create the folders (0700, parents too); a path that cannot be one is a clear error."""
        for d in self.folders():
            try:
                make_private_dir(d)
            except OSError as e:
                where = Path(e.filename) if e.filename else d
                why = f"{where} is a file" if where.exists() and not where.is_dir() else f"{where}: {e.strerror}"
                raise UserError(f"cannot use {d} as tapetui's home folder: {why}") from None

    def open_to_others(self) -> list[str]:
        """A warning per home folder other users may enter: tapetui makes its files 0600,
        but names and sizes show, and files an older tapetui made may be readable."""
        warnings = []
        for d in self.folders():
            try:
                st = d.stat()
            except OSError:
                continue
            mode = st.st_mode & 0o777
            if stat.S_ISDIR(st.st_mode) and mode & 0o077:
                warnings.append(f"{d} is open to other users (mode {mode:04o}); run: chmod 700 {d}")
        return warnings

    def as_dict(self) -> dict[str, str]:
        return {
            "config_file": str(self.config_file),
            "database": str(self.db_path),
            "library": str(self.sim_root),
            "log_file": str(self.log_file),
        }


def make_private_dir(path: Path) -> None:
    """`mkdir -p` where every folder made is 0700, whatever the umask: the home
    holds the catalog and the sim cartridges' copies of every backed-up file."""
    if path.is_dir():
        return
    if not path.parent.is_dir():
        make_private_dir(path.parent)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        if not path.is_dir():
            raise


def _check_utf8(root: Path) -> None:
    """tapetui's home path goes into logs, SQLite and TOML, which hold UTF-8 text only."""
    try:
        str(root).encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(root).decode("utf-8", "backslashreplace")
        raise UserError(f"the home folder {shown} is not a UTF-8 path; choose one whose name is UTF-8") from None
