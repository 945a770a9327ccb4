"""The HTTP application of the admin port (and, read-only, of the public port).

Every request goes to :func:`.dispatch.dispatch` (named routes first, every other path is a
file id, as Go's ``privateStoreHandler``); a raw ASGI fast path in front of FastAPI
(:mod:`.fastpath`) does so without the framework's per-request cost. FastAPI itself serves
only ``/docs`` and ``/openapi.json``, whose document is declared in :mod:`.openapi`.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.concurrency import iterate_in_threadpool
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import ASGIApp

from .context import HttpContext
from .dispatch import dispatch
from .docs import OPENAPI_PATH, install_docs
from .fastpath import FidFastPath, encode_headers
from .openapi import openapi_document
from .responses import HttpReply, HttpRequest


async def _to_request(request: Request, with_body: bool = False) -> HttpRequest:
    body = await request.body() if with_body else b""
    return HttpRequest.from_raw(
        request.method,
        request.url.path,
        request.scope.get("query_string", b""),
        request.scope["headers"],
        body,
    )


def _to_response(reply: HttpReply, server: bytes) -> Response:
    if reply.stream is not None and not reply.head_only:
        streamed = StreamingResponse(iterate_in_threadpool(iter(reply.stream)), reply.status)
        streamed.raw_headers = encode_headers(reply, server)
        return streamed
    response = Response(status_code=reply.status)
    response.raw_headers = encode_headers(reply, server)
    if not reply.head_only and reply.status not in (204, 304):
        response.body = reply.body
    return response


_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")


def create_app(ctx: HttpContext, public: bool = False) -> ASGIApp:
    """The FastAPI application (``/docs``, ``/openapi.json``) behind the file-id fast path;
    any other request answers through the dispatcher the fast path and native server use."""
    server = ctx.server_header.encode()
    app = FastAPI(
        title="seaweed-volume",
        version=ctx.version,
        docs_url=None,  # served by install_docs, without a CDN
        openapi_url=None,  # the document is declared in .openapi, served below
        redoc_url=None,
    )
    app.state.ctx = ctx
    if not public:
        install_docs(app)
        document = openapi_document(ctx.version)

        @app.get(OPENAPI_PATH, include_in_schema=False)
        async def openapi() -> JSONResponse:
            return JSONResponse(document)

    async def answer(request: Request) -> Response:
        body = request.method in ("POST", "PUT")
        reply = await dispatch(ctx, await _to_request(request, with_body=body), public)
        return _to_response(reply, server)

    # One catch-all route: the dispatcher routes (named routes first, then file ids, as
    # Go's privateStoreHandler does); the OpenAPI document describes what it answers.
    app.api_route("/{path:path}", methods=list(_METHODS), include_in_schema=False)(answer)

    return FidFastPath(app, ctx, public)
