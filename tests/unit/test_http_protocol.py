"""The native HTTP/1.1 server over real sockets: keep-alive, pipelining, chunked bodies,
``Expect: 100-continue``, ``Connection: close``, HTTP/1.0 and malformed requests."""

from __future__ import annotations

import socket

import pytest

from tests.support.native_server import running_native

FID = "3,01637037d6"


IDLE_SECONDS = 1


@pytest.fixture
def server(tmp_path):
    with running_native(str(tmp_path), idle_timeout=IDLE_SECONDS) as running:
        yield running.port


def exchange(
    port: int, raw: bytes, responses: int = 1, heads: frozenset[int] = frozenset()
) -> list[tuple[bytes, dict, bytes]]:
    """Send ``raw`` and read ``responses`` complete responses (Content-Length framed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        return read_responses(sock, responses, heads)


def read_responses(
    sock: socket.socket, count: int, heads: frozenset[int] = frozenset()
) -> list[tuple[bytes, dict, bytes]]:
    """``heads``: indexes of answers to HEAD requests, which carry no body."""
    buffer = b""
    out = []
    while len(out) < count:
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                return out
            buffer += chunk
        head, buffer = buffer.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b": ")
            headers[name.decode().lower()] = value.decode()
        if lines[0].split()[1] == b"100":
            continue
        length = 0 if len(out) in heads else int(headers.get("content-length", "0"))
        while len(buffer) < length:
            buffer += sock.recv(65536)
        out.append((lines[0], headers, buffer[:length]))
        buffer = buffer[length:]
    return out


def put(port: int, fid: str, data: bytes) -> None:
    raw = (
        f"PUT /{fid} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-t\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    ).encode() + data
    status, _, _ = exchange(port, raw)[0]
    assert status.startswith(b"HTTP/1.1 201")


def test_keep_alive_and_pipelining_answer_in_order(server) -> None:
    put(server, FID, b"first")
    put(server, "3,02637037d6", b"second")
    pipelined = (
        f"GET /{FID} HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /3,02637037d6 HTTP/1.1\r\nHost: x\r\n\r\n"
        f"HEAD /{FID} HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /status HTTP/1.1\r\nHost: x\r\n\r\n"
    ).encode()
    answers = exchange(server, pipelined, responses=4, heads=frozenset({2}))
    assert [a[2] for a in answers[:2]] == [b"first", b"second"]
    assert answers[2][2] == b"" and answers[2][1]["content-length"] == "5"
    assert answers[3][0].startswith(b"HTTP/1.1 200") and b"Volumes" in answers[3][2]
    assert answers[0][1]["etag"].startswith('"') and "date" in answers[0][1]
    assert answers[0][1]["server"].startswith("SeaweedFS Volume")


def test_chunked_upload_and_expect_continue(server) -> None:
    chunked = (
        f"POST /{FID} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-t\r\n"
        "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
        "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server), timeout=10) as sock:
        head, _, body = chunked.partition(b"\r\n\r\n")
        sock.sendall(head + b"\r\n\r\n")
        assert sock.recv(64).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(body)
        status, _, reply = read_responses(sock, 1)[0]
    assert status.startswith(b"HTTP/1.1 201"), reply
    assert (
        exchange(server, f"GET /{FID} HTTP/1.1\r\nHost: x\r\n\r\n".encode())[0][2] == b"hello world"
    )


def test_connection_close_and_http_1_0_close_the_socket(server) -> None:
    put(server, FID, b"data")
    for request in (
        f"GET /{FID} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        f"GET /{FID} HTTP/1.0\r\n\r\n",
    ):
        with socket.create_connection(("127.0.0.1", server), timeout=10) as sock:
            sock.sendall(request.encode())
            status, headers, body = read_responses(sock, 1)[0]
            assert body == b"data" and headers.get("connection") == "close"
            assert sock.recv(10) == b""  # the server closed its side


def _fsync_post(fid: str, data: bytes, extra: str = "") -> bytes:
    return (
        f"POST /{fid}?fsync=true HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-t\r\n"
        f"Content-Length: {len(data)}\r\n{extra}\r\n"
    ).encode() + data


def test_fsync_uploads_answer_in_order_once_durable(server) -> None:
    """A plain ``fsync=true`` upload waits for its group commit without holding up the
    connection's order: pipelined uploads and a read behind them answer in turn."""
    pipelined = (
        _fsync_post(FID, b"one")
        + _fsync_post("3,02637037d6", b"two")
        + f"GET /{FID} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        + _fsync_post("3,03637037d6", b"three")
    )
    answers = exchange(server, pipelined, responses=4)
    assert [a[0].split()[1] for a in answers] == [b"201", b"201", b"200", b"201"]
    assert b'"size":3' in answers[0][2] and b'"size":5' in answers[3][2]
    assert answers[2][2] == b"one"
    with socket.create_connection(("127.0.0.1", server), timeout=10) as sock:
        for number in range(3):  # one at a time on a kept-alive connection
            sock.sendall(_fsync_post(f"3,0{number + 4}637037d6", b"x" * number))
            assert read_responses(sock, 1)[0][0].startswith(b"HTTP/1.1 201")
    read = b"GET /3,06637037d6 HTTP/1.1\r\nHost: x\r\n\r\n"
    assert exchange(server, read)[0][2] == b"xx"


def test_an_fsync_upload_with_connection_close_answers_then_closes(server) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=10) as sock:
        sock.sendall(_fsync_post(FID, b"last", "Connection: close\r\n"))
        status, headers, _ = read_responses(sock, 1)[0]
        assert status.startswith(b"HTTP/1.1 201") and headers.get("connection") == "close"
        assert sock.recv(10) == b""


def test_malformed_request_is_400(server) -> None:
    status, _, _ = exchange(server, b"NOT A REQUEST\r\n\r\n")[0]
    assert status.startswith(b"HTTP/1.1 400")


def test_openapi_is_served_through_the_bridge(server) -> None:
    status, headers, body = exchange(server, b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")[0]
    assert status.startswith(b"HTTP/1.1 200") and b'"/{vid},{fid}"' in body
    assert headers["content-type"] == "application/json"


def test_idle_connections_are_closed_and_active_ones_kept(server) -> None:
    """``-idleTimeout``: a connection that stays silent for it is closed; requests keep it."""
    import time

    with socket.create_connection(("127.0.0.1", server), timeout=10) as sock:
        opened = time.monotonic()
        assert sock.recv(1) == b""  # the server closed it
        # (libuv times from the loop's clock, cached per iteration in whole milliseconds: the
        # close may come a few milliseconds early by this process's clock)
        assert IDLE_SECONDS - 0.05 <= time.monotonic() - opened < IDLE_SECONDS + 3
    with socket.create_connection(("127.0.0.1", server), timeout=10) as sock:
        deadline = time.monotonic() + IDLE_SECONDS * 1.6
        while time.monotonic() < deadline:  # busy past an idle period
            sock.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_responses(sock, 1)[0][0].startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize(
    ("query", "extra"),
    [
        ("", ""),  # the plain branch
        ("?ts=1700000000", ""),  # an option: the general path
        ("", "Origin: http://elsewhere\r\n"),  # CORS: the general path
        ("?fsync=true", "Origin: http://elsewhere\r\n"),
        ("?ttl=3m&fsync=true", ""),
    ],
)
def test_every_upload_answer_carries_a_request_id_and_its_cors_headers(
    server, query: str, extra: str
) -> None:
    """Go's request-id middleware answers every request with ``X-Amz-Request-Id``, and the
    file handler adds the CORS headers to every answer of a request with an ``Origin``,
    whichever way the upload is stored."""
    raw = (
        f"POST /{FID}{query} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-t\r\n"
        f"Content-Length: 4\r\n{extra}\r\ndata"
    ).encode()
    status, headers, body = exchange(server, raw)[0]
    assert status.startswith(b"HTTP/1.1 201") and b'"size":4' in body
    assert len(headers["x-amz-request-id"]) >= 24
    assert ("access-control-allow-origin" in headers) == bool(extra)
    if extra:
        assert headers["access-control-allow-credentials"] == "true"


@pytest.mark.parametrize("query", ["fsync=true", "fsync=true&ts=1700000000"])
def test_an_upload_whose_fsync_fails_is_a_500_counted_as_go_counts_it(
    tmp_path, monkeypatch, query: str
) -> None:
    """The plain branch (``fsync=true`` alone) and the general one (an option beside it)
    answer a failed fsync with Go's 500; as ``ReplicatedWrite`` (store_replicate.go), the
    write is timed and counted as a local-disk error, but not as a write to zero replicas:
    Go counts those after a successful local write only."""
    from seaweed_volume.core import stats

    def failing_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    errors = stats.HANDLER.values.get((stats.ERROR_WRITE_TO_LOCAL_DISK,), 0.0)
    targets = stats.REPLICATION_TARGETS.count()
    writes = stats.REQUEST_SECONDS.count(stats.WRITE_TO_LOCAL_DISK)
    with running_native(str(tmp_path)) as running:
        monkeypatch.setattr("os.fsync", failing_fsync)
        raw = (
            f"POST /{FID}?{query} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-t\r\n"
            "Content-Length: 4\r\n\r\ndata"
        ).encode()
        status, headers, body = exchange(running.port, raw)[0]
        monkeypatch.undo()
    assert status == b"HTTP/1.1 500 Internal Server Error"
    assert headers["content-type"] == "application/json"
    assert b'"failed to write to local disk: input/output error"' in body
    assert stats.HANDLER.values[(stats.ERROR_WRITE_TO_LOCAL_DISK,)] == errors + 1
    assert stats.REQUEST_SECONDS.count(stats.WRITE_TO_LOCAL_DISK) == writes + 1
    assert stats.REPLICATION_TARGETS.count() == targets
