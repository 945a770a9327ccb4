"""The protobuf wire format, by hand, for the few small messages the core keeps on disk
(``state.pb``, the ``.ecsum`` sidecar): the core stays free of generated code.

Writers emit fields in field-number order and skip zero values, as Go's ``proto.Marshal``
does, so the bytes match Go's.
"""

from __future__ import annotations

from collections.abc import Iterator

VARINT, FIXED64, BYTES, FIXED32 = 0, 1, 2, 5


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64s take ten bytes, as in Go
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_varint(raw: bytes | memoryview, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if pos >= len(raw):
            raise ValueError("truncated varint")
        byte = raw[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def int_field(number: int, value: int) -> bytes:
    """A varint field; nothing for 0 (proto3 default)."""
    return varint(number << 3 | VARINT) + varint(value) if value else b""


def bytes_field(number: int, value: bytes) -> bytes:
    """A length-delimited field (bytes, string or message); nothing when empty."""
    return varint(number << 3 | BYTES) + varint(len(value)) + value if value else b""


def fields(raw: bytes | memoryview) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of each field: ints for varints and fixed, bytes for
    length-delimited; unknown fields are read past like any other."""
    pos = 0
    while pos < len(raw):
        tag, pos = read_varint(raw, pos)
        number, wire = tag >> 3, tag & 7
        if wire == VARINT:
            value, pos = read_varint(raw, pos)
            yield number, wire, value
        elif wire == BYTES:
            length, pos = read_varint(raw, pos)
            if pos + length > len(raw):
                raise ValueError("truncated length-delimited field")
            yield number, wire, bytes(raw[pos : pos + length])
            pos += length
        elif wire == FIXED64:
            yield number, wire, int.from_bytes(raw[pos : pos + 8], "little")
            pos += 8
        elif wire == FIXED32:
            yield number, wire, int.from_bytes(raw[pos : pos + 4], "little")
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
