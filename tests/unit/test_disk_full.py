"""A full disk is an answer, not a traceback: Go 4.48 answers an upload that hits ENOSPC
with 500 and ``{"error": "failed to write to local disk: ... no space left on device"}``
(checked against the Go binary on a 6 MiB tmpfs). The volume stays usable: the torn append
is cut off and earlier needles still read."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.support.native_server import running_native
from tests.unit.test_http_protocol import exchange


@pytest.fixture
def tiny_disk(tmp_path):
    """A 4 MiB tmpfs (the tests run as root, as the network-namespace ones do)."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)], check=True)
    try:
        yield str(mount_point)
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


def put(port: int, fid: str, data: bytes) -> tuple[bytes, dict, bytes]:
    raw = (
        f"PUT /{fid} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    ).encode() + data
    return exchange(port, raw)[0]


def test_disk_full_upload_is_a_json_500_naming_the_cause(tiny_disk) -> None:
    with running_native(tiny_disk) as server:
        first = os.urandom(1 << 20)
        assert put(server.port, "3,01637037d6", first)[0] == b"HTTP/1.1 201 Created"
        status, headers, body = put(server.port, "3,02637037d6", os.urandom(4 << 20))
        assert status == b"HTTP/1.1 500 Internal Server Error"
        assert headers["content-type"] == "application/json"
        error = json.loads(body)["error"]
        assert error.startswith("failed to write to local disk: append to volume 3 size ")
        assert error.endswith("3.dat: no space left on device")
        # the torn append was cut: the volume keeps serving and taking writes that fit
        dat = os.path.join(tiny_disk, "3.dat")
        size = os.path.getsize(dat)
        assert size < 2 << 20
        got = exchange(server.port, b"GET /3,01637037d6 HTTP/1.1\r\nHost: x\r\n\r\n")[0]
        assert got[0].endswith(b"200 OK") and got[2] == first
        assert put(server.port, "3,03637037d6", b"small")[0] == b"HTTP/1.1 201 Created"
