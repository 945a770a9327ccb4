"""The FastAPI adapter in-process: Go's statuses, headers and JSON for the basic data path."""

from __future__ import annotations

import gzip
import json

import httpx
import pytest
from starlette.testclient import TestClient

from seaweed_volume.adapters.http.app import create_app
from seaweed_volume.adapters.http.context import HttpContext
from seaweed_volume.adapters.http.fid_path import FidPath, parse_url_path
from seaweed_volume.config import VolumeServerConfig
from seaweed_volume.container import build_container
from tests.support.native_server import running_native

FID = "3,01637037d6"


@pytest.fixture
def client(tmp_path) -> TestClient:
    config = VolumeServerConfig(dirs=[str(tmp_path)], max_volume_counts=[4])
    store = build_container(config).store()
    store.add_volume(3)
    client = TestClient(create_app(HttpContext(store, config)))
    yield client
    store.close()


def test_parse_url_path_forms() -> None:
    assert parse_url_path("/3,01637037d6") == FidPath("3", "01637037d6", "", "")
    assert parse_url_path("/3,01637037d6.jpg") == FidPath("3", "01637037d6", "", ".jpg")
    assert parse_url_path("/3/01637037d6") == FidPath("3", "01637037d6", "", "")
    assert parse_url_path("/3/01637037d6.png") == FidPath("3", "01637037d6", "", ".png")
    assert parse_url_path("/3/01637037d6/cat.gif") == FidPath("3", "01637037d6", "cat.gif", ".gif")
    assert parse_url_path("/3").volume_id_only


def test_multipart_upload_read_and_delete(client: TestClient) -> None:
    text = b"hello world " * 50
    reply = client.post(
        f"/{FID}",
        files={"file": ("hello.txt", text, "text/plain")},
        headers={"Seaweed-My-Key": "v1"},
    )
    assert reply.status_code == 201
    body = reply.json()
    assert body == {
        "name": "hello.txt",
        "size": len(text),
        "eTag": body["eTag"],
        "mime": "text/plain",
    }
    assert reply.headers["etag"] == f'"{body["eTag"]}"'
    assert reply.headers["server"] == "SeaweedFS Volume 30GB 4.48"

    plain = client.get(f"/{FID}", headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and plain.content == text
    assert plain.headers["my-key"] == "v1"
    assert plain.headers["content-disposition"] == "inline; filename=hello.txt"
    assert plain.headers["accept-ranges"] == "bytes"
    assert "content-encoding" not in plain.headers
    zipped = client.get(f"/{FID}", headers={"Accept-Encoding": "gzip"}).headers
    assert zipped["content-encoding"] == "gzip"  # stored compressed, served as is

    assert (
        client.get(f"/{FID}", headers={"If-None-Match": plain.headers["etag"]}).status_code == 304
    )
    since = {"If-Modified-Since": plain.headers["last-modified"]}
    assert client.get(f"/{FID}", headers=since).status_code == 304
    assert client.get(f"/{FID}?dl=true").headers["content-disposition"].startswith("attachment")

    gone = client.delete(f"/{FID}")
    assert gone.status_code == 202 and set(gone.json()) == {"size"}
    assert client.get(f"/{FID}").status_code == 404
    assert client.delete(f"/{FID}").json() == {"size": 0}


def test_raw_put_and_ranges(client: TestClient) -> None:
    data = bytes(range(256)) * 4
    reply = client.put(f"/{FID}", content=data, headers={"Content-Type": "application/x-thing"})
    assert reply.status_code == 201
    assert reply.json()["name"] == FID  # Go names a raw body after the URL's last element
    ranged = client.get(f"/{FID}", headers={"Range": "bytes=10-19"})
    assert ranged.status_code == 206 and ranged.content == data[10:20]
    assert ranged.headers["content-range"] == f"bytes 10-19/{len(data)}"
    suffix = client.get(f"/{FID}", headers={"Range": "bytes=-5"})
    assert suffix.content == data[-5:]
    assert client.get(f"/{FID}", headers={"Range": "bytes=5000-"}).status_code == 416
    head = client.head(f"/{FID}")
    assert head.status_code == 200 and head.headers["content-length"] == str(len(data))
    assert head.content == b""


def test_unchanged_rewrite_is_204(client: TestClient) -> None:
    files = {"file": ("a.bin", b"\x00\x01same", "application/x-raw")}
    assert client.post(f"/{FID}", files=files).status_code == 201
    again = client.post(f"/{FID}", files=files)
    assert again.status_code == 204 and again.content == b""


@pytest.mark.parametrize(
    ("path", "status"),
    [("/3,zz", 400), ("/x,01637037d6", 400), ("/9,01637037d6", 404), ("/3,01637037d7", 404)],
)
def test_bad_reads(client: TestClient, path: str, status: int) -> None:
    assert client.get(path).status_code == status


def test_bad_uploads(client: TestClient) -> None:
    bad_md5 = client.post(
        f"/{FID}", content=b"abc", headers={"Content-Type": "text/plain", "Content-MD5": "AAAA"}
    )
    assert bad_md5.status_code == 400
    assert bad_md5.json()["error"].startswith("Content-MD5 did not match md5 of file data")
    no_boundary = client.post(
        f"/{FID}", content=b"x", headers={"Content-Type": "multipart/form-data"}
    )
    assert no_boundary.status_code == 400
    assert no_boundary.json() == {"error": "no multipart boundary param in Content-Type"}
    short_fid = client.post("/3,1234", files={"file": ("a", b"x")})
    assert short_fid.status_code == 400 and short_fid.json() == {"error": "Invalid fid: 1234"}
    unknown = client.post("/9,01637037d6", files={"file": ("a", b"x")})
    assert unknown.status_code == 500 and "volume 9 not found" in unknown.json()["error"]


def test_oversized_upload_is_refused(tmp_path) -> None:
    config = VolumeServerConfig(dirs=[str(tmp_path)], max_volume_counts=[2], file_size_limit_mb=1)
    store = build_container(config).store()
    store.add_volume(3)
    client = TestClient(create_app(HttpContext(store, config)))
    reply = client.post(f"/{FID}", files={"file": ("big", b"x" * (1024 * 1024 + 1))})
    assert reply.status_code == 400
    assert reply.json() == {"error": "file over the limited 1048576 bytes"}
    assert store.find_volume(3).file_count == 0
    store.close()


def test_status_and_healthz(client: TestClient) -> None:
    client.post(f"/{FID}", files={"file": ("a.txt", b"x" * 10, "text/plain")})
    status = client.get("/status").json()
    assert list(status) == ["DiskStatuses", "Version", "Volumes"]
    volume = status["Volumes"][0]
    assert volume["Id"] == 3 and volume["FileCount"] == 1 and volume["ReplicaPlacement"] == {}
    assert list(volume)[:5] == [
        "Collection",
        "DiskType",
        "RemoteStorageName",
        "ReplicaPlacement",
        "Ttl",
    ]
    assert client.get("/status?pretty=y").text.startswith('{\n  "DiskStatuses": [')
    assert client.get("/healthz").status_code == 200


def test_gzip_upload_reports_original_size(client: TestClient) -> None:
    raw = b"compressible " * 100
    reply = client.put(
        f"/{FID}",
        content=gzip.compress(raw),
        headers={"Content-Type": "text/plain", "Content-Encoding": "gzip"},
    )
    assert json.loads(reply.content)["size"] == len(raw)
    assert client.get(f"/{FID}", headers={"Accept-Encoding": "identity"}).content == raw


def test_openapi_describes_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/status", "/healthz", "/{vid},{fid}", "/{vid}/{fid}/{filename}"} <= set(paths)
    assert set(paths["/{vid},{fid}"]) == {"get", "head", "options", "post", "put", "delete"}


def test_answers_fit_the_documented_models(client: TestClient) -> None:
    """The pydantic models of the OpenAPI document hold the handlers' JSON (forbidding extra
    fields, so an answer that grows a field fails here first)."""
    from seaweed_volume.adapters.http.openapi import (
        DeleteAnswer,
        ErrorAnswer,
        ServerStatus,
        UploadAnswer,
    )

    upload = client.post(f"/{FID}", files={"file": ("a.txt", b"x" * 10, "text/plain")})
    assert UploadAnswer.model_validate(upload.json()).name == "a.txt"
    status = ServerStatus.model_validate(client.get("/status").json())
    assert status.Volumes and status.Volumes[0].FileCount == 1
    assert DeleteAnswer.model_validate(client.delete(f"/{FID}").json()).size > 0
    refused = client.delete("/3,zz")
    assert refused.status_code == 400 and ErrorAnswer.model_validate(refused.json()).error


def test_the_server_and_the_fastapi_routes_answer_alike(tmp_path) -> None:
    """The native front door (plain branches included) and the FastAPI routes share
    handlers: same status, headers and body for the same request on the same store."""
    with running_native(str(tmp_path)) as native:
        framework = TestClient(create_app(native.native.ctx))
        with httpx.Client(base_url=f"http://127.0.0.1:{native.port}") as server:
            server.post(f"/{FID}", files={"file": ("same.txt", b"same answer " * 20, "text/plain")})
            server.post("/3,02637037d6", content=b"raw bytes " * 9, headers={"Content-Type": "a/b"})
            requests = [
                ("GET", f"/{FID}", {"Accept-Encoding": "identity"}),
                ("GET", f"/{FID}", {"Accept-Encoding": "gzip"}),
                ("HEAD", f"/{FID}", {}),
                ("GET", f"/{FID}", {"Range": "bytes=2-5", "Accept-Encoding": "identity"}),
                ("GET", "/3,02637037d6", {}),
                ("GET", "/3,02637037d6", {}),  # a kept head
                ("HEAD", "/3,02637037d6", {}),
                ("GET", "/3,zz", {}),
                ("GET", "/9,01637037d6", {}),
                ("DELETE", "/3,01637037d7", {}),
                ("GET", "/healthz", {}),  # (/status: its free-space figures move meanwhile)
            ]
            for method, path, headers in requests:
                fast = server.request(method, path, headers=headers)
                slow = framework.request(method, path, headers=headers)
                assert fast.status_code == slow.status_code, (method, path)
                drop = {"date", "x-amz-request-id"}  # per request by nature
                assert {k: v for k, v in fast.headers.items() if k not in drop} == {
                    k: v for k, v in slow.headers.items() if k not in drop
                }, (method, path)
                assert fast.content == slow.content, (method, path)
                assert fast.headers["x-amz-request-id"] != slow.headers["x-amz-request-id"]


def test_parse_range_follows_net_http() -> None:
    from seaweed_volume.adapters.http.read import NO_OVERLAP, parse_range

    assert parse_range("bytes=0-3,10-", 20) == [(0, 4), (10, 10)]
    assert parse_range("bytes=-5", 3) == [(0, 3)]
    assert parse_range("bytes=2-100", 10) == [(2, 8)]
    assert parse_range("bytes=30-,1-1", 10) == [(1, 1)]  # the non-overlapping one is dropped
    for bad in ("bytes=--1", "bytes=-", "bytes=4-2", "bytes=x-1", "chars=0-1", "bytes=1"):
        with pytest.raises(ValueError, match="^invalid range$"):
            parse_range(bad, 10)
    with pytest.raises(ValueError, match=NO_OVERLAP):
        parse_range("bytes=10-", 10)


def test_ui_page_and_favicon(client: TestClient) -> None:
    client.post(f"/{FID}", files={"file": ("a.txt", b"x" * 10, "text/plain")})
    page = client.get("/ui/index.html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<h2>Volumes</h2>" in page.text and "<td>3</td>" in page.text
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/x-icon"
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO header


def test_white_list_guards_writes_and_deletes(tmp_path) -> None:
    from seaweed_volume.adapters.http.auth import JwtGuard
    from seaweed_volume.core.white_list import WhiteList

    config = VolumeServerConfig(dirs=[str(tmp_path)], max_volume_counts=[2])
    store = build_container(config).store()
    store.add_volume(3)
    for white_list, allowed in (
        (("10.1.2.3",), False),
        (("testclient",), True),
        (("10.0.0.0/8", "testclient"), True),
        ((), True),
    ):
        ctx = HttpContext(store, config, guard=JwtGuard(white_list=WhiteList(white_list)))
        client = TestClient(create_app(ctx))  # its requests come from host "testclient"
        status = client.put(f"/{FID}", content=b"x", headers={"Content-Type": "text/x"}).status_code
        assert (status == 401) is not allowed, white_list
        if not allowed:
            assert client.delete(f"/{FID}").status_code == 401
            assert client.get(f"/{FID}").status_code in (200, 404)  # reads are not guarded
    guard = JwtGuard(white_list=WhiteList(["192.168.0.0/16"]))
    assert guard.host_allowed("192.168.7.7") and not guard.host_allowed("10.0.0.1")
    assert client.get("/readyz").status_code == 200
    store.close()


def test_jpeg_orientation_is_fixed_on_upload(tmp_path) -> None:
    import io

    from PIL import Image

    image = Image.new("RGB", (40, 20), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    raw = io.BytesIO()
    image.save(raw, format="JPEG", exif=exif.tobytes())
    config = VolumeServerConfig(
        dirs=[str(tmp_path)], max_volume_counts=[2], fix_jpg_orientation=True
    )
    store = build_container(config).store()
    store.add_volume(3)
    client = TestClient(create_app(HttpContext(store, config)))
    client.post(f"/{FID}", files={"file": ("photo.jpg", raw.getvalue(), "image/jpeg")})
    stored = Image.open(io.BytesIO(client.get(f"/{FID}").content))
    assert stored.size == (20, 40)
    store.close()
