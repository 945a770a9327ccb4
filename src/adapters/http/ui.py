"""``/ui/index.html``: a self-contained status page (disks, masters, volumes, EC shards) and
``/favicon.ico`` (an icon drawn here, not Go's)."""

from __future__ import annotations

import functools
import html
import io
from collections.abc import Sequence

from ...core.disk_location import disk_status
from .context import HttpContext
from .responses import HttpReply, HttpRequest

_STYLE = (
    "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;"
    "margin-bottom:2em}th,td{border:1px solid #ccc;padding:.3em .8em;text-align:left}"
    "th{background:#eef5ee}h1 small{color:#777;font-size:60%}"
)


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.2f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1024
    return str(count)


def _table(headers: list[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def index_page(ctx: HttpContext, request: HttpRequest) -> HttpReply:
    disks: list[list[object]] = []
    volumes: list[list[object]] = []
    ctx.store.follow()
    for location in ctx.store.locations:
        status = disk_status(location.directory)
        disks.append(
            [
                location.directory,
                location.disk_type,
                _size(status["all"]),
                _size(status["free"]),
                f"{status['percent_used']:.2f}%",
            ]
        )
        for volume in sorted(location.volumes.values(), key=lambda v: v.id):
            volumes.append(
                [
                    volume.id,
                    volume.collection,
                    location.disk_type,
                    _size(volume.dat_size()),
                    volume.file_count - volume.deleted_count,
                    _size(volume.deleted_size),
                    str(volume.super_block.ttl),
                    "yes" if volume.is_read_only else "no",
                ]
            )
    masters = getattr(ctx.heartbeat_state, "current_master", "") or ctx.config.master
    page = (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>SeaweedFS {html.escape(ctx.version)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>SeaweedFS <small>{html.escape(ctx.version)} seaweed-volume</small></h1>"
        "<h2>Disk Stats</h2>"
        + _table(["Path", "Disk", "Total", "Free", "Usage"], disks)
        + "<h2>System Stats</h2>"
        + _table(["Masters", "Heartbeating"], [[masters, "yes" if ctx.is_heartbeating else "no"]])
        + "<h2>Volumes</h2>"
        + _table(
            ["Id", "Collection", "Disk", "Data Size", "Files", "Trash", "TTL", "ReadOnly"], volumes
        )
        + "<h2>Erasure Coding Shards</h2>"
        + _table(["Id", "Collection", "Shards"], [])
        + "</body></html>"
    )
    return HttpReply(200, {"Content-Type": "text/html; charset=utf-8"}, page.encode())


STATIC_PREFIX = "/seaweedfsstatic/"


@functools.cache
def _logo(size: int, fmt: str) -> bytes:
    """A seaweed sprig in a green disc, drawn here (not Go's artwork), as ICO or PNG."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    light = (240, 255, 240, 255)
    unit = size / 50
    draw.ellipse((3 * unit, 3 * unit, 46 * unit, 46 * unit), fill=(46, 139, 87, 255))
    for (x1, y1, x2, y2), width in (
        ((25, 40, 25, 12), 4),
        ((25, 24, 14, 15), 3),
        ((25, 30, 36, 20), 3),
    ):
        draw.line(
            (x1 * unit, y1 * unit, x2 * unit, y2 * unit),
            fill=light,
            width=max(1, round(width * unit)),
        )
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def static_asset(ctx: HttpContext, request: HttpRequest) -> HttpReply:
    """``/seaweedfsstatic/``: the logo the status page shows (drawn here); nothing else."""
    if request.path == STATIC_PREFIX + "seaweed50x50.png" and request.method in ("GET", "HEAD"):
        body = _logo(50, "PNG")
        headers = {
            "Content-Type": "image/png",
            "Accept-Ranges": "bytes",
            "Content-Length": str(len(body)),
        }
        return HttpReply(200, headers, body, head_only=request.method == "HEAD")
    return HttpReply(
        404,
        {"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"},
        b"404 page not found\n",
    )


def favicon(ctx: HttpContext, request: HttpRequest) -> HttpReply:
    """The icon; a HEAD gets its headers only (a body there would break the connection's
    framing)."""
    body = _logo(32, "ICO")
    headers = {
        "Content-Type": "image/x-icon",
        "Accept-Ranges": "bytes",
        "Content-Length": str(len(body)),
    }
    return HttpReply(200, headers, body, head_only=request.method == "HEAD")
