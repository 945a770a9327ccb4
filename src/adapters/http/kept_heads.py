"""Kept answer heads of plain reads: a read answered once is answered again from its kept
head while its record has not changed.

The head of a plain read (:mod:`.front_door`) is a fixed function of the record, so the front
door keeps it, keyed by method and path (as sent), with where the record lies. A repeated read
revalidates that place against the needle map (:meth:`~...core.volume.volume.Volume.live_blob`),
re-reads the record, compares its header and checks the data CRC as Go's ``ReadNeedle`` does on
every read, then resends the kept head (the request id and ``Date`` are added fresh). Anything
that does not match exactly (moved, overwritten, deleted, compacted, remounted, corrupted) is
read and answered anew.

The kept heads are bounded (:data:`CAPACITY` entries, a few hundred bytes each), so memory does
not grow with the number of needles. Needles with a TTL are never kept: their expiry is a
matter of the clock.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Final

from ...core.crc import crc32c_of, is_accepted
from ...core.needle.record import META_HEAD_SIZE
from ...core.types import NEEDLE_HEADER_SIZE
from .context import HttpContext

if TYPE_CHECKING:
    from ...core.needle.record import Needle
    from ...core.volume.volume import Volume

CAPACITY = 16384
"""Kept answer heads; the oldest goes first when full."""

_CHECKSUM: Final = struct.Struct(">I")
_HEADER: Final = struct.Struct(">IQi")


class _Kept:
    __slots__ = (
        "volume",
        "revision",
        "needle_id",
        "offset",
        "size",
        "header",
        "data_end",
        "checksum",
        "head",
        "head_only",
    )

    def __init__(
        self, volume: Volume, needle: Needle, offset: int, head: bytes, head_only: bool
    ) -> None:
        self.volume = volume
        self.revision = volume.super_block.compaction_revision
        self.needle_id = needle.id
        self.offset = offset
        self.size = needle.size
        self.header = _HEADER.pack(needle.cookie, needle.id, needle.size)
        self.data_end = META_HEAD_SIZE + needle.data_size
        self.checksum = needle.checksum
        self.head = head
        self.head_only = head_only


class KeptHeads:
    """One per listening server (the admin and the public port measure apart)."""

    def __init__(self, ctx: HttpContext) -> None:
        self.ctx = ctx
        self._kept: dict[tuple[str, bytes], _Kept] = {}

    def resend(self, key: tuple[str, bytes]) -> tuple[bytes, bytes] | None:
        """(kept head, body) while the record is unchanged, else ``None`` (and forgotten)."""
        kept = self._kept.get(key)
        if kept is None:
            return None
        body = self._revalidate(kept)
        if body is None:
            del self._kept[key]
            return None
        return kept.head, body

    def keep(
        self, key: tuple[str, bytes], volume: Volume, needle: Needle, head: bytes, head_only: bool
    ) -> None:
        """Keep the head of a 200 answer for ``needle``, when its answer can only change
        with its record: versions 2 and 3 with data, no TTL."""
        if (
            volume.version < 2
            or needle.data_size <= 0
            or (needle.has_ttl and needle.ttl.minutes)
            or not head.startswith(b"HTTP/1.1 200 ")
        ):
            return
        location = volume.locate(needle.id)
        if location is None or location[1] != needle.size:
            return
        if len(self._kept) >= CAPACITY:
            del self._kept[next(iter(self._kept))]
        self._kept[key] = _Kept(volume, needle, location[0], head, head_only)

    def _revalidate(self, kept: _Kept) -> bytes | None:
        """The data when the record is still where it was and intact, else ``None``."""
        volume = kept.volume
        if (
            volume.super_block.compaction_revision != kept.revision
            or self.ctx.store.find_volume(volume.id) is not volume
        ):
            return None
        record = volume.live_blob(kept.needle_id, kept.offset, kept.size)
        if record is None or record[:NEEDLE_HEADER_SIZE] != kept.header:
            return None  # (4-byte offsets past 32 GiB wrap: the first read knows)
        data = record[META_HEAD_SIZE : kept.data_end]
        actual = crc32c_of(data)
        if actual != kept.checksum:
            return None  # read anew, the corruption is reported
        at = NEEDLE_HEADER_SIZE + kept.size
        if len(record) < at + 4 or not is_accepted(_CHECKSUM.unpack_from(record, at)[0], actual):
            return None
        return b"" if kept.head_only else data
