"""HTTP/1.1 answers as bytes: the one place where a reply becomes what goes on the wire.

Every answer the server writes is encoded here, in Go's ``net/http`` shape: header names in
canonical form (``Content-Md5``), a sniffed ``Content-Type`` and a ``Content-Length`` added
when the handler set none, ``Server`` and Go's per-answer request id, ``Date``, and
``Connection: close`` when the connection ends. An answer is a *head* that depends only on the
reply (cacheable: the read path keeps the heads of plain needles) and a *tail* that differs on
every answer (:func:`per_request_tail`).
"""

from __future__ import annotations

import random
import re
import time
from http import HTTPStatus
from typing import Final

from ...core.needle.mime_types import detect_content_type
from .responses import HttpReply, http_date

_STATUS_LINES: Final = {
    status.value: f"HTTP/1.1 {status.value} {status.phrase}\r\n" for status in HTTPStatus
}
_CANONICAL: dict[str, str] = {}
_GO_STATUS_TEXT: Final = {
    400: "Bad Request",
    408: "Request Timeout",
    413: "Request Entity Too Large",
    414: "Request URI Too Long",
    431: "Request Header Fields Too Large",
    505: "HTTP Version Not Supported",
}


def _status_text(status: int) -> str:
    line = _STATUS_LINES.get(status)
    return line if line is not None else f"HTTP/1.1 {status} Status\r\n"


def status_line(status: int) -> bytes:
    return _status_text(status).encode()


def _canonical_text(name: str) -> str:
    """``textproto.CanonicalMIMEHeaderKey``: ``content-md5`` -> ``Content-Md5``, cached."""
    found = _CANONICAL.get(name)
    if found is None:
        found = "-".join(p[:1].upper() + p[1:].lower() for p in name.split("-"))
        if len(_CANONICAL) < 4096:
            _CANONICAL[name] = found
    return found


def canonical_name(name: str) -> bytes:
    return _canonical_text(name).encode("latin-1")


def request_id() -> str:
    """Go's request-id middleware: a fresh ``%X%08X`` of the time in nanoseconds and 32 random
    bits for every answer (4.48 ignores a caller's ``x-amz-request-id``). Not a secret: the
    cheap generator will do."""
    return f"{time.time_ns():X}{random.getrandbits(32):08X}"


class _Date:
    """The ``Date`` value, formatted once per second."""

    def __init__(self) -> None:
        self.second = -1
        self.value = b""

    def get(self) -> bytes:
        now = int(time.time())
        if now != self.second:
            self.second = now
            self.value = http_date(now).encode()
        return self.value


date = _Date()


_LINE_BREAK: Final = re.compile("[\r\n]")
_LINE_BREAKS_TO_SPACES: Final = str.maketrans("\r\n", "  ")


def _header_value(value: str) -> bytes:
    """A value as Go writes its string: bytes taken from the wire as they came (decoded as
    latin-1 here), text from a URL as its UTF-8."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode()


def _fields(reply: HttpReply) -> list[tuple[str, str]]:
    """The answer's header fields but ``Server``, names in Go's canonical form, with what
    Go's ``net/http`` adds on its own (handlers name headers canonically: ``Content-Type``)."""
    given = reply.headers
    known = _CANONICAL
    fields = [(known.get(k) or _canonical_text(k), v) for k, v in given.items()]
    if _LINE_BREAK.search("".join(given.values())):
        # net/http writes a line break inside a value as a space: a value never adds lines
        fields = [(name, value.translate(_LINE_BREAKS_TO_SPACES)) for name, value in fields]
    body = reply.body
    if body and "Content-Type" not in given and "Content-Encoding" not in given:
        # net/http sniffs a Content-Type for any body written without one (and without a
        # Content-Encoding: compressed bytes say nothing of the content).
        fields.append(("Content-Type", detect_content_type(body[:512])))
    if (
        "Content-Length" not in given
        and reply.status not in (204, 304)
        and (body or not reply.head_only)  # net/http: an empty HEAD answer has none
    ):
        fields.append(("Content-Length", str(len(body))))
    return fields


def encode_headers(reply: HttpReply, server: bytes) -> list[tuple[bytes, bytes]]:
    """The answer's header list as bytes (values as :func:`_header_value` writes them),
    ``Server`` last."""
    headers = [(name.encode("latin-1"), _header_value(value)) for name, value in _fields(reply)]
    headers.append((b"Server", server))
    return headers


def head_of(status: int, headers: list[tuple[bytes, bytes]]) -> bytes:
    """The status line and header lines of an answer, each CRLF-terminated."""
    parts = [status_line(status)]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    return b"".join(parts)


def reply_head(reply: HttpReply, server: bytes) -> bytes:
    """A handler's reply as :func:`head_of` writes its :func:`encode_headers`: what may be
    kept and resent, the per-answer lines left to :func:`per_request_tail`. Joined as text
    and encoded once when every value is Latin-1 (the common case)."""
    if reply.shaped is not None:
        shape, values = reply.shaped
        return shape.head(server, values)
    parts = [_status_text(reply.status)]
    for name, value in _fields(reply):
        parts += (name, ": ", value, "\r\n")
    try:
        head = "".join(parts).encode("latin-1")
    except UnicodeEncodeError:  # text from a query or a path, such as response-expires=€
        return head_of(reply.status, encode_headers(reply, server))
    return head + b"Server: " + server + b"\r\n"


_MARK: Final = "\x00"


class HeadShape:
    """The head of every reply of one shape (status, header names, fixed values), encoded
    once per ``Server`` value by :func:`encode_headers` itself, with a mark where a value
    changes, then filled in per answer: the bytes the general encoding gives, for a fraction
    of its work. ``None`` in ``headers`` marks a changing value; ``Content-Length``, if
    named, goes where net/http puts it (after the handler's headers, before ``Server``).
    Filled-in values must need no encoding (digits, hex, a quoted hex ETag)."""

    __slots__ = ("status", "headers", "_formats")

    def __init__(self, status: int, headers: dict[str, str | None]) -> None:
        self.status = status
        self.headers = headers
        self._formats: dict[bytes, bytes] = {}

    def head(self, server: bytes, values: tuple[bytes, ...]) -> bytes:
        form = self._formats.get(server)
        if form is None:
            marked = {name: _MARK if v is None else v for name, v in self.headers.items()}
            head = head_of(self.status, encode_headers(HttpReply(self.status, marked), server))
            form = head.replace(b"%", b"%%").replace(_MARK.encode(), b"%s")
            if len(self._formats) < 16:
                self._formats[server] = form
        return form % values


_time_ns: Final = time.time_ns  # (compiled: no module attribute lookups per answer)
_random_bits: Final = random.getrandbits
_TAIL: Final = b"X-Amz-Request-Id: %X\r\nDate: %s\r\n%s"
_DATE_TAIL: Final = b"Date: %s\r\n%s"


def per_request_tail(keep_alive: bool, with_request_id: bool) -> bytes:
    """What differs on every answer: a fresh request id (as :func:`request_id` makes it) for
    answers whose head carries none, ``Date``, and the blank line, after
    ``Connection: close`` when the connection ends. (The id's ``%X%08X`` of the time and 32
    random bits is the ``%X`` of the two as one number: one conversion.)"""
    end = b"\r\n" if keep_alive else b"Connection: close\r\n\r\n"
    if with_request_id:
        return _TAIL % (_time_ns() << 32 | _random_bits(32), date.get(), end)
    return _DATE_TAIL % (date.get(), end)


def go_error_answer(status: int, detail: str = "") -> bytes:
    """What Go's ``net/http`` writes for a request it cannot read (``conn.serve``)."""
    text = f"{status} {_GO_STATUS_TEXT[status]}"
    if detail:
        text += f": {detail}"
    return (
        f"HTTP/1.1 {text}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Connection: close\r\n\r\n{text}"
    ).encode()
