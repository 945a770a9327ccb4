"""A bounded raw-HTTP fuzz pass against our server under a real Go master, with one process
and with ``-workers=2``: thousands of malformed and odd requests (broken request lines, bad
or duplicated headers, lying lengths, broken chunking, multipart and gzip, ranges, huge
values, random bytes), each on its own connection whose sending side is then closed.

Every connection must end within seconds (no hang); every answer must be a well-formed status
line below 500 (or Go's 505 for an HTTP version it does not speak); the server's memory must
stay bounded; and the files stored before the pass must read back intact afterwards. The
generator is seeded, so a failure names a reproducible case. Writes only target a volume the
server holds, with one cookie, so no answer may be a legitimate Go 5xx (a cookie mismatch, or
a write to a volume held elsewhere).
"""

from __future__ import annotations

import os
import random
import socket
import time
from collections.abc import Iterator

import pytest

from tests.support.go_cluster import GoCluster, http, wait_until
from tests.support.our_server import OurServer

pytestmark = pytest.mark.hardening

CASES = 1500
CONNECTION_SECONDS = 10.0
RSS_GROWTH_LIMIT = 64 * 1024 * 1024
COOKIE = "0000beef"
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "G\x00T", ""]
CONTENT_TYPES = [
    "text/plain",
    "multipart/form-data; boundary=xyz",
    "multipart/form-data",
    "multipart/form-data; boundary=" + "b" * 5000,
    "application/x-www-form-urlencoded",
    ";;;",
    "image/jpeg",
]
RANGES = ["bytes=0-0", "bytes=-5", "bytes=5-1", "bytes=0-1,3-4," * 50, "bytes=", "pages=1-2"]
VERSIONS = ["HTTP/1.1", "HTTP/1.0", "HTTP/1.1", "HTTP/2.0", "HTTP/1.x", "", "HTTP/1.1 extra"]


@pytest.fixture(scope="module", params=[1, 2], ids=["one process", "two workers"])
def server(request, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OurServer, int]]:
    workdir = str(tmp_path_factory.mktemp("fuzz"))
    go = GoCluster(workdir)
    with go.running():
        go.start_master()
        ours = OurServer(
            os.path.join(workdir, "ours"),
            go.master_port,
            os.path.join(workdir, "ours.log"),
            extra=[f"-workers={request.param}", "-fileSizeLimitMB=4"],
        )
        ours.start()
        try:
            ours.wait_registered(go.master_url)
            http("GET", f"{go.master_url}/vol/grow?count=1&collection=fuzz")
            vid = int(go.assign(collection="fuzz")["fid"].split(",")[0])
            yield ours, vid
        finally:
            ours.stop()


def server_rss(ours: OurServer) -> int:
    """Resident bytes of the server's processes (the one started and its children)."""
    assert ours.process is not None
    pids = [ours.process.pid]
    with open(f"/proc/{pids[0]}/task/{pids[0]}/children") as src:
        pids += [int(p) for p in src.read().split()]
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


class Generator:
    def __init__(self, rng: random.Random, vid: int) -> None:
        self.rng = rng
        self.vid = vid

    def pick(self, *options):
        return self.rng.choice(options)

    def noise(self, most: int) -> bytes:
        return self.rng.randbytes(self.rng.randint(0, most))

    def path(self) -> str:
        key = f"{self.rng.randint(1, 2**32):x}"
        return self.pick(
            f"/{self.vid},{key}{COOKIE}",
            f"/{self.vid}/{key}{COOKIE}/name.txt",
            f"/{self.vid},{key}{COOKIE}.jpg?width=40&height=9999999&mode=fit",
            f"/{self.vid},{key}{COOKIE}?dl=true&readDeleted=maybe&ts=-5&ttl=99y",
            f"/{self.vid},zz{key}",
            f"/{self.vid},{key}{COOKIE}%zz;a=b&&&c",
            "/status?pretty=y",
            "/healthz",
            "/ui/index.html",
            "/" + "a" * self.rng.randint(1, 70_000),
            f"/{self.vid}," + "f" * self.rng.randint(30, 300),
            "/" + self.noise(40).decode("latin-1").replace("\r", "").replace("\n", ""),
            "*",
            "",
        )

    def headers(self, body: bytes) -> list[str]:
        candidates = [
            f"Content-Length: {len(body)}",
            f"Content-Length: {self.pick(-1, 0, len(body) + 10, 2**63, 'abc', 10**30)}",
            "Transfer-Encoding: chunked",
            f"Transfer-Encoding: {self.pick('gzip', 'chunked, chunked', 'bogus')}",
            "Content-Type: " + self.pick(*CONTENT_TYPES),
            f"Content-Encoding: {self.pick('gzip', 'br', 'gzip, gzip')}",
            f"Content-MD5: {self.pick('', 'AAAA', 'x' * 40)}",
            "Range: " + self.pick(*RANGES),
            "If-None-Match: " + self.pick("*", '"abc"', ""),
            f"If-Modified-Since: {self.pick('Mon, 02 Jan 2006 15:04:05 GMT', 'yesterday')}",
            "Accept-Encoding: gzip",
            f"Authorization: Bearer {self.noise(30).hex()}",
            f"Cookie: AT={self.noise(20).hex()}; ===",
            f"Seaweed-{self.noise(6).hex()}: {self.noise(10).hex()}",
            "Expect: 100-continue",
            "Connection: close",
            f"X-{'h' * self.rng.randint(1, 3000)}: v",
            f"Origin: http://{self.noise(8).hex()}",
            ": no name",
            "no colon at all",
        ]
        return self.rng.sample(candidates, self.rng.randint(0, 6))

    def body(self) -> bytes:
        kind = self.rng.randrange(6)
        if kind == 0:
            return b""
        if kind == 1:
            return self.noise(3000)
        if kind == 2:  # a well-formed multipart form
            return (
                b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
                b"Content-Type: text/plain\r\n\r\n" + self.noise(500) + b"\r\n--xyz--\r\n"
            )
        if kind == 3:  # a broken one
            return b'--xyz\r\nContent-Disposition: form-data; name="file\r\n\r\n' + self.noise(200)
        if kind == 4:  # chunks, possibly lying
            size = self.rng.randint(0, 100)
            declared = self.pick(f"{size:x}", "zz", f"{size + 50:x}", "-1", "f" * 20)
            return f"{declared}\r\n".encode() + self.noise(size) + b"\r\n0\r\n\r\n"
        return b"\x1f\x8b\x08\x00" + self.noise(100)  # gzip magic, then garbage

    def request(self) -> bytes:
        if self.rng.random() < 0.05:
            return self.noise(400)  # not HTTP at all
        if self.rng.random() < 0.03:
            return b"\r\n" * self.rng.randint(1, 20)
        body = self.body()
        line = f"{self.pick(*METHODS)} {self.path()} {self.pick(*VERSIONS)}".rstrip()
        head = [line, "Host: 127.0.0.1", *self.headers(body)]
        raw = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1", "replace")
        return raw + body


def exchange(port: int, raw: bytes) -> bytes:
    """Send ``raw``, close our sending side, read until the server closes (bounded)."""
    deadline = time.monotonic() + CONNECTION_SECONDS
    with socket.create_connection(("127.0.0.1", port), timeout=CONNECTION_SECONDS) as sock:
        try:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may refuse and close before taking everything
        answer = bytearray()
        while True:
            if time.monotonic() > deadline:
                raise AssertionError(f"connection still open after {CONNECTION_SECONDS}s")
            try:
                piece = sock.recv(65536)
            except ConnectionResetError:
                break
            if not piece:
                break
            answer += piece
            if len(answer) > 32 * 1024 * 1024:
                raise AssertionError("an answer over 32 MiB")
    return bytes(answer)


def test_no_malformed_request_gets_a_5xx_hangs_or_grows_memory(server) -> None:
    ours, vid = server
    stored = {}
    for key in range(1, 21):
        path = f"/{vid},{key:x}{COOKIE}"
        body = os.urandom(200 + key * 50)
        assert http("POST", f"{ours.url}{path}", body, {"Content-Type": "text/x"})[0] == 201
        stored[path] = body
    rss_before = server_rss(ours)
    generate = Generator(random.Random(20261202), vid)
    for case in range(CASES):
        raw = generate.request()
        answer = exchange(ours.port, raw)
        for line in answer.split(b"\r\n"):
            if line.startswith(b"HTTP/1."):
                status = int(line.split(b" ")[1])
                allowed = 100 <= status < 500 or status == 505  # Go's answer to HTTP/2.0 etc.
                assert allowed, f"case {case}: {line!r} for {raw[:300]!r}"
    wait_until(lambda: http("GET", f"{ours.url}/status")[0] == 200, what="the server to answer")
    assert server_rss(ours) - rss_before < RSS_GROWTH_LIMIT
    for path, body in stored.items():
        assert http("GET", f"{ours.url}{path}")[::2] == (200, body), path
