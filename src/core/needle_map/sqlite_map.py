"""The ``sqlite`` needle map: an on-disk map standing in for Go's ``-index=leveldb*`` kinds.

Like Go's LevelDB maps it keeps the needle index out of RAM, in ``<volume>.nmdb`` (an SQLite
database, from the standard library), and remembers how many ``.idx`` entries it has absorbed.
The ``.idx`` stays the source of truth: when the count disagrees with the ``.idx`` (a crash
before a commit, or a copied volume), the map is rebuilt from it at load. Counters always come
from replaying the ``.idx``, so they match Go's.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator

import numpy as np

from ..idx import parse_columns
from ..types import OffsetWidth
from .metrics import MapMetrics, replay

_SIGN = 1 << 63
_COMMIT_EVERY = 1024
SUFFIX = ".nmdb"


def _to_sql(key: int) -> int:
    """Map uint64 onto SQLite's int64 preserving order."""
    return key - _SIGN


def _from_sql(value: int) -> int:
    return value + _SIGN


class SqliteNeedleMap:
    name = "sqlite"

    def __init__(self, path: str, index_bytes: bytes, width: OffsetWidth, version: int) -> None:
        self.path = path
        columns = parse_columns(index_bytes, width)
        state = replay(columns, version)
        self.metrics: MapMetrics = state.metrics
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS needles"
            " (key INTEGER PRIMARY KEY, offset INTEGER NOT NULL, size INTEGER NOT NULL)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER)")
        row = self._db.execute("SELECT value FROM meta WHERE name='idx_entries'").fetchone()
        self._absorbed = row[0] if row else -1
        self._pending = 0
        if self._absorbed != len(columns):
            self._rebuild(state.keys, state.offsets, state.sizes, len(columns))

    def _rebuild(
        self, keys: np.ndarray, offsets: np.ndarray, sizes: np.ndarray, entries: int
    ) -> None:
        db = self._db
        db.execute("BEGIN")
        db.execute("DELETE FROM needles")
        db.executemany(
            "INSERT INTO needles VALUES (?, ?, ?)",
            (
                (_to_sql(int(k)), int(o) * 8, int(s))
                for k, o, s in zip(keys.tolist(), offsets.tolist(), sizes.tolist(), strict=True)
            ),
        )
        db.execute("INSERT OR REPLACE INTO meta VALUES ('idx_entries', ?)", (entries,))
        db.execute("COMMIT")
        self._absorbed = entries

    def _write(self, sql: str, args: tuple) -> None:
        if self._pending == 0:
            self._db.execute("BEGIN")
        self._db.execute(sql, args)
        self._absorbed += 1
        self._pending += 1
        if self._pending >= _COMMIT_EVERY:
            self.sync()

    def sync(self) -> None:
        if self._pending:
            self._db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('idx_entries', ?)", (self._absorbed,)
            )
            self._db.execute("COMMIT")
            self._pending = 0

    def get(self, key: int) -> tuple[int, int] | None:
        row = self._db.execute(
            "SELECT offset, size FROM needles WHERE key=?", (_to_sql(key),)
        ).fetchone()
        return (row[0], row[1]) if row else None

    def put(self, key: int, offset: int, size: int) -> None:
        old = self.get(key)
        self._write("INSERT OR REPLACE INTO needles VALUES (?, ?, ?)", (_to_sql(key), offset, size))
        self.metrics.log_put(key, old[1] if old else 0, size)

    def delete(self, key: int) -> int:
        old = self.get(key)
        old_size = old[1] if old and old[1] >= 0 else 0
        if old is not None and old[1] >= 0:
            new_size = -old_size if old_size > 0 else -1
            self._write("UPDATE needles SET size=? WHERE key=?", (new_size, _to_sql(key)))
        else:
            # Go appends the tombstone to .idx either way; count it as absorbed.
            self._write("SELECT 1", ())
        self.metrics.log_delete(old_size)
        return old_size

    def __len__(self) -> int:
        count: int = self._db.execute("SELECT COUNT(*) FROM needles").fetchone()[0]
        return count

    def items(self) -> Iterator[tuple[int, int, int]]:
        for key, offset, size in self._db.execute(
            "SELECT key, offset, size FROM needles ORDER BY key"
        ):
            yield _from_sql(key), offset, size

    def memory_bytes(self) -> int:
        return 0

    def close(self) -> None:
        self.sync()
        self._db.close()


class SqliteNeedleMapKind:
    """``-index=sqlite``: an on-disk needle map for volumes too large to index in RAM."""

    name = "sqlite"

    def open(
        self, base_path: str, index_bytes: bytes, width: OffsetWidth, version: int
    ) -> SqliteNeedleMap:
        return SqliteNeedleMap(base_path + SUFFIX, index_bytes, width, version)

    def side_files(self, base_path: str) -> list[str]:
        """The database and SQLite's write-ahead log and shared-memory files."""
        return [base_path + suffix for suffix in (SUFFIX, SUFFIX + "-wal", SUFFIX + "-shm")]

    def remove_files(self, base_path: str) -> None:
        for path in self.side_files(base_path):
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
