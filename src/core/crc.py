"""CRC32-Castagnoli of needle data, as ``weed/storage/needle/crc.go`` computes and checks it.

Go stores the raw CRC. Very old volumes stored ``CRC.Value()``, a rotated and offset form, and
Go still accepts either on read, so we do too.
"""

from __future__ import annotations

from crc32c import crc32c


def crc32c_of(data: bytes | bytearray | memoryview, running: int = 0) -> int:
    """The CRC of ``data``, or of what ``running`` covered followed by ``data``."""
    return crc32c(data, running)


def legacy_crc_value(crc: int) -> int:
    """Go's ``CRC.Value()``: rotate right by 15 bits, then add 0xa282ead8 (mod 2**32)."""
    rotated = ((crc >> 15) | (crc << 17)) & 0xFFFFFFFF
    return (rotated + 0xA282EAD8) & 0xFFFFFFFF


def crc_matches(stored: int, data: bytes | bytearray | memoryview) -> tuple[bool, int]:
    """Whether ``stored`` is an accepted checksum of ``data``; also returns the computed CRC."""
    actual = crc32c(data)
    return is_accepted(stored, actual), actual


def is_accepted(stored: int, actual: int) -> bool:
    return stored == actual or stored == legacy_crc_value(actual)
