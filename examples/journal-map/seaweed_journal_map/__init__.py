"""A needle-map kind ``journal`` (``-index=journal``): the built-in in-memory map, plus a side
file ``<volume>.jnl`` that journals every change as a text line (``put <key> <offset> <size>``
or ``delete <key>``), e.g. for an external indexer to follow.

Each time the map is opened (at start, on mount, after a vacuum, in each ``-workers`` process)
it appends the volume's index entries, so a reader applies the lines idempotently: a ``put``
sets, a ``delete`` marks deleted. The kind names the file through ``side_files``, so the server
removes it when the volume is deleted and when a vacuum swaps in a new ``.idx`` (the next open
writes it again from the compacted index).
"""

from __future__ import annotations

from collections.abc import Iterator

from seaweed_volume.core.needle_map.memory import MemoryNeedleMap, MemoryNeedleMapKind
from seaweed_volume.core.types import OffsetWidth
from seaweed_volume.plugins.hookspecs import hookimpl

SUFFIX = ".jnl"


class JournalNeedleMap:
    """The ``NeedleMap`` port: a memory map that appends each change to its journal."""

    def __init__(self, inner: MemoryNeedleMap, journal_path: str) -> None:
        self.inner = inner
        self.metrics = inner.metrics
        # Appending (O_APPEND): processes sharing the volume never overwrite each other's lines.
        self.journal = open(journal_path, "a", buffering=1, encoding="ascii")  # noqa: SIM115 - closed by close()
        for key, offset, size in inner.items():
            self.journal.write(f"put {key} {offset} {size}\n")

    def get(self, key: int) -> tuple[int, int] | None:
        return self.inner.get(key)

    def put(self, key: int, offset: int, size: int) -> None:
        self.inner.put(key, offset, size)
        self.journal.write(f"put {key} {offset} {size}\n")

    def delete(self, key: int) -> int:
        self.journal.write(f"delete {key}\n")
        return self.inner.delete(key)

    def __len__(self) -> int:
        return len(self.inner)

    def items(self) -> Iterator[tuple[int, int, int]]:
        return self.inner.items()

    def memory_bytes(self) -> int:
        return self.inner.memory_bytes()

    def close(self) -> None:
        self.journal.close()
        self.inner.close()


class JournalNeedleMapKind:
    """The ``NeedleMapKind`` port: builds the map and names its side file."""

    name = "journal"

    def open(
        self, base_path: str, index_bytes: bytes, width: OffsetWidth, version: int
    ) -> JournalNeedleMap:
        inner = MemoryNeedleMapKind().open(base_path, index_bytes, width, version)
        return JournalNeedleMap(inner, base_path + SUFFIX)

    def side_files(self, base_path: str) -> list[str]:
        return [base_path + SUFFIX]


@hookimpl
def seaweed_needle_map_kinds() -> list[JournalNeedleMapKind]:
    return [JournalNeedleMapKind()]
