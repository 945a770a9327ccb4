"""Erasure-coding RPCs (volume_grpc_erasure_coding.go): generating, mounting, unmounting and
reading shards, deleting needles of an EC volume, and its info. Rebuilding, copying, deleting
shards and decoding them back to a volume come next and answer ``UNIMPLEMENTED``."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from ...core.erasure_coding.decode import NoLiveEntries, decode_to_volume
from ...core.erasure_coding.generate import generate_ec_shards
from ...core.erasure_coding.rebuild import rebuild_ec_shards
from ...core.erasure_coding.shard_copy import ShardCopy
from ...core.errors import VolumeError
from .base import ServicerBase, fail
from .pb import volume_server_pb2 as pb
from .volume_peer import GrpcVolumePeer

SHARD_READ_CHUNK = 2 * 1024 * 1024


class ErasureCodingRpcs(ServicerBase):
    def VolumeEcShardsGenerate(  # noqa: N802
        self, request: pb.VolumeEcShardsGenerateRequest, context: grpc.ServicerContext
    ) -> pb.VolumeEcShardsGenerateResponse:
        self.check_maintenance(context)
        try:
            generate_ec_shards(self.store, request.volume_id, request.collection)
        except (VolumeError, OSError, ValueError) as err:
            fail(context, err)
        return pb.VolumeEcShardsGenerateResponse()

    def VolumeEcShardsMount(  # noqa: N802
        self, request: pb.VolumeEcShardsMountRequest, context: grpc.ServicerContext
    ) -> pb.VolumeEcShardsMountResponse:
        """Mount shards in order; the first failure stops (earlier ones stay mounted). Go
        checks neither maintenance mode nor the admin whitelist here."""
        for shard_id in request.shard_ids:
            try:
                self.store.ec.mount(
                    request.collection, request.volume_id, shard_id, request.source_disk_type
                )
            except (VolumeError, OSError, ValueError) as err:
                fail(context, f"mount {request.volume_id}.{shard_id}: {err}")
        return pb.VolumeEcShardsMountResponse()

    def VolumeEcShardsUnmount(  # noqa: N802
        self, request: pb.VolumeEcShardsUnmountRequest, context: grpc.ServicerContext
    ) -> pb.VolumeEcShardsUnmountResponse:
        for shard_id in request.shard_ids:
            self.store.ec.unmount(request.volume_id, shard_id)
        return pb.VolumeEcShardsUnmountResponse()

    def VolumeEcShardRead(  # noqa: N802
        self, request: pb.VolumeEcShardReadRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.VolumeEcShardReadResponse]:
        """Bytes of one mounted shard in pieces of at most 2 MiB; with a ``file_key`` that
        is deleted, a single ``is_deleted`` message instead."""
        ec = self.store.ec.find_shard(request.volume_id, request.shard_id)
        if ec is None:
            fail(context, f"not found ec shard {request.volume_id}.{request.shard_id}")
        if request.encode_ts_ns and request.encode_ts_ns != ec.encode_ts_ns:
            fail(
                context,
                f"ec shard {request.volume_id}.{request.shard_id} belongs to a different "
                "encode run",
            )
        if request.file_key:
            found = ec.find(request.file_key)
            if found is not None and found[2] < 0:
                yield pb.VolumeEcShardReadResponse(is_deleted=True, encode_ts_ns=ec.encode_ts_ns)
                return
        shard = ec.shards[request.shard_id]
        offset, left = request.offset, request.size
        while left > 0:
            piece = shard.read_at(min(left, SHARD_READ_CHUNK), offset)
            if not piece:
                return
            yield pb.VolumeEcShardReadResponse(data=piece, encode_ts_ns=ec.encode_ts_ns)
            offset += len(piece)
            left -= len(piece)

    def VolumeEcBlobDelete(  # noqa: N802
        self, request: pb.VolumeEcBlobDeleteRequest, context: grpc.ServicerContext
    ) -> pb.VolumeEcBlobDeleteResponse:
        """Journal the delete on the first disk holding the EC volume; no EC volume here is
        fine, an unknown needle of a mounted one is not."""
        self.check_maintenance(context)
        ec = self.store.ec.find(request.volume_id)
        if ec is None:
            return pb.VolumeEcBlobDeleteResponse()
        if ec.find(request.file_key) is None:
            fail(context, "locate in local ec volume: FindNeedleFromEcx: needle not found")
        try:
            ec.delete_needle(request.file_key)
        except OSError as err:
            fail(context, f"write ecj: {err}")
        return pb.VolumeEcBlobDeleteResponse()

    def VolumeEcShardsInfo(  # noqa: N802
        self, request: pb.VolumeEcShardsInfoRequest, context: grpc.ServicerContext
    ) -> pb.VolumeEcShardsInfoResponse:
        """Mounted shards across disks (first disk wins for a shard id) and the sizes and
        counts of the first disk's ``.ecx``."""
        volumes = [ec for _, ec in self.store.ec.all() if ec.id == request.volume_id]
        if not volumes:
            fail(context, f"VolumeEcShardsInfo: EC volume {request.volume_id} not found")
        response = pb.VolumeEcShardsInfoResponse()
        seen = set()
        for ec in volumes:
            for shard_id in sorted(ec.shards):
                if shard_id in seen:
                    continue
                seen.add(shard_id)
                response.ec_shard_infos.add(
                    shard_id=shard_id,
                    size=ec.shards[shard_id].size,
                    collection=ec.collection,
                    volume_id=ec.id,
                )
        primary = volumes[0]
        response.volume_size, response.file_count, response.file_deleted_count = (
            primary.index_counts()
        )
        response.ec_shard_config.data_shards = primary.counts.data
        response.ec_shard_config.parity_shards = primary.counts.parity
        response.ec_shard_config.encode_ts_ns = primary.encode_ts_ns
        return response

    def VolumeEcShardsDelete(  # noqa: N802
        self, request: pb.VolumeEcShardsDeleteRequest, context: grpc.ServicerContext
    ) -> pb.VolumeEcShardsDeleteResponse:
        """Remove shard files (a full teardown: every EC file of the volume, unmounted)."""
        self.check_maintenance(context)
        try:
            if request.full_teardown:
                self.store.ec.teardown(request.collection, request.volume_id, request.encode_ts_ns)
                return pb.VolumeEcShardsDeleteResponse(full_teardown_done=True)
            self.store.ec.delete_shards(
                request.collection, request.volume_id, list(request.shard_ids)
            )
        except (VolumeError, OSError) as err:
            fail(context, f"remove ec shard: {err}")
        return pb.VolumeEcShardsDeleteResponse()

    def VolumeEcShardsCopy(  # noqa: N802
        self, request: pb.VolumeEcShardsCopyRequest, context: grpc.ServicerContext
    ) -> pb.VolumeEcShardsCopyResponse:
        """Pull shards (and, as asked, ``.ecx``/``.ecj``/``.vif``/``.ecsum``) from a peer."""
        self.check_maintenance(context)
        rate = request.io_byte_per_second or self.config.maintenance_mbps * 1024 * 1024
        peer = GrpcVolumePeer(request.source_data_node)
        try:
            ShardCopy(
                self.store,
                peer,
                request.collection,
                request.volume_id,
                list(request.shard_ids),
                copy_ecx=request.copy_ecx_file,
                copy_ecj=request.copy_ecj_file,
                copy_vif=request.copy_vif_file,
                copy_ecsum=request.copy_ecsum_file,
                disk_id=request.disk_id,
                bytes_per_second=rate,
            ).run()
        except (VolumeError, OSError) as err:
            fail(context, err)
        finally:
            peer.close()
        return pb.VolumeEcShardsCopyResponse()

    def VolumeEcShardsRebuild(  # noqa: N802
        self, request: pb.VolumeEcShardsRebuildRequest, context: grpc.ServicerContext
    ) -> pb.VolumeEcShardsRebuildResponse:
        self.check_maintenance(context)
        try:
            rebuilt = rebuild_ec_shards(self.store, request.collection, request.volume_id)
        except (VolumeError, OSError) as err:
            fail(context, err)
        return pb.VolumeEcShardsRebuildResponse(rebuilt_shard_ids=rebuilt)

    def VolumeEcShardsToVolume(  # noqa: N802
        self, request: pb.VolumeEcShardsToVolumeRequest, context: grpc.ServicerContext
    ) -> pb.VolumeEcShardsToVolumeResponse:
        self.check_maintenance(context)
        try:
            decode_to_volume(self.store, request.collection, request.volume_id)
        except NoLiveEntries as err:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(err))
        except (VolumeError, OSError) as err:
            fail(context, err)
        return pb.VolumeEcShardsToVolumeResponse()
