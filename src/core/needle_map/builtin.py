"""The needle-map kinds that ship with the server (``-index=memory|sqlite|leveldb*``).

The plugin layer registers them through the public hooks; the core uses this list only as the
default set whose side files a data directory cleans up when none is given."""

from __future__ import annotations

from ..ports import NeedleMapKind
from .leveldb_map import leveldb_kinds
from .memory import MemoryNeedleMapKind
from .sqlite_map import SqliteNeedleMapKind


def builtin_kinds() -> list[NeedleMapKind]:
    return [MemoryNeedleMapKind(), SqliteNeedleMapKind(), *leveldb_kinds()]
