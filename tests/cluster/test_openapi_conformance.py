"""The OpenAPI document against the live server: every operation it declares is called for
real, and every answer must carry a declared status code, a declared content type and a body
that validates against the declared schema (an empty body where none is declared).

Three of our servers share a Go master: a plain one holding the volume, one in
``-readMode=redirect`` with a write key (301, the write 401s, the status page refused) and
one with both keys (the read 401s); ``/metrics`` is read from the plain one's metrics port.
"""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.client import HTTPConnection

import jsonschema_rs
import pytest
from PIL import Image

from seaweed_volume.adapters.http.openapi import FID_FORMS, openapi_document
from tests.support.go_cluster import GoCluster, free_port_pair, http, wait_until
from tests.support.our_server import OurServer

SPEC = openapi_document("test")


@dataclass
class Seen:
    """What a conformance run called: (path template, method) -> status codes."""

    calls: dict[tuple[str, str], set[int]] = field(default_factory=dict)


@dataclass
class Api:
    base: str
    """``host:port`` of the server called."""
    seen: Seen

    def call(
        self,
        template: str,
        method: str,
        path: str,
        expect: int,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> tuple[dict[str, str], bytes]:
        """Send one request for operation ``template``/``method``; its answer must be
        ``expect`` and must conform to the document. Returns the answer's headers and body."""
        connection = HTTPConnection(self.base, timeout=30)
        try:
            connection.request(method, path, body=body or None, headers=headers or {})
            response = connection.getresponse()
            data = response.read()
            answer_headers = {k.lower(): v for k, v in response.getheaders()}
            status = response.status
        finally:
            connection.close()
        assert status == expect, (method, path, status, data[:300])
        conforms(template, method, status, answer_headers, data)
        self.seen.calls.setdefault((template, method.lower()), set()).add(status)
        return answer_headers, data


def conforms(template: str, method: str, status: int, headers: dict[str, str], body: bytes):
    operation = SPEC["paths"][template][method.lower()]
    responses = operation["responses"]
    assert str(status) in responses, f"{method} {template}: {status} is not declared"
    content = responses[str(status)].get("content", {})
    if method == "HEAD":
        assert body == b""
        return
    if not content:
        assert body == b"", f"{method} {template} {status}: a body where none is declared"
        return
    media = headers.get("content-type", "").split(";")[0].strip()
    if media not in content:
        # A file's own type, under the declared ``*/*``: any bytes.
        assert "*/*" in content, f"{method} {template} {status}: {media} is not declared"
        return
    schema = content[media]["schema"]
    if media == "application/json":
        document = {**schema, "components": SPEC["components"]}
        jsonschema_rs.validator_for(document).validate(json.loads(body))
    elif schema.get("format") == "binary":
        assert body, f"{method} {template} {status}: an empty {media} body"
    else:
        body.decode()  # a text body


def form_path(form: str, vid: str, fid: str, name: str = "file.txt") -> str:
    """The path of ``vid``/``fid`` in one of the three file-id forms."""
    if form == "/{vid},{fid}":
        return f"/{vid},{fid}"
    if form == "/{vid}/{fid}":
        return f"/{vid}/{fid}"
    return f"/{vid}/{fid}/{name}"


def multipart(name: str, data: bytes, mime: str) -> tuple[dict[str, str], bytes]:
    boundary = "openapiconformance"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: {mime}\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return {"Content-Type": f"multipart/form-data; boundary={boundary}"}, body


def png(width: int = 40, height: int = 20) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 40)).save(out, format="PNG")
    return out.getvalue()


@dataclass
class Cluster:
    go: GoCluster
    plain: OurServer
    redirecting: OurServer
    read_guarded: OurServer
    metrics_port: int
    seen: Seen = field(default_factory=Seen)

    def api(self, server: OurServer) -> Api:
        return Api(server.address, self.seen)

    def new_fid(self) -> tuple[str, str]:
        assigned = self.go.assign()
        assert assigned["url"] == self.plain.address, assigned
        vid, fid = assigned["fid"].split(",")
        return vid, fid


def _security(path: str, *sections: str) -> str:
    with open(path, "w") as out:
        for section in sections:
            out.write(f'[{section}]\nkey = "openapi-conformance-{section}"\n')
    return path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    workdir = str(tmp_path_factory.mktemp("openapi"))
    go = GoCluster(workdir)
    with go.running():
        go.start_master()
        metrics_port = free_port_pair()
        plain = OurServer(
            os.path.join(workdir, "plain"),
            go.master_port,
            os.path.join(workdir, "plain.log"),
            extra=[f"-metricsPort={metrics_port}"],
        )
        plain.start()
        servers = [plain]
        try:
            plain.wait_registered(go.master_url)
            status, _, body = http("GET", f"{go.master_url}/vol/grow?count=1")
            assert status == 200, body
            # The other two hold no volumes (-max=0), so every assignment lands on ``plain``.
            redirecting = OurServer(
                os.path.join(workdir, "redirecting"),
                go.master_port,
                os.path.join(workdir, "redirecting.log"),
                extra=[
                    "-max=0",
                    "-readMode=redirect",
                    "-securityFile=" + _security(os.path.join(workdir, "w.toml"), "jwt.signing"),
                ],
            )
            redirecting.start()
            servers.append(redirecting)
            read_guarded = OurServer(
                os.path.join(workdir, "read_guarded"),
                go.master_port,
                os.path.join(workdir, "read_guarded.log"),
                extra=[
                    "-max=0",
                    "-securityFile="
                    + _security(
                        os.path.join(workdir, "rw.toml"), "jwt.signing", "jwt.signing.read"
                    ),
                ],
            )
            read_guarded.start()
            servers.append(read_guarded)
            yield Cluster(go, plain, redirecting, read_guarded, metrics_port)
        finally:
            for server in servers:
                server.stop()


def test_spec_advertises_only_real_answers() -> None:
    """No 422 (nothing validates requests that way) and no catch-all ``default`` answer."""
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            assert "422" not in operation["responses"], (path, method)
            assert "default" not in operation["responses"], (path, method)


COMMA = "/{vid},{fid}"


def _file_operations(cluster: Cluster, form: str) -> None:
    """Uploads take the comma form only (Go reads the id from after the last comma); the
    other forms are read, deleted, and refused uploads."""
    api = cluster.api(cluster.plain)
    vid, fid = cluster.new_fid()
    path = form_path(form, vid, fid)
    text = b"conformance " * 50
    form_headers, form_body = multipart("file.txt", text, "text/plain")
    if form != COMMA:
        api.call(form, "POST", path, 400, form_headers, form_body)
        api.call(form, "PUT", path, 400, {"Content-Type": "text/plain"}, text)
    _, answer = api.call(COMMA, "POST", f"/{vid},{fid}", 201, form_headers, form_body)
    assert json.loads(answer)["size"] == len(text)
    if form == COMMA:
        api.call(form, "POST", path, 204, form_headers, form_body)  # the same data again
        md5 = base64.b64encode(b"0" * 16).decode()
        api.call(form, "POST", path, 400, {**form_headers, "Content-MD5": md5}, form_body)
        api.call(form, "POST", f"/4000,{fid}", 500, form_headers, form_body)
        api.call(form, "POST", f"/x,{fid}", 400, form_headers, form_body)

    headers, body = api.call(form, "GET", path, 200, {"Accept-Encoding": "identity"})
    assert body == text
    etag, modified = headers["etag"], headers["last-modified"]
    api.call(form, "GET", path + "?dl=true&response-cache-control=no-cache&pretty=y", 200)
    api.call(form, "GET", path, 206, {"Range": "bytes=0-3"})
    api.call(form, "GET", path, 206, {"Range": "bytes=0-3,10-12"})
    api.call(form, "GET", path, 416, {"Range": "bytes=9000-"})
    api.call(form, "GET", path, 304, {"If-None-Match": etag})
    api.call(form, "GET", path, 304, {"If-Modified-Since": modified})
    api.call(form, "GET", path, 200, {"Accept-Encoding": "gzip", "Origin": "http://x"})
    wrong_cookie = fid[:-1] + ("0" if fid[-1] != "0" else "1")
    api.call(form, "GET", form_path(form, vid, wrong_cookie), 404)
    api.call(form, "GET", form_path(form, vid, "zz"), 400)
    api.call(form, "GET", form_path(form, "4000", fid), 404)
    api.call(form, "HEAD", path, 200)
    api.call(form, "HEAD", path, 304, {"If-None-Match": etag})
    api.call(form, "HEAD", form_path(form, vid, wrong_cookie), 404)
    api.call(form, "HEAD", form_path(form, vid, "zz"), 400)
    api.call(form, "OPTIONS", path, 200, {"Origin": "http://x"})

    raw_vid, raw_fid = cluster.new_fid()
    picture = png()
    upload = f"/{raw_vid},{raw_fid}.png"
    api.call(COMMA, "PUT", upload, 201, {"Content-Type": "image/png"}, picture)
    extra = {"Content-Type": "image/png", "Seaweed-Origin": "test"}
    api.call(COMMA, "PUT", upload + "?fsync=true&ts=1700000000&ttl=3d", 201, extra, png(41, 20))
    if form == COMMA:
        api.call(form, "PUT", f"/{raw_vid},zz", 400, {}, picture)
    image = form_path(
        form, raw_vid, raw_fid + (".png" if form != "/{vid}/{fid}/{filename}" else ""), "image.png"
    )
    _, small = api.call(form, "GET", image + "?width=10&height=5&mode=fit", 200)
    assert Image.open(io.BytesIO(small)).size[0] <= 10
    api.call(form, "GET", image + "?crop_x1=0&crop_y1=0&crop_x2=8&crop_y2=8", 200)

    api.call(form, "DELETE", form_path(form, vid, wrong_cookie), 400)
    api.call(form, "DELETE", form_path(form, vid, "zz"), 400)
    _, deleted = api.call(form, "DELETE", path, 202)
    assert json.loads(deleted)["size"] > 0
    api.call(form, "GET", path + "?readDeleted=true", 200)
    api.call(form, "DELETE", path, 404)
    api.call(form, "GET", path, 404)


def _chunk_manifests(cluster: Cluster) -> None:
    api = cluster.api(cluster.plain)
    form = "/{vid},{fid}"
    chunks = []
    offset = 0
    for piece in (b"a" * 300, b"b" * 200):
        vid, fid = cluster.new_fid()
        api.call(form, "PUT", f"/{vid},{fid}", 201, {"Content-Type": "text/plain"}, piece)
        chunks.append({"fid": f"{vid},{fid}", "offset": offset, "size": len(piece)})
        offset += len(piece)
    manifest = json.dumps(
        {"name": "joined.txt", "mime": "text/plain", "size": offset, "chunks": chunks}
    ).encode()
    vid, fid = cluster.new_fid()
    path = f"/{vid},{fid}"
    api.call(form, "PUT", path + "?cm=true", 201, {"Content-Type": "application/json"}, manifest)
    headers, joined = api.call(form, "GET", path, 200)
    assert headers.get("x-file-store") == "chunked" and joined == b"a" * 300 + b"b" * 200
    _, raw = api.call(form, "GET", path + "?cm=false", 200, {"Accept-Encoding": "identity"})
    assert json.loads(raw)["size"] == offset
    _, deleted = api.call(form, "DELETE", path, 202)
    assert json.loads(deleted)["size"] == offset


def _guarded_and_redirected(cluster: Cluster) -> None:
    plain, redirecting = cluster.api(cluster.plain), cluster.api(cluster.redirecting)
    guarded = cluster.api(cluster.read_guarded)
    vid, fid = cluster.new_fid()
    for form in FID_FORMS:
        path = form_path(form, vid, fid)
        if form == "/{vid},{fid}":
            plain.call(form, "PUT", path, 201, {"Content-Type": "text/plain"}, b"elsewhere")
        headers, _ = redirecting.call(form, "GET", path, 301)
        assert headers["location"].startswith(f"http://{cluster.plain.address}/")
        redirecting.call(form, "HEAD", path, 301)
        redirecting.call(form, "POST", path, 401, *multipart("x.txt", b"x", "text/plain"))
        redirecting.call(form, "PUT", path, 401, {"Content-Type": "text/plain"}, b"x")
        redirecting.call(form, "DELETE", path, 401)
        guarded.call(form, "GET", path, 401)
        guarded.call(form, "HEAD", path, 401)
    redirecting.call("/ui/index.html", "GET", "/ui/index.html", 400)
    guarded.call("/ui/index.html", "GET", "/ui/index.html", 401)


def _server_routes(cluster: Cluster) -> None:
    api = cluster.api(cluster.plain)
    _, body = api.call("/status", "GET", "/status", 200)
    assert json.loads(body)["Volumes"]
    api.call("/status", "GET", "/status?pretty=y", 200)
    api.call("/status", "HEAD", "/status", 200)
    _, body = cluster.api(cluster.read_guarded).call("/status", "GET", "/status", 200)
    assert json.loads(body)["Volumes"] is None
    for route in ("/healthz", "/readyz"):
        api.call(route, "GET", route, 200)
        api.call(route, "HEAD", route, 200)
    api.call("/ui/index.html", "GET", "/ui/index.html", 200)
    api.call("/favicon.ico", "GET", "/favicon.ico", 200)
    logo = "/seaweedfsstatic/seaweed50x50.png"
    api.call(logo, "GET", logo, 200)
    metrics = Api(f"127.0.0.1:{cluster.metrics_port}", cluster.seen)
    wait_until(
        lambda: http("GET", f"http://127.0.0.1:{cluster.metrics_port}/metrics")[0] == 200,
        what="the metrics port",
    )
    _, exposition = metrics.call("/metrics", "GET", "/metrics", 200)
    assert b"SeaweedFS_volumeServer" in exposition


def test_every_operation_answers_as_declared(cluster: Cluster) -> None:
    """Each operation of the document is called (with answers of most declared codes), and
    every answer conforms."""
    for form in FID_FORMS:
        _file_operations(cluster, form)
    _chunk_manifests(cluster)
    _guarded_and_redirected(cluster)
    _server_routes(cluster)
    declared = {(path, method) for path, item in SPEC["paths"].items() for method in item}
    assert declared - set(cluster.seen.calls) == set()
