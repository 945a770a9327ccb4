"""The OpenAPI description of the HTTP surface the handlers really serve.

Requests are answered by our own HTTP/1.1 server (:mod:`.protocol` -> :mod:`.front_door`),
not by FastAPI, so FastAPI cannot describe them from its routes. This module declares them, as
data: the answer models (pydantic), each route's parameters, headers, bodies and the status
codes the handlers give (nothing else: no 422, which nothing here ever answers). It never
serves a request; ``tests/cluster/test_openapi_conformance.py`` holds it to the live server.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

# --- answer models ------------------------------------------------------------------------


class _Strict(BaseModel):
    """Go writes exactly these fields: an unknown one in an answer is drift, not extension."""

    model_config = ConfigDict(extra="forbid")


class ErrorAnswer(_Strict):
    """``{"error": ...}``: how the file handlers explain a refusal (``writeJsonError``)."""

    error: str = Field(description="Go's message, word for word")


class UploadAnswer(_Strict):
    """The answer to a stored upload (Go's ``UploadResult``; empty fields are omitted)."""

    name: str = Field("", description="The file name stored with the needle")
    size: int = Field(0, ge=0, description="Bytes sent, uncompressed (omitted when 0)")
    eTag: str = Field(description="The needle's CRC as hex, also the `ETag` header")  # noqa: N815 - Go's JSON name
    mime: str = Field("", description="The stored content type")
    contentMd5: str = Field("", description="Base64 MD5 of the data, when one was sent")  # noqa: N815 - Go's JSON name


class DeleteAnswer(_Strict):
    """The answer to a delete: the bytes the file held (0 when there was nothing to delete)."""

    size: int = Field(ge=0)


class DiskStatus(_Strict):
    """One data directory's file system (Go's ``DiskStatus``)."""

    dir: str
    all: int = Field(ge=0)
    used: int = Field(ge=0)
    free: int = Field(ge=0)
    percent_free: float
    percent_used: float


class ReplicaPlacement(_Strict):
    """Copies beyond the first, by where they live; zero counts are omitted."""

    node: int = Field(0, ge=0, description="Other servers in the same rack")
    rack: int = Field(0, ge=0, description="Other racks in the same data center")
    dc: int = Field(0, ge=0, description="Other data centers")


class Ttl(_Strict):
    Count: int = Field(ge=0)
    Unit: int = Field(ge=0, description="0 none, 1 minute, 2 hour, 3 day, 4 week, 5 month, 6 year")


class VolumeStatus(_Strict):
    """One volume, in Go's field order (``VolumeInfo``)."""

    Collection: str
    DiskType: str
    RemoteStorageName: str
    ReplicaPlacement: ReplicaPlacement
    Ttl: Ttl
    Size: int = Field(ge=0)
    DeletedByteCount: int = Field(ge=0)
    ModifiedAtSecond: int = Field(ge=0)
    Id: int = Field(ge=0)
    DiskId: int = Field(ge=0)
    CompactRevision: int = Field(ge=0)
    FileCount: int = Field(ge=0)
    DeleteCount: int = Field(ge=0)
    Version: int = Field(ge=1)
    ReadOnly: bool
    ReadOnlyCanDelete: bool


class ServerStatus(_Strict):
    """``/status``: the disks and volumes of this server."""

    DiskStatuses: list[DiskStatus]
    Version: str = Field(description="Offset width and release, e.g. `30GB 4.48`")
    Volumes: list[VolumeStatus] | None = Field(description="`null` when there is none")


MODELS: tuple[type[BaseModel], ...] = (ErrorAnswer, UploadAnswer, DeleteAnswer, ServerStatus)

# --- declarations -------------------------------------------------------------------------

Where = Literal["path", "query", "header"]


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    where: Where
    description: str
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})
    required: bool = False

    def document(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "in": self.where,
            "description": self.description,
            "required": self.required or self.where == "path",
            "schema": dict(self.schema),
        }


@dataclass(frozen=True, slots=True)
class Answer:
    """One status code: what it means and the bodies it may carry (none: an empty body)."""

    description: str
    content: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        out: dict[str, Any] = {"description": self.description}
        if self.content:
            out["content"] = {media: {"schema": dict(s)} for media, s in self.content.items()}
        if self.headers:
            out["headers"] = {
                name: {"description": text, "schema": {"type": "string"}}
                for name, text in self.headers.items()
            }
        return out


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    operation_id: str
    summary: str
    answers: Mapping[int, Answer]
    params: tuple[Param, ...] = ()
    description: str = ""
    body: Mapping[str, Mapping[str, Any]] | None = None
    tags: tuple[str, ...] = ()
    servers: tuple[Mapping[str, Any], ...] = ()

    def document(self, path_params: tuple[Param, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {"operationId": self.operation_id, "summary": self.summary}
        if self.description:
            out["description"] = self.description
        if self.tags:
            out["tags"] = list(self.tags)
        params = (*path_params, *self.params)
        if params:
            out["parameters"] = [p.document() for p in params]
        if self.body is not None:
            out["requestBody"] = {
                "required": True,
                "content": {media: {"schema": dict(s)} for media, s in self.body.items()},
            }
        out["responses"] = {str(code): a.document() for code, a in sorted(self.answers.items())}
        if self.servers:
            out["servers"] = [dict(s) for s in self.servers]
        return out


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


_TEXT = {"type": "string"}
_BINARY = {"type": "string", "format": "binary"}
_FLAG = {"type": "string", "enum": ["true", "false"]}
_COUNT = {"type": "integer", "minimum": 0}
_HEADER_TEXT = {"type": "string"}
"""Any text: copied into a response header as Go's net/http writes one (line breaks become
spaces, the ends are trimmed, text goes as its UTF-8)."""

# Path parameters of the file-id routes (Go's ``parseURLPath``).
VID = Param("vid", "path", "Volume id, decimal", {"type": "string", "pattern": "^[0-9]{1,10}$"})
_KEY_COOKIE = "[0-9a-fA-F]{9,24}(_[0-9]{1,19})?"
FID = Param(
    "fid",
    "path",
    "Needle key then 8 hex digits of cookie (`01637037d6`), optionally `_<delta>` (the n-th id "
    "of a batch assignment) and `.<ext>` (image resizing reads it)",
    {"type": "string", "pattern": f"^{_KEY_COOKIE}(\\.[A-Za-z0-9]{{1,8}})?$"},
)
NAMED_FID = Param(
    "fid",
    "path",
    "Needle key then 8 hex digits of cookie, optionally `_<delta>` (no extension: the name "
    "carries it)",
    {"type": "string", "pattern": f"^{_KEY_COOKIE}$"},
)
FILENAME = Param(
    "filename",
    "path",
    "A name for the answer (`Content-Disposition`, content type by extension); the stored "
    "name is not checked. No control characters: the server copies it into a header",
    {"type": "string", "pattern": "^[^/\\x00-\\x1f\\x7f]{1,255}$"},
)
FID_FORMS: dict[str, tuple[Param, ...]] = {
    "/{vid},{fid}": (VID, FID),
    "/{vid}/{fid}": (VID, FID),
    "/{vid}/{fid}/{filename}": (VID, NAMED_FID, FILENAME),
}

JWT = Param(
    "jwt",
    "query",
    "A token signed with `security.toml`'s key whose `fid` claim names this file (also "
    "`Authorization: Bearer` or the `AT` cookie); needed only when the server has a key",
)
AUTHORIZATION = Param("Authorization", "header", "`Bearer <jwt>`, when `jwt` is not in the query")
PRETTY = Param("pretty", "query", "Any value: JSON answers are indented", _TEXT)
ORIGIN = Param("Origin", "header", "Any value: CORS headers are added to the answer")

READ_PARAMS: tuple[Param, ...] = (
    Param("dl", "query", "`true` (Go's ParseBool): `Content-Disposition: attachment`", _TEXT),
    Param(
        "readDeleted", "query", "`true`: read a deleted file that vacuum has not yet removed", _FLAG
    ),
    Param(
        "cm",
        "query",
        "`false`: a chunk manifest is served as stored, not as the joined chunks",
        _FLAG,
    ),
    Param(
        "width", "query", "Resize an image (.png, .jpg, .jpeg, .gif, .webp) to this width", _COUNT
    ),
    Param("height", "query", "Resize an image to this height", _COUNT),
    Param(
        "mode",
        "query",
        "`fit` keeps the aspect ratio inside the box, `fill` covers and "
        "crops it, anything else stretches",
        _TEXT,
    ),
    *(
        Param(f"crop_{n}", "query", "Crop box corner (all four, x2 > x1, y2 > y1)", _COUNT)
        for n in ("x1", "y1", "x2", "y2")
    ),
    *(
        Param(f"response-{h}", "query", f"Sets the answer's `{h.title()}` header", _HEADER_TEXT)
        for h in (
            "cache-control",
            "content-disposition",
            "content-encoding",
            "content-language",
            "content-type",
            "expires",
        )
    ),
    Param("collection", "query", "Kept in the `Location` of a `-readMode=redirect` answer"),
    Param("proxied", "query", "`true`: already proxied by a peer, do not proxy again", _FLAG),
    JWT,
    PRETTY,
    Param("Range", "header", "`bytes=` ranges (206, one or `multipart/byteranges`; 416)"),
    Param("If-None-Match", "header", "The file's `ETag`: 304 when it matches"),
    Param("If-Modified-Since", "header", "An HTTP date: 304 when the file is not newer"),
    Param("Accept-Encoding", "header", "`gzip`: a file stored compressed is sent as stored"),
    AUTHORIZATION,
    ORIGIN,
)

WRITE_PARAMS: tuple[Param, ...] = (
    Param(
        "type",
        "query",
        "`replicate`: a copy from the primary (no further replication, no "
        "compression, no upload limit)",
        {"type": "string", "enum": ["replicate"]},
    ),
    Param("fsync", "query", "`true`: the answer waits until the write is on disk", _FLAG),
    Param("ts", "query", "Last-modified time, Unix seconds (default now)", _COUNT),
    Param("ttl", "query", "Time to live: a count and a unit of m, h, d, w, M, y (`3d`)", _TEXT),
    Param("cm", "query", "`true`: the data is a chunk manifest (JSON list of chunks)", _FLAG),
    JWT,
    PRETTY,
    Param("Content-MD5", "header", "Base64 MD5 of the (uncompressed) data: 400 when it differs"),
    Param("Content-Encoding", "header", "`gzip`: the data is sent compressed"),
    Param("Content-Disposition", "header", "`filename=` or `name=` names a raw upload"),
    AUTHORIZATION,
    ORIGIN,
)

DELETE_PARAMS: tuple[Param, ...] = (
    Param(
        "type",
        "query",
        "`replicate`: a copy of a delete from the primary",
        {"type": "string", "enum": ["replicate"]},
    ),
    Param(
        "ts", "query", "Tombstone time, Unix seconds (accepted; a tombstone stores none)", _COUNT
    ),
    JWT,
    PRETTY,
    AUTHORIZATION,
    ORIGIN,
)

_ERROR = {"application/json": _ref(ErrorAnswer)}
_FILE = {"*/*": _BINARY}
_PLAIN = {"text/plain": _TEXT}
_WRONG_JWT = Answer("`wrong jwt`: the server has a key and the token is missing or wrong", _ERROR)
_TOO_BUSY = Answer("Over `-concurrent{Upload,Download}LimitMB` past the wait timeout", _ERROR)

READ_ANSWERS: dict[int, Answer] = {
    200: Answer(
        "The file (type from the stored mime or the name's extension). A `Range` whose parts "
        "add up to more than the file is ignored: 200 with no body",
        _FILE,
        {
            "ETag": "The needle's CRC, quoted",
            "Last-Modified": "When the file was written",
            "Content-Disposition": "`inline` or `attachment`, with the file name",
            "Content-Encoding": "`gzip` when sent as stored compressed",
            "X-File-Store": "`chunked` for a chunk manifest served joined",
        },
    ),
    206: Answer("The ranges asked for", _FILE, {"Content-Range": "The range sent"}),
    301: Answer(
        "`-readMode=redirect`: the volume is on another server (`Location`)",
        {"text/html": _TEXT},
        {"Location": "The same file on a server that has the volume"},
    ),
    304: Answer("Not modified (`If-None-Match` or `If-Modified-Since`)"),
    400: Answer("The volume id or file id does not parse"),
    401: _WRONG_JWT,
    404: Answer("No such volume (or no replica), file, or cookie; or the file is deleted"),
    406: Answer(
        "Stored compressed, inflating past `-fileSizeLimitMB`: ask with `Accept-Encoding: gzip`",
        _PLAIN,
    ),
    416: Answer("No range can be served (`invalid range`, `failed to overlap`)", _PLAIN),
    429: _TOO_BUSY,
    500: Answer("The volume could not be read, or a peer could not be reached"),
}
HEAD_ANSWERS = {
    code: Answer(a.description, headers=a.headers)  # the same answers without a body
    for code, a in READ_ANSWERS.items()
    if code not in (206, 416)
}

_UPLOAD_HEADERS = {"ETag": "The needle's CRC, quoted", "Content-MD5": "Base64 MD5, if sent"}
WRITE_ANSWERS: dict[int, Answer] = {
    201: Answer("Stored", {"application/json": _ref(UploadAnswer)}, _UPLOAD_HEADERS),
    204: Answer(
        "The same data was already stored under this id: nothing written", headers=_UPLOAD_HEADERS
    ),
    400: Answer(
        "The upload does not parse (form, volume id, file id, `Content-MD5`, size over "
        "`-fileSizeLimitMB`)",
        _ERROR,
    ),
    401: Answer(
        "`wrong jwt` (JSON); or, with an empty body, the client is not in `-whiteList`", _ERROR
    ),
    429: _TOO_BUSY,
    500: Answer(
        "No such volume here, the volume is read-only or full, the disk failed, or "
        "a replica could not be written",
        _ERROR,
    ),
}

NO_UPLOAD_ANSWERS: dict[int, Answer] = {
    400: Answer(
        "Always: the needle id is read from after the path's last comma (Go's "
        "`CreateNeedleFromRequest`), so these forms never parse",
        _ERROR,
    ),
    401: WRITE_ANSWERS[401],
    429: _TOO_BUSY,
}
_NO_UPLOAD_DESCRIPTION = (
    "Go's upload handler takes the file id from after the path's last comma, so an upload to "
    "this form is refused with 400, as Go refuses it; use `/{vid},{fid}`."
)

DELETE_ANSWERS: dict[int, Answer] = {
    202: Answer(
        "Deleted (a chunk manifest with its chunks)", {"application/json": _ref(DeleteAnswer)}
    ),
    400: Answer("The file id does not parse, or the cookie does not match", _ERROR),
    401: WRITE_ANSWERS[401],
    404: Answer('No such file: `{"size": 0}`', {"application/json": _ref(DeleteAnswer)}),
    500: Answer("The delete failed here or on a replica", _ERROR),
}

_FID_DESCRIPTION = (
    "The three path forms name the same file. The read-only public port (`-port.public`) "
    "serves GET, HEAD and OPTIONS alike and answers any other method with an empty 200."
)
_UPLOAD_DESCRIPTION = (
    "POST takes a multipart form (its first part, or the first named file part, is the file; "
    "the form fields `ts`, `ttl` and `cm` override the query) or a raw body when the "
    "`Content-Type` is not a form. PUT always takes the raw body. Request headers named "
    "`Seaweed-*` are stored with the file and sent back as headers on reads. Text-like data "
    "is stored gzip-compressed when that saves 10%."
)
_FORM = {
    "type": "object",
    "properties": {
        "file": _BINARY,
        "ts": {"type": "string"},
        "ttl": {"type": "string"},
        "cm": {"type": "string"},
    },
    "required": ["file"],
}


def _fid_operations(form: str) -> list[Operation]:
    suffix = {"/{vid},{fid}": "", "/{vid}/{fid}": "_by_path", "/{vid}/{fid}/{filename}": "_named"}
    tail = suffix[form]
    tags = ("files",)
    comma = form == "/{vid},{fid}"
    writes = WRITE_ANSWERS if comma else NO_UPLOAD_ANSWERS
    upload = _UPLOAD_DESCRIPTION if comma else _NO_UPLOAD_DESCRIPTION
    return [
        Operation(
            "get",
            f"read_file{tail}",
            "Read a file",
            READ_ANSWERS,
            READ_PARAMS,
            _FID_DESCRIPTION,
            tags=tags,
        ),
        Operation(
            "head",
            f"head_file{tail}",
            "A file's headers, as GET without the body",
            HEAD_ANSWERS,
            READ_PARAMS,
            _FID_DESCRIPTION,
            tags=tags,
        ),
        Operation(
            "options",
            f"preflight_file{tail}",
            "CORS preflight",
            {
                200: Answer(
                    "Allowed methods and headers",
                    headers={
                        "Access-Control-Allow-Methods": "`PUT, POST, GET, DELETE, OPTIONS`",
                        "Access-Control-Allow-Headers": "`*`",
                    },
                )
            },
            tags=tags,
        ),
        Operation(
            "post",
            f"upload_file{tail}",
            "Upload a file" if comma else "Refused: uploads take the `/vid,fid` form",
            writes,
            WRITE_PARAMS,
            upload,
            {"multipart/form-data": _FORM, "application/octet-stream": _BINARY},
            tags,
        ),
        Operation(
            "put",
            f"put_file{tail}",
            "Upload a file (raw body)" if comma else "Refused: uploads take the `/vid,fid` form",
            writes,
            WRITE_PARAMS,
            upload,
            {"application/octet-stream": _BINARY},
            tags,
        ),
        Operation(
            "delete",
            f"delete_file{tail}",
            "Delete a file (and a manifest's chunks)",
            DELETE_ANSWERS,
            DELETE_PARAMS,
            tags=tags,
        ),
    ]


def _get_and_head(
    name: str, summary: str, answers: Mapping[int, Answer], description: str = ""
) -> list[Operation]:
    return [
        Operation(
            "get",
            name,
            summary,
            answers,
            (PRETTY,) if name == "status" else (),
            description,
            tags=("server",),
        ),
        Operation(
            "head",
            f"{name}_head",
            f"{summary} (headers only)",
            {code: Answer(a.description, headers=a.headers) for code, a in answers.items()},
            description=description,
            tags=("server",),
        ),
    ]


_HEALTH = {
    200: Answer("Serving and heartbeating to a master"),
    503: Answer("Stopping, or not heartbeating"),
}
_ANY_METHOD = "Answers any method alike, as Go's does."

METRICS_SERVER = {
    "url": "http://{host}:{metricsPort}",
    "description": "The `-metricsPort` listener (only when set)",
    "variables": {"host": {"default": "127.0.0.1"}, "metricsPort": {"default": "9325"}},
}

ROUTES: dict[str, list[Operation]] = {
    "/status": _get_and_head(
        "status",
        "Volumes and disks of this server",
        {200: Answer("The status", {"application/json": _ref(ServerStatus)})},
        _ANY_METHOD,
    ),
    "/healthz": _get_and_head("healthz", "Health: 200 or 503", _HEALTH, _ANY_METHOD),
    "/readyz": _get_and_head("readyz", "Readiness: the same as /healthz", _HEALTH, _ANY_METHOD),
    "/ui/index.html": [
        Operation(
            "get",
            "ui",
            "A status page: disks, masters, volumes",
            {
                200: Answer("The page", {"text/html": _TEXT}),
                400: Answer(
                    "A signing key guards the server: no page (the path is read as a file id)"
                ),
                401: Answer("A read key guards the server: no page", _ERROR),
            },
            tags=("server",),
        )
    ],
    "/favicon.ico": [
        Operation(
            "get",
            "favicon",
            "The icon",
            {200: Answer("The icon", {"image/x-icon": _BINARY})},
            tags=("server",),
        )
    ],
    "/seaweedfsstatic/seaweed50x50.png": [
        Operation(
            "get",
            "logo",
            "The status page's logo",
            {200: Answer("The logo", {"image/png": _BINARY})},
            tags=("server",),
        )
    ],
    "/metrics": [
        Operation(
            "get",
            "metrics",
            "Prometheus metrics (on the metrics port)",
            {
                200: Answer(
                    "The text exposition format",
                    {"text/plain": _TEXT},
                    {"Content-Encoding": "`gzip` when accepted"},
                )
            },
            (Param("Accept-Encoding", "header", "`gzip`: the answer is compressed"),),
            "Served on `-metricsPort`, not the admin port. " + _ANY_METHOD,
            tags=("server",),
            servers=(METRICS_SERVER,),
        )
    ],
    **{form: _fid_operations(form) for form in FID_FORMS},
}
"""Every route by OpenAPI path: the named routes, then the three file-id forms."""

_DESCRIPTION = (
    "A SeaweedFS volume server (pure Python, a drop-in for Go's). Routes and answers match "
    "Go's volume server; this description lists the status codes the handlers give. Any "
    "request the HTTP layer cannot read gets Go's plain-text 400, 414, 431 or 505 and the "
    "connection closes; an unsupported method on a file path gets 400 `unsupported method`."
)


def path_params(path: str) -> tuple[Param, ...]:
    return FID_FORMS.get(path, ())


@functools.cache
def openapi_document(version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document (built once per version string: it never changes)."""
    _, definitions = models_json_schema(
        [(model, "validation") for model in MODELS],
        ref_template="#/components/schemas/{model}",
    )
    paths = {
        path: {op.method: op.document(path_params(path)) for op in operations}
        for path, operations in ROUTES.items()
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "seaweed-volume", "version": version, "description": _DESCRIPTION},
        "tags": [
            {"name": "files", "description": "File ids: read, upload, delete"},
            {"name": "server", "description": "Status, health, the status page, metrics"},
        ],
        "paths": paths,
        "components": {"schemas": definitions.get("$defs", {})},
    }
