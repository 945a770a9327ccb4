"""Needle maps against a plain-Python model of Go's compact map and counters."""

from __future__ import annotations

import math
import os
import random
from dataclasses import fields

import numpy as np
import plyvel
import pytest

from seaweed_volume.core.idx import encode_entry, parse_columns
from seaweed_volume.core.needle_map.leveldb_map import (
    WATERMARK_KEY,
    LevelDbNeedleMapKind,
    leveldb_kinds,
)
from seaweed_volume.core.needle_map.memory import MemoryNeedleMap, MemoryNeedleMapKind
from seaweed_volume.core.needle_map.metrics import MapMetrics, read_only_metrics, replay
from seaweed_volume.core.needle_map.sqlite_map import SqliteNeedleMapKind
from seaweed_volume.core.types import OffsetWidth, actual_size
from seaweed_volume.plugins.manager import create_plugin_manager, needle_map_kinds


class GoModel:
    """A line-by-line model of ``doLoading`` in needle_map_memory.go and of CompactMap."""

    def __init__(self) -> None:
        self.entries: dict[int, tuple[int, int]] = {}
        self.m = MapMetrics()

    def _delete(self, key: int) -> int:
        if key in self.entries:
            offset, size = self.entries[key]
            if size >= 0:
                self.entries[key] = (offset, -size if size > 0 else -1)
                return size
        return 0

    def load(self, key: int, offset: int, size: int, version: int) -> None:
        self.m.max_file_key = max(self.m.max_file_key, key)
        if offset and size > 0:
            end = offset + actual_size(size, version)
            self.m.max_needle_end = max(self.m.max_needle_end, end)
        if offset != 0 and size >= 0:
            self.m.file_count += 1
            self.m.file_bytes += size
            old = self.entries.get(key)
            self.entries[key] = (offset, size)
            if old is not None and old[0] != 0 and old[1] >= 0:
                self.m.deletion_count += 1
                self.m.deletion_bytes += old[1]
        else:
            self.m.deletion_count += 1
            self.m.deletion_bytes += self._delete(key)


def random_index(rng: random.Random, count: int, key_space: int, width: OffsetWidth) -> bytes:
    raw = bytearray()
    offset = 8
    for _ in range(count):
        key = rng.randrange(1, key_space)
        roll = rng.random()
        if roll < 0.2:
            raw += encode_entry(key, offset, -1, width)
        elif roll < 0.25:
            raw += encode_entry(key, offset, 0, width)
        elif roll < 0.27:
            raw += encode_entry(key, 0, rng.randrange(1, 100), width)
        else:
            raw += encode_entry(key, offset, rng.randrange(1, 5000), width)
        offset += 8 * rng.randrange(1, 100)
    return bytes(raw)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("width", list(OffsetWidth))
def test_vectorised_replay_equals_go_model(seed: int, width: OffsetWidth) -> None:
    rng = random.Random(seed)
    raw = random_index(rng, 3000, 400 if seed % 2 else 100_000, width)
    model = GoModel()
    for i in range(0, len(raw), width.entry_size):
        entry = parse_columns(raw[i : i + width.entry_size], width)
        model.load(int(entry.keys[0]), int(entry.offsets[0]) * 8, int(entry.sizes[0]), 3)
    state = replay(parse_columns(raw, width), 3)
    assert state.metrics == model.m
    got = {
        int(k): (int(o) * 8, int(s))
        for k, o, s in zip(state.keys, state.offsets, state.sizes, strict=True)
    }
    assert got == model.entries
    assert list(state.keys) == sorted(state.keys)


@pytest.mark.parametrize(
    "kind",
    [MemoryNeedleMapKind(), SqliteNeedleMapKind(), *leveldb_kinds()],
    ids=lambda kind: kind.name,
)
def test_live_updates_match_a_dict_model(tmp_path, kind) -> None:
    rng = random.Random(5)
    raw = random_index(rng, 2000, 3000, OffsetWidth.FOUR)
    nm = kind.open(str(tmp_path / "1"), raw, OffsetWidth.FOUR, 3)
    state = replay(parse_columns(raw, OffsetWidth.FOUR), 3)
    model = {
        int(k): (int(o) * 8, int(s))
        for k, o, s in zip(state.keys, state.offsets, state.sizes, strict=True)
    }
    metrics = MapMetrics(**{f.name: getattr(state.metrics, f.name) for f in fields(MapMetrics)})
    for step in range(20_000):
        key = rng.randrange(1, 6000)
        if rng.random() < 0.3:
            old = model.get(key)
            live = old[1] if old and old[1] >= 0 else 0
            if old is not None and old[1] >= 0:
                model[key] = (old[0], -old[1] if old[1] > 0 else -1)
            assert nm.delete(key) == live
            metrics.log_delete(live)
        else:
            offset, size = 8 * (100_000 + step), rng.randrange(0, 9000)
            old = model.get(key)
            model[key] = (offset, size)
            nm.put(key, offset, size)
            metrics.log_put(key, old[1] if old else 0, size)
        probe = rng.randrange(1, 6000)
        assert nm.get(probe) == model.get(probe)
    assert nm.metrics == metrics
    assert list(nm.items()) == sorted((k, o, s) for k, (o, s) in model.items())
    assert len(nm) == len(model)
    nm.close()


def test_offsets_past_32_gib_get_a_fifth_byte() -> None:
    nm = MemoryNeedleMap()
    far = 8 * ((3 << 32) + 5)
    for key in range(1, 10):
        nm.put(key, 8 * key, 10)
    nm.put(5, far, 11)
    assert nm.get(5) == (far, 11)
    assert nm.get(4) == (32, 10)
    nm.put(100, far + 8, 12)
    assert nm.get(100) == (far + 8, 12)
    assert [k for k, _, _ in nm.items()] == [*range(1, 10), 100]


def test_memory_map_is_compact_at_one_million_needles() -> None:
    count = 1_000_000
    keys = np.arange(1, count + 1, dtype=np.uint64)
    raw = np.zeros(count, dtype=[("key", ">u8"), ("off", ">u4"), ("size", ">i4")])
    raw["key"], raw["off"], raw["size"] = keys, np.arange(1, count + 1), 1024
    nm = MemoryNeedleMap.from_index(raw.tobytes(), OffsetWidth.FOUR, 3)
    assert len(nm) == count
    assert nm.memory_bytes() / count <= 16
    assert nm.get(777_777) == (777_777 * 8, 1024)


def test_plugin_manager_offers_builtin_kinds() -> None:
    kinds = needle_map_kinds(create_plugin_manager())
    assert {"memory", "sqlite", "leveldb", "leveldbMedium", "leveldbLarge"} <= set(kinds)


def test_sqlite_map_rebuilds_when_index_moved_on(tmp_path) -> None:
    kind = SqliteNeedleMapKind()
    base = str(tmp_path / "9")
    first = encode_entry(1, 8, 10, OffsetWidth.FOUR)
    nm = kind.open(base, first, OffsetWidth.FOUR, 3)
    nm.put(2, 64, 20)
    nm.close()  # absorbed 2 entries, but the .idx we pass below has 3
    more = (
        first
        + encode_entry(2, 64, 20, OffsetWidth.FOUR)
        + encode_entry(3, 128, 30, OffsetWidth.FOUR)
    )
    nm = kind.open(base, more, OffsetWidth.FOUR, 3)
    assert nm.get(3) == (128, 30) and nm.get(2) == (64, 20)
    nm.close()
    kind.remove_files(base)


def _leveldb() -> LevelDbNeedleMapKind:
    return leveldb_kinds()[0]


def _raw_db(base: str) -> dict[bytes, bytes]:
    db = plyvel.DB(base + ".ldb")
    try:
        return dict(db.iterator())
    finally:
        db.close()


@pytest.mark.parametrize("width", list(OffsetWidth))
def test_leveldb_layout_is_gos(tmp_path, width: OffsetWidth) -> None:
    """Key: id big-endian; value: the .idx entry's offset and size bytes; the watermark."""
    base = str(tmp_path / "4")
    far = 8 * ((1 << 32) + 3) if width == OffsetWidth.FIVE else 8 * 77
    raw = encode_entry(7, 64, 10, width) + encode_entry(9, far, 20, width)
    nm = _leveldb().open(base, raw, width, 3)
    assert nm.delete(7) == 10
    nm.close()
    stored = _raw_db(base)
    assert stored == {
        (7).to_bytes(8, "big"): encode_entry(7, 64, -10, width)[8:],
        (9).to_bytes(8, "big"): encode_entry(9, far, 20, width)[8:],
        WATERMARK_KEY: (0).to_bytes(8, "big"),
    }
    nm = _leveldb().open(base, raw + encode_entry(7, 128, -1, width), width, 3)
    assert nm.get(7) == (64, -10) and nm.get(9) == (far, 20)
    assert (nm.metrics.file_count, nm.metrics.deletion_count) == (2, 1)
    nm.close()


def test_leveldb_catches_up_past_the_watermark(tmp_path) -> None:
    """Entries the map missed (a crash between the .idx append and the map write) are
    applied again from the watermark; entries before it are not read at all."""
    width = OffsetWidth.FOUR
    base = str(tmp_path / "5")
    raw = b"".join(encode_entry(k, 8 * k, 100, width) for k in range(1, 25_001))
    _leveldb().open(base, raw, width, 3).close()
    assert _raw_db(base)[WATERMARK_KEY] == (20_000).to_bytes(8, "big")
    # Entries before the watermark are trusted: poison one and it is not repaired...
    db = plyvel.DB(base + ".ldb")
    db.put((3).to_bytes(8, "big"), encode_entry(3, 8, 5, width)[8:])
    db.put((20_001).to_bytes(8, "big"), encode_entry(3, 8, 5, width)[8:])
    db.close()
    later = (
        raw
        + encode_entry(25_001, 8 * 25_001, 100, width)
        + encode_entry(20_002, 8 * 30_000, -1, width)
    )
    nm = _leveldb().open(base, later, width, 3)
    assert nm.get(3) == (8, 5)
    # ...entries past it are applied again.
    assert nm.get(20_001) == (8 * 20_001, 100)
    assert nm.get(25_001) == (8 * 25_001, 100)
    assert nm.get(20_002) == (8 * 20_002, -100)
    assert len(nm) == 25_001
    nm.close()


def test_leveldb_rebuilds_a_stale_or_corrupt_map(tmp_path, caplog) -> None:
    width = OffsetWidth.FOUR
    base = str(tmp_path / "6")
    raw = b"".join(encode_entry(k, 8 * k, 10, width) for k in range(1, 101))
    db = plyvel.DB(base + ".ldb", create_if_missing=True)
    db.put(WATERMARK_KEY, (50_000).to_bytes(8, "big"))  # past the .idx: stale
    db.close()
    nm = _leveldb().open(base, raw, width, 3)
    assert nm.get(100) == (800, 10) and len(nm) == 100
    nm.close()
    for name in os.listdir(base + ".ldb"):
        if name.startswith("MANIFEST"):
            with open(
                os.path.join(base, ".ldb", name) if False else base + ".ldb/" + name, "wb"
            ) as out:
                out.write(b"garbage")
    nm = _leveldb().open(base, raw, width, 3)
    assert nm.get(100) == (800, 10) and len(nm) == 100
    nm.close()
    LevelDbNeedleMapKind.remove_files(base)
    assert not os.path.exists(base + ".ldb")


def _bloom_walk_reference(entries: list[tuple[int, int]]) -> MapMetrics:
    """Go's read-only counting entry by entry: walk from the end, a classic Bloom filter of
    ``m`` bits and ``k`` probes over the FNV-1 (64) of each 8-byte big-endian key."""
    count = len(entries)
    bits = math.ceil(count / ((math.log(0.5) ** 2) / abs(math.log(0.001))))
    probes = math.ceil(math.log2(1000))
    seen: set[int] = set()
    metrics = MapMetrics(file_count=count)
    for key, size in reversed(entries):
        digest = 0xCBF29CE484222325
        for byte in key.to_bytes(8, "big"):
            digest = (digest * 0x100000001B3) & (2**64 - 1)
            digest ^= byte
        lower, upper = digest & 0xFFFFFFFF, digest >> 32
        member = True
        for i in range(probes):
            bit = (lower + upper * i) % bits
            member = member and bit in seen
            seen.add(bit)
        if size > 0:
            metrics.file_bytes += size
        if member:
            metrics.deletion_count += 1
            metrics.deletion_bytes += max(size, 0)
        elif size <= 0:
            metrics.deletion_count += 1
        metrics.max_file_key = max(metrics.max_file_key, key)
    return metrics


def test_read_only_counts_follow_gos_bloom_filter_across_chunks() -> None:
    rng = random.Random(5)
    entries = [(key, rng.randint(1, 5000)) for key in range(1, 70_001)]  # sequential keys
    entries += [(rng.randint(1, 70_000), -1) for _ in range(3000)]  # deletions
    entries += [(rng.randint(1, 2**63), rng.randint(1, 5000)) for _ in range(2000)]
    raw = b"".join(
        encode_entry(key, 8 * (i + 1), size, OffsetWidth.FIVE)
        for i, (key, size) in enumerate(entries)
    )
    got = read_only_metrics(parse_columns(raw, OffsetWidth.FIVE), 3)
    want = _bloom_walk_reference(entries)
    assert (got.file_count, got.file_bytes, got.deletion_count, got.deletion_bytes) == (
        want.file_count,
        want.file_bytes,
        want.deletion_count,
        want.deletion_bytes,
    )
    assert got.max_file_key == want.max_file_key
    # Go's figure includes the filter's false positives: more than an exact walk counts.
    later: set[int] = set()
    exact = 0
    for key, size in reversed(entries):
        exact += key in later or size <= 0
        later.add(key)
    assert got.deletion_count > exact
