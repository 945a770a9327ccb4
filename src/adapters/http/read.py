"""GET and HEAD of a needle (``GetOrHeadHandler`` in volume_server_handlers_read.go)."""

from __future__ import annotations

import email.utils
import functools
import json
import logging
import re
import uuid
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final, Protocol

from ...core import stats
from ...core.compression import InflateLimitExceeded, gunzip, is_gzipped
from ...core.erasure_coding.reader import read_ec_needle
from ...core.errors import AlreadyDeleted, CookieMismatch, NotFound, SizeLimitExceeded
from ...core.file_id import FileIdError, parse_needle_path, parse_volume_id
from ...core.goparse import GoNumError, parse_bool, parse_int
from ...core.needle.media_type import TSPECIALS
from ...core.needle.mime_types import detect_content_type, type_by_extension
from .auth import WRONG_JWT
from .chunks import ChunkedData, ChunkError, ChunkManifest
from .context import HttpContext
from .fid_path import FidPath, go_ext, parse_url_path
from .images import CROPPABLE, RESIZABLE
from .proxy import read_elsewhere
from .responses import HttpReply, HttpRequest, bare, http_date, http_error, write_json_error

if TYPE_CHECKING:
    from ...core.erasure_coding.ec_volume import EcVolume
    from ...core.needle.record import Needle
    from ...core.volume.volume import Volume

log = logging.getLogger(__name__)


def _decompress(data: bytes, limit: int) -> bytes:
    """Go's ``util.DecompressData``: gzip data inflated (nothing when it does not inflate, as
    Go answers then), other data as is; past ``limit`` (the file size limit) it raises
    :class:`InflateLimitExceeded`, where Go inflates without bound."""
    if not is_gzipped(data):
        return data
    try:
        return gunzip(data, limit)
    except (EOFError, zlib.error) as err:
        log.info("ungzip error: %s", err)
        return b""


def _too_large_to_inflate(limit: int) -> HttpReply:
    """A stored gzip needle that inflates past the file size limit is served only as it is
    stored, to a client that accepts gzip; others get 406 rather than an unbounded inflation."""
    return http_error(
        406,
        f"the file inflates past the limited {limit} bytes; request it with Accept-Encoding: gzip",
    )


def _content_disposition(filename: str, request: HttpRequest) -> str:
    disposition = "inline"
    dl = request.query.get("dl", "")
    if dl:
        try:
            if parse_bool(dl):
                disposition = "attachment"
        except GoNumError:
            pass
    return f"{disposition}; {format_media_param('filename', filename)}"


_NOT_ATTRIBUTE_CHARS: Final = TSPECIALS | frozenset("*'%")
"""RFC 2231's attribute-char excludes these (besides space and controls)."""


_NEEDS_ENCODING: Final = re.compile(r"[^\t -~]")
_TOKEN: Final = re.compile(r'[^\x00- ()<>@,;:\\"/\[\]?=\x7f-\U0010ffff]+')
"""RFC 2045's token: printable ASCII but space and TSPECIALS."""


@functools.lru_cache(maxsize=4096)
def format_media_param(key: str, value: str) -> str:
    """One parameter as Go's ``mime.FormatMediaType`` writes it: bare token, quoted, or RFC 2231."""
    if _NEEDS_ENCODING.search(value):  # needsEncoding: RFC 2231
        encoded = "".join(
            chr(b) if 32 < b < 127 and chr(b) not in _NOT_ATTRIBUTE_CHARS else f"%{b:02X}"
            for b in value.encode()
        )
        return f"{key}*=utf-8''{encoded}"
    if _TOKEN.fullmatch(value):
        return f"{key}={value}"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{key}="{escaped}"'


PLAIN_FID: Final = re.compile(r"/(\d{1,10}),([0-9a-fA-F]{9,24})")
"""``/vid,keycookie``: the file-id path of the plain read and write lanes."""
_CONDITIONAL_HEADERS: Final = frozenset(
    {b"range", b"if-none-match", b"if-modified-since", b"origin"}
)


def has_conditions(raw_headers: list[tuple[bytes, bytes]]) -> bool:
    """A range, a condition or a CORS origin: the read is not plain."""
    for name, _ in raw_headers:
        if name in _CONDITIONAL_HEADERS:
            return True
    return False


def plain_needle(
    ctx: HttpContext, vid: str, key_cookie: str
) -> tuple[Volume, Needle, FidPath] | None:
    """The needle of a plain read (``GET|HEAD /vid,keycookie``, classified by the front door)
    when it is small, local and plain itself (neither compressed nor a chunk manifest).
    Anything else, every error included, is ``None``: the general path reads again and
    answers it; a record too large for the event loop raises :class:`MustRunInThread`."""
    volume = ctx.store.find_volume(int(vid) & 0xFFFFFFFF)
    if volume is None:
        return None
    try:
        needle = volume.read_needle(int(key_cookie[:-8], 16), size_limit=INLINE_LIMIT)
    except SizeLimitExceeded as err:
        raise MustRunInThread(err.size) from None
    except Exception:  # noqa: BLE001 - the general path reads again and answers the error
        return None
    if (
        needle.cookie != int(key_cookie[-8:], 16)
        or needle.is_chunk_manifest
        or needle.is_compressed
    ):
        return None
    return volume, needle, FidPath(vid, key_cookie, "", "")


def plain_reply(
    ctx: HttpContext, method: str, path: str, client: str, found: tuple[Volume, Needle, FidPath]
) -> HttpReply:
    """The answer to a :func:`plain_needle` read, built as any read's (:func:`_answer`)."""
    volume, needle, parts = found
    request = HttpRequest(method, path, {}, {}, b"", client)
    return _answer(ctx, request, parts, volume, needle, True)


def read_elsewhere_for_load(ctx: HttpContext, request: HttpRequest) -> HttpReply:
    """Over the download limit: serve this read from a replica (``tryProxyToReplica``)."""
    parts = parse_url_path(request.path)
    try:
        volume_id = parse_volume_id(parts.vid)
    except GoNumError:
        return bare(400)
    return read_elsewhere(ctx, request, parts, volume_id, force_proxy=True)


INLINE_LIMIT: Final = 256 * 1024
"""Records up to this size are read on the event loop: a thread hop costs more."""
_INFLATE_ON_LOOP: Final = 16 * 1024
"""Compressed data larger than this inflates on a worker thread (it may inflate 1000-fold)."""


class MustRunInThread(Exception):
    """Raised on the event loop when the answer needs network, a large record or heavy work
    (chunks, images); ``cost`` is the stored size to count in flight meanwhile."""

    def __init__(self, cost: int = 0) -> None:
        super().__init__(cost)
        self.cost = cost


def read_needle(ctx: HttpContext, request: HttpRequest, on_loop: bool = False) -> HttpReply:
    parts = parse_url_path(request.path)
    if not ctx.guard.allows(request.query, request.headers, parts.vid, parts.fid, False):
        return write_json_error(401, WRONG_JWT, request.pretty)
    try:
        volume_id = parse_volume_id(parts.vid)
        needle_id, cookie = parse_needle_path(parts.fid)
    except (GoNumError, FileIdError):
        return bare(400)
    volume = ctx.store.find_volume(volume_id)
    if volume is None and (ec_volume := ctx.store.ec.find(volume_id)) is not None:
        if on_loop:
            raise MustRunInThread()
        return _read_ec(ctx, request, parts, ec_volume, needle_id, cookie)
    if volume is None:
        if ctx.config.read_mode == "local":
            stats.read_not_found(invalid_needle=True)
            return bare(404)
        if on_loop:
            raise MustRunInThread()
        return read_elsewhere(ctx, request, parts, volume_id)
    read_deleted = request.query.get("readDeleted") == "true"
    ext = parts.ext.lower()
    may_stream = request.method == "HEAD" or not (
        _resize_request(ext, request) or _crop_request(ext, request)
    )
    try:
        needle = volume.read_needle(
            needle_id,
            read_deleted=read_deleted,
            meta_only=may_stream,
            size_limit=INLINE_LIMIT if on_loop else None,
        )
    except SizeLimitExceeded as err:
        raise MustRunInThread(err.size) from None
    except Exception as err:  # noqa: BLE001 - mapped as Go maps read errors
        return _read_failed(request, err)
    return _answer_found(ctx, request, parts, volume, needle, cookie, on_loop)


def _read_failed(request: HttpRequest, err: Exception) -> HttpReply:
    """Unknown, deleted or another cookie: 404; any other read error: 500 (Go's
    ``GetOrHeadHandler``)."""
    if isinstance(err, NotFound | AlreadyDeleted | CookieMismatch):
        stats.read_not_found(invalid_needle=isinstance(err, NotFound))
        return bare(404)
    log.warning("read %s: %s", request.path, err)
    stats.read_internal_error()
    return bare(500)


def _answer_found(
    ctx: HttpContext,
    request: HttpRequest,
    parts: FidPath,
    volume: Volume | None,
    needle: Needle,
    cookie: int,
    on_loop: bool,
) -> HttpReply:
    """A needle was read: its cookie must match, then it is answered."""
    if needle.cookie != cookie:
        log.info("request %s with cookie:%x expected:%x", request.path, cookie, needle.cookie)
        stats.read_not_found()
        return bare(404)
    reply = _answer(ctx, request, parts, volume, needle, on_loop)
    reply.cost = needle.size  # Go counts the stored size while a read is served
    return reply


def _read_ec(
    ctx: HttpContext,
    request: HttpRequest,
    parts: FidPath,
    ec_volume: EcVolume,
    needle_id: int,
    cookie: int,
) -> HttpReply:
    """A read of an erasure-coded volume: the whole record from its shards (local ones,
    else rebuilt), then answered as any read (``ReadEcShardNeedle``)."""
    try:
        needle = read_ec_needle(
            ec_volume, needle_id, ctx.ec_remote, ctx.store.ec.local_shards(ec_volume)
        )
    except Exception as err:  # noqa: BLE001 - mapped as Go maps read errors
        return _read_failed(request, err)
    return _answer_found(ctx, request, parts, None, needle, cookie, False)


def _answer(
    ctx: HttpContext,
    request: HttpRequest,
    parts: FidPath,
    volume: Volume | None,
    needle: Needle,
    on_loop: bool,
) -> HttpReply:
    """The answer for a needle read (``GetOrHeadHandler`` after the read): a condition that
    holds, the stored headers, chunks, name and type, the data as asked for, ranges."""
    headers: dict[str, str] = {}
    not_modified = _unmodified_since_asked(request, needle, headers)
    if not_modified is not None:
        return not_modified
    _stored_headers(request, needle, headers)
    if needle.is_chunk_manifest and request.query.get("cm") != "false":
        if on_loop:
            raise MustRunInThread(needle.size)
        chunked = _read_chunked(ctx, request, needle, parts.filename, headers)
        if chunked is not None:
            return chunked
    filename, ext, mime_type = _name_and_type(parts, needle)
    if needle.data_size and not needle.data:  # read meta-only: stream the data
        assert volume is not None  # (EC reads hold the whole record)
        return _write_content(request, filename, mime_type, StoredData(volume, needle), headers)
    data = _data_as_asked(ctx, request, needle, ext, headers, on_loop)
    if isinstance(data, HttpReply):
        return data
    return _write_content(request, filename, mime_type, data, headers)


def _unmodified_since_asked(
    request: HttpRequest, needle: Needle, headers: dict[str, str]
) -> HttpReply | None:
    """A 304 when ``If-Modified-Since`` or ``If-None-Match`` holds (``Last-Modified`` set
    on the way, as Go sets it before checking)."""
    if needle.last_modified:
        headers["Last-Modified"] = http_date(needle.last_modified)
        since = request.headers.get("if-modified-since")
        if since:
            parsed = _parse_http_date(since)
            if parsed is not None and parsed >= needle.last_modified:
                return bare(304, headers)
    if request.headers.get("if-none-match") == f'"{needle.etag}"':
        return bare(304, headers)
    return None


def _stored_headers(request: HttpRequest, needle: Needle, headers: dict[str, str]) -> None:
    """``ETag``, then the pairs stored with the needle (``Seaweed-*`` at upload)."""
    headers["ETag"] = f'"{needle.etag}"'
    if needle.has_pairs and needle.pairs:
        try:
            for key, value in json.loads(needle.pairs).items():
                headers[str(key)] = str(value)
        except ValueError:
            log.info("unmarshal pairs error for %s", request.path)


def _name_and_type(parts: FidPath, needle: Needle) -> tuple[str, str, str]:
    """(file name, lower-case extension, type): the path's name, else the stored one; the
    stored type unless it is the octet-stream default."""
    filename, ext = parts.filename, parts.ext
    if needle.name and not filename:
        filename = needle.name.decode("utf-8", "replace")
        ext = ext or go_ext(filename)
    mime_type = ""
    if needle.mime:
        stored = needle.mime.decode("utf-8", "replace")
        if not stored.startswith("application/octet-stream"):
            mime_type = stored
    return filename, ext.lower(), mime_type


def _data_as_asked(
    ctx: HttpContext,
    request: HttpRequest,
    needle: Needle,
    ext: str,
    headers: dict[str, str],
    on_loop: bool,
) -> bytes | HttpReply:
    """The stored data as the request wants it: gzip kept for a client that takes it, else
    inflated; resized or cropped images. A reply instead when it cannot be given."""
    data = needle.data
    if not isinstance(data, bytes):  # (a read record holds bytes: only uploads hold views)
        data = bytes(data)
    resize, crop = _resize_request(ext, request), _crop_request(ext, request)
    if needle.is_compressed:
        if not (resize or crop) and (
            "gzip" in request.headers.get("accept-encoding", "") and is_gzipped(data)
        ):
            headers["Content-Encoding"] = "gzip"
        else:
            if on_loop and len(data) > _INFLATE_ON_LOOP:
                raise MustRunInThread(needle.size)
            try:
                data = _decompress(data, ctx.file_size_limit)
            except InflateLimitExceeded:
                return _too_large_to_inflate(ctx.file_size_limit)
    if resize or crop:
        if on_loop:
            raise MustRunInThread(needle.size)
        if crop:
            data = ctx.images.crop(data, ext, *crop)
        if resize:
            data = ctx.images.resize(data, ext, *resize)
    return data


def _query_int(request: HttpRequest, name: str) -> int:
    value = request.query.get(name, "")
    try:
        return parse_int(value) if value else 0
    except GoNumError:
        return 0  # Go ignores Atoi errors here


def _resize_request(ext: str, request: HttpRequest) -> tuple[int, int, str] | None:
    """``shouldResizeImages``: width/height (and ``mode``) on an image extension."""
    if ext not in RESIZABLE:
        return None
    width, height = _query_int(request, "width"), _query_int(request, "height")
    if width > 0 or height > 0:
        return width, height, request.query.get("mode", "")
    return None


def _crop_request(ext: str, request: HttpRequest) -> tuple[int, int, int, int] | None:
    """``shouldCropImages``: ``crop_x1..crop_y2`` forming a non-empty box."""
    if ext not in CROPPABLE:
        return None
    x1, y1, x2, y2 = (_query_int(request, f"crop_{n}") for n in ("x1", "y1", "x2", "y2"))
    return (x1, y1, x2, y2) if x1 >= 0 and y1 >= 0 and x2 > x1 and y2 > y1 else None


class Body(Protocol):
    """A body too large to hold: read in pieces only as it is sent."""

    def __len__(self) -> int: ...

    def chunks(self, start: int, length: int) -> Iterator[bytes]: ...

    def peek(self, start: int, length: int) -> bytes: ...


class StoredData:
    """The data of a needle read meta-only, read from the volume only as it is sent."""

    def __init__(self, volume: Volume, needle: Needle) -> None:
        self.volume = volume
        self.needle = needle

    def __len__(self) -> int:
        return self.needle.data_size

    def chunks(self, start: int, length: int) -> Iterator[bytes]:
        return self.volume.read_needle_data(self.needle, start, length)

    def peek(self, start: int, length: int) -> bytes:
        """A few bytes now (content sniffing)."""
        return b"".join(self.volume.read_needle_data(self.needle, start, length))


def _write_content(
    request: HttpRequest,
    filename: str,
    mime_type: str,
    data: bytes | Body,
    headers: dict[str, str],
) -> HttpReply:
    """``writeResponseContent``: type from the name when unknown, disposition, body/ranges."""
    if not mime_type and filename:
        mime_type = type_by_extension(go_ext(filename))
    if mime_type:
        headers["Content-Type"] = mime_type
    headers["Accept-Ranges"] = "bytes"
    if request.query:
        for param, header in PASS_THROUGH_HEADERS.items():
            value = request.query.get(param)
            if value:
                headers[header] = value.strip(" \t\r\n")  # net/http trims every value
    if filename and "Content-Disposition" not in headers:
        headers["Content-Disposition"] = _content_disposition(filename, request)
    return _serve_body(request, data, headers)


# ``response-*`` query parameters that set response headers (S3's, as s3_constants has them).
PASS_THROUGH_HEADERS: Final = {
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
    "response-content-language": "Content-Language",
    "response-content-type": "Content-Type",
    "response-expires": "Expires",
}


def _read_chunked(
    ctx: HttpContext, request: HttpRequest, needle: Needle, filename: str, headers: dict[str, str]
) -> HttpReply | None:
    """``tryHandleChunkedFile``: serve the chunks joined; ``None`` falls back to raw bytes."""
    try:
        manifest = ChunkManifest.load(needle, ctx.file_size_limit)
    except ChunkError as err:
        log.info("load chunked manifest (%s) error: %s", request.path, err)
        return None
    filename = filename or manifest.name
    mime_type = "" if manifest.mime.startswith("application/octet-stream") else manifest.mime
    headers["X-File-Store"] = "chunked"
    data = ChunkedData(ctx, manifest)
    return _write_content(request, filename, mime_type, data, headers)


def _serve_body(request: HttpRequest, data: bytes | Body, headers: dict[str, str]) -> HttpReply:
    """``ProcessRangeRequest`` (common.go) over an in-memory or a streamed body."""
    total = len(data)
    if request.method == "HEAD":
        headers["Content-Length"] = str(total)
        return HttpReply(200, headers, head_only=True)
    range_header = request.headers.get("range", "")
    if not range_header:
        return _body_reply(200, headers, data, 0, total)
    try:
        ranges = parse_range(range_header, total)
    except ValueError as err:
        # http.Error keeps the headers set so far, replacing the type, dropping the length.
        error = http_error(416, str(err))
        if str(err) == NO_OVERLAP:
            headers["Content-Range"] = f"bytes */{total}"
        return HttpReply(416, {**headers, **error.headers}, error.body)
    if not ranges or sum(length for _, length in ranges) > total:
        return HttpReply(200, headers)  # Go ignores the request and writes nothing
    if len(ranges) == 1:
        start, length = ranges[0]
        headers["Content-Range"] = _content_range(start, length, total)
        return _body_reply(206, headers, data, start, length)
    boundary = uuid.uuid4().hex + uuid.uuid4().hex[:28]
    content_type = headers.get("Content-Type", "")
    pieces: list[bytes | tuple[int, int]] = []
    for start, length in ranges:
        part_headers = f"Content-Range: {_content_range(start, length, total)}\r\n"
        part_headers += f"Content-Type: {content_type}\r\n"
        line_break = "\r\n" if pieces else ""  # the first boundary has no leading CRLF
        pieces.append(f"{line_break}--{boundary}\r\n{part_headers}\r\n".encode())
        pieces.append((start, length))
    pieces.append(f"\r\n--{boundary}--\r\n".encode())
    headers["Content-Type"] = f"multipart/byteranges; boundary={boundary}"
    if isinstance(data, bytes):
        body = b"".join(p if isinstance(p, bytes) else data[p[0] : p[0] + p[1]] for p in pieces)
        return HttpReply(206, headers, body)
    headers["Content-Length"] = str(sum(len(p) if isinstance(p, bytes) else p[1] for p in pieces))
    return HttpReply(206, headers, stream=_multipart_stream(data, pieces))


def _body_reply(
    status: int, headers: dict[str, str], data: bytes | Body, start: int, length: int
) -> HttpReply:
    if isinstance(data, bytes):
        return HttpReply(
            status, headers, data if length == len(data) else data[start : start + length]
        )
    if "Content-Type" not in headers and "Content-Encoding" not in headers and length:
        # net/http sniffs the first bytes written
        headers["Content-Type"] = detect_content_type(data.peek(start, min(length, 512)))
    headers["Content-Length"] = str(length)
    return HttpReply(status, headers, stream=data.chunks(start, length))


def _multipart_stream(data: Body, pieces: list[bytes | tuple[int, int]]) -> Iterator[bytes]:
    for piece in pieces:
        if isinstance(piece, bytes):
            yield piece
        else:
            yield from data.chunks(*piece)


def _content_range(start: int, length: int, total: int) -> str:
    return f"bytes {start}-{start + length - 1}/{total}"


NO_OVERLAP: Final = "invalid range: failed to overlap"


def parse_range(header: str, size: int) -> list[tuple[int, int]]:
    """The 4.48 volume server's ``parseRange`` (net/http's rules): (start, length) pairs;
    ranges starting at or past the end are dropped, and if that leaves none the request
    fails with ``failed to overlap`` (checked against the Go binary)."""
    prefix = "bytes="
    if not header.startswith(prefix):
        raise ValueError("invalid range")
    ranges: list[tuple[int, int]] = []
    no_overlap = False
    for spec in header[len(prefix) :].split(","):
        spec = spec.strip()
        if not spec:
            continue
        dash = spec.find("-")
        if dash < 0:
            raise ValueError("invalid range")
        try:
            found = _one_range(spec[:dash].strip(), spec[dash + 1 :].strip(), size)
        except GoNumError:
            raise ValueError("invalid range") from None
        if found is None:
            no_overlap = True
        else:
            ranges.append(found)
    if no_overlap and not ranges:
        raise ValueError(NO_OVERLAP)
    return ranges


def _one_range(first: str, last: str, size: int) -> tuple[int, int] | None:
    """One ``first-last`` spec as (start, length); ``None`` when it starts past the end."""
    if not first:  # the last ``last`` bytes
        if not last or last[0] == "-" or parse_int(last) < 0:
            raise ValueError("invalid range")
        suffix = min(parse_int(last), size)
        return size - suffix, suffix
    start = parse_int(first)
    if start < 0:
        raise ValueError("invalid range")
    if start >= size:
        return None
    if not last:
        return start, size - start
    end = parse_int(last)
    if start > end:
        raise ValueError("invalid range")
    return start, min(end, size - 1) - start + 1


def _parse_http_date(text: str) -> int | None:
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return int(parsed.timestamp())
