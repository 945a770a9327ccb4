"""Copying volumes between servers: file status, whole-file copy, incremental copy and
receiving files (volume_grpc_copy.go, volume_grpc_copy_incremental.go)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, BinaryIO

import grpc

from ...core.errors import VolumeError
from ...core.needle.record import NeedleError
from ...core.volume.backup import first_appended_after
from ...core.volume.copying import (
    COPY_EVERYTHING,
    CopyRequestError,
    VolumeCopy,
    check_file_extension,
    to_disk_type,
)
from ...core.volume.volume import check_collection, volume_base_name
from .base import ServicerBase, fail, stream_from_worker
from .master_client import copy_preallocate_bytes
from .pb import volume_server_pb2 as pb
from .volume_peer import GrpcVolumePeer

if TYPE_CHECKING:
    from ...core.disk_location import DiskLocation

BUFFER_SIZE_LIMIT = 2 * 1024 * 1024
"""File content goes out in messages of at most this size (``BufferSizeLimit``)."""
REPORT_EVERY = 128 * 1024 * 1024
"""A volume copy reports its progress after each this many bytes of ``.dat``."""


class CopyRpcs(ServicerBase):
    def VolumeSyncStatus(  # noqa: N802
        self, request: pb.VolumeSyncStatusRequest, context: grpc.ServicerContext
    ) -> pb.VolumeSyncStatusResponse:
        volume = self.volume_or_fail(context, request.volume_id)
        return pb.VolumeSyncStatusResponse(
            volume_id=volume.id,
            collection=volume.collection,
            replication=str(volume.super_block.replica_placement),
            ttl=str(volume.super_block.ttl),
            tail_offset=volume.dat_size(),
            compact_revision=volume.super_block.compaction_revision,
            idx_file_size=volume.idx_size(),
            version=volume.version,
        )

    def ReadVolumeFileStatus(  # noqa: N802
        self, request: pb.ReadVolumeFileStatusRequest, context: grpc.ServicerContext
    ) -> pb.ReadVolumeFileStatusResponse:
        volume = self.volume_or_fail(context, request.volume_id)
        modified = volume.dat_stat()[1]
        location = next(loc for loc in self.store.locations if volume.id in loc.volumes)
        info = volume.info
        return pb.ReadVolumeFileStatusResponse(
            volume_id=volume.id,
            idx_file_timestamp_seconds=modified,
            idx_file_size=volume.idx_size(),
            dat_file_timestamp_seconds=modified,
            dat_file_size=volume.dat_size(),
            file_count=volume.file_count,
            compaction_revision=volume.super_block.compaction_revision,
            collection=volume.collection,
            disk_type=location.disk_type,
            volume_info=pb.VolumeInfo(
                version=info.version,
                replication=info.replication,
                bytes_offset=info.bytes_offset,
                dat_file_size=info.dat_file_size,
                expire_at_sec=info.expire_at_sec,
                read_only=info.read_only,
                read_only_can_delete=info.read_only_can_delete,
            ),
            version=volume.version,
        )

    def VolumeIncrementalCopy(  # noqa: N802
        self, request: pb.VolumeIncrementalCopyRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.VolumeIncrementalCopyResponse]:
        """The raw ``.dat`` bytes from the first record appended after ``since_ns`` to the
        current end; nothing when no record is newer (``weed backup`` appends them)."""
        volume = self.volume_or_fail(context, request.volume_id)
        stop = volume.dat_size()
        try:
            start = first_appended_after(volume, request.since_ns)
        except (VolumeError, NeedleError, OSError) as err:
            fail(context, f"fail to locate by appendAtNs {request.since_ns}: {err}")
        if start is None:
            return
        for at in range(start, stop, BUFFER_SIZE_LIMIT):
            piece = volume.dat.read_at(min(BUFFER_SIZE_LIMIT, stop - at), at)
            if not piece:
                return
            yield pb.VolumeIncrementalCopyResponse(file_content=piece)

    def CopyFile(  # noqa: N802
        self, request: pb.CopyFileRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.CopyFileResponse]:
        """One file of a volume (or of an EC volume's shards) up to ``stop_offset``; the first
        message carries the file's modification time, and an empty file still sends one."""
        try:
            check_file_extension(request.ext)
            check_collection(request.collection)
        except VolumeError as err:
            fail(context, err)
        path = self._copy_source(request, context)
        if path is None:
            return
        try:
            source = open(path, "rb")  # noqa: SIM115 - closed below, across yields
        except FileNotFoundError:
            if request.ignore_source_file_not_found or request.stop_offset == 0:
                return
            fail(context, f"open {path}: no such file or directory")
        except OSError as err:
            fail(context, err)
        with source:
            modified = os.fstat(source.fileno()).st_mtime_ns
            left = request.stop_offset
            while left > 0:
                piece = source.read(min(BUFFER_SIZE_LIMIT, left))
                if not piece:
                    break
                yield pb.CopyFileResponse(file_content=piece, modified_ts_ns=modified)
                modified = 0
                left -= len(piece)
        if modified:
            yield pb.CopyFileResponse(modified_ts_ns=modified)

    def _copy_source(
        self, request: pb.CopyFileRequest, context: grpc.ServicerContext
    ) -> str | None:
        """The file to send, synced first; ``None`` for a missing EC file the request allows
        to be missing."""
        if not request.is_ec_volume:
            volume = self.volume_or_fail(context, request.volume_id)
            revision = volume.super_block.compaction_revision
            if request.compaction_revision not in (revision, COPY_EVERYTHING):
                fail(context, f"volume {request.volume_id} is compacted")
            volume.sync()
            return volume.file_name(request.ext)
        mounted = self.store.ec.find(request.volume_id)
        if mounted is not None:
            mounted.sync()  # journalled deletes reach the copy (as Go syncs first)
        ec_file = self._ec_file(request.collection, request.volume_id, request.ext)
        if ec_file is None and not request.ignore_source_file_not_found:
            fail(context, f"CopyFile not found ec volume id {request.volume_id}")
        return ec_file

    def _ec_file(self, collection: str, vid: int, ext: str) -> str | None:
        """The last location holding ``<collection>_<vid><ext>`` (Go searches them all)."""
        found = None
        for location in self.store.locations:
            candidate = os.path.join(location.directory, volume_base_name(collection, vid) + ext)
            if os.path.exists(candidate):
                found = candidate
        return found

    def ReceiveFile(  # noqa: N802
        self, request_iterator: Iterator[pb.ReceiveFileRequest], context: grpc.ServicerContext
    ) -> pb.ReceiveFileResponse:
        """A file pushed by a client: an info message, then content. Problems with the
        request come back in the response's ``error`` field, as Go answers them."""
        self.check_maintenance(context)
        target: BinaryIO | None = None
        path = ""
        written = 0
        try:
            for request in request_iterator:
                kind = request.WhichOneof("data")
                if kind == "info":
                    if target is not None:
                        target.close()
                    opened = self._create_received_file(request.info)
                    if isinstance(opened, str):
                        return pb.ReceiveFileResponse(error=opened)
                    target, path = opened
                elif kind == "file_content":
                    if target is None:
                        return pb.ReceiveFileResponse(error="file info must be sent first")
                    try:
                        target.write(request.file_content)
                    except OSError as err:
                        target.close()
                        target = None
                        os.remove(path)
                        return pb.ReceiveFileResponse(error=f"failed to write file: {err}")
                    written += len(request.file_content)
                else:
                    return pb.ReceiveFileResponse(error="unknown message type")
            if target is not None:
                target.flush()
                os.fsync(target.fileno())
            return pb.ReceiveFileResponse(bytes_written=written)
        except grpc.RpcError:
            if target is not None:
                target.close()
                target = None
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)
            raise
        finally:
            if target is not None:
                target.close()

    def _create_received_file(self, info: pb.ReceiveFileInfo) -> tuple[BinaryIO, str] | str:
        """The file a ``ReceiveFile`` writes, opened, and its path; or the error to answer."""
        try:
            path = self._received_file_path(info)
            return open(path, "wb"), path  # closed by ReceiveFile
        except VolumeError as err:
            return str(err)
        except OSError as err:
            return f"failed to create file: {err}"

    def _received_file_path(self, info: pb.ReceiveFileInfo) -> str:
        check_file_extension(info.ext)
        check_collection(info.collection)
        base_name = volume_base_name(info.collection, info.volume_id)
        locations = self.store.locations
        if info.is_ec_volume:
            mounted = [disk for disk, ec in self.store.ec.all() if ec.id == info.volume_id]
            if mounted:
                # Truncating a file a mounted EC volume reads from would corrupt its reads.
                disks = "[" + " ".join(str(disk) for disk in mounted) + "]"
                raise CopyRequestError(
                    f"ec volume {info.volume_id} is mounted on disk_ids:{disks}; unmount "
                    "before ReceiveFile"
                )
            if info.disk_id > 0:
                if info.disk_id >= len(locations):
                    raise CopyRequestError(
                        f"invalid disk_id {info.disk_id}: only have {len(locations)} disks"
                    )
                location: DiskLocation | None = locations[info.disk_id]
            else:
                location = _ec_target_location(locations, base_name)
            if location is None:
                raise CopyRequestError("no storage location available")
            return os.path.join(location.directory, base_name + info.ext)
        volume = self.store.find_volume(info.volume_id)
        if volume is not None:
            return volume.file_name(info.ext)
        if not info.disk_type:
            raise CopyRequestError(f"volume {info.volume_id} not found")
        # A volume decoded from EC shards onto this server: staged beside its future name,
        # never on a disk holding one of its shards.
        wanted = to_disk_type(info.disk_type)
        for location in sorted(locations, key=lambda loc: -loc.free_volume_slots):
            if location.disk_type != wanted or location.free_volume_slots <= 0:
                continue
            if location.is_disk_space_low or _holds_ec_shard(location.directory, base_name):
                continue
            return os.path.join(location.directory, base_name + info.ext + ".copying")
        raise CopyRequestError(
            f"no {info.disk_type} disk location with a free slot for volume {info.volume_id}"
        )

    def VolumeCopy(  # noqa: N802
        self, request: pb.VolumeCopyRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.VolumeCopyResponse]:
        """Pull a volume from ``source_data_node`` and mount it here, reporting progress every
        128 MiB; the last message carries the append time of the last record copied."""
        self.check_maintenance(context)
        rate = request.io_byte_per_second
        if rate <= 0:
            rate = self.config.maintenance_mbps * 1024 * 1024

        def copy(send: Callable[[object], None]) -> pb.VolumeCopyResponse:
            next_report = REPORT_EVERY

            def progress(processed: int) -> bool:
                nonlocal next_report
                if processed > next_report:
                    send(pb.VolumeCopyResponse(processed_bytes=processed))
                    next_report = processed + REPORT_EVERY
                return context.is_active()

            seeds = [m.strip() for m in self.config.master.split(",") if m.strip()]
            master = self.current_master or next(iter(seeds), "")
            preallocate = copy_preallocate_bytes(master)
            peer = GrpcVolumePeer(request.source_data_node)
            try:
                last = VolumeCopy(
                    self.store,
                    peer,
                    request.volume_id,
                    collection=request.collection,
                    disk_type=request.disk_type,
                    bytes_per_second=rate,
                    progress=progress,
                    preallocate=preallocate,
                ).run()
            finally:
                peer.close()
            return pb.VolumeCopyResponse(last_append_at_ns=last)

        yield from stream_from_worker(
            context, f"copy-{request.volume_id}", copy, (VolumeError, OSError)
        )


def _ec_target_location(locations: Sequence[DiskLocation], base_name: str) -> DiskLocation | None:
    """Where EC shards of a volume go: the disk that has its ``.ecx``, else the first
    hard-disk location, else the first (``FindEcShardTargetLocation``)."""
    for location in locations:
        if os.path.exists(os.path.join(location.directory, base_name + ".ecx")):
            return location
    for location in locations:
        if location.disk_type == "":
            return location
    return locations[0] if locations else None


def _holds_ec_shard(directory: str, base_name: str) -> bool:
    for shard in range(32):
        path = os.path.join(directory, f"{base_name}.ec{shard:02d}")
        with contextlib.suppress(OSError):
            if os.path.getsize(path) > 0:
                return True
    return False
