"""The ``.idx`` file: an append-only log of (needle id, offset, size) entries.

Each entry is ``id:8 offset:4|5 size:4``, big-endian (``weed/storage/idx/walk.go``). A deletion
is an entry whose size is the tombstone -1 (Go also treats a zero offset as a deletion while
replaying). Walking and parsing here are vectorised with numpy: a 1M-entry index decodes in
milliseconds, which keeps volume loading far above 1M entries/s.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import numpy as np

from .types import (
    NEEDLE_PADDING_SIZE,
    TOMBSTONE_FILE_SIZE,
    OffsetWidth,
    decode_offset,
)


@dataclass(frozen=True, slots=True)
class IndexEntry:
    needle_id: int
    offset: int
    """Byte offset of the record in ``.dat`` (already multiplied by 8)."""
    size: int

    @property
    def is_deletion(self) -> bool:
        return self.offset == 0 or self.size < 0


_ENTRY_FOUR: Final = struct.Struct(">QII")
_ENTRY_FIVE: Final = struct.Struct(">QIBI")  # the fifth offset byte follows the low four


def encode_entry(needle_id: int, offset: int, size: int, width: OffsetWidth) -> bytes:
    """One entry as :func:`~.types.encode_offset` lays the offset out (one ``pack``: every
    append writes one)."""
    units = offset // NEEDLE_PADDING_SIZE
    if width == 4:
        return _ENTRY_FOUR.pack(needle_id, units & 0xFFFFFFFF, size & 0xFFFFFFFF)
    return _ENTRY_FIVE.pack(needle_id, units & 0xFFFFFFFF, (units >> 32) & 0xFF, size & 0xFFFFFFFF)


def decode_entry(raw: bytes | memoryview, width: OffsetWidth) -> IndexEntry:
    w = int(width)
    return IndexEntry(
        needle_id=int.from_bytes(raw[0:8], "big"),
        offset=decode_offset(raw[8 : 8 + w], width),
        size=int.from_bytes(raw[8 + w : 12 + w], "big", signed=True),
    )


_ENTRY_FORMATS: Final = {
    OffsetWidth.FOUR: struct.Struct(">QIi"),
    OffsetWidth.FIVE: struct.Struct(">QIBi"),
}


def iter_entries(raw: bytes | memoryview, width: OffsetWidth) -> Iterator[tuple[int, int, int]]:
    """(needle id, byte offset, size) of each whole entry, cheaply (a few at a time: the
    appends other processes made since the last look)."""
    layout = _ENTRY_FORMATS[width]
    whole = len(raw) - len(raw) % layout.size
    if width == OffsetWidth.FOUR:
        for key, units, size in layout.iter_unpack(raw[:whole]):
            yield key, units * NEEDLE_PADDING_SIZE, size
    else:
        for key, low, high, size in layout.iter_unpack(raw[:whole]):
            yield key, (high << 32 | low) * NEEDLE_PADDING_SIZE, size


def entry_of(raw: bytes, width: OffsetWidth) -> tuple[int, int, int]:
    """(needle id, byte offset, size) of one whole entry: the usual catch-up of a process
    whose neighbour appended once since it last looked."""
    if width == OffsetWidth.FOUR:
        key, units, size = _ENTRY_FORMATS[width].unpack(raw)
        return key, units * NEEDLE_PADDING_SIZE, size
    key, low, high, size = _ENTRY_FORMATS[width].unpack(raw)
    return key, (high << 32 | low) * NEEDLE_PADDING_SIZE, size


def tombstone_entry(needle_id: int, offset: int, width: OffsetWidth) -> bytes:
    """The entry Go appends on delete: the tombstone record's offset, size -1."""
    return encode_entry(needle_id, offset, TOMBSTONE_FILE_SIZE, width)


@dataclass(frozen=True, slots=True)
class IndexColumns:
    """A whole ``.idx`` decoded into parallel arrays, in file order."""

    keys: np.ndarray  # uint64
    offsets: np.ndarray  # int64, in 8-byte units as stored
    sizes: np.ndarray  # int32

    def __len__(self) -> int:
        return int(self.keys.shape[0])


def _entry_dtype(width: OffsetWidth) -> np.dtype:
    if width == OffsetWidth.FOUR:
        return np.dtype([("key", ">u8"), ("off", ">u4"), ("size", ">i4")])
    return np.dtype([("key", ">u8"), ("off", ">u4"), ("off_hi", "u1"), ("size", ">i4")])


def parse_columns(raw: bytes | memoryview, width: OffsetWidth) -> IndexColumns:
    """Decode every whole entry of ``raw``; a torn trailing partial entry is ignored."""
    count = len(raw) // width.entry_size
    records = np.frombuffer(raw, dtype=_entry_dtype(width), count=count)
    offsets = records["off"].astype(np.int64)
    if width == OffsetWidth.FIVE:
        offsets |= records["off_hi"].astype(np.int64) << 32
    return IndexColumns(
        keys=records["key"].astype(np.uint64),
        offsets=offsets,
        sizes=records["size"].astype(np.int32),
    )


def walk(raw: bytes | memoryview, width: OffsetWidth) -> Iterator[IndexEntry]:
    """Entries one by one, for tools and small files (``WalkIndexFile``)."""
    step = width.entry_size
    view = memoryview(raw)
    for start in range(0, len(view) - step + 1, step):
        yield decode_entry(view[start : start + step], width)
