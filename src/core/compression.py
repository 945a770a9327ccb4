"""Gunzip with a bound on what it produces (Go's ``util.DecompressData`` has none).

A gzip body of a few hundred KiB may inflate to gigabytes. Every inflation of stored or
uploaded data goes through :func:`gunzip`, which stops once the output passes ``limit`` (the
file size limit, so nothing legitimately stored is refused) and never holds more than that.
"""

from __future__ import annotations

import zlib

GZIP_MAGIC = b"\x1f\x8b"


class InflateLimitExceeded(ValueError):
    """The data inflates past the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"gzip data inflates past {limit} bytes")
        self.limit = limit


def is_gzipped(data: bytes) -> bool:
    """``util.IsGzippedContent``: the gzip magic."""
    return data[:2] == GZIP_MAGIC


def gunzip(data: bytes | bytearray | memoryview, limit: int) -> bytes:
    """Every gzip member of ``data`` inflated, at most ``limit`` bytes.

    Raises :class:`InflateLimitExceeded` past the limit, ``zlib.error`` or ``EOFError`` for a
    stream that is not gzip or ends early (as ``gzip.decompress`` would)."""
    pieces: list[bytes] = []
    total = 0
    rest = memoryview(data)
    while True:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        piece = inflater.decompress(rest, limit - total + 1)
        total += len(piece)
        if total > limit:
            raise InflateLimitExceeded(limit)
        pieces.append(piece)
        if not inflater.eof:
            # decompress stopped short of the limit: the input ran out mid-stream
            raise EOFError("Compressed file ended before the end-of-stream marker was reached")
        rest = memoryview(inflater.unused_data)
        if not rest or not any(rest):  # end, or zero padding after the last member
            break
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)
