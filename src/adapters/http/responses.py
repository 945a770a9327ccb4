"""Go's JSON and error response helpers (``weed/server/common.go``)."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

JSON_HEADERS = {"X-Content-Type-Options": "nosniff"}


def go_json_bytes(obj: Any, pretty: bool = False) -> bytes:
    """``json.Marshal`` (compact, HTML-safe) or ``json.MarshalIndent(obj, "", "  ")``."""
    if pretty:
        text = json.dumps(obj, indent=2, ensure_ascii=False)
    else:
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


def write_json(
    status: int, obj: Any, pretty: bool = False, headers: dict | None = None
) -> Response:
    """``writeJson``: no body for 1xx/204/304, else JSON with ``nosniff``."""
    extra = dict(headers or {})
    if status in (204, 304) or 100 <= status < 200:
        return Response(status_code=status, headers=extra)
    return Response(
        go_json_bytes(obj, pretty),
        status_code=status,
        media_type="application/json",
        headers={**JSON_HEADERS, **extra},
    )


def write_json_error(status: int, message: str, pretty: bool = False) -> Response:
    return write_json(status, {"error": message}, pretty)


def http_error(status: int, message: str) -> Response:
    """Go's ``http.Error``: plain text with a trailing newline."""
    return Response(
        (message + "\n").encode(),
        status_code=status,
        media_type="text/plain; charset=utf-8",
        headers={"X-Content-Type-Options": "nosniff"},
    )


def bare(status: int, headers: dict | None = None) -> Response:
    """A status with no body (``w.WriteHeader``)."""
    return Response(status_code=status, headers=headers or {})
