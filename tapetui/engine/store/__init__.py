"""The catalog store: one SQLite database (WAL) reached through aiosqlite."""

from .db import Store, open_store

__all__ = ["Store", "open_store"]
