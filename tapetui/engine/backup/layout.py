"""Where a set's files live on a volume (simple and documented, so a tape can be
read with nothing but `ls` and `cp`)."""

from __future__ import annotations

ROOT = "tapetui"


def set_dir(set_id: int) -> str:
    return f"{ROOT}/set-{set_id}"


def file_relpath(tape_dir: str, path: str) -> str:
    """'/home/a/b' in set folder 'tapetui/set-7' -> 'tapetui/set-7/home/a/b'."""
    return tape_dir + path


def catalog_copy_relpath(tape_dir: str) -> str:
    return tape_dir + ".catalog.jsonl"


def hash_xattr(algo: str) -> str:
    """The LTFS convention for a file's hash: `ltfs.hash.sha256`."""
    return f"ltfs.hash.{algo}"


def split(path: str) -> tuple[str, str]:
    """'/a/b/c' -> ('/a/b', 'c'); '/a' -> ('/', 'a'). Plain string work (hot path)."""
    head, _, tail = path.rpartition("/")
    return head or "/", tail
