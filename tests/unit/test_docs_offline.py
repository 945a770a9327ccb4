"""``/docs`` works without the internet: the page and everything it loads come from the admin
port, over the native server (the one that decides which paths reach FastAPI)."""

from __future__ import annotations

import json
import re

from seaweed_volume.adapters.http.app import create_app
from seaweed_volume.adapters.http.context import HttpContext
from seaweed_volume.config import VolumeServerConfig
from seaweed_volume.container import build_container
from tests.support.go_cluster import http
from tests.support.native_server import running_native


def test_docs_page_and_assets_are_served_locally(tmp_path) -> None:
    with running_native(str(tmp_path)) as server:
        base = f"http://127.0.0.1:{server.port}"
        status, headers, body = http("GET", f"{base}/docs")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        page = body.decode()
        assert not re.search(r"(?:src|href)=\"https?:", page)  # no CDN, no outside favicon
        assets = re.findall(r"(?:src|href)=\"(/[^\"]+)\"", page)
        assert sorted(assets) == [
            "/docs/static/favicon.png",
            "/docs/static/swagger-ui-bundle.js",
            "/docs/static/swagger-ui.css",
        ]
        loaded = {}
        for path in assets:
            status, headers, content = http("GET", base + path)
            assert status == 200, path
            loaded[path] = (headers["Content-Type"], content)
        js_type, bundle = loaded["/docs/static/swagger-ui-bundle.js"]
        assert js_type.startswith("text/javascript") and b"SwaggerUIBundle" in bundle
        assert loaded["/docs/static/swagger-ui.css"][0].startswith("text/css")
        assert loaded["/docs/static/favicon.png"][1].startswith(b"\x89PNG")
        # A Swagger UI that renders OpenAPI 3.1 (5.x has isOAS31; 4.x refuses 3.1 documents).
        assert b"isOAS31" in bundle
        status, _, description = http("GET", f"{base}/openapi.json")
        assert status == 200 and json.loads(description)["openapi"].startswith("3.1")
        assert "url: '/openapi.json'" in page
        status, _, redirect = http("GET", f"{base}/docs/oauth2-redirect")
        assert status == 200 and b"oauth2" in redirect.lower()
        # Nothing else is served from the asset directory.
        assert http("GET", f"{base}/docs/static/../../etc/passwd")[0] in (400, 404)
        assert http("GET", f"{base}/docs/static/redoc.standalone.js")[0] == 404


def test_public_port_has_no_docs(tmp_path) -> None:
    config = VolumeServerConfig(dirs=[str(tmp_path)], max_volume_counts=[1])
    store = build_container(config).store()
    try:
        app = create_app(HttpContext(store, config), public=True)
        routes = {getattr(route, "path", "") for route in app.routes}
        assert not {"/docs", "/docs/static/{name}", "/openapi.json"} & routes
    finally:
        store.close()
