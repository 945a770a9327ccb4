"""POST/PUT upload and DELETE of a needle (volume_server_handlers_write.go)."""

from __future__ import annotations

import json
import logging
from time import perf_counter
from typing import Final

from ...core import stats
from ...core.erasure_coding.ec_volume import EcVolume
from ...core.erasure_coding.reader import read_ec_needle
from ...core.errors import VolumeError, VolumeNotFound, go_errno_text
from ...core.file_id import FileIdError, parse_needle_path, parse_volume_id
from ...core.goparse import GoNumError
from ...core.needle.parse_upload import (
    ParsedUpload,
    UploadError,
    UploadRequest,
    needle_from_upload,
    parse_upload,
)
from ...core.needle.record import Needle
from ...core.types import actual_size
from ...core.volume.volume import Volume, WriteResult
from ..replica_upload import ReplicationError
from .auth import WRONG_JWT
from .chunks import ChunkError, ChunkManifest, delete_chunks
from .context import HttpContext
from .fid_path import parse_url_path
from .go_form import FormError, parse_form
from .replicate import (
    needs_replication,
    remote_locations,
    replicate_delete,
    replicate_write,
)
from .responses import (
    JSON_ANSWER_HEADERS,
    HttpReply,
    HttpRequest,
    go_json_string,
    write_json,
    write_json_error,
)
from .wire import HeadShape

log = logging.getLogger(__name__)


def write_needle(ctx: HttpContext, request: HttpRequest, defer_sync: bool = False) -> HttpReply:
    """``PostHandler``: the form, the guard, the needle, the local write, the replicas.
    ``defer_sync``: an ``fsync=true`` write returns at once with the append to make durable
    in ``reply.pending_sync`` (the caller waits for it)."""
    pretty = request.pretty
    try:
        body, form = parse_form(
            request.method, request.headers.get("content-type", ""), request.body, request.raw_query
        )
    except FormError as err:
        return write_json_error(400, str(err), pretty)
    query: dict[str, str] = {}
    for key, value in form:
        query.setdefault(key, value)
    parts = parse_url_path(request.path)
    try:
        volume_id = parse_volume_id(parts.vid)
    except GoNumError as err:
        stats.FILE_WRITE_FAILURES.inc()
        return write_json_error(400, str(err), pretty)
    if not ctx.guard.allows(query, request.headers, parts.vid, parts.fid, True):
        return write_json_error(401, WRONG_JWT, pretty)
    made = _needle_of(ctx, request, query, body)
    if isinstance(made, HttpReply):
        return made
    upload, needle = made
    fsync = query.get("fsync") == "true"
    written = _write_everywhere(ctx, request, volume_id, query, needle, upload, fsync, defer_sync)
    if isinstance(written, HttpReply):
        return written
    answer = upload_reply(needle, upload, written, pretty)
    if fsync and defer_sync and not written.unchanged:
        answer.pending_sync = (ctx.store.find_volume(volume_id), written.ticket)
    return answer


def _needle_of(
    ctx: HttpContext, request: HttpRequest, query: dict[str, str], body: bytes | bytearray
) -> tuple[ParsedUpload, Needle] | HttpReply:
    """``ParseUpload`` and ``CreateNeedleFromRequest``: the needle, or Go's 400."""
    upload_request = UploadRequest(
        method=request.method, path=request.path, headers=request.headers, query=query, body=body
    )
    try:
        upload = parse_upload(upload_request, ctx.file_size_limit)
        if ctx.config.fix_jpg_orientation and _is_jpeg(upload.file_name, upload.mime_type):
            upload.data = ctx.images.fix_orientation(bytes(upload.data))
        return upload, needle_from_upload(upload, request.path)
    except (UploadError, FileIdError, GoNumError) as err:
        stats.FILE_WRITE_FAILURES.inc()
        return write_json_error(400, str(err), request.pretty)


def _write_everywhere(
    ctx: HttpContext,
    request: HttpRequest,
    volume_id: int,
    query: dict[str, str],
    needle: Needle,
    upload: ParsedUpload,
    fsync: bool,
    defer_sync: bool,
) -> WriteResult | HttpReply:
    """``ReplicatedWrite``: here, then on every replica; Go's 500 when either fails. A
    deferred fsync counts its (zero: replicated writes run in a thread, undeferred)
    replication targets once durable, as Go counts them after a successful local write."""
    pretty = request.pretty
    remotes: list[str] = []
    volume = ctx.store.find_volume(volume_id)
    if needs_replication(ctx, volume, query):
        try:
            remotes = remote_locations(ctx, volume_id)
        except ReplicationError as err:
            stats.FILE_WRITE_FAILURES.inc()
            return write_json_error(500, str(err), pretty)
    started = perf_counter()
    try:
        written = write_locally(ctx, volume_id, volume, needle, fsync and not defer_sync)
    except VolumeError as err:
        return local_write_failed(err, pretty)
    if not (fsync and defer_sync) or written.unchanged:
        stats.REPLICATION_TARGETS.observe(len(remotes))
    if remotes:
        try:
            _write_to_replicas(ctx, remotes, request.path, needle, upload.content_md5)
        except ReplicationError as err:
            stats.FILE_WRITE_FAILURES.inc()
            return write_json_error(
                500, f"failed to write to replicas for volume {volume_id}: {err}", pretty
            )
        finally:
            stats.REPLICATION_SECONDS.observe(perf_counter() - started, "write")
    return written


def write_plain_upload(
    ctx: HttpContext,
    method: str,
    path: str,
    volume: Volume,
    headers: dict[str, str],
    body: bytes | bytearray,
    fsync: bool,
) -> tuple[HttpReply, float] | None:
    """``PostHandler`` for an upload the front door classified plain (no form fields in
    the query, no option headers, a local volume without replicas, guards passed): the same
    parse, store and answer as :func:`write_needle` without its form parsing and lookups.
    Returns the reply and the seconds the local write took (-1 when it failed: measured
    here then), for :func:`.stats.request_answered`. ``None`` on an upload that does not
    parse: :func:`write_needle` parses it again and answers the error. An ``fsync`` write
    is deferred, as :func:`write_needle` defers it."""
    try:
        upload = parse_upload(UploadRequest(method, path, headers, {}, body), ctx.file_size_limit)
        needle = needle_from_upload(upload, path)
    except (UploadError, FileIdError, GoNumError):
        return None
    started = perf_counter()
    try:
        written = _store_locally(ctx, volume.id, volume, needle, False)
    except VolumeError as err:
        stats.REQUEST_SECONDS.observe(perf_counter() - started, stats.WRITE_TO_LOCAL_DISK)
        return local_write_failed(err, False), -1.0
    stored_in = perf_counter() - started
    reply = upload_reply(needle, upload, written, False)
    if reply.status == 201 and not upload.content_md5:
        # Nothing is added to a plain upload's answer after this: its head can be the
        # shape's, filled in (a caller's Content-MD5 may need encoding: the general way).
        reply.shaped = (_CREATED, (reply.headers["ETag"].encode(), b"%d" % len(reply.body)))
    if fsync and not written.unchanged:
        reply.pending_sync = (volume, written.ticket)
    return reply, stored_in


# Go's answer to a stored upload as the plain branch sends it: 201, its ETag, an empty
# Content-MD5 (none was sent), JSON.
_CREATED: Final = HeadShape(
    201, {"ETag": None, "Content-MD5": "", **JSON_ANSWER_HEADERS, "Content-Length": None}
)


def upload_reply(
    needle: Needle, upload: ParsedUpload, written: WriteResult, pretty: bool
) -> HttpReply:
    """The answer to a stored upload: 204 when unchanged, else 201 with Go's JSON
    (``UploadResult``: name, size, eTag, mime, contentMd5, each only when set)."""
    etag = needle.etag
    quoted = f'"{etag}"'
    if written.unchanged:
        return HttpReply(204, {"ETag": quoted, "Content-MD5": upload.content_md5})
    # Written without json.dumps: every upload's answer (an ETag is hex digits).
    name, mime = needle.name, needle.mime
    parts = [b'{"name":', _json_text(name), b","] if name else [b"{"]
    if upload.original_size:
        parts += (b'"size":', str(upload.original_size).encode(), b",")
    parts += (b'"eTag":"', etag.encode(), b'"')
    if mime:
        parts += (b',"mime":', _json_text(mime))
    if upload.content_md5:
        parts += (b',"contentMd5":', go_json_string(upload.content_md5).encode())
    parts.append(b"}")
    body = b"".join(parts)
    headers = {"ETag": quoted, "Content-MD5": upload.content_md5, **JSON_ANSWER_HEADERS}
    if pretty:  # the same members, indented
        return write_json(201, json.loads(body), pretty, headers)
    return HttpReply(201, headers, body)


# Printable ASCII but what json.Marshal escapes (quote, backslash; <, > and & for HTML) to
# "a", anything else to NUL: a string whose bytes all map to letters is written as it is.
_JSON_AS_IS: Final = bytes(
    0x61 if 0x20 <= code < 0x7F and chr(code) not in '"\\<>&' else 0 for code in range(256)
)


def _json_text(raw: bytes) -> bytes:
    """A stored name or type (UTF-8) as ``json.Marshal`` writes the string; when every byte
    is one to write as it is (the common case), without decoding it."""
    if raw.translate(_JSON_AS_IS).isalpha():
        return b'"' + raw + b'"'
    return go_json_string(raw.decode("utf-8", "replace")).encode()


def sync_failed(err: OSError, pretty: bool) -> HttpReply:
    """An ``fsync=true`` write whose fsync failed: the write is not acknowledged."""
    stats.FILE_WRITE_FAILURES.inc()
    stats.HANDLER.inc(stats.ERROR_WRITE_TO_LOCAL_DISK)
    return write_json_error(500, f"failed to write to local disk: {go_errno_text(err)}", pretty)


def local_write_failed(err: VolumeError, pretty: bool) -> HttpReply:
    stats.FILE_WRITE_FAILURES.inc()
    if isinstance(err, VolumeNotFound):
        return write_json_error(500, str(err), pretty)  # 4.48: no prefix for this one
    return write_json_error(500, f"failed to write to local disk: {err}", pretty)


def write_locally(
    ctx: HttpContext, volume_id: int, volume: Volume | None, needle: Needle, fsync: bool
) -> WriteResult:
    """The local half of ``ReplicatedWrite``, measured as Go's ``writeToLocalDisk``;
    ``volume`` is what the caller found for ``volume_id`` (``None``: not here)."""
    if volume is None:
        return ctx.store.write_needle(volume_id, needle, fsync=fsync)  # raises VolumeNotFound
    label = stats.WRITE_TO_LOCAL_DISK
    stats.IN_FLIGHT_REQUESTS.inc(label)
    started = perf_counter()
    try:
        return _store_locally(ctx, volume_id, volume, needle, fsync)
    finally:
        stats.REQUEST_SECONDS.observe(perf_counter() - started, label)
        stats.IN_FLIGHT_REQUESTS.dec(label)


def _store_locally(
    ctx: HttpContext, volume_id: int, volume: Volume, needle: Needle, fsync: bool
) -> WriteResult:
    """The write to ``volume``, its failures counted and told in Go's words."""
    try:
        return ctx.store.write_needle(volume_id, needle, fsync=fsync, found=volume)
    except VolumeError:
        stats.HANDLER.inc(stats.ERROR_WRITE_TO_LOCAL_DISK)
        raise
    except OSError as err:  # the index or an fsync failed (disk full, I/O error)
        stats.HANDLER.inc(stats.ERROR_WRITE_TO_LOCAL_DISK)
        raise VolumeError(go_errno_text(err)) from err


def _write_to_replicas(
    ctx: HttpContext, remotes: list[str], path: str, needle: Needle, content_md5: str
) -> None:
    label = stats.WRITE_TO_REPLICAS
    stats.IN_FLIGHT_REQUESTS.inc(label)
    started = perf_counter()
    try:
        replicate_write(ctx, remotes, path, needle, content_md5)
    except ReplicationError as err:
        stats.HANDLER.inc(stats.ERROR_WRITE_TO_REPLICAS)
        stats.REPLICATIONS.inc("write", "failure")
        stats.REPLICATION_FAILURES.inc("write", err.reason)
        raise
    else:
        stats.REPLICATIONS.inc("write", "success")
    finally:
        stats.REQUEST_SECONDS.observe(perf_counter() - started, label)
        stats.IN_FLIGHT_REQUESTS.dec(label)


def _is_jpeg(file_name: str, mime_type: str) -> bool:
    """``CreateNeedleFromRequest``'s test before ``-images.fix.orientation`` applies."""
    lowered = file_name.lower()
    return mime_type == "image/jpeg" or lowered.endswith((".jpg", ".jpeg"))


def delete_needle(ctx: HttpContext, request: HttpRequest) -> HttpReply:
    """``DeleteHandler``: the guard, EC shards first, the cookie, a manifest's chunks, then
    the tombstone here and on every replica."""
    pretty = request.pretty
    parts = parse_url_path(request.path)
    try:
        volume_id = parse_volume_id(parts.vid)
    except GoNumError:
        volume_id = 0
    try:
        needle_id, cookie = parse_needle_path(parts.fid)
    except FileIdError as err:
        return write_json_error(400, str(err), pretty)
    if not ctx.guard.allows(request.query, request.headers, parts.vid, parts.fid, True):
        return write_json_error(401, WRONG_JWT, pretty)
    ec_volume = ctx.store.ec.find(volume_id)
    if ec_volume is not None:  # EC shards take priority, as in Go
        return _delete_from_ec(ctx, ec_volume, needle_id, cookie, pretty)
    try:
        stored = ctx.store.read_needle(volume_id, needle_id)
    except Exception:  # noqa: BLE001 - Go: any read failure is a 404 with size 0
        return write_json(404, {"size": 0}, pretty)
    if stored.cookie != cookie:
        return write_json_error(400, "File Random Cookie does not match.", pretty)
    # Go stamps ``ts`` on the tombstone, but a body-less record never stores it.
    size: int | HttpReply = stored.size
    if stored.is_chunk_manifest:
        size = _delete_chunks_of(ctx, stored, pretty)
        if isinstance(size, HttpReply):
            return size
    failed = _delete_everywhere(ctx, request, volume_id, needle_id, cookie)
    return failed if failed is not None else write_json(202, {"size": size}, pretty)


def _delete_chunks_of(ctx: HttpContext, manifest_needle: Needle, pretty: bool) -> int | HttpReply:
    """A chunk manifest's chunks deleted first; the size to answer is the whole file's."""
    try:
        manifest = ChunkManifest.load(manifest_needle, ctx.file_size_limit)
    except ChunkError as err:
        stats.FILE_WRITE_FAILURES.inc()
        return write_json_error(500, f"Load chunks manifest error: {err}", pretty)
    try:
        delete_chunks(ctx, manifest)
    except (ChunkError, VolumeError) as err:
        stats.FILE_WRITE_FAILURES.inc()
        return write_json_error(500, f"Delete chunks error: {err}", pretty)
    return manifest.size


def _delete_everywhere(
    ctx: HttpContext, request: HttpRequest, volume_id: int, needle_id: int, cookie: int
) -> HttpReply | None:
    """``ReplicatedDelete``: the tombstone here, then on every replica; Go's 500 when
    either fails, else ``None``."""
    pretty = request.pretty
    remotes: list[str] = []
    if needs_replication(ctx, ctx.store.find_volume(volume_id), request.query):
        try:
            remotes = remote_locations(ctx, volume_id, deleting=True)
        except ReplicationError as err:
            stats.FILE_WRITE_FAILURES.inc()
            return write_json_error(500, f"Deletion Failed: {err}", pretty)
    started = perf_counter()
    try:
        ctx.store.delete_needle(volume_id, needle_id, cookie)
        stats.REPLICATION_TARGETS.observe(len(remotes))
        if remotes:
            replicate_delete(remotes, request.path)
    except (VolumeError, ReplicationError) as err:
        stats.FILE_WRITE_FAILURES.inc()
        if remotes:
            stats.REPLICATIONS.inc("delete", "failure")
            stats.REPLICATION_SECONDS.observe(perf_counter() - started, "delete")
        if isinstance(err, ReplicationError):
            stats.REPLICATION_FAILURES.inc("delete", err.reason)
        return write_json_error(500, f"Deletion Failed: {err}", pretty)
    if remotes:
        stats.REPLICATIONS.inc("delete", "success")
        stats.REPLICATION_SECONDS.observe(perf_counter() - started, "delete")
    return None


def _delete_from_ec(
    ctx: HttpContext, ec_volume: EcVolume, needle_id: int, cookie: int, pretty: bool
) -> HttpReply:
    """``DeleteEcShardNeedle``: read the needle (checking its cookie, 0 skips the check),
    then journal the delete. Go answers with the length it read, which applies the record
    size twice (a quirk kept for the answer only)."""
    try:
        needle = read_ec_needle(
            ec_volume,
            needle_id,
            ctx.ec_remote,
            ctx.store.ec.local_shards(ec_volume),
        )
        if cookie and needle.cookie != cookie:
            raise VolumeError(f"unexpected cookie {cookie:x}")
        ec_volume.delete_needle(needle_id)
    except (VolumeError, ValueError, OSError) as err:
        stats.FILE_WRITE_FAILURES.inc()
        return write_json_error(500, f"Deletion Failed: {err}", pretty)
    version = ec_volume.version
    return write_json(
        202, {"size": actual_size(actual_size(needle.size, version), version)}, pretty
    )


def needs_thread(ctx: HttpContext, request_path: str, query: dict[str, str]) -> bool:
    """Writes that talk to other servers must not run on the event loop."""
    try:
        volume_id = parse_volume_id(parse_url_path(request_path).vid)
    except GoNumError:
        return False
    return needs_replication(ctx, ctx.store.find_volume(volume_id), query)
