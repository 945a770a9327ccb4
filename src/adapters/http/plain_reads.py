"""The plain-read lane: ``GET|HEAD /vid,keycookie`` of a small needle in few steps.

Most reads a volume server sees are plain: no query, range, condition or CORS origin, a small
local needle (:func:`.read.plain_needle` says which). Their answer is a fixed function of the
record, so it is written here straight from the needle (:func:`plain_head`, which falls back
to the general :func:`.read.plain_reply` for pairs), and kept: keyed by method and path, with
where the record lies. A repeated read revalidates that place against the needle map
(:meth:`~...core.volume.volume.Volume.live_blob`), re-reads the record, compares its header and
checks the data CRC as Go's ``ReadNeedle`` does on every read, then sends the kept head with a
fresh request id and ``Date``. Anything that does not match exactly (moved, overwritten,
deleted, compacted, remounted, corrupted) goes the first-read way again, and any error goes to
the general path, which answers it.

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
from ...core.needle.mime_types import detect_content_type, type_by_extension
from ...core.needle.record import META_HEAD_SIZE
from ...core.types import NEEDLE_HEADER_SIZE
from .context import HttpContext
from .fastpath import encode_headers, status_line
from .fid_path import go_ext
from .read import format_media_param, has_conditions, plain_needle, plain_reply
from .responses import HttpReply, http_date

CAPACITY = 16384
"""Kept answer heads; the oldest goes first when full."""

_CHECKSUM = struct.Struct(">I")
_HEADER = struct.Struct(">IQi")
_REQUEST_ID = b"X-Amz-Request-Id"
_OCTET_STREAM = b"application/octet-stream"


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
    ) -> tuple[bytes, bytes | bytearray | memoryview] | None:
        """(status line and headers without the per-request ones, body), or ``None``: not a
        plain read, or an error for the general path to answer. Only taken without a
        download limit, so nothing is held in flight once the answer is written."""
        ctx = self.ctx
        if ctx.downloads.limit:
            return None  # in-flight accounting and its waits: the general path
        started = time.perf_counter()
        kept = self._kept.get((method, path))
        if kept is not None and not has_conditions(raw_headers):
            body = self._revalidate(kept)
            if body is not None:
                self._measure(method, started)
                return kept.head, body
            del self._kept[(method, path)]
        found = plain_needle(ctx, path, raw_headers)
        if found is None:
            return None
        volume, needle, _ = found
        head_only = method == "HEAD"
        head = plain_head(needle, head_only, self.server_header)
        if head is None:
            head = reply_head(plain_reply(ctx, method, path, client, found), self.server_header)
        if _keepable(volume, needle):
            location = volume.locate(needle.id)
            if location is not None and location[1] == needle.size:
                if len(self._kept) >= CAPACITY:
                    del self._kept[next(iter(self._kept))]
                self._kept[(method, path)] = _Kept(volume, needle, location[0], head, head_only)
        if not self.public:
            stats.IN_FLIGHT_REQUESTS.touch(method)  # answered between two scrapes
        self._measure(method, started)
        return head, b"" if head_only else needle.data

    @staticmethod
    def _measure(method: str, started: float) -> None:
        """Go's file-handler metrics for a 200 (in flight only while on the event loop)."""
        stats.REQUESTS.inc(method, "200")
        stats.REQUEST_SECONDS.observe(time.perf_counter() - started, method)

    def _revalidate(self, kept: _Kept) -> bytes | None:
        """The data when the record is still where it was and intact, else ``None``."""
        volume = kept.volume
        if (
            volume.super_block.compaction_revision != kept.revision
            or self.ctx.store.find_volume(volume.id) is not volume
        ):
            return None
        record = volume.live_blob(kept.needle_id, kept.offset, kept.size)  # type: ignore[union-attr]
        if record is None or record[:NEEDLE_HEADER_SIZE] != kept.header:
            return None  # (4-byte offsets past 32 GiB wrap: the first-read way knows)
        data = record[META_HEAD_SIZE : kept.data_end]
        actual = crc32c_of(data)
        if actual != kept.checksum:
            return None  # the general path reads it again and reports the corruption
        at = NEEDLE_HEADER_SIZE + kept.size
        if len(record) < at + 4 or not is_accepted(_CHECKSUM.unpack_from(record, at)[0], actual):
            return None
        return b"" if kept.head_only else data


def plain_head(needle, head_only: bool, server_header: bytes) -> bytes | None:
    """The 200 answer's head for a plain needle, as :func:`.read.plain_reply` and
    ``encode_headers`` would write it (``writeResponseContent`` in Go; tests hold the two
    equal): ``Last-Modified``, ``Etag``, the type (stored, else by the name's extension, else
    sniffed from the data of a GET), ``Accept-Ranges``, ``Content-Disposition`` from the
    stored name, ``Content-Length``, ``Server``. ``None`` for needles with pairs (extra
    headers): the general code writes those."""
    if needle.has_pairs and needle.pairs:
        return None
    lines = [b"HTTP/1.1 200 OK\r\n"]
    if needle.last_modified:
        lines.append(b"Last-Modified: %s\r\n" % http_date(needle.last_modified).encode())
    lines.append(b'Etag: "%08x"\r\n' % needle.checksum)
    filename = needle.name.decode("utf-8", "replace") if needle.name else ""
    mime = needle.mime
    if mime.startswith(_OCTET_STREAM):
        mime = b""
    try:
        if mime:
            mime = mime.decode("utf-8", "replace").encode("latin-1")
        elif filename:
            mime = type_by_extension(go_ext(filename)).encode("latin-1")
        if mime:
            lines.append(b"Content-Type: %s\r\n" % mime)
        lines.append(b"Accept-Ranges: bytes\r\n")
        if filename:
            disposition = "inline; " + format_media_param("filename", filename)
            lines.append(b"Content-Disposition: %s\r\n" % disposition.encode("latin-1"))
    except UnicodeEncodeError:
        return None  # the general path fails the same way, and answers it
    data = needle.data
    if not mime and data and not head_only:
        lines.append(b"Content-Type: %s\r\n" % detect_content_type(data[:512]).encode())
    lines.append(b"Content-Length: %d\r\n" % len(data))
    lines.append(b"Server: %s\r\n" % server_header)
    return b"".join(lines)


def _keepable(volume, needle) -> bool:
    """Records whose answer only changes when the record does: versions 2 and 3 with data,
    no TTL."""
    return (
        volume.version >= 2 and needle.data_size > 0 and not (needle.has_ttl and needle.ttl.minutes)
    )


def reply_head(reply: HttpReply, server_header: bytes) -> bytes:
    """A handler's reply as the lanes send it: status line and headers, each line
    CRLF-terminated, without the per-request ones (:func:`per_request_tail` adds them)."""
    return status_line(reply.status) + b"".join(
        name + b": " + value + b"\r\n"
        for name, value in encode_headers(reply, server_header)
        if name != _REQUEST_ID
    )


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
