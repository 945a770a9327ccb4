"""The front door keeps the answer heads of plain reads: repeated reads must still see every
change to the record (overwrite, delete, vacuum, remount, on-disk corruption), answer as the
general path does, and memory stays bounded."""

from __future__ import annotations

import http.client
import os

import pytest

from seaweed_volume.adapters.http import kept_heads
from tests.support.native_server import NativeServer, running_native

FID = "3,01637037d6"
PER_REQUEST = ("x-amz-request-id", "date")


@pytest.fixture
def server(tmp_path):
    with running_native(str(tmp_path)) as running:
        yield running


def request(
    server: NativeServer, method: str, path: str, body: bytes | None = None, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, path, body, headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def put(
    server: NativeServer, fid: str, data: bytes, query: str = "", mime: str = "text/x-t"
) -> None:
    status, _, _ = request(server, "PUT", f"/{fid}{query}", data, **{"Content-Type": mime})
    assert status == 201


def kept(server: NativeServer) -> set[tuple[str, str]]:
    return {(method, path.decode()) for method, path in server.native.door.kept._kept}


def without_per_request(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k not in PER_REQUEST}


def test_repeated_reads_answer_as_the_first_with_fresh_request_ids(server) -> None:
    put(server, FID, b"hello plain lane")
    first = request(server, "GET", f"/{FID}")
    assert kept(server) == {("GET", f"/{FID}")}
    second = request(server, "GET", f"/{FID}")
    assert first[0] == second[0] == 200
    assert first[2] == second[2] == b"hello plain lane"
    assert without_per_request(first[1]) == without_per_request(second[1])
    assert first[1]["x-amz-request-id"] != second[1]["x-amz-request-id"]
    assert second[1]["content-type"] == "text/x-t" and "date" in second[1]
    head = [request(server, "HEAD", f"/{FID}") for _ in range(2)]
    assert [h[2] for h in head] == [b"", b""]
    assert without_per_request(head[0][1]) == without_per_request(head[1][1])
    assert head[1][1]["content-length"] == "16"


def test_overwrite_and_delete_are_seen_at_once(server) -> None:
    put(server, FID, b"version one")
    assert request(server, "GET", f"/{FID}")[2] == b"version one"
    put(server, FID, b"version two!")
    status, headers, body = request(server, "GET", f"/{FID}")
    assert (status, body, headers["content-length"]) == (200, b"version two!", "12")
    assert request(server, "DELETE", f"/{FID}")[0] == 202
    assert request(server, "GET", f"/{FID}")[0] == 404
    assert request(server, "HEAD", f"/{FID}")[0] == 404


def test_vacuum_and_remount_move_records_under_kept_heads(server) -> None:
    for key in range(1, 21):
        put(server, f"3,{key:02x}637037d6", bytes([key]) * 300)
    for key in range(1, 21):
        assert request(server, "GET", f"/3,{key:02x}637037d6")[0] == 200
    for key in range(1, 11):
        assert request(server, "DELETE", f"/3,{key:02x}637037d6")[0] == 202
    server.call(server.store.compact_volume, 3)
    server.call(server.store.commit_compact_volume, 3)
    for key in range(11, 21):
        assert request(server, "GET", f"/3,{key:02x}637037d6")[2] == bytes([key]) * 300
    server.call(server.store.unmount_volume, 3)
    assert request(server, "GET", "/3,14637037d6")[0] == 404
    server.call(server.store.mount_volume, 3)
    assert request(server, "GET", "/3,14637037d6")[2] == bytes([20]) * 300


def test_data_corrupted_on_disk_is_not_served_from_a_kept_head(server, tmp_path) -> None:
    data = os.urandom(64)
    put(server, FID, data, mime="application/x-bin")  # stored as is: not compressible
    assert request(server, "GET", f"/{FID}")[2] == data
    assert kept(server) == {("GET", f"/{FID}")}
    dat = tmp_path / "3.dat"
    at = dat.read_bytes().index(data)
    with open(dat, "r+b") as handle:
        handle.seek(at + 10)
        handle.write(bytes([data[10] ^ 0xFF]))
        handle.flush()
        os.fsync(handle.fileno())
    assert request(server, "GET", f"/{FID}")[0] == 500  # the general path's CRC error


def test_ttl_needles_are_never_kept(server) -> None:
    put(server, FID, b"short lived", query="?ttl=5m")
    assert request(server, "GET", f"/{FID}")[2] == b"short lived"
    assert kept(server) == set()


def test_kept_heads_are_bounded(server, monkeypatch) -> None:
    monkeypatch.setattr(kept_heads, "CAPACITY", 4)
    for key in range(1, 11):
        put(server, f"3,{key:02x}637037d6", b"x")
        assert request(server, "GET", f"/3,{key:02x}637037d6")[0] == 200
    assert len(kept(server)) == 4
    assert ("GET", "/3,0a637037d6") in kept(server)


UPLOADS = [
    # (raw headers, body, query): a spread of names, types and stamps
    ({"Content-Type": "image/bench"}, os.urandom(300), ""),
    ({"Content-Type": "application/octet-stream"}, b"%PDF-1.4 sniffed as pdf", ""),
    ({"Content-Type": "application/octet-stream"}, b"<html><body>sniffed</body></html>", ""),
    ({"Content-Type": "text/x-random"}, os.urandom(200), "?ts=1700000000"),
    ({"Content-Type": "image/png", "Content-Disposition": 'inline; filename="a b.png"'}, b"x", ""),
    (
        {"Content-Type": "application/x-y", "Content-Disposition": 'inline; filename="naïve"'},
        b"y",
        "",
    ),
    (
        {
            "Content-Type": "application/octet-stream",
            "Content-Disposition": 'inline; filename="p.gif"',
        },
        b"z",
        "",
    ),
    ({"Content-Type": "image/bench"}, b"", ""),
]


@pytest.mark.parametrize("index", range(len(UPLOADS)))
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_plain_reads_answer_as_the_general_path(server, index: int, method: str) -> None:
    """First and kept answers of a plain read equal the general path's (a query the read
    ignores, ``?x=1``, makes the request not plain)."""
    headers, body, query = UPLOADS[index]
    status, _, _ = request(server, "PUT", f"/{FID}{query}", body, **headers)
    assert status == 201
    general = request(server, method, f"/{FID}?x=1")
    for _ in range(2):  # read, then resent from its kept head
        plain = request(server, method, f"/{FID}")
        assert plain[0] == general[0] == 200
        assert without_per_request(plain[1]) == without_per_request(general[1])
        assert plain[2] == general[2]
    assert ("GET", f"/{FID}") in kept(server) or ("HEAD", f"/{FID}") in kept(server) or not body


def test_pairs_are_left_to_the_general_code(server) -> None:
    status, _, _ = request(
        server, "PUT", f"/{FID}", b"paired", **{"Content-Type": "image/x", "Seaweed-Tag": "v"}
    )
    assert status == 201
    for _ in range(2):
        status, headers, body = request(server, "GET", f"/{FID}")
        assert (status, body, headers["tag"]) == (200, b"paired", "v")
