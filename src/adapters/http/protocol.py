"""An HTTP/1.1 server on asyncio + httptools: bytes in, requests to the front door, answers
out in order.

This module only speaks HTTP/1.1; what a request means is :mod:`.front_door`'s business, and
how an answer is written is :mod:`.wire`'s. A parsed request (a ``RawRequest``) is offered to
``FrontDoor.answer_now`` the moment it is complete; when that cannot answer without waiting,
the connection's task awaits ``FrontDoor.answer``, answers leaving in request order.

HTTP/1.1 as clients expect it: keep-alive (and ``Connection: close``, HTTP/1.0), pipelined
requests answered in order, chunked request bodies, ``Expect: 100-continue``, write-side flow
control so a slow reader never buffers unbounded data, idle connections closed after
``-idleTimeout``. Header names go out in Go's canonical form.

Every input is bounded (see :class:`HttpLimits`): the request head (request line and
headers) by bytes, header count, URL length and the time it takes to arrive; the body by the
file size limit, an upload whose ``Content-Length`` is over it refused before its body is read.
A refused connection gets Go's plain-text answer (``HTTP/1.1 431 ...``, ``Connection: close``),
its input is dropped unread and it is closed (as Go's ``closeWriteAndWait``).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import socket
from collections.abc import Callable, Iterable
from typing import Final, Protocol, cast

import httptools
from starlette.types import ASGIApp

from ...core import stats
from .context import HttpContext
from .front_door import Answer, BodyBuffer, FrontDoor, RawRequest, body_of
from .responses import HttpReply, write_json_error
from .throttle import parse_go_duration
from .wire import go_error_answer, per_request_tail, reply_head, request_id

__all__ = ["HttpServer", "body_of"]

log = logging.getLogger(__name__)


MULTIPART_SLACK: Final = 1 << 20
"""A multipart upload's body may exceed the file size limit by this much (form framing and
small fields) before it is refused unread; the file part itself is held to the limit."""
READ_CHUNK: Final = 256 * 1024
"""The most one ``data_received`` call delivers (asyncio's and uvloop's read size)."""
_RST_AVOIDANCE_SECONDS: Final = 0.5
"""Go's ``rstAvoidanceDelay``: a refused connection is half-closed, read and dropped this
long, then closed, so the client reads the answer before a reset can discard it."""


class HttpLimits:
    """The bounds on one request, from the server's settings (README, "Limits")."""

    __slots__ = ("header_bytes", "header_count", "url_bytes", "header_seconds", "exact_head")

    def __init__(
        self, header_bytes: int, header_count: int, url_bytes: int, header_seconds: float
    ) -> None:
        self.header_bytes = header_bytes
        self.header_count = header_count
        self.url_bytes = url_bytes
        self.header_seconds = header_seconds
        self.exact_head = header_bytes < READ_CHUNK
        """A head that arrives in one read can only exceed a limit this small: measure it."""


BUFFERED_BODY: Final = 256 * 1024
"""Bodies declared longer than this are received into a :class:`.front_door.BodyBuffer`."""


class _Refused(Exception):
    """Raised in a parser callback to stop parsing; the answer is the protocol's ``refusal``."""


class _Parser(Protocol):
    def feed_data(self, data: bytes) -> None: ...

    def get_method(self) -> bytes: ...

    def get_http_version(self) -> str: ...

    def should_keep_alive(self) -> bool: ...


class _Discard:
    """Stands in for the parser of a refused connection: its input is dropped unread (the
    rest is never asked once refused)."""

    def feed_data(self, data: bytes) -> None:
        pass

    def get_method(self) -> bytes:
        return b""

    def get_http_version(self) -> str:
        return ""

    def should_keep_alive(self) -> bool:
        return False


_DISCARD: Final = _Discard()
_IDLE: Final = RawRequest()
"""``HttpProtocol.current`` between requests."""
_NO_TRANSPORT: Final = asyncio.Transport()
"""``HttpProtocol.transport`` before the connection is made."""


def _head_size(request: RawRequest) -> int:
    """The bytes of a parsed request head, as sent (request line and header lines)."""
    return len(request.url) + 16 + sum(len(n) + len(v) + 4 for n, v in request.headers)


def _declared_length(headers: list[tuple[bytes, bytes]]) -> int:
    for name, value in headers:
        if name == b"content-length":
            try:
                return max(0, int(value))
            except ValueError:
                return 0
    return 0


class _Canned:
    """A queue entry: an answer fixed before its request was read (then the connection
    closes); written in turn after the answers to earlier pipelined requests."""

    __slots__ = ("answer",)

    def __init__(self, answer: bytes) -> None:
        self.answer = answer


class _Drained:
    """A queue entry: call ``on_sent`` once the output buffer has drained."""

    __slots__ = ("on_sent",)

    def __init__(self, on_sent: Callable[[], object]) -> None:
        self.on_sent = on_sent


class _Ready:
    """A queue entry: an answer made already, to be sent in turn (a streamed body)."""

    __slots__ = ("request", "answer")

    def __init__(self, request: RawRequest, answer: Answer) -> None:
        self.request = request
        self.answer = answer


_INTERNAL_ERROR: Final = Answer(
    b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n", False, b""
)


class HttpProtocol(asyncio.Protocol):
    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.loop = asyncio.get_running_loop()  # protocols are made by the serving loop
        self.parser: _Parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport = _NO_TRANSPORT
        self.current = _IDLE
        self.pending: collections.deque[RawRequest | _Canned | _Drained | _Ready] = (
            collections.deque()
        )
        self.worker: asyncio.Task | None = None
        self.writable = asyncio.Event()
        self.writable.set()
        self.idle_handle: asyncio.TimerHandle | None = None
        self.last_active = 0.0
        self.closing = False
        self.peer = ""
        self.head_bytes = 0
        self.head_timer: asyncio.TimerHandle | None = None
        self.last_method = ""
        self.refusal = b""

    # --- connection ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # (uvloop's does not subclass it)
        peer = transport.get_extra_info("peername")
        self.peer = peer[0] if peer else ""
        self.server.connections.add(self)
        self._arm_idle_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        # Uploads cut off mid-body never reach dispatch: give their bytes back.
        for request in (self.current, *self.pending):
            if isinstance(request, RawRequest) and request.counted:  # not a queue marker
                self.server.ctx.uploads.release(request.counted)
                request.counted = 0
        self.server.connections.discard(self)
        if self.idle_handle is not None:
            self.idle_handle.cancel()
        if self.head_timer is not None:
            self.head_timer.cancel()
        if self.worker is not None and not self.worker.done():
            self.worker.cancel()
        self.writable.set()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def data_received(self, data: bytes) -> None:
        self.last_active = self.loop.time()
        if self.current is _IDLE and data[0] < 65 and not self._blank_lines_tolerated(data):
            # Methods are upper-case letters. httptools skips blank lines before a request
            # line; Go answers them 400 (``malformed HTTP request``).
            self._fail(go_error_answer(400))
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            self._fail(self.refusal or go_error_answer(400))
            return
        except httptools.HttpParserError:  # HttpParserUpgrade included
            self._fail(go_error_answer(400))
            return
        request = self.current
        if request is not _IDLE and not request.method:
            self._head_arriving(request, data)

    def _blank_lines_tolerated(self, data: bytes) -> bool:
        """Go tolerates up to four CR or LF bytes after a POST, for old clients that end its
        body with a line break (``conn.readRequest``, RFC 7230 section 3.5)."""
        if self.last_method != "POST":
            return False
        leading = len(data) - len(data.lstrip(b"\r\n"))
        return leading <= 4

    def _head_arriving(self, request: RawRequest, data: bytes) -> None:
        """A head is still incomplete after a read (rare: heads come whole): bound its bytes,
        header count, URL and the time it may take."""
        if self.head_bytes:
            self.head_bytes += len(data)  # the whole read went to this head
        else:  # the head began in this read, maybe after earlier pipelined requests
            partial_line = len(data) - 1 - data.rfind(b"\n")
            self.head_bytes = _head_size(request) + partial_line
        limits = self.server.limits
        if self.head_bytes > limits.header_bytes or len(request.headers) > limits.header_count:
            self._fail(go_error_answer(431))
        elif len(request.url) > limits.url_bytes:
            self._fail(go_error_answer(414))
        elif (
            not request.headers and data.endswith(b"\n") and self.parser.get_http_version() == "0.0"
        ):
            self._fail(go_error_answer(400))  # a request line without a version: HTTP/0.9
        elif self.head_timer is None and limits.header_seconds > 0:
            self.head_timer = self.loop.call_later(limits.header_seconds, self._head_too_slow)

    def _head_too_slow(self) -> None:
        """``-readHeaderTimeout``: the head did not arrive in time. Closed without an answer,
        as Go's ``net/http`` does on a read timeout."""
        self.head_timer = None
        if self.transport is not _NO_TRANSPORT:
            self.closing = True
            self.parser = _DISCARD
            self.current = _IDLE
            self.transport.close()

    def _fail(self, answer: bytes) -> None:
        """Answer (after earlier pipelined answers) and close; input from now on is dropped."""
        if self.parser is _DISCARD:
            return  # refused already
        self.parser = _DISCARD
        request, self.current = self.current, _IDLE
        if request.counted:
            self.server.ctx.uploads.release(request.counted)
            request.counted = 0
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None
        if self.pending or (self.worker is not None and not self.worker.done()):
            self.pending.append(_Canned(answer))
            if self.worker is None or self.worker.done():
                self.worker = self.loop.create_task(self._serve_pending())
            return
        self._send_and_close(answer)

    def _send_and_close(self, answer: bytes) -> None:
        self.closing = True
        transport = self.transport
        if transport is _NO_TRANSPORT or transport.is_closing():
            return
        transport.write(answer)
        if transport.can_write_eof():
            transport.write_eof()
            self.loop.call_later(_RST_AVOIDANCE_SECONDS, transport.close)
        else:
            transport.close()

    def _arm_idle_timer(self) -> None:
        """One timer per connection, re-armed from the last activity when it fires: cheaper
        than re-arming on every request."""
        timeout = self.server.idle_timeout
        if timeout > 0:
            loop = self.loop
            self.last_active = loop.time()
            self.idle_handle = loop.call_at(self.last_active + timeout, self._idle)

    def _idle(self) -> None:
        timeout = self.server.idle_timeout
        due = self.last_active + timeout
        busy = self.pending or (self.worker is not None and not self.worker.done())
        if busy or due > self.loop.time():
            self.idle_handle = self.loop.call_at(max(due, self.loop.time() + 1), self._idle)
        elif self.transport is not _NO_TRANSPORT:
            self.transport.close()

    # --- httptools callbacks ---------------------------------------------------------------
    def on_message_begin(self) -> None:
        self.current = RawRequest(self.peer)
        self.head_bytes = 0

    def on_url(self, url: bytes) -> None:
        self.current.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.current.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        request = self.current
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None
        limits = self.server.limits
        if len(request.headers) > limits.header_count or (
            limits.exact_head and _head_size(request) > limits.header_bytes
        ):
            self._refuse(go_error_answer(431))
        if len(request.url) > limits.url_bytes:
            self._refuse(go_error_answer(414))
        request.method = self.last_method = self.parser.get_method().decode("ascii")
        request.http_version = version = self.parser.get_http_version()
        if version != "1.1" and version != "1.0":
            # Go: a request line without a version is malformed, other versions unsupported.
            if version == "0.9":
                self._refuse(go_error_answer(400))
            self._refuse(go_error_answer(505, "unsupported protocol version"))
        request.keep_alive = self.parser.should_keep_alive()
        if request.method in ("POST", "PUT"):
            declared = _declared_length(request.headers)
            if declared > BUFFERED_BODY:
                # (a smaller upload over a smaller limit is refused by the handler)
                if declared > self.server.upload_limit(request):
                    self._refuse(self.server.oversize_answer(request))
                request.body = BodyBuffer()
            # Go counts an upload in flight from its headers, before reading the body.
            request.counted = declared
            self.server.ctx.uploads.add(declared)
        for name, value in request.headers:
            if name == b"expect" and value.lower() == b"100-continue":
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _refuse(self, answer: bytes) -> None:
        """Stop parsing this connection: ``data_received`` answers ``answer`` and closes."""
        self.refusal = answer
        raise _Refused

    def on_body(self, body: bytes) -> None:
        request = self.current
        if request.counted:  # an upload of a declared length, checked at its headers
            request.body.append(body)
        elif request.method == "POST" or request.method == "PUT":  # a chunked upload
            request.body.append(body)
            request.body_bytes += len(body)
            if request.body_bytes > self.server.body_limit:
                self._refuse(self.server.oversize_answer(request))
        # Other methods' bodies are dropped: no handler reads them (nor does Go's).

    def on_message_complete(self) -> None:
        request, self.current = self.current, _IDLE
        idle = not self.pending and (self.worker is None or self.worker.done())
        if idle and not self.closing and self._answer_at_once(request):
            return
        self.pending.append(request)
        if self.worker is None or self.worker.done():
            self.worker = self.loop.create_task(self._serve_pending())

    def _answer_at_once(self, request: RawRequest) -> bool:
        """Most requests (small reads and writes) need no waiting: answer them right here,
        without a task, when nothing earlier on this connection is still being answered."""
        try:
            answer = self.server.door.answer_now(request)
        except Exception:  # noqa: BLE001 - one bad request must not kill the connection
            answer = self._failed(request)
        if answer is None:
            return False
        if answer.streamed:  # its pieces are read on a worker thread: send it from a task
            self.pending.append(_Ready(request, answer))
            self.worker = self.loop.create_task(self._serve_pending())
            return True
        keep_alive = self._write_head_and_body(request, answer)
        on_sent = answer.on_sent
        if on_sent is not None:
            if self.writable.is_set():
                on_sent()
            else:  # the answer is still buffered: let go of its bytes once it drains
                self.pending.append(_Drained(on_sent))
                self.worker = self.loop.create_task(self._serve_pending())
        if not keep_alive:
            self.transport.close()
        return True

    def _failed(self, request: RawRequest) -> Answer:
        log.exception("unhandled error serving %s %s", request.method, request.url)
        if request.counted:
            self.server.ctx.uploads.release(request.counted)
            request.counted = 0
        return _INTERNAL_ERROR

    def _write_head_and_body(self, request: RawRequest, answer: Answer) -> bool:
        """Write the answer's head (and its body unless streamed); whether the connection
        stays open."""
        keep_alive = request.keep_alive and not self.server.stopping
        tail = per_request_tail(keep_alive, answer.request_id)
        body = b"" if answer.streamed else answer.body
        self.transport.write(b"".join((answer.head, tail, body)))  # type: ignore[arg-type]
        return keep_alive

    # --- answering, in arrival order -------------------------------------------------------
    async def _serve_pending(self) -> None:
        while self.pending and not self.closing:
            entry = self.pending.popleft()
            if isinstance(entry, _Canned):
                self._send_and_close(entry.answer)
                return
            if isinstance(entry, _Drained):
                await self.writable.wait()
                entry.on_sent()
                continue
            if isinstance(entry, _Ready):
                request, answer = entry.request, entry.answer
            else:
                request = entry
                try:
                    answer = await self.server.door.answer(request)
                except Exception:  # noqa: BLE001 - one bad request must not kill the connection
                    answer = self._failed(request)
            if not await self._send(request, answer):
                return

    async def _send(self, request: RawRequest, answer: Answer) -> bool:
        """Send one answer and wait for it to drain; whether the connection goes on."""
        on_sent = answer.on_sent
        try:
            if self.closing:
                return False
            keep_alive = self._write_head_and_body(request, answer)
            if answer.streamed and not await self._stream(answer.body):  # type: ignore[arg-type]
                return False
            if not keep_alive:
                self.transport.close()
                return False
            await self.writable.wait()
            return True
        finally:
            if on_sent is not None:
                on_sent()

    async def _stream(self, pieces: Iterable[bytes]) -> bool:
        """Send a body read piece by piece on a worker thread, each piece only once the
        previous one has drained (flow control keeps memory flat). False when the
        connection is gone or the body failed halfway (it is then closed: the client must
        not take a short body for a whole one)."""
        iterator = iter(pieces)
        try:
            while True:
                try:
                    piece = await asyncio.to_thread(next, iterator, None)
                except Exception:
                    log.exception("streaming a body failed")
                    self.transport.close()
                    return False
                if piece is None:
                    return True
                if self.closing:
                    return False
                self.transport.write(piece)
                await self.writable.wait()
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()  # a body abandoned halfway lets go of its file or connection


class HttpServer:
    """One listening socket: the admin port, or the read-only public port."""

    def __init__(self, ctx: HttpContext, app: ASGIApp, public: bool, idle_timeout: float) -> None:
        self.ctx = ctx
        self.app = app
        self.public = public
        self.idle_timeout = idle_timeout
        config = ctx.config
        self.limits = HttpLimits(
            config.max_header_bytes,
            config.max_header_count,
            config.max_url_bytes,
            parse_go_duration(config.read_header_timeout),
        )
        self.body_limit = ctx.file_size_limit + MULTIPART_SLACK
        self.server_header = ctx.server_header.encode()
        self.door = FrontDoor(ctx, app, public)
        self.connections: set[HttpProtocol] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopping = False
        self._server: asyncio.base_events.Server | None = None

    async def start(self, host: str, port: int, sock: socket.socket | None = None) -> None:
        """Listen on ``host:port``, or serve a socket already listening (``-workers``: bound
        once by the supervisor and shared by every worker)."""
        self.loop = loop = asyncio.get_running_loop()
        if sock is not None:
            self._server = await loop.create_server(lambda: HttpProtocol(self), sock=sock)
            return
        self._server = await loop.create_server(
            lambda: HttpProtocol(self), host, port, reuse_address=True, backlog=1024
        )

    async def stop(self) -> None:
        self.stopping = True
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            if not connection.pending and (connection.worker is None or connection.worker.done()):
                connection.transport.close()
        if self._server is not None:
            await self._server.wait_closed()

    # --- bounds ---------------------------------------------------------------------------
    def upload_limit(self, request: RawRequest) -> int:
        """The largest ``Content-Length`` an upload may declare: the file size limit for a
        raw body (``ParseUpload`` refuses a longer one), more for a multipart form."""
        if request.method == "POST":
            content_type = b""
            for name, value in request.headers:
                if name == b"content-type":
                    content_type = value
                    break
            if not content_type or b"form-data" in content_type:
                return self.body_limit
        return self.ctx.file_size_limit

    def oversize_answer(self, request: RawRequest) -> bytes:
        """Go's answer to an upload over ``-fileSizeLimitMB``, sent before the body is read;
        the connection then closes. The public port stores nothing and answers any write an
        empty 200 (``publicReadOnlyHandler``), large or not."""
        if self.public:
            reply = HttpReply(200)
        else:
            limit = self.ctx.file_size_limit
            reply = write_json_error(400, f"file over the limited {limit} bytes")
            stats.FILE_WRITE_FAILURES.inc()
        stats.REQUESTS.inc(request.method, str(reply.status))
        reply.headers["X-Amz-Request-Id"] = request_id()
        head = reply_head(reply, self.server_header)
        return head + per_request_tail(False, False) + reply.body
