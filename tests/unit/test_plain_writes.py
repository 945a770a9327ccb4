"""The front door's plain-upload branch stores and answers an upload exactly as the general
code does, and leaves every upload with options to it."""

from __future__ import annotations

import json
import os

import jwt
import pytest

from seaweed_volume.adapters.http import write
from seaweed_volume.adapters.http.app import create_app
from seaweed_volume.adapters.http.auth import JwtGuard
from seaweed_volume.adapters.http.context import HttpContext
from seaweed_volume.adapters.http.front_door import Answer, FrontDoor, RawRequest
from seaweed_volume.adapters.http.responses import HttpRequest
from seaweed_volume.adapters.http.wire import reply_head
from seaweed_volume.config import VolumeServerConfig
from seaweed_volume.container import build_container
from seaweed_volume.core.white_list import WhiteList

PER_REQUEST = b"X-Amz-Request-Id"


def _form(*parts: tuple[str, bytes]) -> tuple[str, bytes]:
    """A multipart form from (part headers, content) pairs, as Go's clients write one."""
    boundary = "b0undaryXY"
    body = b"".join(
        f"--{boundary}\r\n{headers}\r\n\r\n".encode() + content + b"\r\n"
        for headers, content in parts
    )
    return f"multipart/form-data; boundary={boundary}", body + f"--{boundary}--\r\n".encode()


_BENCH_FORM = _form(
    (
        'Content-Disposition: form-data; name="file"; filename=""\r\nContent-Type: image/bench',
        os.urandom(1024),
    )
)
_TEXT_FORM = _form(
    (
        'Content-Disposition: form-data; name="file"; filename="notes.txt"\r\n'
        "Content-Type: text/plain",
        b"some notes " * 50,
    )
)
_FIELDS_FORM = _form(
    ('Content-Disposition: form-data; name="ttl"', b"3m"),
    ('Content-Disposition: form-data; name="ts"', b"1700000000"),
    ('Content-Disposition: form-data; name="file"; filename="a.bin"', os.urandom(99)),
)

PLAIN = [
    ("POST", "/3,09637037d6", *_BENCH_FORM),
    ("POST", "/3,0a637037d6", *_TEXT_FORM),
    ("POST", "/3,0b637037d6", *_FIELDS_FORM),
    ("PUT", "/3,0c637037d6", *_BENCH_FORM),  # PUT: the form is the raw body
    ("POST", "/3,0d637037d6", "text/plain; charset=utf-8", os.urandom(40)),
    ("POST", "/3,01637037d6", "application/octet-stream", os.urandom(700)),
    ("POST", "/3,02637037d6", "application/octet-stream", b"x" * 1024),  # sniffed, gzipped
    ("PUT", "/3,03637037d6", "image/bench", os.urandom(64)),
    ("PUT", "/3,04637037d6", "text/plain", b"plain text " * 40),  # compressible
    ("POST", "/3,05637037d6", "Application/X-Thing", b""),  # empty body
    ("POST", "/3,0000000006637037d6", "image/png", os.urandom(10)),
]


def _contexts(tmp_path, guard: JwtGuard | None = None) -> list[HttpContext]:
    """One store for the lane, one for the general code, each with volume 3."""
    contexts = []
    for name in ("lane", "general"):
        config = VolumeServerConfig(dirs=[str(tmp_path / name)], max_volume_counts=[2])
        os.makedirs(tmp_path / name)
        store = build_container(config).store()
        store.add_volume(3)
        contexts.append(HttpContext(store, config, guard=guard or JwtGuard()))
    return contexts


@pytest.fixture
def two_stores(tmp_path):
    contexts = _contexts(tmp_path)
    yield contexts
    for ctx in contexts:
        ctx.store.close()


def _raw_headers(content_type: str, body: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (b"host", b"127.0.0.1:8080"),
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"x-amz-request-id", b""),  # Go's upload client sends it empty
    ]


def _head_of(reply, ctx: HttpContext) -> bytes:
    """What the general path sends before the per-request headers."""
    return reply_head(reply, ctx.server_header.encode())


class _Door:
    """A front door over ``ctx``: requests as the protocol hands them over."""

    def __init__(self, ctx: HttpContext) -> None:
        self.door = FrontDoor(ctx, create_app(ctx), public=False)
        self.route = None

    def answer(
        self, method: str, url: bytes, raw_headers: list, body: bytes, client: str
    ) -> tuple[bytes, bytes] | None:
        """(head without per-request lines, body) when the plain branch answered, else
        ``None`` (the general path then answered)."""
        raw = RawRequest(client)
        raw.method, raw.url, raw.headers, raw.body = method, url, raw_headers, [body]
        raw.counted = len(body)  # as the protocol counts an upload at its headers
        self.door.ctx.uploads.add(raw.counted)
        answer = self.door.answer_now(raw)
        self.route = raw.route
        if not raw.route.plain:
            return None
        assert isinstance(answer, Answer) and answer.request_id
        return answer.head, answer.body


@pytest.mark.parametrize("index", range(len(PLAIN)))
def test_lane_answers_and_stores_as_the_general_code(two_stores, index: int) -> None:
    lane_ctx, general_ctx = two_stores
    method, path, content_type, body = PLAIN[index]
    raw = _raw_headers(content_type, body)
    head, answer = _Door(lane_ctx).answer(method, path.encode(), raw, body, "c")
    request = HttpRequest.from_raw(method, path, b"", raw, body, "c")
    general = write.write_needle(general_ctx, request)
    assert head == _head_of(general, general_ctx)
    assert answer == general.body and json.loads(answer)["eTag"]
    needle_id = int(path.split(",")[1][:-8], 16)
    ours, theirs = (ctx.store.read_needle(3, needle_id) for ctx in two_stores)
    for field in ("cookie", "data", "name", "mime", "flags", "pairs", "checksum", "size", "ttl"):
        assert getattr(ours, field) == getattr(theirs, field), field
    if b'name="ts"' in body:
        assert ours.last_modified == theirs.last_modified == 1700000000


def test_an_unchanged_rewrite_answers_204_as_the_general_code(two_stores) -> None:
    lane_ctx, general_ctx = two_stores
    body = os.urandom(100)
    raw = _raw_headers("image/x", body)
    lane = _Door(lane_ctx)
    lane.answer("PUT", b"/3,07637037d6", raw, body, "c")
    head, answer = lane.answer("PUT", b"/3,07637037d6", raw, body, "c")
    assert head.startswith(b"HTTP/1.1 204 No Content\r\n") and answer == b""
    request = HttpRequest.from_raw("PUT", "/3,07637037d6", b"", raw, body, "c")
    write.write_needle(general_ctx, request)
    general = write.write_needle(general_ctx, request)
    assert general.status == 204
    assert head == _head_of(general, general_ctx)


def test_a_cookie_mismatch_is_answered_as_the_general_code(two_stores) -> None:
    lane_ctx, general_ctx = two_stores
    raw = _raw_headers("image/x", b"a")
    lane = _Door(lane_ctx)
    lane.answer("PUT", b"/3,08637037d6", raw, b"a", "c")
    head, answer = lane.answer("PUT", b"/3,08000000d6", raw, b"b", "c")
    write.write_needle(general_ctx, HttpRequest.from_raw("PUT", "/3,08637037d6", b"", raw, b"a"))
    general = write.write_needle(
        general_ctx, HttpRequest.from_raw("PUT", "/3,08000000d6", b"", raw, b"b")
    )
    assert general.status == 500 and head.startswith(b"HTTP/1.1 500 ")
    assert answer == general.body


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        (b"/3,01637037d6?ttl=3m", {}),
        (b"/3,01637037d6?jwt=a.b.c", {}),  # a token where no key asks for one
        (b"/3,01637037d6?jwt=a.b.c&ttl=3m", {}),
        (b"/3,01637037d6.jpg", {}),
        (b"/3/01637037d6", {}),
        (b"/3,01637037d6", {b"content-md5": b"AAAA"}),
        (b"/3,01637037d6", {b"content-encoding": b"gzip"}),
        (b"/3,01637037d6", {b"content-disposition": b'inline; filename="a.txt"'}),
        (b"/3,01637037d6", {b"seaweed-tag": b"v"}),
        (b"/3,01637037d6", {b"origin": b"http://x"}),
        (b"/3,01637037d6", {b"content-type": b"multipart/form-data; boundary=x"}),  # no part
        (b"/3,01637037d6", {b"content-type": b"application/x-www-form-urlencoded"}),
        (b"/3,01637037d6", {b"content-type": b"text/plain; charset"}),
        (b"/3,01637037d6", {b"content-type": b""}),
        (b"/9,01637037d6", {}),  # not a volume here
    ],
)
def test_uploads_with_options_are_left_to_the_general_code(two_stores, url, headers) -> None:
    raw = dict(_raw_headers("image/x", b"data"))
    raw.update(headers)
    found = _Door(two_stores[0]).answer("POST", url, list(raw.items()), b"data", "")
    assert found is None


def test_guards_and_image_fixes_are_left_to_the_general_code(tmp_path) -> None:
    for options, guard in (
        ({}, JwtGuard(white_list=WhiteList(["10.0.0.1"]))),
        ({}, JwtGuard(write_key=b"secret")),
        ({"fix_jpg_orientation": True}, JwtGuard()),
    ):
        config = VolumeServerConfig(dirs=[str(tmp_path)], max_volume_counts=[2], **options)
        store = build_container(config).store()
        if store.find_volume(3) is None:
            store.add_volume(3)
        lane = _Door(HttpContext(store, config, guard=guard))
        raw = _raw_headers("image/x", b"data")
        assert lane.answer("POST", b"/3,01637037d6", raw, b"data", "127.0.0.1") is None
        store.close()


def test_uploads_under_the_upload_limit_take_the_plain_branch(tmp_path) -> None:
    """``-concurrentUploadLimitMB`` keeps the plain branch while under the limit (the bytes
    counted at the headers are given back once answered); over it, the general path waits."""
    config = VolumeServerConfig(
        dirs=[str(tmp_path)], max_volume_counts=[2], concurrent_upload_limit_mb=1
    )
    store = build_container(config).store()
    store.add_volume(3)
    ctx = HttpContext(store, config)
    lane = _Door(ctx)
    raw = _raw_headers("image/x", b"data")
    assert lane.answer("POST", b"/3,01637037d6", raw, b"data", "c") is not None
    assert ctx.uploads.in_flight == 0
    ctx.uploads.add(2 * 1024 * 1024)
    assert lane.answer("POST", b"/3,02637037d6", raw, b"data", "c") is None
    assert lane.route is not None and not lane.route.plain
    store.close()


def test_signed_and_whitelisted_uploads_take_the_lane_with_the_general_answer(tmp_path) -> None:
    """The production configuration keeps the fast lane: a JWT in the query or a Bearer header,
    a whitelisted caller; a bad token or an unlisted caller is left to the general path's 401."""
    key = b"lane-write-key-0123456789abcdefghijklmnopqrstuv"
    contexts = _contexts(tmp_path, JwtGuard(write_key=key, white_list=WhiteList(["10.1.0.0/16"])))
    lane = _Door(contexts[0])
    body = os.urandom(300)
    for i, (signed_by, where, client, accepted) in enumerate(
        [
            (key, "query", "10.1.2.3", True),
            (key, "bearer", "10.1.2.3", True),
            (b"wrong-key-0123456789abcdefghijklmnopqrstuvwxyz", "query", "10.1.2.3", False),
            (key, "query", "10.9.9.9", False),  # not on the whitelist
            (key, "none", "10.1.2.3", False),
        ]
    ):
        path = f"/3,{i + 1:x}637037d6"
        token = jwt.encode({"fid": path[1:]}, signed_by, algorithm="HS256")
        raw = _raw_headers("image/x", body)
        query = f"jwt={token}" if where == "query" else ""
        if where == "bearer":
            raw.append((b"authorization", f"Bearer {token}".encode()))
        url = f"{path}?{query}" if query else path
        found = lane.answer("POST", url.encode(), raw, body, client)
        request = HttpRequest.from_raw("POST", path, query.encode(), raw, body, client)
        general = write.write_needle(contexts[1], request) if accepted else None
        if not accepted:
            assert found is None, (signed_by, where, client)
            continue
        head, answer = found
        assert head == _head_of(general, contexts[1]) and answer == general.body
    for ctx in contexts:
        ctx.store.close()
