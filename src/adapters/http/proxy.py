"""Reads of volumes that are not here: ``-readMode`` proxy or redirect (Go's
``proxyReqToTargetServer`` in volume_server_handlers_read.go).

The replica comes from a master lookup, shuffled, skipping this server. ``proxy`` fetches it
and relays status, headers (but ``Server``) and body; ``redirect`` answers 301 with the
replica's ``/vid,fid`` URL, keeping only ``collection`` and marking ``proxied=true``.
"""

from __future__ import annotations

import html
import http.client
import logging
import random
import urllib.error
import urllib.request
from collections.abc import Iterator
from urllib.parse import quote, urlencode

from ...core import stats
from .context import HttpContext
from .fid_path import FidPath
from .responses import HttpReply, HttpRequest, bare

log = logging.getLogger(__name__)

PROXIED = "proxied"
RELAY_PIECE = 1024 * 1024


def _target(ctx: HttpContext, volume_id: int) -> str | None:
    """A replica's base URL, or ``None`` once Go's not-found metrics are counted."""
    master = ctx.master
    locations: list[str] = []
    if master is not None:
        try:
            locations = list(master.lookup_volume(volume_id))
        except Exception as err:  # noqa: BLE001 - Go: any lookup failure is a 404
            log.info("lookup volume %d: %s", volume_id, err)
    if not locations:
        stats.read_not_found(invalid_needle=True)
        return None
    random.shuffle(locations)
    here = f"{ctx.config.ip}:{ctx.config.port}"
    for url in locations:
        if here not in url:
            return url if url.startswith(("http://", "https://")) else f"http://{url}"
    stats.HANDLER.inc(stats.EMPTY_READ_PROXY_LOC)
    stats.read_not_found(invalid_needle=True)
    return None


def read_elsewhere(
    ctx: HttpContext,
    request: HttpRequest,
    parts: FidPath,
    volume_id: int,
    force_proxy: bool = False,
) -> HttpReply:
    """``force_proxy``: relay even under ``-readMode=redirect`` (the download-limit fallback)."""
    target = _target(ctx, volume_id)
    if target is None:
        return bare(404)
    if ctx.config.read_mode == "redirect" and not force_proxy:
        stats.HANDLER.inc(stats.READ_REDIRECT_REQ)
        query = {}
        if request.query.get("collection"):
            query["collection"] = request.query["collection"]
        query[PROXIED] = "true"
        location = f"{target}/{parts.vid},{parts.fid}?{urlencode(sorted(query.items()))}"
        body = b""
        if request.method in ("GET", "HEAD"):
            body = f'<a href="{html.escape(location)}">Moved Permanently</a>.\n\n'.encode()
        return HttpReply(
            301,
            {"Location": location, "Content-Type": "text/html; charset=utf-8"},
            body,
            head_only=request.method == "HEAD",
        )
    stats.HANDLER.inc(stats.READ_PROXY_REQ)
    query = dict(request.query)
    query[PROXIED] = "true"
    url = f"{target}{quote(request.path, safe='/,')}?{urlencode(sorted(query.items()))}"
    upstream = urllib.request.Request(url, method="GET", headers=dict(request.headers))
    try:
        response = urllib.request.urlopen(upstream, timeout=60)  # streamed, closed by the body
    except urllib.error.HTTPError as err:
        response = err
    except OSError as err:
        log.info("request remote url %s: %s", url, err)
        stats.HANDLER.inc(stats.FAILED_READ_PROXY_REQ)
        stats.read_internal_error()
        return bare(500)
    relayed = {
        k: v
        for k, v in response.headers.items()
        if k.lower() not in ("server", "transfer-encoding", "connection", "date")
    }
    status, head_only = response.status or response.code, request.method == "HEAD"
    if head_only or "Content-Length" not in relayed:
        with response:  # a HEAD needs no body; one of unknown length is relayed whole
            body = b"" if head_only else response.read()
        return HttpReply(status, relayed, body, head_only=head_only)
    return HttpReply(status, relayed, stream=_relay(response))


def _relay(response: http.client.HTTPResponse | urllib.error.HTTPError) -> Iterator[bytes]:
    """The replica's body, 1 MiB at a time (Go copies it through with ``io.CopyBuffer``)."""
    with response:
        while piece := response.read(RELAY_PIECE):
            yield piece
