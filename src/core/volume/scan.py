"""Walking the records of a ``.dat`` in file order (``ScanVolumeFileFrom`` in volume_read.go).

Tailing, incremental copy, ``ReadAllNeedles`` and re-indexing appended bytes all read a volume
this way: record after record from some offset, each a 16-byte header followed by its body
(data, checksum, v3 timestamp, padding), whose length the header's size gives.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..needle.record import Needle, NeedleCorrupted, parse_header
from ..ports import BackendFile
from ..types import NEEDLE_HEADER_SIZE, needle_body_length

READ_BLOCK = 4 * 1024 * 1024
"""Records are read in blocks of this size (a bigger record is read on its own)."""


@dataclass(frozen=True, slots=True)
class ScannedRecord:
    offset: int
    header: bytes
    """The 16-byte needle header: cookie, id, size."""
    body: bytes
    """Everything after the header; shorter than the header promises only at a torn end."""
    cookie: int
    needle_id: int
    size: int
    """Body size from the header: 0 for a tombstone or an empty needle."""

    @property
    def end(self) -> int:
        return self.offset + NEEDLE_HEADER_SIZE + len(self.body)

    def needle(self, version: int) -> Needle:
        """Decode the whole record, checking its CRC (:class:`NeedleCorrupted` if it fails)."""
        return Needle.from_bytes(self.header + self.body, version, self.size, self.offset)


def scan_records(
    dat: BackendFile, version: int, start: int, stop: int | None = None
) -> Iterator[ScannedRecord]:
    """The records from ``start`` up to ``stop`` (the end of the file by default).

    A header that does not fit before the end ends the walk, as Go's does at EOF; a negative
    size cannot be walked past and raises :class:`NeedleCorrupted`.
    """
    end = dat.size() if stop is None else stop
    block = b""
    block_start = start
    offset = start
    while offset + NEEDLE_HEADER_SIZE <= end:
        if offset + NEEDLE_HEADER_SIZE > block_start + len(block):
            block_start = offset
            block = dat.read_at(min(READ_BLOCK, end - offset), offset)
            if len(block) < NEEDLE_HEADER_SIZE:
                return
        at = offset - block_start
        header = block[at : at + NEEDLE_HEADER_SIZE]
        cookie, needle_id, size = parse_header(header)
        if size < 0:
            raise NeedleCorrupted(f"needle at offset {offset} has a negative size {size}")
        body_length = needle_body_length(size, version)
        body_start = at + NEEDLE_HEADER_SIZE
        if body_start + body_length <= len(block):
            body = block[body_start : body_start + body_length]
        else:
            body = dat.read_at(body_length, offset + NEEDLE_HEADER_SIZE)
        yield ScannedRecord(offset, header, body, cookie, needle_id, size)
        offset += NEEDLE_HEADER_SIZE + body_length
