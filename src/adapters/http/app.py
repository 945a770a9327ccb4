"""The HTTP application of the admin port (and, read-only, of the public port).

FastAPI describes every route in OpenAPI and serves ``/docs``; the server's own HTTP/1.1
front door (:mod:`.front_door`) answers the requests. Each route here hands its request to
the same dispatcher, so the application also answers as the server does (the ``uvicorn``
mode and in-process tests use it). Go's ``privateStoreHandler`` dispatches the same way:
named routes first, every other path is a file id.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.concurrency import iterate_in_threadpool
from starlette.responses import Response, StreamingResponse
from starlette.types import ASGIApp

from .context import HttpContext
from .docs import install_docs
from .front_door import dispatch
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
        response: Response = StreamingResponse(
            iterate_in_threadpool(iter(reply.stream)), reply.status
        )
        response.raw_headers = encode_headers(reply, server)
        return response
    response = Response(status_code=reply.status)
    response.raw_headers = encode_headers(reply, server)
    if not reply.head_only and reply.status not in (204, 304):
        response.body = reply.body
    return response


def create_app(ctx: HttpContext, public: bool = False) -> ASGIApp:
    """The FastAPI application (routes and OpenAPI). Every route answers through the
    dispatcher the native server uses."""
    server = ctx.server_header.encode()
    app = FastAPI(
        title="seaweed-volume",
        description="A SeaweedFS volume server. Routes and answers match Go's volume server.",
        version=ctx.version,
        docs_url=None,  # served by install_docs, without a CDN
        openapi_url=None if public else "/openapi.json",
        redoc_url=None,
    )
    app.state.ctx = ctx
    if not public:
        install_docs(app)

    async def answer(request: Request) -> Response:
        body = request.method in ("POST", "PUT")
        reply = await dispatch(ctx, await _to_request(request, with_body=body), public)
        return _to_response(reply, server)

    if not public:
        app.get("/status", summary="Volumes and disks of this server")(answer)
        app.get("/healthz", summary="200 while serving and heartbeating, else 503")(answer)
        app.get("/readyz", summary="Same as /healthz")(answer)
        app.get("/ui/index.html", summary="A status page: disks, masters, volumes")(answer)
    app.get("/favicon.ico", summary="The icon")(answer)

    fid_route = "/{fid_path:path}"

    async def file_route(request: Request, fid_path: str) -> Response:
        return await answer(request)

    app.get(
        fid_route,
        summary="Read a file: /vid,fid[.ext], /vid/fid[.ext], /vid/fid/name",
        operation_id="get_file",
    )(file_route)
    app.head(
        fid_route, summary="A file's headers, as GET without the body", operation_id="head_file"
    )(file_route)
    app.options(fid_route, summary="CORS preflight", operation_id="options_file")(file_route)
    if not public:
        app.post(
            fid_route,
            summary="Upload a file (multipart form or raw body)",
            operation_id="post_file",
        )(file_route)
        app.put(
            fid_route, summary="Upload a file (raw body or multipart form)", operation_id="put_file"
        )(file_route)
        app.delete(fid_route, summary="Delete a file", operation_id="delete_file")(file_route)

    return app
