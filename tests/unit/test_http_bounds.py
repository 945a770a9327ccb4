"""Bounds on every request input of the native server (the hardening issue's "bound every
input"): head bytes, header count, URL length, time to send the head, malformed request
lines, and uploads over ``-fileSizeLimitMB`` refused before their body is read. The answers
are Go 4.48's (``net/http``'s plain-text errors, the volume server's JSON size error)."""

from __future__ import annotations

import json
import os
import select
import socket
import threading
import time

import pytest

from seaweed_volume.adapters.http.protocol import body_of
from tests.support.go_cluster import wait_until
from tests.support.native_server import running_native
from tests.unit.test_http_protocol import exchange, read_responses

GO_431 = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; charset=utf-8"
    b"\r\nConnection: close\r\n\r\n431 Request Header Fields Too Large"
)
GO_400 = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Connection: close\r\n\r\n400 Bad Request"
)


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def flood(port: int, head: bytes, piece: bytes, total: int) -> bytes:
    """Send ``head`` then ``piece`` repeatedly (``total`` bytes at most) until the server
    answers; return everything it sent before closing. The sender's memory stays flat."""
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(head)
            sent = 0
            while sent < total:
                if select.select([sock], [], [], 0)[0]:
                    break  # an answer (or the close) is there: stop sending
                sock.sendall(piece)
                sent += len(piece)
        except OSError:
            pass  # the server closed while we were still sending: read what it wrote
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except OSError:
            pass
    return received


@pytest.fixture
def server(tmp_path):
    with running_native(str(tmp_path)) as running:
        yield running


def test_one_huge_header_line_is_431_with_flat_memory(server) -> None:
    """Go 4.48 answers 431 once the head passes ~1 MiB; 64 MiB of one header line neither
    waits forever nor grows the server."""
    before = rss_bytes()
    answer = flood(
        server.port,
        b"GET /status HTTP/1.1\r\nHost: x\r\nX-Long: ",
        b"a" * (1 << 20),
        64 << 20,
    )
    assert answer == GO_431
    assert rss_bytes() - before < 24 << 20
    assert exchange(server.port, b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")[0][0].endswith(
        b"200 OK"
    )


def test_many_header_lines_are_431(server) -> None:
    """400,000 header lines (3 MiB) pass the head's byte bound: 431, as Go."""
    answer = flood(
        server.port, b"GET /status HTTP/1.1\r\nHost: x\r\n", b"X-A: b\r\n" * 50_000, 400_000 * 8
    )
    assert answer == GO_431


def test_a_head_just_under_the_byte_limit_is_served(server) -> None:
    head = b"GET /status HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 1_000_000 + b"\r\n\r\n"
    status, _, body = exchange(server.port, head)[0]
    assert status.endswith(b"200 OK") and json.loads(body)["Version"]


def test_header_count_and_url_length_limits(tmp_path) -> None:
    with running_native(str(tmp_path), max_header_count=50, max_url_bytes=1000) as running:
        port = running.port
        headers = b"".join(b"X-H%d: v\r\n" % i for i in range(49))
        ok = exchange(port, b"GET /status HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
        assert ok[0][0].endswith(b"200 OK")
        answer = flood(port, b"GET /status HTTP/1.1\r\nHost: x\r\nX-A: b\r\n" + headers, b"\r\n", 2)
        assert answer == GO_431
        url = b"/status?" + b"q" * (1000 - 8)
        assert exchange(port, b"GET " + url + b" HTTP/1.1\r\nHost: x\r\n\r\n")[0][0].endswith(
            b"200 OK"
        )
        answer = flood(port, b"GET " + url + b"q HTTP/1.1\r\nHost: x\r\n\r\n", b"", 0)
        assert answer.startswith(b"HTTP/1.1 414 Request URI Too Long\r\n")


def test_a_small_head_byte_limit_is_exact(tmp_path) -> None:
    """Below one read's size the head is measured exactly, however it arrives."""
    with running_native(str(tmp_path), max_header_bytes=4096) as running:
        small = b"GET /status HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 3000 + b"\r\n\r\n"
        assert exchange(running.port, small)[0][0].endswith(b"200 OK")
        large = b"GET /status HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 5000 + b"\r\n\r\n"
        assert flood(running.port, large, b"", 0) == GO_431


def test_urls_past_64k_are_answered_as_go_does(server) -> None:
    """httptools' URL parser stops at 65,535 bytes; Go answers such a URL as any other:
    400 for a path that is no file id, 404 for an unknown file with a long query."""
    status, headers, _ = exchange(
        server.port, b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    )[0]
    assert status == b"HTTP/1.1 400 Bad Request" and headers["content-length"] == "0"
    status, _, _ = exchange(
        server.port, b"GET /3,01637037d6?" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    )[0]
    assert status == b"HTTP/1.1 404 Not Found"


def test_slow_headers_are_cut_off_at_the_deadline(tmp_path) -> None:
    """A client trickling header lines (each well inside the idle timeout) is disconnected
    once ``-readHeaderTimeout`` has passed since its head began."""
    with running_native(str(tmp_path), read_header_timeout="500ms") as running:
        with socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock:
            started = time.monotonic()
            sock.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\n")
            closed = False
            try:
                for _ in range(100):  # up to 10 s of trickling, a line every 0.1 s
                    sock.sendall(b"X-Slow: 1\r\n")
                    if select.select([sock], [], [], 0.1)[0]:
                        closed = sock.recv(1) == b""
                        break
            except ConnectionResetError:
                closed = True
            assert closed
            # libuv times from the loop's clock, cached per iteration in whole milliseconds:
            # the cut may come a few milliseconds before 0.5 s by this process's clock.
            assert 0.45 <= time.monotonic() - started < 3
        # a complete head in time is served on the same server
        assert exchange(running.port, b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")[0][0].endswith(
            b"200 OK"
        )


@pytest.mark.parametrize(
    ("raw", "answer"),
    [
        (b"\r\n\r\n\r\n\r\n", GO_400),
        (b"\r\nGET /status HTTP/1.1\r\nHost: x\r\n\r\n", GO_400),
        (b"GET /\r\n", GO_400),
        (b"GET /status\r\n\r\n", GO_400),
        (
            b"GET / HTTP/2.0\r\n\r\n",
            b"HTTP/1.1 505 HTTP Version Not Supported: unsupported protocol version\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
            b"505 HTTP Version Not Supported: unsupported protocol version",
        ),
    ],
)
def test_blank_lines_and_http_0_9_are_answered_at_once(server, raw: bytes, answer: bytes) -> None:
    """Go answers these 400 (505 for another protocol version) instead of waiting."""
    assert flood(server.port, raw, b"", 0) == answer


def test_a_refusal_waits_for_earlier_pipelined_answers(server) -> None:
    """The OpenAPI document is answered on a task: the refusal pipelined behind it comes
    after it, then the connection closes."""
    raw = b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\nGET /status\r\n\r\n"
    everything = flood(server.port, raw, b"", 0)
    head, _, rest = everything.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    assert head.startswith(b"HTTP/1.1 200 OK") and b"openapi" in rest[:length]
    assert rest[length:] == GO_400


def test_an_upload_over_the_size_limit_is_refused_before_its_body(tmp_path) -> None:
    """A ``Content-Length`` over ``-fileSizeLimitMB`` gets Go's 400 at once (no
    ``100 Continue``, no body read) and the connection closes; nothing stays counted."""
    with running_native(str(tmp_path), file_size_limit_mb=1) as running:
        for method, content_type in (("PUT", "text/plain"), ("POST", "multipart/form-data")):
            head = (
                f"{method} /3,01637037d6 HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}"
                f"\r\nContent-Length: {300 << 20}\r\nExpect: 100-continue\r\n\r\n"
            ).encode()
            answer = flood(running.port, head, b"", 0)
            status, _, rest = answer.partition(b"\r\n")
            assert status == b"HTTP/1.1 400 Bad Request"
            head_text, _, body = rest.partition(b"\r\n\r\n")
            assert b"Connection: close" in head_text and b"Content-Type: application/json" in (
                head_text
            )
            assert json.loads(body) == {"error": "file over the limited 1048576 bytes"}
        assert running.native.ctx.uploads.in_flight == 0
        # a raw body at the limit is stored
        data = b"x" * (1 << 20)
        raw = (
            b"PUT /3,01637037d6 HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
            b"Content-Length: %d\r\n\r\n" % len(data)
        ) + data
        assert exchange(running.port, raw)[0][0] == b"HTTP/1.1 201 Created"


def test_a_chunked_upload_is_cut_off_past_the_limit(tmp_path) -> None:
    with running_native(str(tmp_path), file_size_limit_mb=1) as running:
        before = rss_bytes()
        piece = b"x" * (1 << 20)
        chunk = b"%x\r\n" % len(piece) + piece + b"\r\n"
        head = (
            b"PUT /3,01637037d6 HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        answer = flood(running.port, head, chunk, 64 << 20)
        assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
        assert answer.endswith(b'{"error":"file over the limited 1048576 bytes"}')
        assert rss_bytes() - before < 24 << 20


class PeakRss:
    """The process's largest RSS while the ``with`` block runs, sampled every 2 ms."""

    def __enter__(self) -> PeakRss:
        self.base = self.peak = rss_bytes()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample)
        self.thread.start()
        return self

    def _sample(self) -> None:
        while not self.done.wait(0.002):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()

    @property
    def growth(self) -> int:
        return self.peak - self.base


@pytest.mark.parametrize("form", [False, True])
def test_a_large_upload_is_held_once(server, form: bool) -> None:
    """A 50 MB upload (raw or a multipart form) is received into one buffer of its length,
    the file part is a view of it and the record is written from its pieces: the server
    grows by about the upload's size (it grew by three times that)."""
    size = 50 << 20
    data = os.urandom(size)
    if form:
        boundary = "f0rmb0undary"
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.bin"'
                "\r\nContent-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        head = (
            f"POST /3,01637037d6 HTTP/1.1\r\nContent-Type: multipart/form-data; boundary={boundary}"
        )
    else:
        body = data
        head = "PUT /3,01637037d6 HTTP/1.1\r\nContent-Type: application/octet-stream"
    raw_head = f"{head}\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    with PeakRss() as memory, socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(raw_head)
        view = memoryview(body)
        for start in range(0, len(body), 1 << 20):
            sock.sendall(view[start : start + (1 << 20)])
        status, _, answer = read_responses(sock, 1)[0]
    assert status == b"HTTP/1.1 201 Created" and json.loads(answer)["size"] == size
    # Measured on the whole test process, beside whatever the suite ran in it before: ~1.0-1.5x
    # here (it was 3x before the upload was held once).
    assert memory.growth < size * 1.75
    assert server.call(server.store.read_needle, 3, 1).data == data


@pytest.mark.parametrize(("extra", "answered"), [(b"\r\n", True), (b"\r\n\r\n\r\n", False)])
def test_a_line_break_after_a_post_body_is_tolerated(server, extra: bytes, answered: bool) -> None:
    """Go skips up to four CR/LF bytes after a POST (old clients end the body with one);
    more are a malformed request (checked against the Go binary)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /3,01637037d6 HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
            b"Content-Length: 2\r\n\r\nhi"
        )
        assert read_responses(sock, 1)[0][0] == b"HTTP/1.1 201 Created"
        sock.sendall(extra + b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
        rest = b""
        while b"\r\n\r\n" not in rest and (chunk := sock.recv(65536)):
            rest += chunk
    if answered:
        assert rest.startswith(b"HTTP/1.1 200 OK")
    else:
        assert rest == GO_400


def test_pipelined_requests_do_not_count_toward_the_next_head(tmp_path) -> None:
    """With a 4 KiB head bound, 200 small pipelined requests and the start of one more in a
    single read are served: only the unfinished head's own bytes count."""
    with running_native(str(tmp_path), max_header_bytes=4096) as running:
        request = b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n"
        with socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock:
            sock.sendall(request * 200 + b"GET /status HTTP/1.1\r\nHost: x\r\n")
            answers = read_responses(sock, 200)
            sock.sendall(b"\r\n")
            answers += read_responses(sock, 1)
        assert len(answers) == 201 and all(a[0].endswith(b"200 OK") for a in answers)


def test_a_declared_length_reserves_nothing(server) -> None:
    """Five uploads declaring 250 MB each (under the 256 MB limit) that send 1 MiB: the
    server holds what arrived, not what was declared."""
    before = rss_bytes()
    sockets = []
    try:
        for key in range(5):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            sockets.append(sock)
            sock.sendall(
                b"PUT /3,%02x637037d6 HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                b"Content-Length: %d\r\n\r\n" % (key + 1, 250 << 20)
            )
            sock.sendall(b"x" * (1 << 20))

        def received() -> int:
            return sum(
                len(body_of(connection.current))
                for connection in server.native.connections
                if connection.current is not None
            )

        wait_until(lambda: server.call(received) == 5 << 20, timeout=10, what="the bodies")
        assert server.call(lambda: server.native.ctx.uploads.in_flight) == 5 * (250 << 20)
        assert rss_bytes() - before < 24 << 20
    finally:
        for sock in sockets:
            sock.close()


def test_bodies_no_handler_reads_are_not_held(server) -> None:
    """A GET or DELETE with a 64 MB body is answered as without one (as Go does) and its
    bytes are dropped as they arrive."""
    before = rss_bytes()
    size = 64 << 20
    for method in (b"GET", b"DELETE"):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(
                method + b" /status HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size
            )
            piece = bytes(1 << 20)
            for _ in range(size >> 20):
                sock.sendall(piece)
            status, _, body = read_responses(sock, 1)[0]
        assert status.endswith(b"200 OK") and json.loads(body)["Version"]
    assert rss_bytes() - before < 24 << 20
