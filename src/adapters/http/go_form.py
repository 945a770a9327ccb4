"""Go's ``Request.ParseForm``, which the upload handler calls first (``PostHandler``).

Its side effects are visible on the wire: a malformed query string or ``Content-Type`` fails
the upload with 400 and Go's message, and an ``application/x-www-form-urlencoded`` body is
consumed as form fields, so the stored needle is empty (checked against Go 4.48). Form fields
from such a body come before the URL's in ``FormValue``.
"""

from __future__ import annotations

from ...core.needle.media_type import MediaTypeError, parse_media_type

MAX_FORM_SIZE = 10 << 20
MAX_QUERY_PARAMS = 10000
_HEX = frozenset("0123456789abcdefABCDEF")


class FormError(ValueError):
    """A ``ParseForm`` failure, worded as Go words it."""


def _go_quote(text: str) -> str:
    """``strconv.Quote`` for the short strings Go's escape errors show."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in escaped) + '"'


def query_unescape(text: str) -> str:
    """``url.QueryUnescape``: ``%XX`` and ``+``; a bad escape is an error."""
    if "%" not in text and "+" not in text:
        return text
    out = bytearray()
    i = 0
    raw = text.encode("utf-8", "surrogateescape")
    while i < len(raw):
        byte = raw[i]
        if byte == 0x25:  # %
            chunk = raw[i : i + 3].decode("utf-8", "replace")
            if len(chunk) < 3 or chunk[1] not in _HEX or chunk[2] not in _HEX:
                raise FormError(f"invalid URL escape {_go_quote(raw[i : i + 3].decode('latin-1'))}")
            out.append(int(chunk[1:3], 16))
            i += 3
        elif byte == 0x2B:  # +
            out.append(0x20)
            i += 1
        else:
            out.append(byte)
            i += 1
    return out.decode("utf-8", "surrogateescape")


def parse_query(query: str) -> tuple[list[tuple[str, str]], FormError | None]:
    """``url.ParseQuery``: every good pair, and the first error (parsing goes on past it),
    except that a semicolon error always wins: Go assigns it without checking for an
    earlier one (net/url ``parseQuery``)."""
    if query.count("&") >= MAX_QUERY_PARAMS:
        return [], FormError("number of URL query parameters exceeded limit")
    pairs: list[tuple[str, str]] = []
    error: FormError | None = None
    for item in query.split("&"):
        if ";" in item:
            error = FormError("invalid semicolon separator in query")
            continue
        if not item:
            continue
        key, _, value = item.partition("=")
        try:
            pairs.append((query_unescape(key), query_unescape(value)))
        except FormError as err:
            error = error or err
    return pairs, error


def parse_form(
    method: str, content_type: str, body: bytes | bytearray, raw_query: str
) -> tuple[bytes | bytearray, list[tuple[str, str]]]:
    """``Request.ParseForm``: (the body left for the handler, form fields body-first then
    URL). Raises :class:`FormError` where Go's ``ParseForm`` fails."""
    fields: list[tuple[str, str]] = []
    error: FormError | None = None
    if method in ("POST", "PUT", "PATCH"):
        try:
            media_type, _ = parse_media_type(content_type or "application/octet-stream")
        except MediaTypeError as err:
            media_type, error = "", FormError(str(err))
        if media_type == "application/x-www-form-urlencoded":
            if len(body) > MAX_FORM_SIZE:
                raise FormError("http: POST too large")
            fields, error = parse_query(body.decode("utf-8", "surrogateescape"))
            body = b""
    url_fields, url_error = parse_query(raw_query)
    if error is not None:
        raise error
    if url_error is not None:
        raise url_error
    return body, fields + url_fields
