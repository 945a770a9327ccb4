"""The plain-write lane: an upload to ``POST|PUT /vid,keycookie`` in few steps.

Most uploads are plain: a raw body or a multipart form (what Go's own clients send), a
``Content-Type`` that parses, no query but a ``jwt`` token, no options in the request's headers
(no ``Content-MD5``, ``Content-Encoding``, ``Content-Disposition``, ``Seaweed-*`` pairs or CORS
origin), a small body, a local volume without replicas, no upload limit. Those skip the general
dispatch (the request object, form parsing, thread and limit checks): the JWT and whitelist
checks are the general path's own (:class:`.auth.JwtGuard`), the needle is made by the very same
core code (``parse_upload``, which also reads a form's fields and its part's headers, and
``needle_from_upload``), stored through the same metered local write, and answered by the same
reply builder (:func:`.write.upload_reply`). Anything else, a refused token or caller included,
is ``None``: the general path answers it. ``tests/unit/test_plain_writes.py`` holds both ways to
the same answer and the same stored record, signed and whitelisted uploads included.
"""

from __future__ import annotations

import time

from ...core import stats
from ...core.errors import VolumeError
from ...core.file_id import FileIdError
from ...core.goparse import GoNumError
from ...core.needle.media_type import MediaTypeError, parse_media_type
from ...core.needle.parse_upload import (
    UploadError,
    UploadRequest,
    needle_from_upload,
    parse_upload,
)
from .context import HttpContext
from .plain_reads import reply_head
from .read import INLINE_LIMIT, PLAIN_FID
from .replicate import needs_replication
from .write import local_write_failed, upload_reply, write_locally

_PLAIN_HEADERS = frozenset(
    {
        b"host",
        b"user-agent",
        b"accept",
        b"accept-encoding",
        b"connection",
        b"keep-alive",
        b"content-length",
        b"content-type",
        b"transfer-encoding",
        b"expect",
        b"date",
        b"x-amz-request-id",  # Go's clients send it empty; 4.48 answers with its own
        b"authorization",  # a JWT, checked in the lane as the general path checks it
    }
)
"""Headers that change nothing about how Go stores or answers an upload."""


def _only_a_token(query: str) -> bool:
    """``jwt=<token>`` and nothing else (a token needs no escaping: base64url and dots)."""
    return query.startswith("jwt=") and not any(c in query for c in "&;%+")


class PlainWrites:
    """One per listening server; the public port never stores (it answers POST with 200)."""

    def __init__(self, ctx: HttpContext, server_header: bytes) -> None:
        self.ctx = ctx
        self.server_header = server_header

    def answer(
        self,
        method: str,
        url: bytes,
        raw_headers: list[tuple[bytes, bytes]],
        body: bytes | bytearray,
        client: str,
    ) -> tuple[bytes, bytes] | None:
        """(status line and headers without the per-request ones, body) or ``None``."""
        ctx = self.ctx
        path, _, query = url.decode("latin-1").partition("?")
        match = PLAIN_FID.fullmatch(path)
        if (
            match is None
            or ctx.uploads.limit
            or ctx.config.fix_jpg_orientation
            or len(body) > INLINE_LIMIT
            or (query and not _only_a_token(query))
        ):
            return None
        content_type = b""
        for name, value in raw_headers:
            if name not in _PLAIN_HEADERS:
                return None
            if name == b"content-type":
                if content_type:
                    return None  # sent twice: the general path takes the first
                content_type = value
        try:
            media_type, _ = parse_media_type(content_type.decode("latin-1"))
        except MediaTypeError:
            return None  # ParseForm's 400 (or a missing type): the general path answers
        if media_type == "application/x-www-form-urlencoded":
            return None  # ParseForm consumes such a body
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in raw_headers}
        guard = ctx.guard
        if guard.white_list and not guard.host_allowed(client):
            return None  # the general path answers 401
        if guard.write_key:
            token = {"jwt": query[4:]} if query else {}
            if not guard.allows(token, headers, match[1], match[2], True):
                return None  # the general path answers Go's "wrong jwt"
        elif query:
            return None
        volume_id = int(match[1]) & 0xFFFFFFFF
        if ctx.store.find_volume(volume_id) is None or needs_replication(ctx, volume_id, {}):
            return None
        started = time.perf_counter()
        try:
            upload = parse_upload(
                UploadRequest(method, path, headers, {}, body), ctx.file_size_limit
            )
            needle = needle_from_upload(upload, path)
        except (UploadError, FileIdError, GoNumError):
            return None  # the general path parses again and answers the error
        try:
            written = write_locally(ctx, volume_id, needle, False)
        except VolumeError as err:
            reply = local_write_failed(err, False)
        else:
            stats.REPLICATION_TARGETS.observe(0)
            reply = upload_reply(needle, upload, written, False)
        stats.IN_FLIGHT_REQUESTS.touch(method)  # answered between two scrapes
        stats.REQUESTS.inc(method, str(reply.status))
        stats.REQUEST_SECONDS.observe(time.perf_counter() - started, method)
        return reply_head(reply, self.server_header), reply.body
