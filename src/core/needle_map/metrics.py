"""Counters every needle map keeps, with Go's exact accounting (``needle_map_metric.go``).

Go counts differently while replaying ``.idx`` at load (``doLoading``) and while serving
(``logPut``/``logDelete``); the file counts a Go master sees depend on that, so both rules are
reproduced: :func:`replay` is the load rule, vectorised, and :class:`MapMetrics` the live one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..idx import IndexColumns
from ..types import NEEDLE_HEADER_SIZE as _HEADER
from ..types import NEEDLE_PADDING_SIZE, actual_size


@dataclass(slots=True)
class MapMetrics:
    file_count: int = 0
    file_bytes: int = 0
    deletion_count: int = 0
    deletion_bytes: int = 0
    max_file_key: int = 0
    max_needle_end: int = 0

    def log_put(self, key: int, old_size: int, new_size: int) -> None:
        """``logPut``: a write counts as a file; replacing a live needle counts a deletion."""
        if key > self.max_file_key:
            self.max_file_key = key
        self.file_count += 1
        self.file_bytes += new_size
        if old_size > 0:
            self.deletion_count += 1
            self.deletion_bytes += old_size

    def log_delete(self, old_size: int) -> None:
        """``logDelete``: only deleting a live, non-empty needle counts."""
        if old_size > 0:
            self.deletion_count += 1
            self.deletion_bytes += old_size

    def note_needle_end(self, offset: int, size: int, version: int) -> None:
        if offset and size > 0:
            self.max_needle_end = max(self.max_needle_end, offset + actual_size(size, version))

    @property
    def live_count(self) -> int:
        return self.file_count - self.deletion_count


def delete_live(
    entry: tuple[int, int] | None, store: Callable[[int, int], object], metrics: MapMetrics
) -> int:
    """Go's delete in a needle map (``CompactMapSegment.delete``): only a live entry changes,
    keeping its offset with its size negated (-1 for an empty needle), written by
    ``store(offset, size)``; returns the deleted size, 0 when nothing was live."""
    if entry is None or entry[1] < 0:
        metrics.log_delete(0)
        return 0
    offset, size = entry
    store(offset, -size if size > 0 else -1)
    metrics.log_delete(size)
    return size


@dataclass(frozen=True, slots=True)
class ReplayedIndex:
    """The state an ``.idx`` replay leaves: one row per key, sorted by key.

    ``sizes`` is negative for deleted needles (or -1 for a deleted empty one), as in Go's
    compact map, and ``offsets`` are in 8-byte units.
    """

    keys: np.ndarray
    offsets: np.ndarray
    sizes: np.ndarray
    metrics: MapMetrics


def replay(columns: IndexColumns, version: int) -> ReplayedIndex:
    """Replay an index the way ``doLoading`` does, without a Python loop per entry."""
    if len(columns) == 0:
        empty_u64 = np.zeros(0, dtype=np.uint64)
        return ReplayedIndex(empty_u64, np.zeros(0, np.int64), np.zeros(0, np.int32), MapMetrics())
    order = np.argsort(columns.keys, kind="stable")
    keys = columns.keys[order]
    offsets = columns.offsets[order]
    sizes = columns.sizes[order].astype(np.int64)
    count = keys.shape[0]
    positions = np.arange(count)

    is_put = (offsets != 0) & (sizes >= 0)
    same_as_prev = np.empty(count, dtype=bool)
    same_as_prev[0] = False
    np.equal(keys[1:], keys[:-1], out=same_as_prev[1:])
    prev_is_put = np.zeros(count, dtype=bool)
    prev_is_put[1:] = is_put[:-1]
    prev_is_put &= same_as_prev
    prev_size = np.zeros(count, dtype=np.int64)
    prev_size[1:] = sizes[:-1]

    metrics = MapMetrics()
    metrics.file_count = int(is_put.sum())
    metrics.file_bytes = int(sizes[is_put].sum())
    metrics.deletion_count = int((~is_put).sum() + (is_put & prev_is_put).sum())
    metrics.deletion_bytes = int(prev_size[prev_is_put].sum())
    metrics.max_file_key = int(keys[-1])
    metrics.max_needle_end = max_needle_end(offsets, sizes, version)

    # The final state of each key: its last put, negated when a deletion came after it.
    group_start = np.maximum.accumulate(np.where(same_as_prev, 0, positions))
    last_put = np.maximum.accumulate(np.where(is_put, positions, -1))
    is_last = np.empty(count, dtype=bool)
    is_last[-1] = True
    np.not_equal(keys[1:], keys[:-1], out=is_last[:-1])
    has_put = (last_put >= group_start) & is_last
    rows = last_put[has_put]
    final_sizes = sizes[rows]
    deleted = ~is_put[has_put]
    final_sizes = np.where(deleted, np.where(final_sizes > 0, -final_sizes, -1), final_sizes)
    return ReplayedIndex(
        keys=keys[has_put].copy(),
        offsets=offsets[rows].copy(),
        sizes=final_sizes.astype(np.int32),
        metrics=metrics,
    )


def max_needle_end(offsets: np.ndarray, sizes: np.ndarray, version: int) -> int:
    """The furthest byte of ``.dat`` any live entry reaches (``MaybeSetMaxNeedleEnd``);
    ``offsets`` in 8-byte units as stored, deletions and zero offsets skipped."""
    valid = (offsets != 0) & (sizes > 0)
    if not valid.any():
        return 0
    ends = offsets[valid].astype(np.int64) * NEEDLE_PADDING_SIZE + _actual_sizes(
        sizes[valid].astype(np.int64), version
    )
    return int(ends.max())


def _actual_sizes(sizes: np.ndarray, version: int) -> np.ndarray:
    """Vectorised :func:`actual_size` (header + body + checksum + timestamp + padding)."""
    tail = 4 + (8 if version == 3 else 0)
    unpadded = _HEADER + sizes + tail
    padded: np.ndarray = unpadded + (NEEDLE_PADDING_SIZE - unpadded % NEEDLE_PADDING_SIZE)
    return padded


_FNV64_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV64_PRIME = np.uint64(0x100000001B3)
_BLOOM_FALSE_POSITIVES = 0.001
_BLOOM_CHUNK = 65536


def read_only_metrics(columns: IndexColumns, version: int) -> MapMetrics:
    """The counts Go reports for a volume loaded read-only (``needleMapMetricFromIndexFile``,
    behind its ``SortedFileNeedleMap``): every entry is a file, and walking the ``.idx`` from
    the end, an entry whose key a Bloom filter says it has met already counts as deleted.

    The filter's false positives are part of Go's figures (FNV-1 of sequential keys collides
    often), so it is the same filter: tylertreat/BoomFilters' classic one sized for the
    entry count at 0.1%, ``k`` probes ``lower + upper * i`` of the key's 64-bit FNV-1.
    """
    metrics = MapMetrics()
    count = len(columns)
    if count == 0:
        return metrics
    keys = columns.keys[::-1]
    sizes = columns.sizes[::-1].astype(np.int64)
    bits = math.ceil(
        count / ((math.log(0.5) * math.log(0.5)) / abs(math.log(_BLOOM_FALSE_POSITIVES)))
    )
    probes = math.ceil(math.log2(1 / _BLOOM_FALSE_POSITIVES))
    seen = np.zeros(bits, dtype=bool)
    member = np.empty(count, dtype=bool)
    steps = np.arange(probes, dtype=np.uint64)
    for start in range(0, count, _BLOOM_CHUNK):
        chunk = keys[start : start + _BLOOM_CHUNK]
        digest = np.full(chunk.shape, _FNV64_OFFSET, dtype=np.uint64)
        for shift in range(56, -8, -8):  # the key's 8 bytes, big-endian
            digest *= _FNV64_PRIME
            digest ^= (chunk >> np.uint64(shift)) & np.uint64(0xFF)
        lower = digest & np.uint64(0xFFFFFFFF)
        upper = digest >> np.uint64(32)
        positions = ((lower[:, None] + upper[:, None] * steps) % np.uint64(bits)).ravel()
        # A probe finds its bit set if an earlier probe (of this key or one before) set it.
        first = np.zeros(positions.shape, dtype=bool)
        first[np.unique(positions, return_index=True)[1]] = True
        first &= ~seen[positions]
        member[start : start + len(chunk)] = ~first.reshape(-1, probes).any(axis=1)
        seen[positions] = True
    valid = sizes > 0
    metrics.file_count = count
    metrics.file_bytes = int(sizes[valid].sum())
    metrics.deletion_count = int((member | ~valid).sum())
    metrics.deletion_bytes = int(sizes[member & valid].sum())
    metrics.max_file_key = int(columns.keys.max())
    metrics.max_needle_end = max_needle_end(columns.offsets, columns.sizes, version)
    return metrics
