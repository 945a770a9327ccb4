"""Differential: bounded inputs and malformed requests, sent as raw bytes to the Go 4.48
volume server and to ours (both with ``-fileSizeLimitMB=1`` and a public port).

Go's plain-text ``net/http`` answers (431 for a head past 1 MiB, 400 for blank lines or a
request line without a version, 505 for another HTTP version) must be ours byte for byte;
long URLs, uploads over the size limit and writes to the public port answer as Go does.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest

from tests.support.go_cluster import free_port_pair, http
from tests.support.pair import go_and_ours
from tests.unit.test_http_bounds import flood

_PER_ANSWER = re.compile(rb"(Date|X-Amz-Request-Id|Server): [^\r]*\r\n")


@dataclass
class Pair:
    go_url: str
    our_url: str
    go_public: int
    our_public: int

    @property
    def ports(self) -> tuple[int, int]:
        return _port(self.go_url), _port(self.our_url)


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory):
    go_public, our_public = free_port_pair(), free_port_pair()
    with go_and_ours(
        str(tmp_path_factory.mktemp("bounds")),
        our_flags=[f"-port.public={our_public}", "-fileSizeLimitMB=1"],
        go_flags=[f"-port.public={go_public}", "-fileSizeLimitMB=1"],
    ) as (go_url, our_url):
        yield Pair(go_url, our_url, go_public, our_public)


def both_raw(ports: tuple[int, int], head: bytes, piece: bytes = b"", total: int = 0):
    """Each server's answer to the same bytes, per-answer headers removed."""
    return tuple(_PER_ANSWER.sub(b"", flood(port, head, piece, total)) for port in ports)


@pytest.mark.parametrize(
    ("name", "head", "piece", "total"),
    [
        (
            "one 2 MiB header line",
            b"GET /status HTTP/1.1\r\nHost: x\r\nX-L: ",
            b"a" * 65536,
            2 << 20,
        ),
        (
            "400,000 header lines",
            b"GET /status HTTP/1.1\r\nHost: x\r\n",
            b"X-A: b\r\n" * 8192,
            3200000,
        ),
        ("blank lines only", b"\r\n\r\n\r\n\r\n", b"", 0),
        ("HTTP/0.9 line", b"GET /\r\n", b"", 0),
        ("HTTP/2.0 line", b"GET / HTTP/2.0\r\n\r\n", b"", 0),
    ],
)
def test_malformed_or_oversized_heads_get_go_s_answer(servers, name, head, piece, total) -> None:
    go, ours = both_raw(servers.ports, head, piece, total)
    assert go.startswith(b"HTTP/1.1 4") or go.startswith(b"HTTP/1.1 5"), (name, go)
    assert ours == go, name


@pytest.mark.parametrize(
    ("path", "status"),
    [(b"/" + b"a" * 70_000, b"400"), (b"/1,0e637037d6?q=" + b"a" * 70_000, b"404")],
)
def test_urls_past_64k_are_answered(servers, path: bytes, status: bytes) -> None:
    head = b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    go, ours = both_raw(servers.ports, head)
    go_status, ours_status = go.split(b"\r\n", 1)[0], ours.split(b"\r\n", 1)[0]
    assert go_status.startswith(b"HTTP/1.1 " + status + b" ")
    assert ours_status == go_status


def test_an_upload_over_the_limit_gets_go_s_error(servers) -> None:
    """Go reads the first MiB then refuses; we refuse at the headers. Same status and JSON."""
    size = 2 << 20
    head = (
        b"PUT /1,0f637037d6 HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Length: %d\r\n\r\n" % size
    )
    go, ours = both_raw(servers.ports, head, b"x" * 65536, size)
    for answer in (go, ours):
        status, _, rest = answer.partition(b"\r\n")
        assert status == b"HTTP/1.1 400 Bad Request"
        body = rest.split(b"\r\n\r\n", 1)[1]
        assert json.loads(body) == {"error": "file over the limited 1048576 bytes"}


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_writes_to_the_public_port_are_an_empty_200(servers, method: str) -> None:
    """Go 4.48's ``publicReadOnlyHandler`` answers any write an empty 200 and stores
    nothing (checked by running it: no 307, no Location)."""
    answers = []
    for url, public in ((servers.go_url, servers.go_public), (servers.our_url, servers.our_public)):
        fid = "1,10637037d6"
        status, headers, body = http(method, f"http://127.0.0.1:{public}/{fid}", b"hello", {})
        stored = http("GET", f"{url}/{fid}")[0]
        answers.append(
            (status, headers.get("Content-Length"), headers.get("Location"), body, stored)
        )
    assert answers[0] == answers[1] == (200, "0", None, b"", 404)
