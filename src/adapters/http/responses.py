"""Framework-neutral requests and replies, and Go's response helpers (``common.go``).

Handlers take an :class:`HttpRequest` and return an :class:`HttpReply`; the raw ASGI fast path
and the FastAPI routes both serve them, so the two can never disagree.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl

if TYPE_CHECKING:
    from .wire import HeadShape


class HttpRequest:
    """A request in the handlers' form. (A plain class: compiled, a native call to build.)"""

    __slots__ = (
        "method",
        "path",
        "query",
        "headers",
        "body",
        "client",
        "counted_upload",
        "raw_query",
    )

    def __init__(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes | bytearray = b"",
        client: str = "",
        raw_query: str = "",
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        """First value of each query parameter (Go's ``FormValue``)."""
        self.headers = headers
        """First value of each header, by lower-case name."""
        self.body = body
        self.client = client
        """The peer's address (for ``-whiteList``)."""
        self.raw_query = raw_query
        """The query string as sent (Go's ``ParseForm`` reports its errors)."""
        self.counted_upload = 0
        """Upload bytes the server already counted in flight when the headers arrived."""

    @classmethod
    def from_raw(
        cls,
        method: str,
        path: str,
        query_string: bytes,
        raw_headers: list[tuple[bytes, bytes]],
        body: bytes | bytearray = b"",
        client: str = "",
    ) -> HttpRequest:
        query: dict[str, str] = {}
        raw_query = query_string.decode("latin-1") if query_string else ""
        if raw_query:
            for key, value in parse_qsl(raw_query, keep_blank_values=True):
                query.setdefault(key, value)
        headers: dict[str, str] = {}
        for raw_name, raw_value in raw_headers:
            headers.setdefault(raw_name.decode("latin-1").lower(), raw_value.decode("latin-1"))
        return cls(method, path, query, headers, body, client, raw_query=raw_query)

    @property
    def pretty(self) -> bool:
        return bool(self.query.get("pretty"))


class HttpReply:
    """What a handler answers. (A plain class, not a dataclass: compiled, building one is a
    native call, and every request builds one.)"""

    __slots__ = (
        "status",
        "headers",
        "body",
        "head_only",
        "on_sent",
        "pending_sync",
        "cost",
        "stream",
        "shaped",
    )

    def __init__(
        self,
        status: int,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        head_only: bool = False,
        stream: Iterable[bytes] | None = None,
    ) -> None:
        self.status = status
        self.headers: dict[str, str] = {} if headers is None else headers
        self.body = body
        self.head_only = head_only
        """A HEAD reply: headers (Content-Length included) but no body bytes."""
        self.stream = stream
        """A body produced piece by piece (large needles): blocking reads, so servers pull
        each piece on a worker thread. ``Content-Length`` is then set by the handler."""
        self.on_sent: Callable[[], object] | None = None
        """Called once the answer has left the server's buffers (download accounting)."""
        self.pending_sync: tuple[Any, int] | None = None
        """(volume, append ticket) that must be durable before this answer may leave."""
        self.cost = 0
        """Bytes a read holds in flight (its stored size) for ``-concurrentDownloadLimitMB``."""
        self.shaped: tuple[HeadShape, tuple[bytes, ...]] | None = None
        """A reply of a common shape (an upload's 201) and the values its head differs in:
        the encoder fills the shape's head made once (:class:`.wire.HeadShape`), the same
        bytes as encoding ``headers``. Only where nothing adds headers afterwards."""

    def __repr__(self) -> str:
        return f"HttpReply({self.status}, {self.headers!r}, {self.body[:64]!r})"


JSON_HEADERS: Final = {"X-Content-Type-Options": "nosniff"}
JSON_ANSWER_HEADERS: Final = {"Content-Type": "application/json", **JSON_HEADERS}
"""What :func:`write_json` adds to an answer with a body."""

_DAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)


@functools.lru_cache(maxsize=4096)
def http_date(seconds: int) -> str:
    """``http.TimeFormat`` (``Mon, 02 Jan 2006 15:04:05 GMT``), cached: needles share times."""
    t = time.gmtime(seconds)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


def go_json_bytes(obj: Any, pretty: bool = False) -> bytes:
    """``json.Marshal`` (compact, HTML-safe) or ``json.MarshalIndent(obj, "", "  ")``."""
    if pretty:
        text = json.dumps(obj, indent=2, ensure_ascii=False)
    else:
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


# Printable ASCII but the characters json.Marshal escapes (quote, backslash, and <, >, & for
# HTML safety): a string of only these is written as it is.
_AS_IS: Final = re.compile(r"[ !#-%'-;=?-\[\]-~]*")


def go_json_string(text: str) -> str:
    """One string as ``json.Marshal`` writes it (HTML-safe); printable ASCII without
    characters to escape, the common case, as it is (one regex match: every upload's
    answer names its file and type)."""
    if _AS_IS.fullmatch(text) is not None:
        return f'"{text}"'
    return go_json_bytes(text).decode()


def write_json(
    status: int, obj: Any, pretty: bool = False, headers: dict[str, str] | None = None
) -> HttpReply:
    """``writeJson``: no body for 1xx/204/304, else JSON with ``nosniff``."""
    extra = dict(headers or {})
    if status in (204, 304) or 100 <= status < 200:
        return HttpReply(status, extra)
    return HttpReply(status, {**extra, **JSON_ANSWER_HEADERS}, go_json_bytes(obj, pretty))


def write_json_error(status: int, message: str, pretty: bool = False) -> HttpReply:
    return write_json(status, {"error": message}, pretty)


def http_error(status: int, message: str) -> HttpReply:
    """Go's ``http.Error``: plain text with a trailing newline."""
    return HttpReply(
        status,
        {"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"},
        (message + "\n").encode(),
    )


def bare(status: int, headers: dict[str, str] | None = None) -> HttpReply:
    """A status with no body (``w.WriteHeader``)."""
    return HttpReply(status, dict(headers or {}))
