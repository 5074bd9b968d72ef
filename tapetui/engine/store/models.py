"""Typed rows: what the repositories return (screens and the CLI use these)."""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class CartridgeRow:
    id: int
    barcode: str
    label: str | None
    serial: str | None
    generation: str | None
    capacity_bytes: int | None
    used_bytes: int
    formatted_at: datetime | None
    status: str  # blank | active | full | retired
    created_at: datetime
    updated_at: datetime


@dataclass
class TemplateRow:
    id: int
    name: str
    config: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass
class ScheduleRow:
    id: int
    name: str
    type: str
    config: dict[str, Any]
    action: str
    action_config: dict[str, Any]
    template_id: int | None
    enabled: bool
    missed_policy: str
    status: str  # idle | running
    last_run: datetime | None
    last_success: datetime | None
    last_result: str | None
    next_run: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass
class RunRow:
    """One firing of a schedule (a "schedule run log")."""

    id: int
    schedule_id: int | None
    schedule_name: str
    action: str
    trigger: str  # auto | manual
    status: str  # running | success | warning | failed | skipped | cancelled | interrupted
    started_at: datetime
    finished_at: datetime | None
    message: str
    result: dict[str, Any]
    backup_run_id: int | None
    set_id: int | None
    pid: int | None


@dataclass
class LogLine:
    id: int
    run_id: int
    ts: datetime
    level: str
    line: str


@dataclass
class BackupRunRow:
    id: int
    schedule_run_id: int | None
    requested_level: str
    level: str
    sources: list[str]
    options: dict[str, Any]
    status: str
    started_at: datetime
    finished_at: datetime | None
    files: int
    bytes: int
    warnings: int
    error: str | None


@dataclass
class SetRow:
    id: int
    backup_run_id: int | None
    source_key: str
    name: str
    level: str  # full | incremental | differential
    base_set_id: int | None
    status: str  # running | complete | incomplete | overwritten | expired
    started_at: datetime
    finished_at: datetime | None
    files: int
    bytes: int
    hash_algo: str
    verified_at: datetime | None
    verify_ok: bool | None
    overwritten_at: datetime | None
    cartridges: list[str] = field(default_factory=list)  # barcodes in order

    @property
    def complete(self) -> bool:
        return self.status == "complete"


@dataclass
class Entry:
    """One file (or folder, symlink, deleted-marker) in one set."""

    set_id: int
    path: str  # absolute source path, '/'-separated
    kind: str  # file | dir | symlink | hardlink | special
    size: int = 0
    mtime_ns: int = 0
    mode: int = 0
    uid: int = 0
    gid: int = 0
    inode: int = 0
    ctime_ns: int = 0
    checksum: bytes | None = None
    link_target: str | None = None
    cartridge_id: int | None = None
    position: int | None = None
    deleted: bool = False
    cartridge: str | None = None  # barcode, filled by queries that join it
    xattrs: str | None = None  # JSON {name: base64 value} (`backup.xattrs`)
    rdev: int | None = None  # a device node's number
    sparse: str | None = None  # JSON [[offset, length], ...]: a sparse file's data


def special_kind(mode: int) -> str:
    """What a `special` entry is, in words."""
    return {stat.S_IFIFO: "FIFO", stat.S_IFSOCK: "socket", stat.S_IFCHR: "character device",
            stat.S_IFBLK: "block device"}.get(stat.S_IFMT(mode), "special file")


@dataclass
class RestoreJobRow:
    id: int
    schedule_run_id: int | None
    set_id: int | None
    at_time: datetime | None
    target: str
    conflict: str
    paths: list[str]
    status: str
    started_at: datetime
    finished_at: datetime | None
    files: int
    bytes: int
    errors: int
    message: str
