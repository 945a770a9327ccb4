"""Go's ``mime.ParseMediaType``, for ``Content-Type`` and ``Content-Disposition`` values.

Its failures are visible on the wire: ``ParseForm`` turns them into a 400 with Go's text, and a
multipart part whose disposition does not parse has no file name.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from types import MappingProxyType

TSPECIALS = frozenset('()<>@,;:\\"/[]?=')


class MediaTypeError(ValueError):
    pass


_TOKEN = re.compile(
    "[" + re.escape("".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in TSPECIALS)) + "]*"
)


def _consume_token(text: str) -> tuple[str, str]:
    """The leading token (printable ASCII but tspecials) and the rest."""
    found = _TOKEN.match(text)
    assert found is not None  # ``[...]*`` always matches
    end = found.end()
    return text[:end], text[end:]


def _consume_value(text: str) -> tuple[str, str]:
    if not text or text[0] != '"':
        return _consume_token(text)
    out: list[str] = []
    i = 1
    while i < len(text):
        ch = text[i]
        if ch == '"':
            return "".join(out), text[i + 1 :]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in TSPECIALS:
            out.append(text[i + 1])
            i += 2
            continue
        if ch in "\r\n":
            return "", text
        out.append(ch)
        i += 1
    return "", text


def _consume_param(text: str) -> tuple[str, str, str]:
    rest = text.lstrip()
    if not rest.startswith(";"):
        return "", "", text
    key, rest = _consume_token(rest[1:].lstrip())
    if not key:
        return "", "", text
    rest = rest.lstrip()
    if not rest.startswith("="):
        return "", "", text
    rest = rest[1:].lstrip()
    value, after = _consume_value(rest)
    if not value and after == rest:
        return "", "", text
    return key.lower(), value, after


def parse_media_type(value: str) -> tuple[str, Mapping[str, str]]:
    """``mime.ParseMediaType``: the lower-case type and its (read-only) parameters, or Go's
    error. Short values are remembered: uploads repeat the same types and dispositions, and a
    multipart upload asks several times."""
    if len(value) > _CACHED_LENGTH:
        media_type, params = _parse(value)
        return media_type, MappingProxyType(params)
    return _parse_remembered(value)


_CACHED_LENGTH = 256


@functools.lru_cache(maxsize=1024)
def _parse_remembered(value: str) -> tuple[str, Mapping[str, str]]:
    media_type, params = _parse(value)
    return media_type, MappingProxyType(params)


def _parse(value: str) -> tuple[str, dict[str, str]]:
    base = value.split(";", 1)[0]
    media_type = base.lower().strip()
    kind, rest = _consume_token(media_type)
    if not kind:
        raise MediaTypeError("mime: no media type")
    if rest:
        if not rest.startswith("/"):
            raise MediaTypeError("mime: expected slash after first token")
        subtype, rest = _consume_token(rest[1:])
        if not subtype:
            raise MediaTypeError("mime: expected token after slash")
        if rest:
            raise MediaTypeError("mime: unexpected content after media subtype")
    params: dict[str, str] = {}
    rest = value[len(base) :]
    while rest:
        rest = rest.lstrip()
        if not rest:
            break
        key, param, after = _consume_param(rest)
        if not key:
            if after.strip() == ";":
                break  # a trailing semicolon is ignored
            raise MediaTypeError("mime: invalid media parameter")
        if params.get(key, param) != param:
            raise MediaTypeError("mime: duplicate parameter name")
        params[key] = param
        rest = after
    return media_type, params
