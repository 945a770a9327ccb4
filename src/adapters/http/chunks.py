"""Chunk manifests: a needle (flag ``cm``) whose data lists the chunks of a large file.

Reading one streams the chunks joined (``tryHandleChunkedFile``), deleting one deletes its
chunks first (``ChunkManifest.DeleteChunks``); ``?cm=false`` reads the manifest itself. The
JSON is Go's ``operation.ChunkManifest``: ``name``, ``mime``, ``size`` and ``chunks`` of
``fid``/``offset``/``size``, sorted by offset on load.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from ...core.compression import gunzip
from ...core.file_id import FileId, FileIdError
from ...core.needle.record import Needle
from .context import HttpContext


class ChunkError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Chunk:
    fid: str
    offset: int
    size: int


@dataclass(frozen=True, slots=True)
class ChunkManifest:
    name: str
    mime: str
    size: int
    chunks: tuple[Chunk, ...]

    @classmethod
    def load(cls, needle: Needle, limit: int) -> ChunkManifest:
        """``LoadChunkManifest``: gunzip when the needle is compressed (at most ``limit``
        bytes, the file size limit), parse, sort."""
        data = needle.data
        if needle.is_compressed:
            try:
                data = gunzip(data, limit)
            except (EOFError, ValueError, zlib.error) as err:
                raise ChunkError(str(err)) from None
        try:
            raw = json.loads(bytes(data))
            chunks = sorted(
                (
                    Chunk(str(c["fid"]), int(c.get("offset", 0)), int(c.get("size", 0)))
                    for c in raw.get("chunks") or []
                ),
                key=lambda c: c.offset,
            )
            return cls(
                str(raw.get("name", "")),
                str(raw.get("mime", "")),
                int(raw.get("size", 0)),
                tuple(chunks),
            )
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            raise ChunkError(str(err)) from None

    @property
    def total_size(self) -> int:
        return max((c.offset + c.size for c in self.chunks), default=0)


def _chunk_bytes(ctx: HttpContext, fid_text: str) -> bytes:
    try:
        fid = FileId.parse(fid_text)
    except FileIdError as err:
        raise ChunkError(f"chunk {fid_text}: {err}") from None
    if ctx.store.find_volume(fid.volume_id) is not None:
        try:
            needle = ctx.store.read_needle(fid.volume_id, fid.needle_id, cookie=fid.cookie)
        except Exception as err:  # noqa: BLE001 - any failure fails the whole read
            raise ChunkError(f"chunk {fid_text}: {err}") from None
        if not needle.is_compressed:
            return bytes(needle.data)
        try:
            return gunzip(needle.data, ctx.file_size_limit)
        except (EOFError, ValueError, zlib.error) as err:
            raise ChunkError(f"chunk {fid_text}: {err}") from None
    for url in _locations(ctx, fid.volume_id):
        try:
            with urllib.request.urlopen(f"http://{url}/{fid_text}", timeout=60) as response:
                body: bytes = response.read()
                return body
        except (urllib.error.URLError, OSError):
            continue
    raise ChunkError(f"chunk {fid_text}: no location serves it")


def _locations(ctx: HttpContext, volume_id: int) -> list[str]:
    if ctx.master is None:
        return []
    try:
        return list(ctx.master.lookup_volume(volume_id))
    except Exception:  # noqa: BLE001 - a failed lookup means no location
        return []


class ChunkedData:
    """The file a manifest's chunks make up, fetched chunk by chunk as it is sent (Go's
    ``ChunkedFileReader``); gaps between chunks read as zeros."""

    def __init__(self, ctx: HttpContext, manifest: ChunkManifest) -> None:
        self.ctx = ctx
        self.manifest = manifest

    def __len__(self) -> int:
        return self.manifest.total_size

    def chunks(self, start: int, length: int) -> Iterator[bytes]:
        position, end = start, start + length
        for chunk in self.manifest.chunks:
            if chunk.offset + chunk.size <= position:
                continue
            if chunk.offset >= end:
                break
            if chunk.offset > position:
                yield bytes(chunk.offset - position)
                position = chunk.offset
            data = _chunk_bytes(self.ctx, chunk.fid)[: chunk.size]
            piece = data[position - chunk.offset : end - chunk.offset]
            if piece:
                yield piece
            position += len(piece)
            if len(data) < chunk.size and position < min(chunk.offset + chunk.size, end):
                raise ChunkError(f"chunk {chunk.fid}: {len(data)} of {chunk.size} bytes")
        if position < end:
            yield bytes(end - position)

    def peek(self, start: int, length: int) -> bytes:
        return b"".join(self.chunks(start, length))


def delete_chunks(ctx: HttpContext, manifest: ChunkManifest) -> None:
    for chunk in manifest.chunks:
        try:
            fid = FileId.parse(chunk.fid)
        except FileIdError as err:
            raise ChunkError(f"delete file {chunk.fid}: {err}") from None
        if ctx.store.find_volume(fid.volume_id) is not None:
            ctx.store.delete_needle(fid.volume_id, fid.needle_id, fid.cookie)
            continue
        deleted = False
        for url in _locations(ctx, fid.volume_id):
            request = urllib.request.Request(f"http://{url}/{chunk.fid}", method="DELETE")
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    response.read()
                deleted = True
                break
            except urllib.error.HTTPError as err:
                if err.code == 404:
                    deleted = True
                    break
            except OSError:
                continue
        if not deleted:
            raise ChunkError(f"delete file {chunk.fid}: no location could delete it")
