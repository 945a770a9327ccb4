"""The front door: every HTTP request is classified once, then answered
(``privateStoreHandler`` and ``publicReadOnlyHandler`` in volume_server_handlers.go).

From socket to store in one reading: :mod:`.protocol` turns bytes into a :class:`RawRequest`
and asks :meth:`FrontDoor.answer_now`; ``None`` means the answer must wait (a limit, an fsync,
a worker thread, the network), and the protocol awaits :meth:`FrontDoor.answer`.

:meth:`FrontDoor.classify` runs once per request and what it finds travels with it (a
:class:`Route`): the path and query, whether FastAPI answers (``/docs``, ``/openapi.json``),
the file id of the common ``/vid,keycookie`` form, whether the request is *plain*, and, once a
read has found its record too large for the event loop, that cost. The handlers' request
object (:class:`~.responses.HttpRequest`) is built at most once.

Plain requests are the common case and are answered in fewer steps by the same handlers:

* a plain read (``GET|HEAD /vid,keycookie``, no query but a token, no range, condition or CORS
  origin) is answered from a kept head (:mod:`.kept_heads`) while its record is unchanged, else
  read and answered by :func:`.read.plain_reply` and its head kept;
* a plain upload (no query but a token or ``fsync=true``, no option headers, a small body, a
  local volume without replicas, under the upload limit) is stored by
  :func:`.write.write_plain_upload`, without form parsing.

Anything a plain branch does not finish goes the general way, which answers it. Every answer
is encoded by :mod:`.wire`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from time import perf_counter
from typing import Final
from urllib.parse import unquote

import httptools
from starlette.types import ASGIApp, Message

from ...core import stats
from ...core.file_id import parse_volume_id
from ...core.goparse import GoNumError
from ...core.needle.media_type import MediaTypeError, parse_media_type
from . import admin, read, ui, write
from .context import HttpContext
from .docs import is_docs_path
from .fid_path import parse_url_path
from .kept_heads import KeptHeads
from .proxy import PROXIED
from .replicate import needs_replication
from .responses import HttpReply, HttpRequest, write_json_error
from .wire import canonical_name, head_of, reply_head, request_id

FRAMEWORK_ROUTES: Final = frozenset({"/openapi.json"})
_CORS_METHODS: Final = "PUT, POST, GET, DELETE, OPTIONS"
_ANSWERED_NOW: Final = frozenset({"GET", "HEAD", "POST", "PUT", "OPTIONS"})
_MEASURED_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"})

_PLAIN_UPLOAD_HEADERS: Final = frozenset(
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
        b"authorization",  # a JWT, checked as the general path checks it
    }
)
"""Headers that change nothing about how Go stores or answers an upload."""


def is_framework_route(path: str) -> bool:
    """Paths FastAPI answers itself: the OpenAPI description and the ``/docs`` pages."""
    return path in FRAMEWORK_ROUTES or is_docs_path(path)


def split_target(url: bytes) -> tuple[str, bytes]:
    """The path and query of a request target. The origin form (``/path?query``, every
    request a Go client sends) splits at its first ``?``, as httptools' parser would; other
    forms go through that parser, which stops at 64 KiB: a longer target (up to
    ``-maxUrlBytes``) is split by hand, as Go's parser has no such bound (a long query
    reaches the handler, a long path its 400)."""
    if url[:1] == b"/" and b"#" not in url:
        path, _, query = url.partition(b"?")
        return path.decode("ascii") if path.isascii() else path.decode("utf-8", "replace"), query
    try:
        parsed = httptools.parse_url(url)
    except httptools.HttpParserInvalidURLError:
        target = url.split(b"#", 1)[0]
        if not target.startswith(b"/"):
            return "", b""  # no handler matches an empty path: a 400
        path, _, query = target.partition(b"?")
        return path.decode("utf-8", "replace"), query
    # (httptools' stub says bytes: a part that is absent is None, which compiled code checks)
    parsed_path: bytes | None = getattr(parsed, "path", None)
    parsed_query: bytes | None = getattr(parsed, "query", None)
    return (parsed_path or b"").decode("utf-8", "replace"), parsed_query or b""


class BodyBuffer:
    """The body of a large upload, appended to one buffer as it arrives (a list of pieces
    joined at the end would hold it twice). The buffer grows with what arrived, never with
    what was declared: a client that declares 256 MB and sends nothing holds nothing (large
    buffers grow by ``mremap``, without copying)."""

    __slots__ = ("buffer",)

    def __init__(self) -> None:
        self.buffer = bytearray()

    def append(self, piece: bytes) -> None:
        self.buffer += piece


class RawRequest:
    """One request as the protocol read it; the front door adds its :class:`Route`."""

    __slots__ = (
        "method",
        "url",
        "headers",
        "body",
        "keep_alive",
        "http_version",
        "client",
        "on_sent",
        "counted",
        "body_bytes",
        "route",
    )

    def __init__(self, client: str = "") -> None:
        self.client = client
        self.counted = 0
        """Upload bytes counted in flight since the headers arrived (released when answered)."""
        self.body_bytes = 0
        self.on_sent: Callable[[], object] | None = None
        self.method = ""
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        """(lower-case name, value) as sent."""
        self.body: list[bytes] | BodyBuffer = []
        self.keep_alive = True
        self.http_version = "1.1"
        self.route: Route | None = None


class Route:
    """What :meth:`FrontDoor.classify` found about one request. (No slots: the defaults live
    on the class, so a request sets only what it has.)"""

    framework = False
    vid = ""
    key_cookie = ""
    """Of a ``/vid,keycookie`` path; empty for other forms."""
    plain = False
    fsync = False
    """A plain upload with ``fsync=true``."""
    content_type = ""
    """Of a plain upload: the only header its parsing reads."""
    token = ""
    """Of a plain request: its ``jwt`` query parameter."""
    heavy: int | None = None
    """Set once a read proved too large for the event loop: the bytes it will hold."""
    request: HttpRequest | None = None

    def __init__(self, path: str, query: bytes) -> None:
        self.path = path
        self.query = query


class Answer:
    """An answer ready for the wire: ``head`` (status line and headers, see
    :func:`.wire.reply_head`), whether a fresh request id goes with it, the body (bytes, or
    pieces read on a worker thread as they are sent) and what to call once it has left."""

    __slots__ = ("head", "request_id", "body", "on_sent", "streamed")

    def __init__(
        self,
        head: bytes,
        request_id: bool,
        body: bytes | bytearray | memoryview | Iterable[bytes],
        on_sent: Callable[[], object] | None = None,
        streamed: bool = False,
    ) -> None:
        self.head = head
        self.request_id = request_id
        self.body = body
        self.on_sent = on_sent
        self.streamed = streamed


def _plain_query(query: bytes, upload: bool) -> tuple[bool, bool, str]:
    """(plain, fsync, token) of a query: nothing but ``jwt=<token>`` (base64url and dots,
    needing no unescaping) and, for an upload, ``fsync=true``."""
    if not query:
        return True, False, ""
    fsync, token = False, ""
    for part in query.split(b"&"):
        if part.startswith(b"jwt=") and not token:
            if b"%" in part or b"+" in part or b";" in part:
                return False, False, ""  # needs unescaping: the general parse
            token = part[4:].decode("latin-1")
        elif upload and part == b"fsync=true" and not fsync:
            fsync = True
        else:
            return False, False, ""
    return True, fsync, token


class FrontDoor:
    """One per listening socket: the admin port, or the read-only public port."""

    def __init__(self, ctx: HttpContext, app: ASGIApp, public: bool) -> None:
        self.ctx = ctx
        self.app = app
        self.public = public
        self.server_header = ctx.server_header.encode()
        self.kept = KeptHeads(ctx)

    # --- classification, once per request ---------------------------------------------------
    def classify(self, raw: RawRequest) -> Route:
        route = raw.route
        if route is not None:
            return route
        path, query = split_target(raw.url)
        route = raw.route = Route(path, query)
        match = read.PLAIN_FID.fullmatch(path)
        if match is None:
            route.framework = is_framework_route(path)
            return route
        route.vid, route.key_cookie = match[1], match[2]
        method = raw.method
        if method == "GET" or method == "HEAD":
            plain, _, route.token = _plain_query(query, False)
            route.plain = (
                plain and not self.ctx.downloads.limit and not read.has_conditions(raw.headers)
            )
        elif (method == "POST" or method == "PUT") and not self.public:
            self._classify_upload(raw, route)
        return route

    def _classify_upload(self, raw: RawRequest, route: Route) -> None:
        """Whether an upload is plain (see the module's description), and its type."""
        ctx = self.ctx
        plain, fsync, token = _plain_query(route.query, True)
        if not plain or (token and not ctx.guard.write_key) or ctx.config.fix_jpg_orientation:
            return
        if raw.counted > read.INLINE_LIMIT or (
            ctx.uploads.limit and ctx.uploads.over_without(raw.counted)
        ):
            return  # large, or waits for the upload limit
        content_type = None
        for name, value in raw.headers:
            if name not in _PLAIN_UPLOAD_HEADERS:
                return
            if name == b"content-type":
                if content_type is not None:
                    return  # sent twice: the general path takes the first
                content_type = value.decode("latin-1")
        if content_type is None:
            return
        try:
            media_type, _ = parse_media_type(content_type)
        except MediaTypeError:
            return  # ParseForm's 400: the general path answers it
        if media_type == "application/x-www-form-urlencoded":
            return  # ParseForm consumes such a body
        route.plain, route.fsync, route.content_type = True, fsync, content_type
        route.token = token

    def request_of(self, raw: RawRequest) -> HttpRequest:
        """The handlers' view of the request, built once."""
        route = self.classify(raw)
        request = route.request
        if request is None:
            path = route.path
            # Go routes on URL.Path, the decoded path (a file name may carry %20 and the like).
            decoded = unquote(path) if "%" in path else path
            request = route.request = HttpRequest.from_raw(
                raw.method, decoded, route.query, raw.headers, body_of(raw), raw.client
            )
            request.counted_upload = raw.counted
        return request

    # --- answering ---------------------------------------------------------------------------
    def answer_now(self, raw: RawRequest) -> Answer | None:
        """The answer when it needs no waiting (small local reads and writes, the named
        routes, OPTIONS); ``None``: :meth:`answer` must be awaited."""
        if raw.route is None and (raw.method == "GET" or raw.method == "HEAD"):
            kept = self._resend_kept(raw)
            if kept is not None:
                return kept
        route = self.classify(raw)
        if route.framework or raw.method not in _ANSWERED_NOW:
            return None
        if route.plain:
            method = raw.method
            if method == "GET" or method == "HEAD":
                found = self._plain_read(raw, route)
            elif route.fsync:
                return None  # waits for its fsync
            else:
                stored = self._plain_upload(raw, route)
                found = None if stored is None else self._plain_answer(method, *stored)
            if found is not None:
                return found
            route.plain = False  # the general path answers it
        if route.heavy is not None:
            return None
        reply = _answer_now(self.ctx, self.request_of(raw), self.public, route)
        return None if reply is None else self._encode(raw, reply)

    async def answer(self, raw: RawRequest) -> Answer:
        route = self.classify(raw)
        if route.framework:
            return await self._bridge(raw, route)
        if route.plain and route.fsync:
            stored = self._plain_upload(raw, route)
            if stored is not None:
                reply, started, stored_in = stored
                if reply.pending_sync is not None:
                    durable = await _durable(self.ctx, reply, False)
                    if durable is not reply:  # not acknowledged: no replication targets
                        stats.REQUEST_SECONDS.observe(stored_in, stats.WRITE_TO_LOCAL_DISK)
                        reply, stored_in = durable, -1.0
                return self._plain_answer(raw.method, reply, started, stored_in)
            route.plain = False
        try:
            reply = await _dispatch(self.ctx, self.request_of(raw), self.public, route)
        except BaseException:
            self._release_upload(raw)
            raise
        return self._encode(raw, reply)

    def _encode(self, raw: RawRequest, reply: HttpReply) -> Answer:
        self._release_upload(raw)
        head = reply_head(reply, self.server_header)
        if reply.head_only or reply.status in (204, 304):
            return Answer(head, False, b"", reply.on_sent)
        if reply.stream is not None:
            return Answer(head, False, reply.stream, reply.on_sent, True)
        return Answer(head, False, reply.body, reply.on_sent)

    def _release_upload(self, raw: RawRequest) -> None:
        if raw.counted:
            self.ctx.uploads.release(raw.counted)
            raw.counted = 0

    # --- plain requests --------------------------------------------------------------------
    def _resend_kept(self, raw: RawRequest) -> Answer | None:
        """A read of a target whose answer head is kept (so classified plain before), asked
        again the plain way (the target a path alone, no range, condition or origin): the
        kept head is the classification. Without a read key, whose token needs checking."""
        ctx = self.ctx
        url = raw.url
        if (
            b"?" in url
            or b"#" in url
            or ctx.guard.read_key
            or ctx.downloads.limit
            or read.has_conditions(raw.headers)
        ):
            return None
        started = perf_counter()
        kept = self.kept.resend((raw.method, url))
        if kept is None:
            return None
        _measure_plain(raw.method, started, self.public)
        return Answer(kept[0], True, kept[1])

    def _plain_read(self, raw: RawRequest, route: Route) -> Answer | None:
        ctx = self.ctx
        method = raw.method
        if ctx.guard.read_key and not self._token_allows(raw, route, False):
            return None  # the general path answers Go's 401
        started = perf_counter()
        key = (method, route.path.encode("ascii"))  # a /vid,keycookie path: ASCII
        if route.query or ctx.guard.read_key:  # (else _resend_kept looked already)
            kept = self.kept.resend(key)
            if kept is not None:
                _measure_plain(method, started, self.public)
                return Answer(kept[0], True, kept[1])
        try:
            found = read.plain_needle(ctx, route.vid, route.key_cookie)
        except read.MustRunInThread as heavy:
            if method == "GET":  # a HEAD reads no data: the general path answers it here
                route.heavy = heavy.cost
            return None
        if found is None:
            return None
        reply = read.plain_reply(ctx, method, route.path, raw.client, found)
        head = reply_head(reply, self.server_header)
        self.kept.keep(key, found[0], found[1], head, method == "HEAD")
        _measure_plain(method, started, self.public)
        return Answer(head, True, reply.body)

    def _token_allows(self, raw: RawRequest, route: Route, is_write: bool) -> bool:
        token = route.token
        if token:
            query, headers = {"jwt": token}, {}
        else:
            query, headers = {}, {
                name.decode("latin-1"): value.decode("latin-1")
                for name, value in raw.headers
                if name == b"authorization"
            }
        return self.ctx.guard.allows(query, headers, route.vid, route.key_cookie, is_write)

    def _plain_upload(
        self, raw: RawRequest, route: Route
    ) -> tuple[HttpReply, float, float] | None:
        """A plain upload stored: its reply (with the append to make durable, for
        ``fsync``), when it started and how long its local write took (-1: failed, measured
        already). ``None``: the general path answers (a refused caller or token included)."""
        ctx = self.ctx
        guard = ctx.guard
        if guard.white_list and not guard.host_allowed(raw.client):
            return None  # the general path answers 401
        if guard.write_key and not self._token_allows(raw, route, True):
            return None  # the general path answers Go's "wrong jwt"
        volume = ctx.store.find_volume(int(route.vid) & 0xFFFFFFFF)
        if volume is None or needs_replication(ctx, volume, {}):
            return None
        started = perf_counter()
        headers = {"content-type": route.content_type}
        stored = write.write_plain_upload(
            ctx, raw.method, route.path, volume, headers, body_of(raw), route.fsync
        )
        if stored is None:
            return None
        self._release_upload(raw)
        return stored[0], started, stored[1]

    def _plain_answer(
        self, method: str, reply: HttpReply, started: float, stored_in: float
    ) -> Answer:
        _measure_plain(method, started, self.public, reply.status, stored_in)
        return Answer(reply_head(reply, self.server_header), True, reply.body)

    # --- FastAPI's own pages ---------------------------------------------------------------
    async def _bridge(self, raw: RawRequest, route: Route) -> Answer:
        """Run the FastAPI application (``/docs``, ``/openapi.json``) for one request."""
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": raw.http_version,
            "method": raw.method,
            "scheme": "http",
            "path": route.path,
            "raw_path": raw.url.split(b"?", 1)[0],
            "query_string": route.query,
            "root_path": "",
            "headers": raw.headers,
            "client": None,
            "server": None,
        }
        body = body_of(raw)
        delivered = False
        status = 500
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def receive() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # no disconnect until the answer is written
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    (canonical_name(k.decode("latin-1")), v) for k, v in message.get("headers", [])
                ]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        payload = b"".join(chunks)
        if not any(k == b"Content-Length" for k, _ in headers) and status not in (204, 304):
            headers.append((b"Content-Length", str(len(payload)).encode()))
        return Answer(head_of(status, headers), False, b"" if raw.method == "HEAD" else payload)


def body_of(raw: RawRequest) -> bytes | bytearray:
    """The whole body: joined pieces, or the filled buffer of a large upload."""
    body = raw.body
    if isinstance(body, BodyBuffer):
        return body.buffer
    if len(body) == 1:
        return body[0]  # joined already (or one piece): joining a bytearray would copy it
    joined = b"".join(body)
    raw.body = [joined]
    return joined


def _measure_plain(
    method: str, started: float, public: bool, status: int = 200, stored_in: float = -1.0
) -> None:
    """Go's file-handler metrics for a request answered without waiting (counted in flight
    between two scrapes only on the admin port); ``stored_in``: see
    :func:`.stats.request_answered`."""
    if not public:
        stats.IN_FLIGHT_REQUESTS.touch(method)
    stats.request_answered(method, str(status), perf_counter() - started, stored_in)


# --- the general way ---------------------------------------------------------------------------
class _Measure:
    """Go's request metrics of the file handlers: count and time by method and status, and
    (admin port only) requests in flight. An unsupported method counts as ``INVALID`` on the
    admin port, where Go rejects it."""

    __slots__ = ("method", "label", "public", "started")

    def __init__(self, method: str, public: bool) -> None:
        self.method = method
        self.label = method if public or method in _MEASURED_METHODS else "INVALID"
        self.public = public
        self.started = perf_counter()
        if not public:
            stats.IN_FLIGHT_REQUESTS.inc(method)

    def done(self, status: int | None) -> None:
        """``status`` None: the request was handed on unanswered and is measured again."""
        if not self.public:
            stats.IN_FLIGHT_REQUESTS.dec(self.method)
        if status is not None:
            stats.request_answered(self.label, str(status), perf_counter() - self.started)


def _operational(ctx: HttpContext, request: HttpRequest, public: bool) -> HttpReply | None:
    """The named routes (Go registers them apart from the file handler: no file metrics)."""
    path = request.path
    if path == "/favicon.ico":
        return ui.favicon(ctx, request)  # static files carry no request id in Go
    if path.startswith(ui.STATIC_PREFIX):
        return ui.static_asset(ctx, request)
    if public:
        return None
    if path == "/status":
        return _finish(request.method, admin.status(ctx, request))
    if path in ("/healthz", "/readyz"):
        return _finish(request.method, admin.healthz(ctx, request))
    if path == "/ui/index.html" and not ctx.guard.write_key:
        # Go shows the page only where no signing key guards the server.
        return _finish(request.method, ui.index_page(ctx, request))
    return None


def _finish(method: str, reply: HttpReply) -> HttpReply:
    reply.headers.setdefault("X-Amz-Request-Id", request_id())
    if method == "HEAD":
        reply.head_only = True
    return reply


def _with_cors(request: HttpRequest, reply: HttpReply) -> HttpReply:
    if "origin" in request.headers:
        reply.headers["Access-Control-Allow-Origin"] = "*"
        reply.headers["Access-Control-Allow-Credentials"] = "true"
    return _finish(request.method, reply)


def _answer_now(
    ctx: HttpContext, request: HttpRequest, public: bool, route: Route | None = None
) -> HttpReply | None:
    reply = _operational(ctx, request, public)
    if reply is not None:
        return reply
    measure = _Measure(request.method, public)
    try:
        reply = _file_now(ctx, request, public, route)
    except BaseException:
        measure.done(500)
        raise
    measure.done(None if reply is None else reply.status)
    return None if reply is None else _with_cors(request, reply)


async def _dispatch(
    ctx: HttpContext, request: HttpRequest, public: bool, route: Route | None = None
) -> HttpReply:
    if route is None or route.heavy is None:
        reply = _answer_now(ctx, request, public, route)
        if reply is not None:
            return reply
    measure = _Measure(request.method, public)
    status = 500
    try:
        reply = await _file(ctx, request, public, route)
        status = reply.status
    finally:
        measure.done(status)
    return _with_cors(request, reply)


async def dispatch(ctx: HttpContext, request: HttpRequest, public: bool) -> HttpReply:
    """The answer to a request already in the handlers' form (the FastAPI routes use it)."""
    return await _dispatch(ctx, request, public)


def _file_now(
    ctx: HttpContext, request: HttpRequest, public: bool, route: Route | None
) -> HttpReply | None:
    method = request.method
    if method in ("GET", "HEAD"):
        if ctx.downloads.over:
            return None
        try:
            return _read_now(ctx, request)
        except read.MustRunInThread as heavy:
            if route is not None:
                route.heavy = heavy.cost
            return None
    if method == "OPTIONS":
        return _options(public)
    if public:
        return HttpReply(200)  # publicReadOnlyHandler: any other method, an empty 200
    if method in ("POST", "PUT", "DELETE") and not ctx.guard.host_allowed(request.client):
        return HttpReply(401)  # Guard.WhiteList: a bare 401
    if method in ("POST", "PUT"):
        limit = ctx.uploads
        over = request.query.get("type") != "replicate" and limit.over_without(
            request.counted_upload
        )
        if over or request.query.get("fsync") == "true" or _upload_needs_thread(ctx, request):
            return None  # waits: for the limit, an fsync, or a thread
        return write.write_needle(ctx, request)
    if method == "DELETE":
        return None  # a delete may reach replicas or a manifest's chunks: never on the loop
    return write_json_error(400, f"unsupported method {method}", request.pretty)


def _options(public: bool) -> HttpReply:
    methods = "GET, OPTIONS" if public else _CORS_METHODS
    return HttpReply(
        200, {"Access-Control-Allow-Methods": methods, "Access-Control-Allow-Headers": "*"}
    )


async def _file(
    ctx: HttpContext, request: HttpRequest, public: bool, route: Route | None
) -> HttpReply:
    method = request.method
    if method in ("GET", "HEAD"):
        heavy = None if route is None else route.heavy
        return await _download(ctx, request, heavy)
    if public:
        return HttpReply(200)
    if method in ("POST", "PUT"):
        return await _upload(ctx, request)
    return await asyncio.to_thread(write.delete_needle, ctx, request)


async def _download(ctx: HttpContext, request: HttpRequest, heavy: int | None) -> HttpReply:
    """``handleGetRequest``: over the download limit, a replicated volume proxies to a replica,
    else the request waits for bytes to drain, then gets 429. Reads that need a network round
    trip, a large record or heavy work (chunks, images) run on a worker thread; ``heavy`` is
    the cost of a read already found to be one of those."""
    limit = ctx.downloads
    if limit.over:
        stats.HANDLER.inc(stats.DOWNLOAD_LIMIT_COND)
        try:
            parse_volume_id(parse_url_path(request.path).vid)
        except GoNumError:
            return HttpReply(400)  # tryProxyToReplica parses the volume id first
        if request.query.get(PROXIED) != "true" and _has_replicas(ctx, request.path):
            return await asyncio.to_thread(read.read_elsewhere_for_load, ctx, request)
        if not await limit.wait_below():
            return write_json_error(
                429,
                f"request {request.path} because inflight download data {limit.in_flight} > "
                f"{limit.limit}, and wait timeout",
                request.pretty,
            )
        heavy = None  # the record may have changed meanwhile
    if heavy is None:
        try:
            return _read_now(ctx, request)
        except read.MustRunInThread as too_heavy:
            heavy = too_heavy.cost
    limit.add(heavy)  # counted while the read runs, as Go's onReadSizeFn does
    try:
        reply = await asyncio.to_thread(read.read_needle, ctx, request)
    except BaseException:
        limit.release(heavy)
        raise
    cost = heavy
    reply.on_sent = lambda: limit.release(cost)
    return reply


def _read_now(ctx: HttpContext, request: HttpRequest) -> HttpReply:
    """A read answered on the event loop; its bytes count in flight until sent."""
    reply = read.read_needle(ctx, request, on_loop=True)
    if reply.cost:
        limit = ctx.downloads
        limit.add(reply.cost)
        reply.on_sent = lambda: limit.release(reply.cost)
    return reply


def _has_replicas(ctx: HttpContext, path: str) -> bool:
    try:
        volume = ctx.store.find_volume(parse_volume_id(parse_url_path(path).vid))
    except GoNumError:
        return False
    return volume is not None and volume.super_block.replica_placement.has_replication()


async def _upload(ctx: HttpContext, request: HttpRequest) -> HttpReply:
    """``handleUploadRequest``: replication uploads skip the limit; others wait, then 429."""
    limit = ctx.uploads
    own = request.counted_upload
    if request.query.get("type") != "replicate" and limit.over_without(own):
        stats.HANDLER.inc(stats.UPLOAD_LIMIT_COND)
        if not await limit.wait_below(own):
            return write_json_error(
                429,
                f"reject because inflight upload data {limit.in_flight} > {limit.limit}, "
                "and wait timeout",
                request.pretty,
            )
    length = 0 if own else _content_length(request)
    limit.add(length)
    try:
        if _upload_needs_thread(ctx, request):
            return await asyncio.to_thread(write.write_needle, ctx, request)
        reply = write.write_needle(ctx, request, defer_sync=True)
        if reply.pending_sync is not None:
            durable = await _durable(ctx, reply, request.pretty)
            if durable is reply:  # (a deferred write has no replicas: see write_needle)
                stats.REPLICATION_TARGETS.observe(0)
            return durable
        return reply
    finally:
        limit.release(length)


async def _durable(ctx: HttpContext, reply: HttpReply, pretty: bool) -> HttpReply:
    """``reply`` once its deferred append is durable (group commit); Go's 500 when the
    fsync failed (the write is not acknowledged)."""
    assert reply.pending_sync is not None
    try:
        await ctx.group_sync.wait(*reply.pending_sync)
    except OSError as err:
        return write.sync_failed(err, pretty)
    reply.pending_sync = None
    return reply


def _upload_needs_thread(ctx: HttpContext, request: HttpRequest) -> bool:
    return len(request.body) > read.INLINE_LIMIT or write.needs_thread(
        ctx, request.path, request.query
    )


def _content_length(request: HttpRequest) -> int:
    try:
        return max(0, int(request.headers.get("content-length", "0")))
    except ValueError:
        return 0
