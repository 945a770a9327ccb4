"""Go's ``mime.TypeByExtension`` and a subset of ``http.DetectContentType``.

Go starts from a built-in table, then lets the system's ``mime.types`` override it, and adds
``; charset=utf-8`` to every ``text/*`` type. Sniffing recognises the signatures that matter
to the upload path (is it text, so worth gzipping?) in the order Go's sniffer tries them.
"""

from __future__ import annotations

import functools
import mimetypes

_GO_BUILTIN = {
    ".avif": "image/avif",
    ".css": "text/css; charset=utf-8",
    ".gif": "image/gif",
    ".htm": "text/html; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".jpeg": "image/jpeg",
    ".jpg": "image/jpeg",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".mjs": "text/javascript; charset=utf-8",
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".wasm": "application/wasm",
    ".webp": "image/webp",
    ".xml": "text/xml; charset=utf-8",
}


@functools.cache
def _system_types() -> dict[str, str]:
    table: dict[str, str] = {}
    for path in ("/etc/mime.types", "/etc/apache2/mime.types", "/etc/apache/mime.types"):
        try:
            with open(path, encoding="utf-8", errors="replace") as src:
                for line in src:
                    fields = line.split("#", 1)[0].split()
                    for ext in fields[1:]:
                        table["." + ext.lower()] = fields[0]
        except OSError:
            continue
    return table


def type_by_extension(ext: str) -> str:
    """The MIME type Go gives ``ext`` (with its dot); ``""`` when unknown."""
    if not ext:
        return ""
    ext = ext.lower()
    found = _system_types().get(ext) or _GO_BUILTIN.get(ext) or mimetypes.types_map.get(ext, "")
    if found.startswith("text/") and "charset" not in found:
        found += "; charset=utf-8"
    return found


_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"%!PS-Adobe-", "application/postscript"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"BM", "image/bmp"),
    (b"\x00\x00\x01\x00", "image/x-icon"),
    (b"OggS\x00", "application/ogg"),
    (b"\x1f\x8b\x08", "application/x-gzip"),
    (b"PK\x03\x04", "application/zip"),
    (b"Rar!\x1a\x07", "application/x-rar-compressed"),
    (b"\x00asm", "application/wasm"),
)
_HTML_TAGS = (
    b"<!doctype html",
    b"<html",
    b"<head",
    b"<script",
    b"<iframe",
    b"<h1",
    b"<div",
    b"<font",
    b"<table",
    b"<a",
    b"<style",
    b"<title",
    b"<b",
    b"<body",
    b"<br",
    b"<p",
    b"<!--",
)


def _is_binary_byte(b: int) -> bool:
    return b <= 0x08 or b == 0x0B or 0x0E <= b <= 0x1A or 0x1C <= b <= 0x1F


# ``bytes.translate`` deletes every non-binary byte; what is left is binary. C speed.
_NOT_BINARY = bytes(b for b in range(256) if not _is_binary_byte(b))


_SIGNATURE_PREFIXES = tuple(signature for signature, _ in _SIGNATURES)


def detect_content_type(data: bytes | bytearray | memoryview) -> str:
    """Go's ``http.DetectContentType`` for the cases the upload path relies on."""
    head = bytes(data[:512])  # also of a memoryview (a large multipart part)
    stripped = head.lstrip(b"\t\n\x0c\r ")
    lowered = stripped[:16].lower()
    if lowered[:1] == b"<":
        for tag in _HTML_TAGS:
            if lowered.startswith(tag) and len(stripped) > len(tag) and stripped[len(tag)] in b" >":
                return "text/html; charset=utf-8"
        if stripped.startswith(b"<?xml"):
            return "text/xml; charset=utf-8"
    if head.startswith(_SIGNATURE_PREFIXES):
        for signature, kind in _SIGNATURES:
            if head.startswith(signature):
                return kind
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith((b"\xfe\xff", b"\xff\xfe")):
        return "text/plain; charset=utf-16"
    if head.startswith(b"\xef\xbb\xbf"):
        return "text/plain; charset=utf-8"
    if head.translate(None, _NOT_BINARY):
        return "application/octet-stream"
    return "text/plain; charset=utf-8"
