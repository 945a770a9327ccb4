"""Differential: the same requests to the Go 4.48 volume server and to ours, compared.

Two clusters (a Go master each), one with Go's volume server and one with ours; both get
volume 1 from their master, then every case is sent to both and the answers must match.
The full surface (ranges, images, JWT, proxying...) is the HTTP-surface issue; this module
pins the basic data path.
"""

from __future__ import annotations

import gzip

import pytest

from tests.support.compare import assert_same
from tests.support.forms import multipart
from tests.support.go_cluster import http
from tests.support.pair import go_and_ours

TS = "1700000000"  # fixes Last-Modified on both sides


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory):
    with go_and_ours(str(tmp_path_factory.mktemp("parity"))) as urls:
        yield urls


def both(
    servers,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
):
    go_url, our_url = servers
    return (
        http(method, go_url + path, body, headers or {}),
        http(method, our_url + path, body, headers or {}),
    )


RECOMPRESSED = {"text", "noname"}
UPLOADS = {
    "text": (b"hello parity " * 40, "notes.txt", "text/plain", {}),
    "png": (b"\x89PNG\r\n\x1a\n fake png", "pic.png", "image/png", {}),
    "binary": (bytes(range(256)) * 3, "blob.bin", "application/octet-stream", {}),
    "pairs": (b"paired", "p.dat", "", {"Seaweed-Color": "blue", "Seaweed-Shape": "round"}),
    "noname": (b"<html><body>hi</body></html>", "", "", {}),
}


@pytest.fixture(scope="module")
def uploaded(servers) -> dict[str, str]:
    fids = {}
    for index, (name, (content, filename, mime, headers)) in enumerate(UPLOADS.items(), start=1):
        fid = f"1,{index:02x}0000abcd"
        body, content_type = multipart(content, filename, mime)
        go, ours = both(
            servers, "POST", f"/{fid}?ts={TS}", body, {"Content-Type": content_type, **headers}
        )
        assert_same(go, ours, f"upload {name}", recompressed=name in RECOMPRESSED)
        fids[name] = fid
    raw = "1,100000abcd"
    go, ours = both(servers, "PUT", f"/{raw}?ts={TS}", b"raw body", {"Content-Type": "text/x-raw"})
    assert_same(go, ours, "raw put")
    zipped = "1,110000abcd"
    go, ours = both(
        servers,
        "PUT",
        f"/{zipped}?ts={TS}",
        gzip.compress(b"z" * 500),
        {"Content-Type": "text/plain", "Content-Encoding": "gzip"},
    )
    assert_same(go, ours, "pre-gzipped put")
    fids.update(raw=raw, zipped=zipped)
    return fids


READ_VARIANTS = [
    ("plain", "", {"Accept-Encoding": "identity"}),
    ("gzip", "", {"Accept-Encoding": "gzip"}),
    ("download", "?dl=true", {"Accept-Encoding": "identity"}),
    ("range", "", {"Range": "bytes=1-4", "Accept-Encoding": "identity"}),
    ("suffix", "", {"Range": "bytes=-3", "Accept-Encoding": "identity"}),
]


@pytest.mark.parametrize("name", [*UPLOADS, "raw", "zipped"])
@pytest.mark.parametrize(
    ("variant", "query", "headers"), READ_VARIANTS, ids=[v[0] for v in READ_VARIANTS]
)
def test_reads_match(servers, uploaded, name, variant, query, headers) -> None:
    go, ours = both(servers, "GET", f"/{uploaded[name]}{query}", headers=headers)
    assert_same(go, ours, f"GET {name} {variant}", recompressed=name in RECOMPRESSED)


@pytest.mark.parametrize("name", [*UPLOADS, "raw"])
def test_head_and_conditional_reads_match(servers, uploaded, name) -> None:
    fid = uploaded[name]
    go, ours = both(servers, "HEAD", f"/{fid}", headers={"Accept-Encoding": "identity"})
    assert_same(go, ours, f"HEAD {name}", recompressed=name in RECOMPRESSED)
    if name in RECOMPRESSED:
        return
    etag = {k.lower(): v for k, v in go[1].items()}["etag"]
    go, ours = both(servers, "GET", f"/{fid}", headers={"If-None-Match": etag})
    assert_same(go, ours, f"If-None-Match {name}")
    since = {k.lower(): v for k, v in go[1].items()}.get(
        "last-modified", "Tue, 14 Nov 2023 22:13:20 GMT"
    )
    go, ours = both(servers, "GET", f"/{fid}", headers={"If-Modified-Since": since})
    assert_same(go, ours, f"If-Modified-Since {name}")


@pytest.mark.parametrize(
    "path",
    [
        "/1,010000abce",  # wrong cookie
        "/1,7f0000abcd",  # no such needle
        "/1,zz",  # malformed key
        "/x,010000abcd",  # malformed volume id
        "/1/020000abcd",  # /vid/fid form
        "/1/020000abcd/other-name.txt",  # /vid/fid/filename form
        "/1,020000abcd.txt",  # extension
        "/1,020000abcd_0",  # delta 0
    ],
)
def test_read_path_forms_and_bad_fids_match(servers, uploaded, path) -> None:
    go, ours = both(servers, "GET", path, headers={"Accept-Encoding": "identity"})
    assert_same(go, ours, path)


def test_bad_uploads_match(servers, uploaded) -> None:
    cases = [
        # Same needle id as the "png" upload, another cookie: a local-disk write error.
        ("PUT", "/1,020000abce", b"y", {"Content-Type": "text/plain"}),
        ("POST", "/1,200000abcd", b"x", {"Content-Type": "multipart/form-data"}),
        ("PUT", "/1,210000abcd", b"abc", {"Content-Type": "text/plain", "Content-MD5": "AAAA"}),
        ("POST", "/1,12", b"x", {"Content-Type": "text/plain"}),
        ("POST", "/x,220000abcd", b"x", {"Content-Type": "text/plain"}),
    ]
    for method, path, body, headers in cases:
        go, ours = both(servers, method, path, body, headers)
        assert_same(go, ours, f"{method} {path} {headers}")


def test_deletes_match(servers) -> None:
    fid = "1,300000abcd"
    go, ours = both(servers, "PUT", f"/{fid}?ts={TS}", b"to delete", {"Content-Type": "text/plain"})
    assert_same(go, ours, "put before delete")
    for path, what in (
        (f"/{fid[:-1]}e", "wrong cookie"),
        (f"/{fid}", "delete"),
        (f"/{fid}", "delete again"),
        ("/1,zz", "malformed"),
    ):
        go, ours = both(servers, "DELETE", path)
        assert_same(go, ours, what)
    go, ours = both(servers, "GET", f"/{fid}")
    assert_same(go, ours, "read after delete")


RANGE_CASES = [
    "bytes=0-3,10-12",  # two ranges: multipart/byteranges
    "bytes=-4,2-5,8-",
    "bytes=abc",
    "items=0-3",
    "bytes=5-2",
    "bytes=99999-",
    "bytes=0-,0-",  # more bytes than the file: ignored
    "bytes=",
    "bytes=4-3000",
]


def _normalise_boundary(answer):
    status, headers, body = answer
    lowered = {k.lower(): v for k, v in headers.items()}
    content_type = lowered.get("content-type", "")
    if content_type.startswith("multipart/byteranges; boundary="):
        boundary = content_type.split("boundary=", 1)[1]
        body = body.replace(boundary.encode(), b"BOUNDARY")
        headers = {**headers}
        for key in headers:
            if key.lower() == "content-type":
                headers[key] = "multipart/byteranges; boundary=BOUNDARY"
    return status, headers, body


@pytest.mark.parametrize("spec", RANGE_CASES)
def test_range_edge_cases_match(servers, uploaded, spec) -> None:
    go, ours = both(
        servers,
        "GET",
        f"/{uploaded['binary']}",
        headers={"Range": spec, "Accept-Encoding": "identity"},
    )
    assert_same(_normalise_boundary(go), _normalise_boundary(ours), spec)


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("OPTIONS", "/1,010000abcd", {}),
        ("OPTIONS", "/1,010000abcd", {"Origin": "http://example.org"}),
        ("GET", "/1,020000abcd", {"Origin": "http://example.org", "Accept-Encoding": "identity"}),
        ("GET", "/1,7f0000abcd", {"Origin": "http://example.org"}),
        ("PATCH", "/1,010000abcd", {}),
        ("PUT", "/77,010000abcd", {"Content-Type": "text/plain"}),
        ("GET", "/stats/counter", {}),
        ("POST", "/healthz", {}),
    ],
)
def test_cors_methods_and_odd_routes_match(servers, uploaded, method, path, headers) -> None:
    go, ours = both(servers, method, path, b"x" if method in ("PUT", "POST") else None, headers)
    cors = (
        "Access-Control-Allow-Origin",
        "Access-Control-Allow-Credentials",
        "Access-Control-Allow-Methods",
        "Access-Control-Allow-Headers",
    )
    lowered = [{k.lower(): v for k, v in answer[1].items()} for answer in (go, ours)]
    for name in (c.lower() for c in cors):
        assert lowered[1].get(name) == lowered[0].get(name), (method, path, name)
    # Error texts name the server's own address: compare them with it blanked out.
    go = (go[0], go[1], go[2].replace(servers[0].removeprefix("http://").encode(), b"HERE"))
    ours = (ours[0], ours[1], ours[2].replace(servers[1].removeprefix("http://").encode(), b"HERE"))
    assert_same(go, ours, f"{method} {path}")


def _png(width: int, height: int) -> bytes:
    import io

    from PIL import Image

    image = Image.new("RGB", (width, height))
    for x in range(width):
        for y in range(height):
            image.putpixel((x, y), (x % 256, y % 256, (x * y) % 256))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    "query",
    [
        "width=50",
        "height=20",
        "width=50&height=50",
        "width=50&height=50&mode=fit",
        "width=50&height=50&mode=fill",
        "width=500",
        "crop_x1=10&crop_y1=5&crop_x2=60&crop_y2=45",
        "crop_x1=10&crop_y1=5&crop_x2=60&crop_y2=45&width=20",
    ],
)
def test_image_resizing_gives_go_sizes(servers, query) -> None:
    import io

    from PIL import Image

    fid = "1,400000abcd"
    body, content_type = multipart(_png(200, 100), "pic.png", "image/png")
    both(servers, "POST", f"/{fid}?ts={TS}", body, {"Content-Type": content_type})
    go, ours = both(servers, "GET", f"/{fid}?{query}")
    assert (go[0], ours[0]) == (200, 200)
    sizes = [Image.open(io.BytesIO(answer[2])).size for answer in (go, ours)]
    assert sizes[1] == sizes[0], query
    types = [{k.lower(): v for k, v in a[1].items()}.get("content-type") for a in (go, ours)]
    assert types[1] == types[0]
