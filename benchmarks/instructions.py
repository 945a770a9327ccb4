"""Machine instructions per request of the HTTP pipeline, counted by valgrind's callgrind.

Requests/s and even CPU time per request swing by 25% on a shared machine; the number of
instructions a request executes does not (two runs agree within 0.1%), so a change to the hot
path can be judged by it before the wrk benchmarks judge it against Go. What runs is the real
pipeline in one process: a volume in a temporary directory, the admin port's protocol object
fed whole requests as uvloop would feed them, answers written to a transport that only
counts; what the warm-up allocated is frozen out of the garbage collector's older generations
first. Only the measured requests are counted (callgrind collects inside
``itertools.starmap``, which drives them and nothing else). Syscalls are not instructions of
the process: ``pwrite`` and ``pread`` cost kernel time this figure leaves out.

* ``post``: raw 1 KiB uploads of new needles;
* ``post-jwt``: the same on a server with a write key, each with its own HS256 token;
* ``get``: reads of needles whose answer heads are kept (each read once before);
* ``first-read``: first reads of needles just written (no kept head).

Needs ``valgrind``. Run: ``.venv/bin/python benchmarks/instructions.py [--requests 400]
[post get first-read]``; the compiled build (``scripts/compile_hot.py``) is measured when it
is in place. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import hashlib
import hmac
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile

MODES = ("post", "post-jwt", "get", "first-read")
_BODY = b"x" * 1024
_WARM = 300  # needles written (and, for get, read) before the measured requests


_WRITE_KEY = b"instructions-benchmark-write-key"
_JWT_HEADER = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _token(fid: str) -> str:
    """An HS256 write token for ``fid``, as the master signs them."""
    claims = json.dumps({"exp": 4_000_000_000, "fid": fid}, separators=(",", ":"))
    signing_input = _JWT_HEADER + "." + _b64(claims.encode())
    signature = hmac.new(_WRITE_KEY, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _upload(key: int, signed: bool = False) -> bytes:
    fid = f"3,{key:x}deadbeef"
    query = f"?jwt={_token(fid)}" if signed else ""
    return (
        f"POST /{fid}{query} HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: application/octet-stream\r\nContent-Length: 1024\r\n\r\n"
    ).encode() + _BODY


def _read(key: int) -> bytes:
    return f"GET /3,{key:x}deadbeef HTTP/1.1\r\nHost: x\r\n\r\n".encode()


class _CountingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.answers = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.answers += 1

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass


async def _drive(mode: str, count: int, directory: str) -> None:
    from seaweed_volume.adapters.http.app import create_app
    from seaweed_volume.adapters.http.auth import JwtGuard
    from seaweed_volume.adapters.http.context import HttpContext
    from seaweed_volume.adapters.http.protocol import HttpProtocol, HttpServer
    from seaweed_volume.config import VolumeServerConfig
    from seaweed_volume.container import build_container

    config = VolumeServerConfig(dirs=[directory], max_volume_counts=[4])
    store = build_container(config).store()
    store.add_volume(3)
    signed = mode == "post-jwt"
    ctx = HttpContext(store, config, guard=JwtGuard(write_key=_WRITE_KEY if signed else b""))
    protocol = HttpProtocol(HttpServer(ctx, create_app(ctx), public=False, idle_timeout=0))
    transport = _CountingTransport()
    protocol.connection_made(transport)
    first = 0x1000
    written = count if mode == "first-read" else _WARM
    for key in range(first, first + written):
        protocol.data_received(_upload(key, signed))
    if mode.startswith("post"):
        requests = [_upload(first + written + i, signed) for i in range(count)]
    elif mode == "get":
        requests = [_read(first + i % _WARM) for i in range(count)]
        for request in requests[:_WARM]:
            protocol.data_received(request)  # the first reads keep their heads
    else:
        requests = [_read(first + i) for i in range(count)]
    # What the warm-up left is set aside from the collector: whether a collection of the
    # older generations (several million instructions) lands among the measured requests
    # would otherwise decide the figure. Young collections still count.
    gc.collect()
    gc.freeze()
    before = transport.answers
    for _ in itertools.starmap(protocol.data_received, [(r,) for r in requests]):
        pass
    if transport.answers - before != count:
        raise SystemExit(f"{mode}: {transport.answers - before} answers to {count} requests")


def _count(mode: str, requests: int) -> int:
    """Instructions per request of ``mode``, from a callgrind run of this script."""
    with tempfile.TemporaryDirectory(prefix="instructions-") as work:
        result = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--collect-atstart=no",
                "--toggle-collect=starmap_next",
                f"--callgrind-out-file={os.path.join(work, 'callgrind.out')}",
                sys.executable,
                __file__,
                "--inner",
                mode,
                "--requests",
                str(requests),
            ],
            env={**os.environ, "PYTHONHASHSEED": "0"},
            capture_output=True,
            text=True,
            check=True,
        )
    collected = re.search(r"Collected : (\d+)", result.stderr)
    if collected is None:
        raise SystemExit(f"no count from callgrind:\n{result.stderr[-2000:]}")
    return int(collected[1]) // requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modes", nargs="*", help=f"any of {', '.join(MODES)} (default: all)")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--inner", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    unknown = set(args.modes) - set(MODES)
    if unknown:
        parser.error(f"unknown modes {sorted(unknown)}: choose from {', '.join(MODES)}")
    if args.inner:
        import uvloop

        with tempfile.TemporaryDirectory(prefix="instructions-") as directory:
            uvloop.run(_drive(args.inner, args.requests, directory))
        return
    for mode in args.modes or MODES:
        print(f"{mode:<11} {_count(mode, args.requests):>9,} instructions per request", flush=True)


if __name__ == "__main__":
    main()
