"""Which handler answers a request, and on which thread (``privateStoreHandler`` and the
public handler in volume_server_handlers.go).

Shared by the native server and the ASGI fast path so the two cannot drift. ``/status`` and
``/healthz`` answer any method, as Go's do; file-id paths dispatch by method with Go's CORS
headers; ``None`` means "not ours": the FastAPI application answers (``/docs``,
``/openapi.json``).
"""

from __future__ import annotations

import asyncio
import secrets
import time

from ...core import stats
from ...core.file_id import parse_volume_id
from ...core.goparse import GoNumError
from . import admin, read, ui, write
from .context import HttpContext
from .fid_path import parse_url_path
from .proxy import PROXIED
from .responses import HttpReply, HttpRequest, write_json_error

INLINE_LIMIT = 256 * 1024
"""Bodies up to this size are handled on the event loop: a thread hop costs more."""

FRAMEWORK_ROUTES = frozenset({"/docs", "/openapi.json", "/docs/oauth2-redirect"})
_CORS_METHODS = "PUT, POST, GET, DELETE, OPTIONS"


def is_framework_route(path: str) -> bool:
    return path in FRAMEWORK_ROUTES


async def _download(ctx: HttpContext, request: HttpRequest) -> HttpReply:
    """``handleGetRequest``: over the download limit, a replicated volume proxies to a replica,
    else the request waits for bytes to drain, then gets 429."""
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
    size = read.stored_size(ctx, request.path)
    counted = size if size < 1 << 62 else 0
    limit.add(counted)
    try:
        if size > INLINE_LIMIT:
            reply = await asyncio.to_thread(read.read_needle, ctx, request)
        else:
            try:
                reply = read.read_needle(ctx, request, on_loop=True)
            except read.MustRunInThread:
                reply = await asyncio.to_thread(read.read_needle, ctx, request)
    except BaseException:
        limit.release(counted)
        raise
    reply.on_sent = lambda: limit.release(counted)
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
        if len(request.body) > INLINE_LIMIT or write.needs_thread(ctx, request.path, request.query):
            return await asyncio.to_thread(write.write_needle, ctx, request)
        return write.write_needle(ctx, request)
    finally:
        limit.release(length)


def _content_length(request: HttpRequest) -> int:
    try:
        return max(0, int(request.headers.get("content-length", "0")))
    except ValueError:
        return 0


def request_id(request: HttpRequest) -> str:
    """Go's request-id middleware: a fresh ``%X%08X`` of the time in nanoseconds and 32 random
    bits for every answer (4.48 ignores a caller's ``x-amz-request-id``)."""
    return f"{time.time_ns():X}{secrets.randbits(32):08X}"


async def dispatch(ctx: HttpContext, request: HttpRequest, public: bool) -> HttpReply:
    path = request.path
    if path == "/favicon.ico":
        return ui.favicon(ctx, request)  # static files carry no request id in Go
    if path.startswith(ui.STATIC_PREFIX):
        return ui.static_asset(ctx, request)
    if path == "/status" and not public:
        reply = admin.status(ctx, request)
    elif path in ("/healthz", "/readyz") and not public:
        reply = admin.healthz(ctx, request)
    elif path == "/ui/index.html" and not public and not ctx.guard.write_key:
        # Go shows the page only where no signing key guards the server.
        reply = ui.index_page(ctx, request)
    else:
        reply = await _measured(ctx, request, public)
        if "origin" in request.headers:
            reply.headers["Access-Control-Allow-Origin"] = "*"
            reply.headers["Access-Control-Allow-Credentials"] = "true"
    reply.headers.setdefault("X-Amz-Request-Id", request_id(request))
    if request.method == "HEAD":
        reply.head_only = True
    return reply


_MEASURED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"})


async def _measured(ctx: HttpContext, request: HttpRequest, public: bool) -> HttpReply:
    """The file handlers with Go's request metrics: count and time by method and status, and
    (admin port only) requests in flight. An unsupported method counts as ``INVALID`` on the
    admin port, where Go rejects it."""
    method = request.method
    label = method if public or method in _MEASURED_METHODS else "INVALID"
    started = time.perf_counter()
    status = 500
    if not public:
        stats.IN_FLIGHT_REQUESTS.inc(method)
    try:
        reply = await (_public_file(ctx, request) if public else _file(ctx, request))
        status = reply.status
        return reply
    finally:
        if not public:
            stats.IN_FLIGHT_REQUESTS.dec(method)
        stats.REQUESTS.inc(label, str(status))
        stats.REQUEST_SECONDS.observe(time.perf_counter() - started, label)


async def _public_file(ctx: HttpContext, request: HttpRequest) -> HttpReply:
    """``publicReadOnlyHandler``: reads and OPTIONS; any other method gets an empty 200."""
    if request.method in ("GET", "HEAD"):
        return await _file(ctx, request)
    if request.method == "OPTIONS":
        return HttpReply(
            200,
            {"Access-Control-Allow-Methods": "GET, OPTIONS", "Access-Control-Allow-Headers": "*"},
        )
    return HttpReply(200)


async def _file(ctx: HttpContext, request: HttpRequest) -> HttpReply:
    method = request.method
    if method in ("GET", "HEAD"):
        return await _download(ctx, request)
    if method == "OPTIONS":
        return HttpReply(
            200,
            {"Access-Control-Allow-Methods": _CORS_METHODS, "Access-Control-Allow-Headers": "*"},
        )
    if method in ("POST", "PUT", "DELETE") and not ctx.guard.host_allowed(request.client):
        return HttpReply(401)  # Guard.WhiteList: a bare 401
    if method in ("POST", "PUT"):
        return await _upload(ctx, request)
    if method == "DELETE":
        # A delete may reach replicas or a manifest's chunks: never on the loop.
        return await asyncio.to_thread(write.delete_needle, ctx, request)
    return write_json_error(400, f"unsupported method {method}", request.pretty)
