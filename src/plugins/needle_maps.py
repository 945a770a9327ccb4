"""The built-in needle-map kinds, registered through the public hooks."""

from __future__ import annotations

from ..core.needle_map.leveldb_map import leveldb_kinds
from ..core.needle_map.memory import MemoryNeedleMapKind
from ..core.needle_map.sqlite_map import SqliteNeedleMapKind
from .hookspecs import hookimpl


@hookimpl
def seaweed_needle_map_kinds() -> list:
    return [MemoryNeedleMapKind(), SqliteNeedleMapKind(), *leveldb_kinds()]
