"""Which handler answers a request, and on which thread (``privateStoreHandler`` and the
public handler in volume_server_handlers.go).

Shared by the native server and the ASGI fast path so the two cannot drift. ``/status`` and
``/healthz`` answer any method, as Go's do; file-id paths dispatch by method with Go's CORS
headers; ``None`` means "not ours": the FastAPI application answers (``/docs``,
``/openapi.json``).
"""

from __future__ import annotations

import asyncio
import random
import time

from ...core import stats
from ...core.file_id import parse_volume_id
from ...core.goparse import GoNumError
from . import admin, read, ui, write
from .context import HttpContext
from .docs import is_docs_path
from .fid_path import parse_url_path
from .proxy import PROXIED
from .responses import HttpReply, HttpRequest, write_json_error

FRAMEWORK_ROUTES = frozenset({"/openapi.json"})
_CORS_METHODS = "PUT, POST, GET, DELETE, OPTIONS"


def is_framework_route(path: str) -> bool:
    """Paths FastAPI answers itself: the OpenAPI description and the ``/docs`` pages."""
    return path in FRAMEWORK_ROUTES or is_docs_path(path)


async def _download(ctx: HttpContext, request: HttpRequest) -> HttpReply:
    """``handleGetRequest``: over the download limit, a replicated volume proxies to a replica,
    else the request waits for bytes to drain, then gets 429. Reads that need a network round
    trip, a large record or heavy work (chunks, images) run on a worker thread."""
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
    try:
        return _read_now(ctx, request)
    except read.MustRunInThread as heavy:
        cost = heavy.cost
    limit.add(cost)  # counted while the read runs, as Go's onReadSizeFn does
    try:
        reply = await asyncio.to_thread(read.read_needle, ctx, request)
    except BaseException:
        limit.release(cost)
        raise
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
            try:
                await ctx.group_sync.wait(*reply.pending_sync)
            except OSError as err:
                stats.FILE_WRITE_FAILURES.inc()
                stats.HANDLER.inc(stats.ERROR_WRITE_TO_LOCAL_DISK)
                return write_json_error(
                    500, f"failed to write to local disk: {err}", request.pretty
                )
            reply.pending_sync = None
        return reply
    finally:
        limit.release(length)


def _upload_needs_thread(ctx: HttpContext, request: HttpRequest) -> bool:
    return len(request.body) > read.INLINE_LIMIT or write.needs_thread(
        ctx, request.path, request.query
    )


def _content_length(request: HttpRequest) -> int:
    try:
        return max(0, int(request.headers.get("content-length", "0")))
    except ValueError:
        return 0


def request_id() -> str:
    """Go's request-id middleware: a fresh ``%X%08X`` of the time in nanoseconds and 32 random
    bits for every answer (4.48 ignores a caller's ``x-amz-request-id``). Not a secret: the
    cheap generator will do."""
    return f"{time.time_ns():X}{random.getrandbits(32):08X}"


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


_MEASURED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"})


class _Measure:
    """Go's request metrics of the file handlers: count and time by method and status, and
    (admin port only) requests in flight. An unsupported method counts as ``INVALID`` on the
    admin port, where Go rejects it."""

    __slots__ = ("method", "label", "public", "started")

    def __init__(self, method: str, public: bool) -> None:
        self.method = method
        self.label = method if public or method in _MEASURED_METHODS else "INVALID"
        self.public = public
        self.started = time.perf_counter()
        if not public:
            stats.IN_FLIGHT_REQUESTS.inc(method)

    def done(self, status: int | None) -> None:
        """``status`` None: the request was handed on unanswered and is measured again."""
        if not self.public:
            stats.IN_FLIGHT_REQUESTS.dec(self.method)
        if status is not None:
            stats.REQUESTS.inc(self.label, str(status))
            stats.REQUEST_SECONDS.observe(time.perf_counter() - self.started, self.label)


def answer_now(ctx: HttpContext, request: HttpRequest, public: bool) -> HttpReply | None:
    """The answer, when it needs no waiting: the named routes, small local reads and writes,
    OPTIONS. ``None``: :func:`dispatch` must answer (limits to wait for, threads, network)."""
    reply = _operational(ctx, request, public)
    if reply is not None:
        return reply
    measure = _Measure(request.method, public)
    try:
        reply = _file_now(ctx, request, public)
    except BaseException:
        measure.done(500)
        raise
    measure.done(None if reply is None else reply.status)
    return None if reply is None else _with_cors(request, reply)


async def dispatch(ctx: HttpContext, request: HttpRequest, public: bool) -> HttpReply:
    reply = answer_now(ctx, request, public)
    if reply is not None:
        return reply
    measure = _Measure(request.method, public)
    status = 500
    try:
        reply = await (_public_file(ctx, request) if public else _file(ctx, request))
        status = reply.status
    finally:
        measure.done(status)
    return _with_cors(request, reply)


def _file_now(ctx: HttpContext, request: HttpRequest, public: bool) -> HttpReply | None:
    method = request.method
    if method in ("GET", "HEAD"):
        if ctx.downloads.over:
            return None
        try:
            return _read_now(ctx, request)
        except read.MustRunInThread:
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


async def _public_file(ctx: HttpContext, request: HttpRequest) -> HttpReply:
    """``publicReadOnlyHandler``: only reads are left to wait for."""
    return await _download(ctx, request)


async def _file(ctx: HttpContext, request: HttpRequest) -> HttpReply:
    method = request.method
    if method in ("GET", "HEAD"):
        return await _download(ctx, request)
    if method in ("POST", "PUT"):
        return await _upload(ctx, request)
    return await asyncio.to_thread(write.delete_needle, ctx, request)
