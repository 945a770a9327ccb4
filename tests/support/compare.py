"""Comparing an answer of Go's volume server with ours, for differential tests."""

from __future__ import annotations

import gzip
import json

COMPARED_HEADERS = (
    "Content-Type",
    "Content-Disposition",
    "Etag",
    "Content-Encoding",
    "Content-Length",
    "Content-Range",
    "Accept-Ranges",
    "Last-Modified",
    "Content-Md5",
    "X-Content-Type-Options",
    "Color",
    "Shape",
)


def assert_same(go, ours, what: str, recompressed: bool = False) -> None:
    """Compare two answers. ``recompressed``: the server gzipped the upload itself; Go's
    deflate and zlib emit different bytes for the same input, so the stored bytes, and with
    them ETag and compressed lengths, differ by design (see README); the content must not."""
    go_status, go_headers, go_body = go
    our_status, our_headers, our_body = ours
    # Header names are case-insensitive; Go sends them canonical, ASGI test clients lower-case.
    go_headers = {k.lower(): v for k, v in go_headers.items()}
    our_headers = {k.lower(): v for k, v in our_headers.items()}
    assert our_status == go_status, (what, go_body, our_body)
    skipped = {"etag", "content-length", "content-range"} if recompressed else set()
    differing = {
        name: (go_headers.get(name), our_headers.get(name))
        for name in (h.lower() for h in COMPARED_HEADERS)
        if name not in skipped and our_headers.get(name) != go_headers.get(name)
    }
    assert not differing, (what, differing)
    if go_headers.get("content-type") == "application/json" and _is_json(go_body):
        go_json, our_json = json.loads(go_body or b"null"), json.loads(our_body or b"null")
        if recompressed and isinstance(go_json, dict):
            go_json.pop("eTag", None)
            our_json.pop("eTag", None)
        assert our_json == go_json, what
    elif recompressed and go_headers.get("content-encoding") == "gzip":
        if go_status == 206:
            return  # a byte range of compressed bytes: nothing comparable
        assert gzip.decompress(our_body) == gzip.decompress(go_body), what
    else:
        assert our_body == go_body, what


def _is_json(body: bytes) -> bool:
    """A stored file may be served as ``application/json`` without being JSON."""
    try:
        json.loads(body or b"null")
    except ValueError:
        return False
    return True
