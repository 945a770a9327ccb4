"""The FastAPI application of the admin port (and, read-only, of the public port).

Named routes come first so that OpenAPI describes them; every other path is a file id and goes
to the needle handlers by method, as Go's ``privateStoreHandler`` does.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import admin, read, write
from .context import HttpContext


class ServerHeader:
    """Adds Go's ``Server: SeaweedFS Volume <version>`` header to every response."""

    def __init__(self, app: ASGIApp, value: str) -> None:
        self.app = app
        self.header = (b"server", value.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0] != b"server"]
                message["headers"] = [*headers, self.header]
            await send(message)

        await self.app(scope, receive, send_with_header)


def create_app(ctx: HttpContext, public: bool = False) -> ASGIApp:
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
    def status(request: Request) -> Response:
        return admin.status(ctx, request)

    @app.get("/healthz", summary="200 while serving and heartbeating, else 503")
    def healthz(request: Request) -> Response:
        return admin.healthz(ctx, request)

    fid_route = "/{fid_path:path}"

    @app.get(fid_route, summary="Read a file: /vid,fid[.ext], /vid/fid[.ext], /vid/fid/name")
    async def get_file(request: Request, fid_path: str) -> Response:
        return await run_in_threadpool(read.read_needle, ctx, request)

    @app.head(fid_route, summary="A file's headers, as GET without the body")
    async def head_file(request: Request, fid_path: str) -> Response:
        return await run_in_threadpool(read.read_needle, ctx, request)

    if not public:

        async def upload(request: Request, fid_path: str) -> Response:
            body = await request.body()
            return await run_in_threadpool(write.write_needle, ctx, request, body)

        app.post(fid_route, summary="Upload a file (multipart form or raw body)")(upload)
        app.put(
            fid_route, summary="Upload a file (raw body or multipart form)", operation_id="put_file"
        )(upload)

        @app.delete(fid_route, summary="Delete a file")
        async def delete_file(request: Request, fid_path: str) -> Response:
            return await run_in_threadpool(write.delete_needle, ctx, request)

    return ServerHeader(app, ctx.server_header)
