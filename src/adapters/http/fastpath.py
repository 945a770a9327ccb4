"""A raw ASGI fast path for file-id requests, in front of the FastAPI application.

FastAPI's routing, dependency and response machinery costs about two thirds of a small GET.
File-id requests (every path that is not one of the application's named routes) are parsed
here and handed to the very same handlers the FastAPI routes call; everything else, and the
OpenAPI description of every route, stays with FastAPI.

Small reads and writes run on the event loop: a pread or pwrite of a few KiB is cheaper than a
thread hop. Large bodies go to a worker thread so they never stall other requests.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus

from starlette.types import ASGIApp, Receive, Scope, Send

from ...core.needle.mime_types import detect_content_type
from .context import HttpContext
from .dispatch import dispatch, is_framework_route
from .responses import HttpReply, HttpRequest

_CANONICAL: dict[str, bytes] = {}
_STATUS_LINES = {
    status.value: b"HTTP/1.1 %d %s\r\n" % (status.value, status.phrase.encode())
    for status in HTTPStatus
}


def status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    return line if line is not None else b"HTTP/1.1 %d Status\r\n" % status


def canonical_name(name: str) -> bytes:
    """``textproto.CanonicalMIMEHeaderKey``: ``content-md5`` -> ``Content-Md5``, cached."""
    found = _CANONICAL.get(name)
    if found is None:
        found = "-".join(p[:1].upper() + p[1:].lower() for p in name.split("-")).encode("latin-1")
        if len(_CANONICAL) < 4096:
            _CANONICAL[name] = found
    return found


def encode_headers(reply: HttpReply, server: bytes) -> list[tuple[bytes, bytes]]:
    """The answer's header list, names in Go's canonical form, adding what Go's
    ``net/http`` adds on its own (handlers name headers canonically: ``Content-Type``)."""
    given = reply.headers
    headers = [(canonical_name(k), v.encode("latin-1")) for k, v in given.items()]
    body = reply.body
    if body and "Content-Type" not in given and "Content-Encoding" not in given:
        # net/http sniffs a Content-Type for any body written without one (and without a
        # Content-Encoding: compressed bytes say nothing of the content).
        headers.append((b"Content-Type", detect_content_type(body[:512]).encode()))
    if (
        "Content-Length" not in given
        and reply.status not in (204, 304)
        and (body or not reply.head_only)  # net/http: an empty HEAD answer has none
    ):
        headers.append((b"Content-Length", str(len(body)).encode()))
    headers.append((b"Server", server))
    return headers


async def send_reply(send: Send, reply: HttpReply, server: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": reply.status,
            "headers": encode_headers(reply, server),
        }
    )
    if reply.stream is not None and not reply.head_only:
        iterator = iter(reply.stream)
        while (piece := await asyncio.to_thread(next, iterator, None)) is not None:
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    body = b"" if reply.head_only or reply.status in (204, 304) else reply.body
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionError("client went away")
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


class FidFastPath:
    def __init__(self, app: ASGIApp, ctx: HttpContext, public: bool = False) -> None:
        self.app = app
        self.ctx = ctx
        self.public = public
        self.server = ctx.server_header.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_framework_route(scope["path"]):
            await self.app(scope, receive, send)
            return
        body = b""
        if scope["method"] in ("POST", "PUT"):
            try:
                body = await read_body(receive)
            except ConnectionError:
                return
        client = scope.get("client") or ("", 0)
        request = HttpRequest.from_raw(
            scope["method"],
            scope["path"],
            scope.get("query_string", b""),
            scope["headers"],
            body,
            client[0],
        )
        reply = await dispatch(self.ctx, request, self.public)
        try:
            await send_reply(send, reply, self.server)
        finally:
            if reply.on_sent is not None:
                reply.on_sent()
