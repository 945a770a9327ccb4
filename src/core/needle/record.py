"""Needle records: the v1/v2/v3 byte layout of one stored file in ``.dat``.

Layout (big-endian), from ``needle_write_v2.go``/``needle_read.go``::

    header   cookie:4 id:8 size:4
    body     (v1) data:size
             (v2/v3, only when data is non-empty) data_size:4 data flags:1
             [name_size:1 name] [mime_size:1 mime] [last_modified:5] [ttl:2]
             [pairs_size:2 pairs]
    tail     checksum:4 [append_at_ns:8 (v3)] padding to a multiple of 8 (1..8 bytes)

Go fills the padding with leftovers of its scratch header, not zeros; :func:`_padding_bytes`
reproduces them so a record we write is byte-identical to Go's.
"""

from __future__ import annotations

import struct
from typing import Final

from ..crc import crc32c_of, crc_matches
from ..ttl import EMPTY_TTL, TTL
from ..types import (
    NEEDLE_CHECKSUM_SIZE,
    NEEDLE_HEADER_SIZE,
    TIMESTAMP_SIZE,
    padding_length,
)

FLAG_IS_COMPRESSED: Final = 0x01
FLAG_HAS_NAME: Final = 0x02
FLAG_HAS_MIME: Final = 0x04
FLAG_HAS_LAST_MODIFIED: Final = 0x08
FLAG_HAS_TTL: Final = 0x10
FLAG_HAS_PAIRS: Final = 0x20
FLAG_IS_CHUNK_MANIFEST: Final = 0x80
LAST_MODIFIED_BYTES: Final = 5
TTL_BYTES: Final = 2
MAX_NAME_SIZE: Final = 255
MAX_MIME_SIZE: Final = 255
MAX_PAIRS_SIZE: Final = 65535


class NeedleError(ValueError):
    """A record that cannot be decoded."""


class NeedleCorrupted(NeedleError):
    """Go's ``ErrorCorrupted``: the record is inconsistent or fails its CRC."""


class NeedleSizeMismatch(NeedleError):
    """Go's ``ErrorSizeMismatch``: the record's size differs from what the index says."""


def _short_field(buf: bytes | memoryview, index: int, end: int, check: int) -> tuple[bytes, int]:
    """A field of at most 255 bytes after its one-byte size (name, mime) and where it ends;
    ``check`` numbers Go's "index out of range" message for it."""
    size = buf[index]
    index += 1
    if size + index > end:
        raise NeedleCorrupted(f"index out of range {check}: needle data corrupted")
    return bytes(buf[index : index + size]), index + size


_NEEDLE_FIELDS: Final = (
    "cookie",
    "id",
    "data",
    "flags",
    "name",
    "mime",
    "pairs",
    "last_modified",
    "ttl",
    "checksum",
    "append_at_ns",
    "size",
    "data_size",
    "data_offset",
)


class Needle:
    """One stored file: what a record holds. A plain class, not a dataclass: compiled,
    building one is a native call (a dataclass's generated ``__init__`` stays interpreted),
    and every upload and read builds one."""

    __slots__ = _NEEDLE_FIELDS

    def __init__(
        self,
        cookie: int = 0,
        id: int = 0,
        data: bytes | bytearray | memoryview = b"",
        flags: int = 0,
        name: bytes = b"",
        mime: bytes = b"",
        pairs: bytes = b"",
        last_modified: int = 0,
        ttl: TTL = EMPTY_TTL,
        checksum: int = 0,
        append_at_ns: int = 0,
        size: int = 0,
        data_size: int = 0,
        data_offset: int = 0,
    ) -> None:
        self.cookie = cookie
        self.id = id
        self.data = data
        self.flags = flags
        self.name = name
        self.mime = mime
        self.pairs = pairs
        self.last_modified = last_modified
        self.ttl = ttl
        self.checksum = checksum
        self.append_at_ns = append_at_ns
        self.size = size
        """Body size as recorded in the header (0 for an empty needle or a tombstone)."""
        self.data_size = data_size
        """Length of the data; set by meta-only reads, which leave ``data`` empty."""
        self.data_offset = data_offset
        """Where the data starts in the volume file, for meta-only reads."""

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in _NEEDLE_FIELDS)

    def __eq__(self, other: object) -> bool:  # (and so unhashable, as the dataclass was)
        return isinstance(other, Needle) and self._fields() == other._fields()

    def __repr__(self) -> str:
        values = ", ".join(f"{name}={getattr(self, name)!r}" for name in _NEEDLE_FIELDS)
        return f"Needle({values})"

    # --- flags -----------------------------------------------------------------------------
    @property
    def is_compressed(self) -> bool:
        return bool(self.flags & FLAG_IS_COMPRESSED)

    @property
    def has_name(self) -> bool:
        return bool(self.flags & FLAG_HAS_NAME)

    @property
    def has_mime(self) -> bool:
        return bool(self.flags & FLAG_HAS_MIME)

    @property
    def has_last_modified(self) -> bool:
        return bool(self.flags & FLAG_HAS_LAST_MODIFIED)

    @property
    def has_ttl(self) -> bool:
        return bool(self.flags & FLAG_HAS_TTL)

    @property
    def has_pairs(self) -> bool:
        return bool(self.flags & FLAG_HAS_PAIRS)

    @property
    def is_chunk_manifest(self) -> bool:
        return bool(self.flags & FLAG_IS_CHUNK_MANIFEST)

    def set_name(self, name: bytes) -> None:
        self.name = name[:MAX_NAME_SIZE]
        self.flags |= FLAG_HAS_NAME

    def set_mime(self, mime: bytes) -> None:
        self.mime = mime[:MAX_MIME_SIZE]
        self.flags |= FLAG_HAS_MIME

    def set_pairs(self, pairs: bytes) -> None:
        self.pairs = pairs
        self.flags |= FLAG_HAS_PAIRS

    def set_last_modified(self, seconds: int) -> None:
        self.last_modified = seconds
        self.flags |= FLAG_HAS_LAST_MODIFIED

    def set_ttl(self, ttl: TTL) -> None:
        self.ttl = ttl
        if ttl:
            self.flags |= FLAG_HAS_TTL

    def update_checksum(self) -> None:
        self.checksum = crc32c_of(self.data)

    @property
    def etag(self) -> str:
        """Go's ``Needle.Etag``: the checksum as 8 hex digits."""
        return self.checksum.to_bytes(4, "big").hex()  # (a third of "%08x"'s cost, compiled)

    # --- encoding --------------------------------------------------------------------------
    def to_bytes(self, version: int) -> bytes:
        """Serialise as Go's ``writeNeedleByVersion``; also sets ``size``.

        The stored checksum is ``self.checksum`` as it stands: uploads set it from the data
        (:meth:`update_checksum`), while a tombstone keeps the deleted needle's, as Go does.
        Pieces are joined once (a hot path: every upload).
        """
        return b"".join(self.to_pieces(version))

    def to_pieces(self, version: int) -> list[bytes | bytearray | memoryview]:
        """The record of :meth:`to_bytes` as three pieces, the data not copied (a large
        record is written with one ``pwritev``): the header (with the data size), the data,
        and everything after it (flags, the optional fields, checksum, append time,
        padding)."""
        mime, pairs, data, flags = self.mime, self.pairs, self.data, self.flags
        if len(mime) > MAX_MIME_SIZE or len(pairs) > MAX_PAIRS_SIZE:
            raise NeedleError("needle mime or pairs too long")
        if version == 1:
            size = len(data)
            head, rest = _HEADER.pack(self.cookie, self.id, size), b""
        elif data:
            rest = _BYTE[flags & 0xFF]
            if flags & FLAG_HAS_NAME:
                name = self.name[:MAX_NAME_SIZE]
                rest = rest + _BYTE[len(name)] + name
            if flags & FLAG_HAS_MIME:
                rest = rest + _BYTE[len(mime)] + mime
            if flags & FLAG_HAS_LAST_MODIFIED:
                rest = rest + _U64.pack(self.last_modified)[8 - LAST_MODIFIED_BYTES :]
            if flags & FLAG_HAS_TTL:
                rest = rest + self.ttl.to_bytes()
            if flags & FLAG_HAS_PAIRS:
                rest = rest + _U16.pack(len(pairs)) + pairs
            size = 4 + len(data) + len(rest)
            head = _HEADER_AND_DATA_SIZE.pack(self.cookie, self.id, size, len(data))
        else:
            size = 0
            head, rest = _HEADER.pack(self.cookie, self.id, size), b""
        self.size = size
        if version == 3:
            # Checksum, append time and the padding (the size field, then zeros: see
            # :meth:`_padding_bytes`) in one piece.
            tail = _V3_TAIL.pack(self.checksum, self.append_at_ns, size)
            rest = rest + tail[: _V3_TAIL_BEFORE_PADDING + padding_length(size, 3)]
        else:
            rest = rest + _U32.pack(self.checksum) + self._padding_bytes(version)
        return [head, data, rest]

    def _padding_bytes(self, version: int) -> bytes:
        """Go writes padding from its 24-byte scratch header after the footer went into it.

        v3 pads with ``scratch[12:]`` = the size field, then zeros. v1/v2 pad with
        ``scratch[4:]``: bytes 4-8 hold the needle id's high half, or for v2 the low half of
        the last-modified stamp when one was written; bytes 8-12 the id's low half.
        """
        padding = padding_length(self.size, version)
        if version == 3:
            scratch = self.size.to_bytes(4, "big") + bytes(4)
        else:
            id_bytes = self.id.to_bytes(8, "big")
            high = id_bytes[0:4]
            if version == 2 and self.data and self.has_last_modified:
                high = self.last_modified.to_bytes(8, "big")[4:8]
            scratch = high + id_bytes[4:8] + self.size.to_bytes(4, "big")
        return scratch[:padding]

    # --- decoding --------------------------------------------------------------------------
    @classmethod
    def from_bytes(
        cls,
        record: bytes | memoryview,
        version: int,
        expected_size: int | None = None,
        offset: int = 0,
    ) -> Needle:
        """Decode one whole record (``Needle.ReadBytes``), verifying its CRC.

        ``expected_size`` is the size the index holds for it; a different header size is
        :class:`NeedleSizeMismatch` with Go's message.
        """
        if len(record) < NEEDLE_HEADER_SIZE:
            raise NeedleCorrupted("needle record shorter than its header")
        cookie, needle_id, size = _HEADER.unpack_from(record)
        if expected_size is not None and size != expected_size:
            raise NeedleSizeMismatch(
                f"size mismatch: entry not found: offset {offset} found id {needle_id:x} "
                f"size {size}, expected size {expected_size}"
            )
        if size < 0 or len(record) < _unpadded_length(size, version):
            raise NeedleCorrupted(f"needle record of size {size} is truncated")
        needle = cls(cookie, needle_id, size=size)
        end = NEEDLE_HEADER_SIZE + size
        if version == 1:
            needle.data = bytes(record[NEEDLE_HEADER_SIZE:end])
        else:
            needle._parse_body_v2(record, NEEDLE_HEADER_SIZE, end)
        needle._parse_tail(record, end, version)
        return needle

    @classmethod
    def meta_from_bytes(
        cls, head: bytes | memoryview, meta: bytes | memoryview, version: int, offset: int
    ) -> Needle:
        """Decode a record without its data (``ReadNeedleMeta`` in needle_read_page.go): the
        header and data length (``head``, 20 bytes), then everything after the data up to the
        end of the record (``meta``). No CRC check: there is no data to check it against."""
        cookie, needle_id, size = _HEADER.unpack_from(head)
        needle = cls(cookie, needle_id, size=size)
        needle.data_size = _U32.unpack_from(head, NEEDLE_HEADER_SIZE)[0]
        needle.data_offset = offset + META_HEAD_SIZE
        rest_of_body = size - 4 - needle.data_size
        if rest_of_body < 0 or len(meta) < rest_of_body + NEEDLE_CHECKSUM_SIZE:
            raise NeedleCorrupted(f"needle record of size {size} is truncated")
        needle._parse_non_data(meta, 0, rest_of_body)
        needle._parse_tail(meta, rest_of_body, version)
        return needle

    def _parse_body_v2(self, buf: bytes | memoryview, index: int, end: int) -> None:
        """``readNeedleDataVersion2`` over ``buf[index:end]``, with its bounds checks (each a
        corrupted-data error)."""
        if index < end:
            if index + 4 > end:
                raise NeedleCorrupted("index out of range 1: needle data corrupted")
            data_size = _U32.unpack_from(buf, index)[0]
            index += 4
            if data_size + index > end:
                raise NeedleCorrupted("index out of range 1: needle data corrupted")
            self.data = bytes(buf[index : index + data_size])
            self.data_size = data_size
            index += data_size
        self._parse_non_data(buf, index, end)

    def _parse_non_data(self, buf: bytes | memoryview, index: int, end: int) -> None:
        """Flags, name, mime, last-modified, TTL and pairs (``readNeedleDataVersion2NonData``)."""
        if index < end:
            self.flags = buf[index]
            index += 1
        if index < end and self.flags & FLAG_HAS_NAME:
            self.name, index = _short_field(buf, index, end, 2)
        if index < end and self.flags & FLAG_HAS_MIME:
            self.mime, index = _short_field(buf, index, end, 3)
        if index < end and self.flags & FLAG_HAS_LAST_MODIFIED:
            if LAST_MODIFIED_BYTES + index > end:
                raise NeedleCorrupted("index out of range 4: needle data corrupted")
            self.last_modified = int.from_bytes(buf[index : index + LAST_MODIFIED_BYTES], "big")
            index += LAST_MODIFIED_BYTES
        if index < end and self.flags & FLAG_HAS_TTL:
            if TTL_BYTES + index > end:
                raise NeedleCorrupted("index out of range 5: needle data corrupted")
            self.ttl = TTL.from_bytes(buf[index : index + TTL_BYTES])
            index += TTL_BYTES
        if index < end and self.flags & FLAG_HAS_PAIRS:
            if 2 + index > end:
                raise NeedleCorrupted("index out of range 6: needle data corrupted")
            pairs_size = _U16.unpack_from(buf, index)[0]
            index += 2
            if pairs_size + index > end:
                raise NeedleCorrupted("index out of range 7: needle data corrupted")
            self.pairs = bytes(buf[index : index + pairs_size])

    def _parse_tail(self, buf: bytes | memoryview, index: int, version: int) -> None:
        """``readNeedleTail`` at ``buf[index:]``: verify the CRC of non-empty data, read the v3
        timestamp."""
        stored = _U32.unpack_from(buf, index)[0]
        if self.data:
            ok, actual = crc_matches(stored, self.data)
            if not ok:
                raise NeedleCorrupted(
                    f"invalid CRC for needle {self.id:x} (got {actual:08x}, want {stored:08x}), "
                    "data on disk corrupted: needle data corrupted"
                )
            self.checksum = actual
        else:
            self.checksum = stored
        if version == 3:
            self.append_at_ns = _U64.unpack_from(buf, index + NEEDLE_CHECKSUM_SIZE)[0]


_HEADER: Final = struct.Struct(">IQi")
_HEADER_AND_DATA_SIZE: Final = struct.Struct(">IQiI")
_BYTE: Final = [bytes((value,)) for value in range(256)]
_U16: Final = struct.Struct(">H")
_U32: Final = struct.Struct(">I")
_U64: Final = struct.Struct(">Q")
_V3_TAIL: Final = struct.Struct(">IQI4x")
_V3_TAIL_BEFORE_PADDING: Final = NEEDLE_CHECKSUM_SIZE + TIMESTAMP_SIZE


DATA_SIZE_AND_FLAGS: Final = 4 + 1
META_HEAD_SIZE: Final = NEEDLE_HEADER_SIZE + 4
"""Header plus the data length: what a meta-only read fetches first."""


def _unpadded_length(size: int, version: int) -> int:
    """Bytes a record needs to be decoded: everything but its padding."""
    return (
        NEEDLE_HEADER_SIZE + size + NEEDLE_CHECKSUM_SIZE + (TIMESTAMP_SIZE if version == 3 else 0)
    )


def parse_header(raw: bytes | memoryview) -> tuple[int, int, int]:
    """(cookie, needle id, size) of a 16-byte needle header (``ParseNeedleHeader``)."""
    return (
        int.from_bytes(raw[0:4], "big"),
        int.from_bytes(raw[4:12], "big"),
        int.from_bytes(raw[12:16], "big", signed=True),
    )
