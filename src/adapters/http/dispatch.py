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

from . import admin, read, ui, write
from .context import HttpContext
from .responses import HttpReply, HttpRequest, write_json_error

INLINE_LIMIT = 256 * 1024
"""Bodies up to this size are handled on the event loop: a thread hop costs more."""

FRAMEWORK_ROUTES = frozenset({"/docs", "/openapi.json", "/docs/oauth2-redirect"})
_CORS_METHODS = "PUT, POST, GET, DELETE, OPTIONS"


def is_framework_route(path: str) -> bool:
    return path in FRAMEWORK_ROUTES


def request_id(request: HttpRequest) -> str:
    """Go's request-id middleware: the caller's ``x-amz-request-id``, else ``%X%08X`` of the
    time in nanoseconds and 32 random bits."""
    return request.headers.get("x-amz-request-id") or (
        f"{time.time_ns():X}{secrets.randbits(32):08X}"
    )


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
        reply = await (_public_file(ctx, request) if public else _file(ctx, request))
        if "origin" in request.headers:
            reply.headers["Access-Control-Allow-Origin"] = "*"
            reply.headers["Access-Control-Allow-Credentials"] = "true"
    reply.headers.setdefault("X-Amz-Request-Id", request_id(request))
    return reply


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
        if read.stored_size(ctx, request.path) > INLINE_LIMIT:
            return await asyncio.to_thread(read.read_needle, ctx, request)
        try:
            return read.read_needle(ctx, request, on_loop=True)
        except read.MustRunInThread:
            return await asyncio.to_thread(read.read_needle, ctx, request)
    if method == "OPTIONS":
        return HttpReply(
            200,
            {"Access-Control-Allow-Methods": _CORS_METHODS, "Access-Control-Allow-Headers": "*"},
        )
    if method in ("POST", "PUT", "DELETE") and not ctx.guard.host_allowed(request.client):
        return HttpReply(401)  # Guard.WhiteList: a bare 401
    if method in ("POST", "PUT"):
        if len(request.body) > INLINE_LIMIT or write.needs_thread(ctx, request.path, request.query):
            return await asyncio.to_thread(write.write_needle, ctx, request)
        return write.write_needle(ctx, request)
    if method == "DELETE":
        # A delete may reach replicas or a manifest's chunks: never on the loop.
        return await asyncio.to_thread(write.delete_needle, ctx, request)
    return write_json_error(400, f"unsupported method {method}", request.pretty)
