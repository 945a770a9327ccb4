"""Finding a point in a volume's history by append time (volume_backup.go).

Tailing and incremental copy resume "after time T": the ``.idx`` lists records in the order
they were appended, and each v3 record ends with its append time, so a binary search over the
index entries, reading only the 8-byte timestamps from ``.dat``, finds the first record
appended after T.
"""

from __future__ import annotations

from ..errors import VolumeError
from ..idx import decode_entry
from ..needle.record import parse_header
from ..ports import BackendFile
from ..types import NEEDLE_CHECKSUM_SIZE, NEEDLE_HEADER_SIZE, TIMESTAMP_SIZE
from .volume import Volume


def append_at_ns(dat: BackendFile, offset: int) -> int:
    """The append time stored at the end of the v3 record at ``offset``."""
    header = dat.read_at(NEEDLE_HEADER_SIZE, offset)
    if len(header) < NEEDLE_HEADER_SIZE:
        raise VolumeError(f"{dat.name} has no needle header at offset {offset}")
    size = max(parse_header(header)[2], 0)
    at = offset + NEEDLE_HEADER_SIZE + size + NEEDLE_CHECKSUM_SIZE
    stamp = dat.read_at(TIMESTAMP_SIZE, at)
    if len(stamp) < TIMESTAMP_SIZE:
        raise VolumeError(f"{dat.name} has no needle tail at offset {at}")
    return int.from_bytes(stamp, "big")


def first_appended_after(volume: Volume, since_ns: int) -> int | None:
    """The ``.dat`` offset of the first record appended after ``since_ns``; ``None`` when
    nothing was (``BinarySearchByAppendAtNs``, whose "is last one" is our ``None``).

    Entries with a zero offset (deletions written by old versions) carry no time: the search
    looks at their nearest neighbours instead, as Go does.
    """
    idx_size = volume.idx_size()
    entry_size = volume.width.entry_size
    if idx_size % entry_size:
        raise VolumeError(f"unexpected file {volume.file_name('.idx')} size: {idx_size}")
    count = idx_size // entry_size

    def offset_at(i: int) -> int:
        return decode_entry(volume.idx.read_at(entry_size, i * entry_size), volume.width).offset

    def time_at(offset: int) -> int:
        return append_at_ns(volume.dat, offset)

    low, high = 0, count
    while low < high:
        middle = (low + high) // 2
        offset = offset_at(middle)
        if offset == 0:
            left = middle - 1
            while left >= 0 and offset_at(left) == 0:
                left -= 1
            right = middle + 1
            while right < count and offset_at(right) == 0:
                right += 1
            right_ns = time_at(offset_at(right)) if right < count else 0
            if right_ns <= since_ns:
                low = right
                continue
            left_ns = time_at(offset_at(left)) if left >= 0 else 0
            if since_ns < left_ns:
                high = left + 1
                continue
            return offset_at(right)
        if time_at(offset) <= since_ns:
            low = middle + 1
        else:
            high = middle
    return None if low >= count else offset_at(low)
