"""Copying volumes between servers: file status, whole-file copy, incremental copy and
receiving files (volume_grpc_copy.go, volume_grpc_copy_incremental.go)."""

from __future__ import annotations

import os

import grpc

from .base import ServicerBase
from .pb import volume_server_pb2 as pb


class CopyRpcs(ServicerBase):
    def VolumeSyncStatus(self, request, context):  # noqa: N802
        volume = self.store.find_volume(request.volume_id)
        if volume is None:
            context.abort(grpc.StatusCode.UNKNOWN, f"not found volume id {request.volume_id}")
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

    def ReadVolumeFileStatus(self, request, context):  # noqa: N802
        volume = self.store.find_volume(request.volume_id)
        if volume is None:
            context.abort(grpc.StatusCode.UNKNOWN, f"not found volume id {request.volume_id}")
        modified = int(os.stat(volume.file_name(".dat")).st_mtime)
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
            disk_type=location.disk_type or "hdd",
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
