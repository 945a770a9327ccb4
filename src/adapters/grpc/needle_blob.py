"""Raw needle records between servers: read and write a record whole, read its metadata,
stream every needle of volumes (volume_grpc_read_write.go, volume_grpc_read_all.go).

``weed shell volume.check.disk`` and ``volume.fsck`` repair replicas with these.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import grpc

from ...core import stats
from ...core.crc import legacy_crc_value
from ...core.errors import VolumeError
from ...core.needle.record import NeedleError
from ...core.volume.scan import scan_records
from .base import ServicerBase, fail
from .pb import volume_server_pb2 as pb

log = logging.getLogger(__name__)


class NeedleBlobRpcs(ServicerBase):
    def ReadNeedleBlob(  # noqa: N802
        self, request: pb.ReadNeedleBlobRequest, context: grpc.ServicerContext
    ) -> pb.ReadNeedleBlobResponse:
        volume = self.store.find_volume(request.volume_id)
        if volume is None:
            stats.FILE_READ_FAILURES.inc()
            fail(context, f"not found volume id {request.volume_id}")
        try:
            blob = volume.read_blob(request.offset, request.size)
        except (VolumeError, OSError) as err:
            stats.FILE_READ_FAILURES.inc()
            fail(
                context,
                f"read needle blob offset {request.offset} size {request.size}: {err}",
            )
        return pb.ReadNeedleBlobResponse(needle_blob=blob)

    def ReadNeedleMeta(  # noqa: N802
        self, request: pb.ReadNeedleMetaRequest, context: grpc.ServicerContext
    ) -> pb.ReadNeedleMetaResponse:
        volume = self.store.find_volume(request.volume_id)
        if volume is None:
            stats.FILE_READ_FAILURES.inc()
            fail(
                context,
                f"not found volume id {request.volume_id} and read needle metadata at ec "
                "shards is not supported",
            )
        try:
            needle = volume.read_meta_at(request.offset, request.size)
        except (VolumeError, NeedleError, OSError) as err:
            stats.FILE_READ_FAILURES.inc()
            fail(context, err)
        return pb.ReadNeedleMetaResponse(
            cookie=needle.cookie,
            last_modified=needle.last_modified,
            crc=legacy_crc_value(needle.checksum),
            ttl=str(needle.ttl) if needle.has_ttl else "",
            append_at_ns=needle.append_at_ns,
        )

    def WriteNeedleBlob(  # noqa: N802
        self, request: pb.WriteNeedleBlobRequest, context: grpc.ServicerContext
    ) -> pb.WriteNeedleBlobResponse:
        self.check_maintenance(context)
        volume = self.store.find_volume(request.volume_id)
        if volume is None:
            stats.FILE_WRITE_FAILURES.inc()
            fail(context, f"not found volume id {request.volume_id}")
        try:
            volume.write_blob(request.needle_id, request.needle_blob, request.size)
        except (VolumeError, OSError) as err:
            stats.FILE_WRITE_FAILURES.inc()
            fail(context, f"write blob needle {request.needle_id} size {request.size}: {err}")
        return pb.WriteNeedleBlobResponse()

    def ReadAllNeedles(  # noqa: N802
        self, request: pb.ReadAllNeedlesRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.ReadAllNeedlesResponse]:
        """Every record of each volume, in ``.dat`` order, whose index entry still points at
        it. As in Go a deleted needle's last record still counts (its entry keeps its place);
        a record failing its CRC is logged and skipped rather than shipped."""
        for volume_id in request.volume_ids:
            volume = self.store.find_volume(volume_id)
            if volume is None:
                stats.FILE_READ_FAILURES.inc()
                fail(context, f"not found volume id {volume_id}")
            start, end = volume.super_block.block_size, volume.dat_size()
            for record in scan_records(volume.dat, volume.version, start, end):
                entry = volume.locate(record.needle_id)
                if entry is None or entry[0] != record.offset:
                    continue
                try:
                    needle = record.needle(volume.version)
                except NeedleError as err:
                    log.error("volume %d needle %x: %s", volume_id, record.needle_id, err)
                    continue
                yield pb.ReadAllNeedlesResponse(
                    volume_id=volume_id,
                    needle_id=needle.id,
                    cookie=needle.cookie,
                    needle_blob=bytes(needle.data),
                    needle_blob_compressed=needle.is_compressed,
                    last_modified=needle.last_modified,
                    crc=legacy_crc_value(needle.checksum),
                    name=needle.name,
                    mime=needle.mime,
                )
