"""The one encoder: a shaped head (made once, filled per answer) is byte for byte what the
general encoding of the same reply gives."""

from __future__ import annotations

import base64
import hashlib
import random
import time

import pytest

from seaweed_volume.adapters.http import write
from seaweed_volume.adapters.http.context import HttpContext
from seaweed_volume.adapters.http.read import format_media_param
from seaweed_volume.adapters.http.responses import HttpReply, go_json_bytes, go_json_string
from seaweed_volume.adapters.http.wire import (
    encode_headers,
    head_of,
    per_request_tail,
    reply_head,
    request_id,
)
from seaweed_volume.config import VolumeServerConfig
from seaweed_volume.container import build_container
from seaweed_volume.core.needle.parse_upload import UploadRequest, needle_from_upload, parse_upload
from seaweed_volume.core.volume.volume import WriteResult

_MD5_OF_Z = base64.b64encode(hashlib.md5(b"z").digest()).decode()
_B = "b0undary"
_FORM = (
    f'--{_B}\r\nContent-Disposition: form-data; name="file"; filename="caf\u00e9 <b>&.txt"\r\n'
    f"Content-Type: text/plain\r\n\r\n{'a' * 70_000}\r\n--{_B}--\r\n"
).encode()
SERVERS = (b"SeaweedFS Volume 30GB 4.48", b"100% custom %s %d server")


def _upload(path: str, headers: dict[str, str], body: bytes):
    upload = parse_upload(UploadRequest("POST", path, headers, {}, body), 1 << 30)
    return upload, needle_from_upload(upload, path)


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize(
    ("path", "headers", "body"),
    [
        ("/3,01637037d6", {"content-type": "application/octet-stream"}, b"x" * 1024),
        ("/3,01637037d6", {"content-type": "text/plain; charset=utf-8"}, b""),
        ("/3,01637037d6", {"content-type": "image/\u00e9t\u00e9"}, b"%s%d" * 3),
        ("/3,01637037d6", {"content-type": f"multipart/form-data; boundary={_B}"}, _FORM),
        ("/3,01637037d6", {"content-type": "text/plain", "content-md5": _MD5_OF_Z}, b"z"),
    ],
)
def test_a_plain_upload_answer_head_is_the_general_encoding(
    tmp_path, server, path, headers, body
) -> None:
    config = VolumeServerConfig(dirs=[str(tmp_path)], max_volume_counts=[1])
    store = build_container(config).store()
    try:
        volume = store.add_volume(3)
        ctx = HttpContext(store, config)
        reply, _ = write.write_plain_upload(ctx, "POST", path, volume, headers, body, False)
    finally:
        store.close()
    unshaped = HttpReply(reply.status, reply.headers, reply.body, reply.head_only)
    general = reply_head(unshaped, server)
    assert reply_head(reply, server) == general
    assert (reply.shaped is None) == ("content-md5" in headers)  # may need encoding
    assert general.startswith(b"HTTP/1.1 201 Created\r\n")
    assert b"Content-Length: %d\r\n" % len(reply.body) in general


def test_the_general_upload_answer_has_no_shape() -> None:
    """Headers are added to the general path's answers after the handler (the request id,
    CORS): their heads are encoded from the headers, never from a shape."""
    upload, needle = _upload("/3,01637037d6", {"content-type": "image/x"}, b"data")
    reply = write.upload_reply(needle, upload, WriteResult(8, 4, False), False)
    assert reply.shaped is None


@pytest.mark.parametrize("pretty", [False, True])
def test_upload_answers_are_go_json(pretty: bool) -> None:
    """Every byte a name or a type may hold, written as json.Marshal writes the string."""
    rng = random.Random(11)
    names = [bytes([code]) * 2 for code in range(256)] + ["caf\u00e9 \U0001f600".encode()]
    names += [bytes(rng.randrange(256) for _ in range(12)) for _ in range(200)]
    for name in names:
        headers = {"content-type": "application/x-t"}
        upload, needle = _upload("/3,01637037d6", headers, b"data")
        needle.name, needle.mime = name, name[::-1]
        reply = write.upload_reply(needle, upload, WriteResult(8, 4, False), pretty)
        expected = {
            "name": name.decode("utf-8", "replace"),
            "size": 4,
            "eTag": needle.etag,
            "mime": name[::-1].decode("utf-8", "replace"),
        }
        assert reply.body == go_json_bytes(expected, pretty), name


def _go_format_media_param(key: str, value: str) -> str:
    """``mime.FormatMediaType`` for one parameter, read straight from Go's rules."""
    if any((c < " " or c > "~") and c != "\t" for c in value):  # needsEncoding
        safe = set(map(chr, range(33, 127))) - set('()<>@,;:\\"/[]?=') - set("*'%")
        encoded = "".join(chr(b) if chr(b) in safe else f"%{b:02X}" for b in value.encode())
        return f"{key}*=utf-8''{encoded}"
    if value and all(33 <= ord(c) < 127 and c not in '()<>@,;:\\"/[]?=' for c in value):
        return f"{key}={value}"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{key}="{escaped}"'


def test_file_name_parameters_follow_go_rules() -> None:
    rng = random.Random(7)
    alphabet = [chr(i) for i in range(128)] + ["\u00e9", "\u20ac", "\U0001f600"]
    for _ in range(20_000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randrange(8)))
        assert format_media_param("filename", value) == _go_format_media_param("filename", value)


def test_json_strings_written_as_they_are_only_when_json_marshal_would() -> None:
    """The shortcut for plain strings (every upload's answer) agrees with the general
    encoder on every ASCII character and on a sample beyond."""
    for code in [*range(0x80), 0xE9, 0x2028, 0xFFFD, 0x1F600]:
        text = f"a{chr(code)}b"
        assert go_json_string(text) == go_json_bytes(text).decode(), hex(code)


@pytest.mark.parametrize(
    ("status", "headers", "body", "head_only"),
    [
        (
            200,
            {"Etag": '"1a2b3c4d"', "Accept-Ranges": "bytes"},
            b"\x89PNG\r\n\x1a\n" + bytes(8),
            False,
        ),
        (200, {"Content-Type": "text/plain", "X-Note": "caf\u00e9"}, b"z", True),
        (200, {"Content-Disposition": 'inline; filename="\u20ac.txt"'}, b"<html>", False),
        (200, {"seaweed-my-key": "two\r\nlines"}, b"", True),
        (204, {"ETag": '"00"'}, b"", False),
        (299, {}, b"x", False),
    ],
)
def test_a_head_joined_as_text_is_the_general_encoding(
    status: int, headers: dict[str, str], body: bytes, head_only: bool
) -> None:
    reply = HttpReply(status, headers, body)
    reply.head_only = head_only
    for server in SERVERS:
        assert reply_head(reply, server) == head_of(status, encode_headers(reply, server))


def test_the_per_answer_request_id_is_gos_time_and_random_bits() -> None:
    """``%X%08X`` of the time in nanoseconds and 32 random bits (Go's request_id), written
    as one number: the time's digits, then eight of the random bits."""
    before = time.time_ns()
    tail = per_request_tail(True, True)
    after = time.time_ns()
    line, date_line, end = tail.split(b"\r\n", 2)
    assert line.startswith(b"X-Amz-Request-Id: ") and date_line.startswith(b"Date: ")
    assert end == b"\r\n"
    digits = line.removeprefix(b"X-Amz-Request-Id: ").decode()
    assert digits == digits.upper() and len(digits) == len(f"{before:X}") + 8
    assert before <= int(digits[:-8], 16) <= after
    assert per_request_tail(False, False).endswith(b"Connection: close\r\n\r\n")
    assert len(request_id()) == len(digits)
