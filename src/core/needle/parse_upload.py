"""Turning an upload request into a needle (``needle_parse_upload.go``, Go's ParseUpload).

Framework-free: adapters hand over an :class:`UploadRequest` of plain values. The rules are
Go's: the first multipart part (or the first later one that has a filename), raw bodies named
by ``Content-Disposition`` or the URL, ``Seaweed-*`` headers as pairs, automatic gzip of
compressible types when it saves 10 %, ``Content-MD5`` checked against the uncompressed data.
"""

from __future__ import annotations

import base64
import hashlib
import json
import posixpath
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from ..compression import InflateLimitExceeded, gunzip
from ..crc import crc32c_of
from ..file_id import parse_needle_path
from ..goparse import GoNumError, parse_bool, parse_uint
from ..ttl import EMPTY_TTL, TTL, TTLError
from .media_type import MediaTypeError, parse_media_type
from .mime_types import detect_content_type, type_by_extension
from .record import (
    FLAG_HAS_LAST_MODIFIED,
    FLAG_HAS_MIME,
    FLAG_HAS_NAME,
    FLAG_HAS_PAIRS,
    FLAG_HAS_TTL,
    FLAG_IS_CHUNK_MANIFEST,
    FLAG_IS_COMPRESSED,
    MAX_MIME_SIZE,
    MAX_NAME_SIZE,
    Needle,
)

PAIR_NAME_PREFIX: Final = "Seaweed-"
MAX_BOUNDARY: Final = 4096 - 4
"""The longest multipart boundary: its delimiter line (``--`` boundary CRLF) must fit the
4 KiB buffer Go's ``mime/multipart`` reads it with (longer: 400 ``bufio: buffer full``)."""


class UploadError(ValueError):
    """A bad upload; ``str()`` is Go's message (sent back as ``{"error": ...}`` with 400)."""


# Plain classes rather than dataclasses: compiled, building one is a native call (a
# dataclass's generated ``__init__`` stays interpreted), and every upload builds both.
class UploadRequest:
    __slots__ = ("method", "path", "headers", "query", "body")

    def __init__(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        body: bytes | bytearray,
    ) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        """Header values by *lower-case* name (the first value of each)."""
        self.query = query
        self.body = body


class ParsedUpload:
    __slots__ = (
        "file_name",
        "data",
        "mime_type",
        "pairs",
        "is_gzipped",
        "original_size",
        "modified_time",
        "ttl",
        "is_chunked_file",
        "content_md5",
    )

    def __init__(self, pairs: dict[str, str]) -> None:
        self.file_name = ""
        self.data: bytes | bytearray | memoryview = b""
        self.mime_type = ""
        self.pairs = pairs
        """The ``Seaweed-*`` headers, by canonical name."""
        self.is_gzipped = False
        self.original_size = 0
        self.modified_time = 0
        self.ttl = EMPTY_TTL
        self.is_chunked_file = False
        self.content_md5 = ""


def canonical_header_key(name: str) -> str:
    """Go's ``textproto.CanonicalMIMEHeaderKey``: ``seaweed-my-key`` -> ``Seaweed-My-Key``."""
    if not all(c.isalnum() or c == "-" for c in name):
        return name
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def _clean_windows_path_base(name: str) -> str:
    return posixpath.basename(name.replace("\\", "/"))


def _media_params(value: str) -> tuple[str, Mapping[str, str]]:
    """``mime.ParseMediaType`` as multipart parts use it: nothing when it fails."""
    try:
        return parse_media_type(value)
    except MediaTypeError:
        return "", {}


@dataclass(slots=True)
class _Part:
    headers: dict[str, str]
    content: bytes | bytearray | memoryview

    @property
    def file_name(self) -> str:
        _, params = _media_params(self.headers.get("content-disposition", ""))
        return params.get("filename", "")

    @property
    def form_name(self) -> str:
        _, params = _media_params(self.headers.get("content-disposition", ""))
        return params.get("name", "")


_VIEW_PARTS_OVER: Final = 64 * 1024
"""A multipart part larger than this is a view of the request body, not a copy."""


def _multipart_delimiter(content_type: str) -> bytes:
    """The ``--boundary`` line that separates the parts of a ``multipart/form-data`` body."""
    kind, params = _media_params(content_type)
    if not kind.startswith("multipart/"):
        raise UploadError("request Content-Type isn't multipart/form-data")
    boundary = params.get("boundary", "")
    if not boundary:
        raise UploadError("no multipart boundary param in Content-Type")
    if len(boundary) > MAX_BOUNDARY:
        # Go's multipart reader peeks each delimiter line in a 4 KiB buffer.
        raise UploadError("multipart: NextPart: bufio: buffer full")
    return b"--" + boundary.encode()


def _multipart_parts(body: bytes | bytearray, content_type: str) -> list[_Part]:
    """Split a ``multipart/form-data`` body; errors use Go's ``mime/multipart`` texts. A
    later part that fails ends the list, as Go's reader stops there; a first one fails it."""
    delimiter = _multipart_delimiter(content_type)
    start = body.find(delimiter)
    if start < 0:
        raise UploadError("multipart: NextPart: EOF")
    parts: list[_Part] = []
    position = start + len(delimiter)
    while True:
        if body.startswith(b"--", position):  # the closing delimiter
            if not parts:
                raise UploadError("EOF")  # NextPart's io.EOF: a closing delimiter first
            break
        found = _next_part(body, position, delimiter, first=not parts)
        if found is None:
            break
        part, position = found
        parts.append(part)
    if not parts:
        raise UploadError("multipart: NextPart: EOF")
    return parts


def _next_part(
    body: bytes | bytearray, position: int, delimiter: bytes, *, first: bool
) -> tuple[_Part, int] | None:
    """The part after the delimiter ending at ``position`` and where its own delimiter ends;
    ``None`` when no whole part follows (only the first part's missing end is an error)."""
    header_start = body.find(b"\r\n", position)
    if header_start < 0:
        return None
    header_end = body.find(b"\r\n\r\n", header_start)
    if header_end < 0:
        return None
    headers: dict[str, str] = {}
    for line in body[header_start + 2 : header_end].split(b"\r\n"):
        name, sep, value = line.decode("utf-8", "surrogateescape").partition(":")
        if sep:
            headers.setdefault(name.strip().lower(), value.strip())
    content_start = header_end + 4
    next_delimiter = body.find(b"\r\n" + delimiter, content_start)
    if next_delimiter < 0:
        if first:
            raise UploadError("unexpected EOF")  # the part's data never ends
        return None
    content: bytes | bytearray | memoryview
    if next_delimiter - content_start > _VIEW_PARTS_OVER:
        content = memoryview(body)[content_start:next_delimiter]  # no copy of a large file
    else:
        content = body[content_start:next_delimiter]
    return _Part(headers, content), next_delimiter + 2 + len(delimiter)


def _check_limit(data: bytes | bytearray | memoryview, size_limit: int) -> None:
    if len(data) > size_limit:
        raise UploadError(f"file over the limited {size_limit} bytes")


def parse_upload(request: UploadRequest, size_limit: int) -> ParsedUpload:
    """``ParseUpload``: read the file, its name, type and options from the request."""
    upload = ParsedUpload(pairs=_pairs(request.headers))
    content_type = request.headers.get("content-type", "")
    form = dict(request.query)
    if request.method == "POST" and (not content_type or "form-data" in content_type):
        content_type = _read_form(upload, request.body, content_type, form, size_limit)
    else:
        _read_body(upload, request, content_type, size_limit)
    try:
        cm = form.get("cm")
        upload.is_chunked_file = parse_bool(cm) if cm else False
    except GoNumError:
        upload.is_chunked_file = False
    if not upload.is_chunked_file:
        _settle_mime_type(upload, content_type)
    _finish(upload, request, form, size_limit)
    return upload


def _pairs(headers: Mapping[str, str]) -> dict[str, str]:
    """The ``Seaweed-*`` headers, by canonical name: stored with the needle as its pairs."""
    pairs: dict[str, str] = {}
    for name, value in headers.items():
        if name[:8].lower() == "seaweed-":
            key = canonical_header_key(name)
            if key.startswith(PAIR_NAME_PREFIX):
                pairs[key] = value
    return pairs


def _read_form(
    upload: ParsedUpload,
    body: bytes | bytearray,
    content_type: str,
    form: dict[str, str],
    size_limit: int,
) -> str:
    """A multipart upload: the file is the first part, or the first later one with a file
    name. Plain fields join ``form``. Returns the file part's own content type."""
    parts = _multipart_parts(body, content_type)
    # Go's FormValue sees the form's plain fields too, and they win over the query.
    for plain in parts:
        if not plain.file_name and plain.form_name:
            form[plain.form_name] = str(plain.content, "utf-8", "replace")
    part = parts[0]
    if not part.file_name:
        part = next((p for p in parts[1:] if p.file_name), part)
    upload.file_name = _clean_windows_path_base(part.file_name) if part.file_name else ""
    _check_limit(part.content, size_limit)
    upload.data = part.content
    upload.content_md5 = part.headers.get("content-md5", "")
    upload.is_gzipped = part.headers.get("content-encoding", "") == "gzip"
    return part.headers.get("content-type", "")


def _read_body(
    upload: ParsedUpload, request: UploadRequest, content_type: str, size_limit: int
) -> None:
    """A raw upload: the body is the file, named by ``Content-Disposition`` or the URL."""
    disposition = request.headers.get("content-disposition", "")
    if "name=" in disposition:
        if not disposition.startswith(("inline", "attachment")):
            disposition = "attachment; " + disposition
        _, params = _media_params(disposition)
        upload.file_name = params.get("filename") or params.get("name", "")
    if upload.file_name:
        upload.file_name = _clean_windows_path_base(upload.file_name)
    else:
        path = request.path
        upload.file_name = path[path.rfind("/") + 1 :]  # posixpath.basename, inline
    _check_limit(request.body, size_limit)
    upload.data = request.body
    upload.mime_type = content_type
    upload.is_gzipped = request.headers.get("content-encoding", "") == "gzip"


def _settle_mime_type(upload: ParsedUpload, content_type: str) -> None:
    """Keep the sent type only when the file name does not already imply it."""
    dot = upload.file_name.rfind(".")
    guessed = type_by_extension(upload.file_name[dot:].lower()) if dot > 0 else ""
    if content_type and content_type != "application/octet-stream" and guessed != content_type:
        upload.mime_type = content_type
    elif guessed and not upload.mime_type and guessed != "application/octet-stream":
        upload.mime_type = guessed


def _finish(
    upload: ParsedUpload, request: UploadRequest, form: Mapping[str, str], size_limit: int
) -> None:
    """The form's options, then gzip (inflate what came gzipped, compress what pays), then
    the ``Content-MD5`` check against the uncompressed data."""
    try:
        ts = form.get("ts")
        upload.modified_time = parse_uint(ts, 10, 64) if ts else 0
    except GoNumError:
        upload.modified_time = 0
    try:
        ttl = form.get("ttl")
        upload.ttl = TTL.parse(ttl) if ttl else EMPTY_TTL
    except TTLError:
        upload.ttl = EMPTY_TTL
    upload.original_size = len(upload.data)
    uncompressed = upload.data
    if upload.is_gzipped:
        uncompressed = _inflated(upload, size_limit)
    elif request.query.get("type") != "replicate":
        _compress_if_it_pays(upload)
    expected_md5 = request.headers.get("content-md5", "") or upload.content_md5
    if expected_md5:
        digest = base64.b64encode(hashlib.md5(uncompressed).digest()).decode()
        upload.content_md5 = digest
        if digest != expected_md5:
            raise UploadError(
                f"Content-MD5 did not match md5 of file data expected [{expected_md5}] "
                f"received [{digest}] size {len(uncompressed)}"
            )


def _inflated(upload: ParsedUpload, size_limit: int) -> bytes | bytearray | memoryview:
    """The data of a gzipped upload, inflated (and its ``original_size`` set). Go inflates
    without a bound (a 200 KiB bomb of 200 MiB passes a 16 MiB limit); the inflated file is
    held to the size limit here. A stream that does not inflate is stored as sent, as Go
    does."""
    try:
        uncompressed = gunzip(upload.data, size_limit)
    except InflateLimitExceeded:
        raise UploadError(f"file over the limited {size_limit} bytes once uncompressed") from None
    except (EOFError, zlib.error):
        return upload.data
    upload.original_size = len(uncompressed)
    return uncompressed


def _compress_if_it_pays(upload: ParsedUpload) -> None:
    """Gzip a compressible file when that saves at least 10 %."""
    mime_type = upload.mime_type or detect_content_type(upload.data)
    if mime_type == "application/octet-stream":
        mime_type = ""
    # Go passes the base name, not the extension, here (``filepath.Base``); keep that.
    name = upload.file_name
    if _is_compressible(name[name.rfind("/") + 1 :], mime_type):
        compressed = gzip_level6(upload.data)
        if len(compressed) * 10 < len(upload.data) * 9:
            upload.data = compressed
            upload.is_gzipped = True


def gzip_level6(data: bytes | bytearray | memoryview) -> bytes:
    """``gzip.compress(data, 6, mtime=0)``, byte for byte, with the deflate window sized to
    the data: a 32 KiB window costs ~50 us to set up, several times the compression of a
    small upload. (A window of at least the data plus zlib's 262-byte lookahead never limits
    a match, so the output is the same.)"""
    window_bits = max(9, min(15, (len(data) + 262).bit_length()))
    compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + window_bits)
    return compressor.compress(data) + compressor.flush()


_COMPRESSIBLE_EXT: Final = {
    ".svg",
    ".bmp",
    ".wav",
    ".pdf",
    ".txt",
    ".html",
    ".htm",
    ".css",
    ".js",
    ".json",
    ".php",
    ".java",
    ".go",
    ".rb",
    ".c",
    ".cpp",
    ".h",
    ".hpp",
}
_INCOMPRESSIBLE_EXT: Final = {
    ".zip",
    ".rar",
    ".gz",
    ".bz2",
    ".xz",
    ".zst",
    ".br",
    ".png",
    ".jpg",
    ".jpeg",
}


def _is_compressible(ext: str, mime_type: str) -> bool:
    """``IsCompressableFileType`` when it is sure (``shouldBeCompressed && iAmSure``)."""
    if mime_type.startswith("text/"):
        return True
    if ext in (".svg", ".bmp", ".wav"):
        return True
    if mime_type.startswith("image/") or ext in _INCOMPRESSIBLE_EXT:
        return False
    if ext in _COMPRESSIBLE_EXT:
        return True
    if mime_type.startswith("application/"):
        if mime_type.endswith("zstd") or mime_type.endswith("vnd.rar"):
            return False
        if mime_type.endswith(("xml", "script")):
            return True
    if mime_type.startswith("audio/"):
        return mime_type[6:] in ("wave", "wav", "x-wav", "x-pn-wav")
    return False


def needle_from_upload(upload: ParsedUpload, fid_path: str) -> Needle:
    """``CreateNeedleFromRequest`` after parsing: fill the needle and its id from the URL path.
    (Built in one step, flags and all: every upload passes here.)"""
    flags = FLAG_HAS_LAST_MODIFIED
    name = mime = pairs = b""
    if len(upload.file_name) < 256:
        name = upload.file_name.encode()[:MAX_NAME_SIZE]
        flags |= FLAG_HAS_NAME
    if len(upload.mime_type) < 256:
        mime = upload.mime_type.encode()[:MAX_MIME_SIZE]
        flags |= FLAG_HAS_MIME
    if upload.pairs:
        trimmed = {k[len(PAIR_NAME_PREFIX) :]: v for k, v in upload.pairs.items()}
        encoded = json.dumps(
            dict(sorted(trimmed.items())), separators=(",", ":"), ensure_ascii=False
        ).encode()
        if len(encoded) < 65536:
            pairs = encoded
            flags |= FLAG_HAS_PAIRS
    if upload.is_gzipped:
        flags |= FLAG_IS_COMPRESSED
    if upload.ttl:
        flags |= FLAG_HAS_TTL
    if upload.is_chunked_file:
        flags |= FLAG_IS_CHUNK_MANIFEST
    comma = fid_path.rfind(",")
    dot = fid_path.rfind(".")
    fid = fid_path[comma + 1 : dot] if dot > comma else fid_path[comma + 1 :]
    needle_id, cookie = parse_needle_path(fid)
    data = upload.data
    return Needle(
        cookie=cookie,
        id=needle_id,
        data=data,
        flags=flags,
        name=name,
        mime=mime,
        pairs=pairs,
        last_modified=upload.modified_time or int(time.time()),
        ttl=upload.ttl,
        checksum=crc32c_of(data),
    )
