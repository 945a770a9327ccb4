"""Fixed-width scalars of the on-disk format: needle ids, cookies, sizes and offsets.

Everything is big-endian, as in Go's ``weed/storage/types``. Offsets are stored in units of
8 bytes (``NEEDLE_PADDING_SIZE``) and take 4 bytes in Go's default build and 5 bytes in the
``5BytesOffset`` build; we support both at once, per volume, through :class:`OffsetWidth`.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

NEEDLE_ID_SIZE: Final = 8
COOKIE_SIZE: Final = 4
SIZE_SIZE: Final = 4
NEEDLE_HEADER_SIZE: Final = COOKIE_SIZE + NEEDLE_ID_SIZE + SIZE_SIZE  # 16
DATA_SIZE_SIZE: Final = 4
NEEDLE_CHECKSUM_SIZE: Final = 4
TIMESTAMP_SIZE: Final = 8
NEEDLE_PADDING_SIZE: Final = 8
TOMBSTONE_FILE_SIZE: Final = -1
"""Size recorded in ``.idx`` for a deletion (the ``.dat`` tombstone record itself has size 0)."""

MAX_UINT32: Final = 0xFFFFFFFF
MAX_UINT64: Final = 0xFFFFFFFFFFFFFFFF


class OffsetWidth(IntEnum):
    """Bytes an offset takes in ``.idx``; Go's ``OffsetSize`` (4, or 5 with ``5BytesOffset``)."""

    FOUR = 4
    FIVE = 5

    @property
    def entry_size(self) -> int:
        """Bytes of one ``.idx`` entry: needle id + offset + size (16 or 17)."""
        return NEEDLE_ID_SIZE + int(self) + SIZE_SIZE

    @property
    def max_volume_size(self) -> int:
        """Largest ``.dat`` this width can address (32 GiB or 8 TiB)."""
        return (1 << (8 * int(self))) * NEEDLE_PADDING_SIZE

    @classmethod
    def parse(cls, value: int) -> OffsetWidth:
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"unsupported offset width {value}: expected 4 or 5") from None


def encode_offset(actual_offset: int, width: OffsetWidth) -> bytes:
    """Encode a byte offset of ``.dat`` as Go's ``OffsetToBytes`` does.

    The low four bytes of ``offset / 8`` come first, big-endian; the fifth (highest) byte of the
    5-byte form is *appended* after them (see ``offset_5bytes.go``).
    """
    units = actual_offset // NEEDLE_PADDING_SIZE
    low = (units & MAX_UINT32).to_bytes(4, "big")
    if width == OffsetWidth.FOUR:
        return low
    return low + bytes([(units >> 32) & 0xFF])


def decode_offset(raw: bytes | memoryview, width: OffsetWidth) -> int:
    """Inverse of :func:`encode_offset`: the byte offset into ``.dat``."""
    units = int.from_bytes(raw[0:4], "big")
    if width == OffsetWidth.FIVE:
        units |= raw[4] << 32
    return units * NEEDLE_PADDING_SIZE


def size_is_deleted(size: int) -> bool:
    """Go's ``Size.IsDeleted``: negative sizes mark deleted entries in the needle map."""
    return size < 0


def size_is_valid(size: int) -> bool:
    """Go's ``Size.IsValid``: a live needle with a positive size."""
    return size > 0


def size_raw(size: int) -> int:
    """Go's ``Size.Raw``: the stored size of a live or deleted entry (tombstone is 0)."""
    if size == TOMBSTONE_FILE_SIZE:
        return 0
    return -size if size < 0 else size


def padding_length(size: int, version: int) -> int:
    """Bytes of padding after a needle record of body ``size`` (``PaddingLength`` in Go).

    Note the padding is never 0: an already aligned record gets a whole 8 bytes.
    """
    tail = NEEDLE_CHECKSUM_SIZE + (TIMESTAMP_SIZE if version == 3 else 0)
    return NEEDLE_PADDING_SIZE - ((NEEDLE_HEADER_SIZE + size + tail) % NEEDLE_PADDING_SIZE)


def needle_body_length(size: int, version: int) -> int:
    """Bytes following the 16-byte header: body, checksum, v3 timestamp and padding."""
    tail = NEEDLE_CHECKSUM_SIZE + (TIMESTAMP_SIZE if version == 3 else 0)
    return size + tail + padding_length(size, version)


def actual_size(size: int, version: int) -> int:
    """Whole on-disk length of a needle record (``GetActualSize``)."""
    return NEEDLE_HEADER_SIZE + needle_body_length(size, version)
