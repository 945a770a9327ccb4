"""The HTTP application of the admin port (and, read-only, of the public port).

FastAPI holds every route and describes them in OpenAPI; a raw ASGI fast path in front of it
(:mod:`.fastpath`) serves file-id requests through the same handlers without the framework's
per-request cost. Go's ``privateStoreHandler`` dispatches the same way: named routes first,
every other path is a file id.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import ASGIApp

from . import admin, read, ui, write
from .context import HttpContext
from .fastpath import FidFastPath, encode_headers
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
    response = Response(status_code=reply.status)
    response.raw_headers = encode_headers(reply, server)
    if not reply.head_only and reply.status not in (204, 304):
        response.body = reply.body
    return response


def create_app(ctx: HttpContext, public: bool = False) -> ASGIApp:
    server = ctx.server_header.encode()
    app = FastAPI(
        title="seaweed-volume",
        description="A SeaweedFS volume server. Routes and answers match Go's volume server.",
        version=ctx.version,
        docs_url=None if public else "/docs",
        openapi_url=None if public else "/openapi.json",
        redoc_url=None,
    )
    app.state.ctx = ctx

    @app.get("/status", summary="Volumes and disks of this server")
    async def status(request: Request) -> Response:
        return _to_response(admin.status(ctx, await _to_request(request)), server)

    @app.get("/healthz", summary="200 while serving and heartbeating, else 503")
    async def healthz(request: Request) -> Response:
        return _to_response(admin.healthz(ctx, await _to_request(request)), server)

    @app.get("/ui/index.html", summary="A status page: disks, masters, volumes, EC shards")
    async def ui_page(request: Request) -> Response:
        return _to_response(ui.index_page(ctx, await _to_request(request)), server)

    fid_route = "/{fid_path:path}"

    @app.get(fid_route, summary="Read a file: /vid,fid[.ext], /vid/fid[.ext], /vid/fid/name")
    async def get_file(request: Request, fid_path: str) -> Response:
        reply = await run_in_threadpool(read.read_needle, ctx, await _to_request(request))
        return _to_response(reply, server)

    @app.head(fid_route, summary="A file's headers, as GET without the body")
    async def head_file(request: Request, fid_path: str) -> Response:
        reply = await run_in_threadpool(read.read_needle, ctx, await _to_request(request))
        return _to_response(reply, server)

    if not public:

        async def upload(request: Request, fid_path: str) -> Response:
            reply = await run_in_threadpool(
                write.write_needle, ctx, await _to_request(request, with_body=True)
            )
            return _to_response(reply, server)

        app.post(fid_route, summary="Upload a file (multipart form or raw body)")(upload)
        app.put(
            fid_route, summary="Upload a file (raw body or multipart form)", operation_id="put_file"
        )(upload)

        @app.delete(fid_route, summary="Delete a file")
        async def delete_file(request: Request, fid_path: str) -> Response:
            reply = await run_in_threadpool(write.delete_needle, ctx, await _to_request(request))
            return _to_response(reply, server)

    return FidFastPath(app, ctx, public)
