"""Inflation is bounded by the file size limit (Go 4.48 has no bound: a 199 KiB gzip body
of 200 MiB passes ``-fileSizeLimitMB=16`` and is inflated on every read), gzip streams that
do not inflate are answered as Go answers them, and image resizes have a pixel cap."""

from __future__ import annotations

import gzip
import io
import json
import struct
import time
import zlib

import pytest
from PIL import Image

from seaweed_volume.adapters.http import images
from seaweed_volume.adapters.http.images import TooManyPixels
from tests.support.native_server import running_native
from tests.unit.test_http_bounds import rss_bytes
from tests.unit.test_http_protocol import exchange

GZIP_HEADERS = {"Content-Type": "application/octet-stream", "Content-Encoding": "gzip"}


def bomb(size: int) -> bytes:
    """``size`` zero bytes, gzipped (about a thousandth of that)."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, 31)
    piece = bytes(1 << 20)
    return b"".join(deflater.compress(piece) for _ in range(size >> 20)) + deflater.flush()


def request(
    port: int, method: str, path: str, body: bytes = b"", headers: dict | None = None
) -> tuple[bytes, dict, bytes]:
    lines = [f"{method} {path} HTTP/1.1", "Host: x", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return exchange(port, ("\r\n".join(lines) + "\r\n\r\n").encode() + body)[0]


def test_a_gzip_upload_that_inflates_past_the_limit_is_refused(tmp_path) -> None:
    with running_native(str(tmp_path), file_size_limit_mb=1) as server:
        status, _, body = request(server.port, "PUT", "/3,01637037d6", bomb(8 << 20), GZIP_HEADERS)
        assert status == b"HTTP/1.1 400 Bad Request"
        assert json.loads(body) == {
            "error": "file over the limited 1048576 bytes once uncompressed"
        }
        # the same in a multipart part
        boundary = "b0undary"
        form = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="z.bin"'
                "\r\nContent-Encoding: gzip\r\n\r\n"
            ).encode()
            + bomb(8 << 20)
            + f"\r\n--{boundary}--\r\n".encode()
        )
        status, _, body = request(
            server.port,
            "POST",
            "/3,01637037d6",
            form,
            {"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert status == b"HTTP/1.1 400 Bad Request" and b"once uncompressed" in body
        # up to the limit it is stored, its size the inflated one
        status, _, body = request(server.port, "PUT", "/3,01637037d6", bomb(1 << 20), GZIP_HEADERS)
        assert status == b"HTTP/1.1 201 Created" and json.loads(body)["size"] == 1 << 20


def test_reads_inflate_no_more_than_the_limit(tmp_path) -> None:
    """A needle stored under a larger limit (or by Go, which does not bound inflation):
    a client that takes gzip gets the stored bytes; one that does not gets 406, and the
    server never inflates more than the limit."""
    stored = bomb(64 << 20)
    with running_native(str(tmp_path), file_size_limit_mb=64) as server:
        status, _, _ = request(server.port, "PUT", "/3,01637037d6", stored, GZIP_HEADERS)
        assert status == b"HTTP/1.1 201 Created"
    with running_native(str(tmp_path), volumes=(), file_size_limit_mb=1) as server:
        before = rss_bytes()
        status, headers, body = request(
            server.port, "GET", "/3,01637037d6", headers={"Accept-Encoding": "identity"}
        )
        assert status == b"HTTP/1.1 406 Not Acceptable"
        assert b"Accept-Encoding: gzip" in body
        assert rss_bytes() - before < 16 << 20
        status, headers, body = request(
            server.port, "GET", "/3,01637037d6", headers={"Accept-Encoding": "gzip"}
        )
        assert status == b"HTTP/1.1 200 OK" and headers["content-encoding"] == "gzip"
        assert body == stored


def test_gzip_that_does_not_inflate_is_stored_and_read_as_go_does(tmp_path) -> None:
    """Go stores a ``Content-Encoding: gzip`` body that does not inflate (201, its own
    size), and reads it back empty to a client that does not take gzip."""
    broken = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + b"\xff" * 20  # invalid block type
    truncated = gzip.compress(b"hello world " * 1000, mtime=0)[:30]
    with running_native(str(tmp_path)) as server:
        for key, data in (("01", broken), ("02", truncated)):
            path = f"/3,{key}637037d6"
            status, _, body = request(server.port, "PUT", path, data, GZIP_HEADERS)
            assert status == b"HTTP/1.1 201 Created" and json.loads(body)["size"] == len(data)
            status, headers, body = request(
                server.port, "GET", path, headers={"Accept-Encoding": "identity"}
            )
            assert status == b"HTTP/1.1 200 OK" and body == b""
            assert headers["content-length"] == "0"
            status, headers, body = request(
                server.port, "GET", path, headers={"Accept-Encoding": "gzip"}
            )
            assert headers["content-encoding"] == "gzip" and body == data


def test_a_multipart_boundary_past_go_s_buffer_is_400(tmp_path) -> None:
    with running_native(str(tmp_path)) as server:
        for length, expected in ((4092, b"HTTP/1.1 201 Created"), (5000, None)):
            boundary = "x" * length
            form = (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a"'
                f"\r\n\r\nhello\r\n--{boundary}--\r\n"
            ).encode()
            status, _, body = request(
                server.port,
                "POST",
                "/3,01637037d6",
                form,
                {"Content-Type": f"multipart/form-data; boundary={boundary}"},
            )
            if expected:
                assert status == expected
            else:
                assert status == b"HTTP/1.1 400 Bad Request"
                assert json.loads(body) == {"error": "multipart: NextPart: bufio: buffer full"}


def test_a_huge_resize_serves_the_image_as_stored(tmp_path) -> None:
    """``width=20&height=20000000`` would be 400 megapixels (12 s and 3.2 GiB in Go):
    past 100 megapixels the image is served as stored; a sane resize still resizes."""
    out = io.BytesIO()
    Image.new("RGB", (100, 100), "red").save(out, format="PNG")
    png = out.getvalue()
    with running_native(str(tmp_path)) as server:
        status, _, _ = request(
            server.port, "PUT", "/3,01637037d6", png, {"Content-Type": "image/png"}
        )
        assert status == b"HTTP/1.1 201 Created"
        started = time.monotonic()
        status, _, body = request(server.port, "GET", "/3,01637037d6.png?width=20&height=20000000")
        assert status == b"HTTP/1.1 200 OK" and body == png
        assert time.monotonic() - started < 5
        status, _, body = request(server.port, "GET", "/3,01637037d6.png?width=20&height=30")
        assert Image.open(io.BytesIO(body)).size == (20, 30)


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` grey pixels; its data is one row."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload)
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    row = zlib.compress(bytes(width + 1))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", row) + chunk(b"IEND", b"")


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_an_image_declaring_too_many_pixels_is_never_decoded() -> None:
    """A few KiB of PNG may declare 144 megapixels (under Pillow's own refusal at ~179):
    refused from its header, so a resize or crop serves it as stored without decoding it."""
    bomb_png = png_declaring(12_000, 12_000)
    assert len(bomb_png) < 4096
    for declared in (bomb_png, png_declaring(20_000, 20_000)):
        with pytest.raises(TooManyPixels):
            images._open(declared)
    transformer = images.PillowImages()
    before = rss_bytes()
    assert transformer.resize(bomb_png, ".png", 10, 10, "") == bomb_png
    assert transformer.crop(bomb_png, ".png", 0, 0, 10, 10) == bomb_png
    assert rss_bytes() - before < 16 << 20
    assert images._open(png_declaring(100, 1)).size == (100, 1)
