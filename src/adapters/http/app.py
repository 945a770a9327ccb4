"""The HTTP application of the admin port (and, read-only, of the public port).

The server's own HTTP/1.1 front door (:mod:`.front_door`) answers the requests; it hands
FastAPI only ``/docs`` and ``/openapi.json``, whose document is declared in :mod:`.openapi`
(FastAPI cannot describe routes it does not serve). Every other request reaching this
application (in-process tests through Starlette's test client) goes through one catch-all
route to the same dispatcher, which routes as Go's ``privateStoreHandler``: named routes
first, every other path is a file id.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.concurrency import iterate_in_threadpool
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import ASGIApp

from .context import HttpContext
from .docs import OPENAPI_PATH, install_docs
from .front_door import dispatch
from .openapi import openapi_document
from .responses import HttpReply, HttpRequest
from .wire import encode_headers


async def _to_request(request: Request, with_body: bool = False) -> HttpRequest:
    body = await request.body() if with_body else b""
    client = request.client
    return HttpRequest.from_raw(
        request.method,
        request.url.path,
        request.scope.get("query_string", b""),
        request.scope["headers"],
        body,
        client.host if client else "",
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
    """The FastAPI application: ``/docs`` and ``/openapi.json`` (admin port), and one
    catch-all route into the dispatcher the native server uses."""
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

    # Registered last: /docs and /openapi.json match first.
    app.api_route("/{path:path}", methods=list(_METHODS), include_in_schema=False)(answer)

    return app
