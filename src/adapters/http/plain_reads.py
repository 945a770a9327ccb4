"""The plain-read lane: ``GET|HEAD /vid,keycookie`` answered in a pread, a CRC and a join.

Most reads a volume server sees are plain: no query, range, condition or CORS origin, a small
local needle. The first read of a path is answered by the general code (:func:`.read.read_plain`
builds it exactly as any read); its status line and headers are then kept, keyed by method and
path, with where the record lies. A repeated read revalidates that place against the needle
map (:meth:`~...core.volume.volume.Volume.live_blob`), reads the record, compares its header and
checks the data CRC as Go's ``ReadNeedle`` does on every read, then sends the kept head with a
fresh request id and ``Date``. Anything that does not match exactly (moved, overwritten,
deleted, compacted, remounted, corrupted) falls back to the general path, which answers it.

The kept heads are bounded (:data:`CAPACITY` entries, a few hundred bytes each), so memory does
not grow with the number of needles. Needles with a TTL are never kept: their expiry is a
matter of the clock.
"""

from __future__ import annotations

import random
import struct
import time

from ...core import stats
from ...core.crc import crc32c_of, is_accepted
from ...core.needle.record import META_HEAD_SIZE
from ...core.types import NEEDLE_HEADER_SIZE
from .context import HttpContext
from .dispatch import answer_plain_read
from .fastpath import encode_headers, status_line
from .read import CONDITIONAL_HEADERS

CAPACITY = 16384
"""Kept answer heads; the oldest goes first when full."""

_CHECKSUM = struct.Struct(">I")
_HEADER = struct.Struct(">IQi")
_REQUEST_ID = b"X-Amz-Request-Id"


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

    def __init__(self, volume, needle, offset: int, head: bytes, head_only: bool) -> None:
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


class PlainReads:
    """One per listening server (the admin and the public port measure apart)."""

    def __init__(self, ctx: HttpContext, server_header: bytes, public: bool) -> None:
        self.ctx = ctx
        self.server_header = server_header
        self.public = public
        self._kept: dict[tuple[str, str], _Kept] = {}

    def answer(
        self, method: str, path: str, raw_headers: list[tuple[bytes, bytes]], client: str
    ) -> tuple[bytes, bytes] | None:
        """(status line and headers without the per-request ones, body), or ``None``: not a
        plain read, or an error for the general path to answer. Only taken without a
        download limit, so nothing is held in flight once the answer is written."""
        ctx = self.ctx
        if ctx.downloads.limit:
            return None  # in-flight accounting and its waits: the general path
        kept = self._kept.get((method, path))
        if kept is not None and not _conditional(raw_headers):
            started = time.perf_counter()
            body = self._revalidate(kept, path)
            if body is not None:
                stats.REQUESTS.inc(method, "200")
                stats.REQUEST_SECONDS.observe(time.perf_counter() - started, method)
                return kept.head, body
            del self._kept[(method, path)]
        found = answer_plain_read(ctx, method, path, raw_headers, client, self.public)
        if found is None:
            return None
        reply, volume, needle = found
        head = encode_head(
            reply.status,
            [h for h in encode_headers(reply, self.server_header) if h[0] != _REQUEST_ID],
        )
        body = b"" if reply.head_only else reply.body
        if reply.status == 200 and reply.stream is None and _keepable(volume, needle):
            location = volume.locate(needle.id)
            if location is not None and location[1] == needle.size:
                if len(self._kept) >= CAPACITY:
                    del self._kept[next(iter(self._kept))]
                kept = _Kept(volume, needle, location[0], head, reply.head_only)
                self._kept[(method, path)] = kept
        return head, body

    def _revalidate(self, kept: _Kept, path: str) -> bytes | None:
        """The data when the record is still where it was and intact, else ``None``."""
        volume = kept.volume
        if (
            volume.super_block.compaction_revision != kept.revision
            or self.ctx.store.find_volume(volume.id) is not volume
        ):
            return None
        record = volume.live_blob(kept.needle_id, kept.offset, kept.size)
        if record is None:
            return None
        if record[:NEEDLE_HEADER_SIZE] != kept.header:
            return None  # 4-byte offsets past 32 GiB wrap: the general path knows
        data = record[META_HEAD_SIZE : kept.data_end]
        actual = crc32c_of(data)
        if actual != kept.checksum:
            return None  # the general path reads it again and reports the corruption
        at = NEEDLE_HEADER_SIZE + kept.size
        if len(record) < at + 4 or not is_accepted(_CHECKSUM.unpack_from(record, at)[0], actual):
            return None
        return b"" if kept.head_only else data


def _keepable(volume, needle) -> bool:
    """Records whose answer only changes when the record does: versions 2 and 3 with data,
    no TTL."""
    return (
        volume.version >= 2 and needle.data_size > 0 and not (needle.has_ttl and needle.ttl.minutes)
    )


def encode_head(status: int, headers: list[tuple[bytes, bytes]]) -> bytes:
    """Status line and headers, each line CRLF-terminated, without the blank line."""
    return status_line(status) + b"".join(n + b": " + v + b"\r\n" for n, v in headers)


def per_request_tail(keep_alive: bool, date: bytes) -> bytes:
    """What differs on every answer: the request id (as :func:`.dispatch.request_id` makes
    it), ``Date``, and the blank line, after ``Connection: close`` when the connection ends."""
    return _TAIL % (
        time.time_ns(),
        random.getrandbits(32),
        date,
        b"\r\n" if keep_alive else b"Connection: close\r\n\r\n",
    )


_TAIL = b"X-Amz-Request-Id: %X%08X\r\nDate: %s\r\n%s"


def _conditional(raw_headers: list[tuple[bytes, bytes]]) -> bool:
    for name, _ in raw_headers:
        if name in CONDITIONAL_HEADERS:
            return True
    return False
