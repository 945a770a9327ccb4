"""``/docs`` without the internet: Swagger UI served from the admin port itself.

FastAPI's own page loads Swagger UI from a CDN, which an operator's closed network cannot
reach. The assets come from the ``fastapi-offline`` package (Swagger UI 5, which renders the
OpenAPI 3.1 that FastAPI writes) and are served under ``/docs/static/``.
"""

from __future__ import annotations

import functools
from importlib.resources import files

from fastapi import FastAPI, HTTPException
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from starlette.responses import HTMLResponse, Response

DOCS_PATH = "/docs"
OPENAPI_PATH = "/openapi.json"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"
STATIC_PREFIX = "/docs/static/"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}
"""The files the page loads, by name, with their types; nothing else is served."""


@functools.cache
def asset(name: str) -> bytes:
    """One of :data:`ASSETS`, read once from the installed ``fastapi_offline`` package."""
    return (files("fastapi_offline") / "static" / name).read_bytes()


def install_docs(app: FastAPI) -> None:
    """Add ``/docs``, its OAuth2 redirect page and its assets (none in the OpenAPI)."""

    @app.get(DOCS_PATH, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=OPENAPI_PATH,
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=OAUTH2_REDIRECT_PATH,
            swagger_js_url=STATIC_PREFIX + "swagger-ui-bundle.js",
            swagger_css_url=STATIC_PREFIX + "swagger-ui.css",
            swagger_favicon_url=STATIC_PREFIX + "favicon.png",
        )

    @app.get(OAUTH2_REDIRECT_PATH, include_in_schema=False)
    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(STATIC_PREFIX + "{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name not in ASSETS:
            raise HTTPException(404)
        return Response(
            asset(name),
            media_type=ASSETS[name],
            headers={"Cache-Control": "public, max-age=86400"},
        )


def is_docs_path(path: str) -> bool:
    return path in (DOCS_PATH, OAUTH2_REDIRECT_PATH) or path.startswith(STATIC_PREFIX)
