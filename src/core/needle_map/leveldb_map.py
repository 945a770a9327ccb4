"""The ``leveldb`` needle maps: Go's ``-index=leveldb|leveldbMedium|leveldbLarge``.

The map lives in ``<volume>.ldb/``, a LevelDB directory (through plyvel, which bundles
LevelDB) laid out as Go's ``needle_map_leveldb.go`` lays it out, so a volume moves between
Go's server and ours with its map:

- key: the needle id, 8 bytes big-endian; value: the ``.idx`` entry's offset (4 or 5 bytes,
  the volume's width) and size (4 bytes, negative once deleted);
- ``idx_entry_watermark``: 8 bytes big-endian, how many ``.idx`` entries the map is known to
  hold. It is written every 10,000 entries, as Go writes it, so at load the entries past it
  are applied again (applying one twice changes nothing).

The ``.idx`` stays the source of truth: a watermark past its end (a stale map) or a corrupt
map that LevelDB cannot repair is rebuilt from it. Counters come from replaying the ``.idx``,
as Go's ``newNeedleMapMetricFromIndexFile`` does.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import plyvel

from ..idx import IndexColumns, parse_columns
from ..types import NEEDLE_PADDING_SIZE, OffsetWidth, decode_offset, encode_offset
from .metrics import ReplayedIndex, delete_live, replay

log = logging.getLogger(__name__)

SUFFIX = ".ldb"
WATERMARK_KEY = b"idx_entry_watermark"
WATERMARK_BATCH = 10_000
_BULK_BATCH = 100_000
_MIB = 1 << 20


@dataclass(frozen=True, slots=True)
class LevelDbOptions:
    """Go's ``opt.Options`` per kind (``volume_loading.go``)."""

    name: str
    block_cache_bytes: int
    write_buffer_bytes: int
    open_files: int


LEVELDB_OPTIONS = (
    LevelDbOptions("leveldb", 2 * _MIB, 1 * _MIB, 16),
    LevelDbOptions("leveldbMedium", 4 * _MIB, 2 * _MIB, 32),
    LevelDbOptions("leveldbLarge", 8 * _MIB, 4 * _MIB, 64),
)


def _watermark_bytes(records: int) -> bytes:
    return ((records // WATERMARK_BATCH) * WATERMARK_BATCH).to_bytes(8, "big")


def _open_db(path: str, options: LevelDbOptions) -> tuple[plyvel.DB, bool]:
    """Open (or create) the database; returns it and whether it had to be repaired or
    recreated (then its watermark cannot be trusted)."""

    def attempt() -> plyvel.DB:
        return plyvel.DB(
            path,
            create_if_missing=True,
            lru_cache_size=options.block_cache_bytes,
            write_buffer_size=options.write_buffer_bytes,
            max_open_files=options.open_files,
        )

    try:
        return attempt(), False
    except plyvel.CorruptionError as err:
        log.warning("%s is corrupt (%s); repairing it", path, err)
    try:
        plyvel.repair_db(path)
        return attempt(), True
    except plyvel.Error as err:
        log.warning("%s cannot be repaired (%s); rebuilding it from the .idx", path, err)
    shutil.rmtree(path, ignore_errors=True)
    return attempt(), True


class LevelDbNeedleMap:
    def __init__(
        self,
        path: str,
        index_bytes: bytes,
        width: OffsetWidth,
        version: int,
        options: LevelDbOptions,
    ) -> None:
        self.name = options.name
        self.path = path
        self._width = width
        self._value_size = int(width) + 4
        columns = parse_columns(index_bytes, width)
        state = replay(columns, version)
        self.metrics = state.metrics
        self._db, repaired = _open_db(path, options)
        self._records = len(columns)
        self._catch_up(columns, state, trust_watermark=not repaired)
        self._db.put(WATERMARK_KEY, _watermark_bytes(self._records))

    # --- encoding ----------------------------------------------------------------------------
    def _value(self, offset: int, size: int) -> bytes:
        return encode_offset(offset, self._width) + (size & 0xFFFFFFFF).to_bytes(4, "big")

    def _decode(self, value: bytes | None) -> tuple[int, int] | None:
        if value is None or len(value) != self._value_size:
            return None
        w = int(self._width)
        return decode_offset(value[:w], self._width), int.from_bytes(value[w:], "big", signed=True)

    # --- loading -----------------------------------------------------------------------------
    def _catch_up(self, columns: IndexColumns, state: ReplayedIndex, trust_watermark: bool) -> None:
        """Absorb the ``.idx`` entries past the watermark (all of them without one)."""
        stored = self._db.get(WATERMARK_KEY) if trust_watermark else None
        mark = int.from_bytes(stored, "big") if stored is not None and len(stored) == 8 else 0
        if mark > len(columns):
            log.warning(
                "%s: watermark %d is past the %d entries of the .idx; rebuilding",
                self.path,
                mark,
                len(columns),
            )
            mark = 0
        if mark == 0:
            self._write_final_state(state)
            return
        keys = columns.keys[mark:].tolist()
        units = columns.offsets[mark:].tolist()
        sizes = columns.sizes[mark:].tolist()
        for key, unit, size in zip(keys, units, sizes, strict=True):
            if unit != 0 and size >= 0:
                self._db.put(key.to_bytes(8, "big"), self._value(unit * NEEDLE_PADDING_SIZE, size))
            else:
                self._mark_deleted(key)

    def _write_final_state(self, state: ReplayedIndex) -> None:
        """Every key's last state from the replayed ``.idx``, in batches."""
        rows = zip(state.keys.tolist(), state.offsets.tolist(), state.sizes.tolist(), strict=True)
        batch = self._db.write_batch()
        for i, (key, unit, size) in enumerate(rows, 1):
            batch.put(key.to_bytes(8, "big"), self._value(unit * NEEDLE_PADDING_SIZE, size))
            if i % _BULK_BATCH == 0:
                batch.write()
                batch = self._db.write_batch()
        batch.write()

    # --- the map -----------------------------------------------------------------------------
    def get(self, key: int) -> tuple[int, int] | None:
        return self._decode(self._db.get(key.to_bytes(8, "big")))

    def _store(self, key: int, offset: int, size: int) -> None:
        """Write one entry that mirrors one ``.idx`` append (and the watermark, every
        10,000th, in the same atomic batch)."""
        self._records += 1
        with self._db.write_batch() as batch:
            batch.put(key.to_bytes(8, "big"), self._value(offset, size))
            if self._records % WATERMARK_BATCH == 0:
                batch.put(WATERMARK_KEY, _watermark_bytes(self._records))

    def _mark_deleted(self, key: int) -> int:
        """Negate a live entry's size in place; returns the live size (0 if none)."""
        current = self.get(key)
        if current is None or current[1] < 0:
            return 0
        offset, size = current
        self._db.put(key.to_bytes(8, "big"), self._value(offset, -size if size > 0 else -1))
        return size

    def put(self, key: int, offset: int, size: int) -> None:
        old = self.get(key)
        self._store(key, offset, size)
        self.metrics.log_put(key, old[1] if old else 0, size)

    def delete(self, key: int) -> int:
        """Go's ``Delete``: only a live entry changes (its size negated)."""
        return delete_live(
            self.get(key), lambda offset, size: self._store(key, offset, size), self.metrics
        )

    def __len__(self) -> int:
        return sum(1 for key in self._db.iterator(include_value=False) if len(key) == 8)

    def items(self) -> Iterator[tuple[int, int, int]]:
        for key, value in self._db.iterator():
            entry = self._decode(value) if len(key) == 8 else None
            if entry is not None:
                yield int.from_bytes(key, "big"), entry[0], entry[1]

    def memory_bytes(self) -> int:
        return 0

    def close(self) -> None:
        if not self._db.closed:
            self._db.close()


class LevelDbNeedleMapKind:
    """``-index=leveldb`` (and its Medium and Large sizes): Go's LevelDB needle map."""

    def __init__(self, options: LevelDbOptions) -> None:
        self.name = options.name
        self.options = options

    def open(
        self, base_path: str, index_bytes: bytes, width: OffsetWidth, version: int
    ) -> LevelDbNeedleMap:
        return LevelDbNeedleMap(base_path + SUFFIX, index_bytes, width, version, self.options)

    def side_files(self, base_path: str) -> list[str]:
        """The LevelDB directory."""
        return [base_path + SUFFIX]

    @staticmethod
    def remove_files(base_path: str) -> None:
        if os.path.isdir(base_path + SUFFIX):
            shutil.rmtree(base_path + SUFFIX)


def leveldb_kinds() -> list[LevelDbNeedleMapKind]:
    return [LevelDbNeedleMapKind(options) for options in LEVELDB_OPTIONS]
