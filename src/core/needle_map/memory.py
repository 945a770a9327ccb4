"""The ``memory`` needle map: sorted numpy columns plus a small overlay of recent inserts.

Go's compact map spends ~10-13 bytes per needle in sorted segments; a Python dict of tuples
costs ~190. Here every needle lives in three sorted parallel arrays: key (8 bytes), offset in
8-byte units (4 bytes; a fifth-byte array appears only once a volume grows past 32 GiB) and
size (4 bytes): 16 bytes a needle. Updates and deletions of known keys are written in place;
new keys go to a dict overlay that is merged into the arrays once it reaches 1/32 of them, so
inserts stay amortised O(1) and memory stays compact.

Thread safety: writers are serialised by the volume. Readers may run concurrently; the columns
are swapped as one object, so a reader sees either the old or the new arrays, never a mix.
"""

from __future__ import annotations

import builtins
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from ..idx import parse_columns
from ..types import NEEDLE_PADDING_SIZE, OffsetWidth
from .metrics import MapMetrics, delete_live, replay

_MIN_OVERLAY: Final = 4096
_OVERLAY_FRACTION: Final = 32
_OVERLAY_ENTRY_COST: Final = 200  # a dict slot, a tuple and two ints, measured with tracemalloc


@dataclass(frozen=True, slots=True)
class _Columns:
    keys: np.ndarray  # uint64, sorted
    low: np.ndarray  # uint32: offset units, low 32 bits
    high: np.ndarray | None  # uint8: offset units >> 32, only when some offset needs it
    sizes: np.ndarray  # int32, negative when deleted
    # Memoryviews of the same buffers: bisect and item access on them cost well under a
    # microsecond, while numpy scalar calls with a Python int cost 10-500x more. (Spelled
    # ``builtins.memoryview``: a mypyc-compiled dataclass resolves its annotations in the
    # module's own names, where ``memoryview`` is not.)
    key_view: builtins.memoryview = field(init=False)
    low_view: builtins.memoryview = field(init=False)
    high_view: builtins.memoryview | None = field(init=False)
    size_view: builtins.memoryview = field(init=False)

    def __post_init__(self) -> None:
        # ``ndarray.data`` is ``memoryview(array)``.
        object.__setattr__(self, "key_view", self.keys.data)
        object.__setattr__(self, "low_view", self.low.data)
        object.__setattr__(self, "high_view", None if self.high is None else self.high.data)
        object.__setattr__(self, "size_view", self.sizes.data)

    @classmethod
    def build(cls, keys: np.ndarray, units: np.ndarray, sizes: np.ndarray) -> _Columns:
        high = (units >> 32).astype(np.uint8)
        return cls(
            keys=keys.astype(np.uint64),
            low=(units & 0xFFFFFFFF).astype(np.uint32),
            high=high if high.any() else None,
            sizes=sizes.astype(np.int32),
        )

    def units(self) -> np.ndarray:
        units = self.low.astype(np.int64)
        if self.high is not None:
            units |= self.high.astype(np.int64) << 32
        return units


class MemoryNeedleMap:
    name = "memory"

    def __init__(self, columns: _Columns | None = None, metrics: MapMetrics | None = None) -> None:
        self.metrics = metrics or MapMetrics()
        empty = np.zeros(0, dtype=np.int64)
        self._columns = columns or _Columns.build(empty, empty, empty)
        self._overlay: dict[int, tuple[int, int]] = {}

    @classmethod
    def from_index(cls, index_bytes: bytes, width: OffsetWidth, version: int) -> MemoryNeedleMap:
        state = replay(parse_columns(index_bytes, width), version)
        return cls(_Columns.build(state.keys, state.offsets, state.sizes), state.metrics)

    # --- lookups ---------------------------------------------------------------------------
    @staticmethod
    def _find(columns: _Columns, key: int) -> int:
        keys = columns.key_view
        i = bisect_left(keys, key)
        if i < len(keys) and keys[i] == key:
            return i
        return -1

    def get(self, key: int) -> tuple[int, int] | None:
        hit = self._overlay.get(key)
        if hit is not None:
            return hit[0] * NEEDLE_PADDING_SIZE, hit[1]
        columns = self._columns
        i = self._find(columns, key)
        if i < 0:
            return None
        units = columns.low_view[i]
        if columns.high_view is not None:
            units |= columns.high_view[i] << 32
        return units * NEEDLE_PADDING_SIZE, columns.size_view[i]

    # --- updates ---------------------------------------------------------------------------
    def _set(self, key: int, offset: int, size: int) -> int:
        """Store an entry; returns the size it replaces (0 when the key is new)."""
        units = offset // NEEDLE_PADDING_SIZE
        old = self._overlay.get(key)
        if old is not None:
            self._overlay[key] = (units, size)
            return old[1]
        columns = self._columns
        i = self._find(columns, key)
        if i < 0:
            self._overlay[key] = (units, size)
            if len(self._overlay) >= max(_MIN_OVERLAY, columns.keys.shape[0] // _OVERLAY_FRACTION):
                self._merge_overlay()
            return 0
        old_size = columns.size_view[i]
        if units >> 32 and columns.high is None:
            # First offset past 32 GiB: rebuild with a high-byte column, then update.
            self._overlay[key] = (units, size)
            self._merge_overlay()
            return old_size
        columns.low_view[i] = units & 0xFFFFFFFF
        if columns.high_view is not None:
            columns.high_view[i] = units >> 32
        columns.size_view[i] = size
        return old_size

    def put(self, key: int, offset: int, size: int) -> None:
        old_size = self._set(key, offset, size)
        self.metrics.log_put(key, old_size, size)

    def delete(self, key: int) -> int:
        return delete_live(
            self.get(key), lambda offset, size: self._set(key, offset, size), self.metrics
        )

    def _merge_overlay(self) -> None:
        """Fold the overlay into new sorted columns and publish them in one assignment."""
        if not self._overlay:
            return
        columns = self._columns
        pending = self._overlay
        keys = np.fromiter(pending.keys(), dtype=np.uint64, count=len(pending))
        values = np.array(list(pending.values()), dtype=np.int64).reshape(-1, 2)
        existing = columns.keys.searchsorted(keys)
        in_base = existing < columns.keys.shape[0]
        in_base[in_base] = columns.keys[existing[in_base]] == keys[in_base]
        all_keys = np.concatenate([columns.keys, keys[~in_base]])
        all_units = np.concatenate([columns.units(), values[~in_base, 0]])
        all_sizes = np.concatenate([columns.sizes.astype(np.int64), values[~in_base, 1]])
        # Keys already in the base (only the >32 GiB upgrade path) are overwritten in place.
        all_units[existing[in_base]] = values[in_base, 0]
        all_sizes[existing[in_base]] = values[in_base, 1]
        order = np.argsort(all_keys, kind="stable")
        self._columns = _Columns.build(all_keys[order], all_units[order], all_sizes[order])
        self._overlay = {}

    # --- whole-map views -------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._columns.keys.shape[0]) + len(self._overlay)

    def items(self) -> Iterator[tuple[int, int, int]]:
        self._merge_overlay()
        columns = self._columns
        offsets = (columns.units() * NEEDLE_PADDING_SIZE).tolist()
        yield from zip(columns.keys.tolist(), offsets, columns.sizes.tolist(), strict=True)

    def memory_bytes(self) -> int:
        columns = self._columns
        total = columns.keys.nbytes + columns.low.nbytes + columns.sizes.nbytes
        if columns.high is not None:
            total += columns.high.nbytes
        return total + len(self._overlay) * _OVERLAY_ENTRY_COST

    def close(self) -> None:
        self._overlay = {}


class MemoryNeedleMapKind:
    """The default ``-index=memory`` kind."""

    name = "memory"
    fork_safe = True
    """Its maps may be used by processes forked after they were loaded (``-workers``)."""

    def open(
        self, base_path: str, index_bytes: bytes, width: OffsetWidth, version: int
    ) -> MemoryNeedleMap:
        return MemoryNeedleMap.from_index(index_bytes, width, version)

    def side_files(self, base_path: str) -> list[str]:
        return []
