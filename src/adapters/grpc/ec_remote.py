"""EC shards held by other servers (the :class:`~...core.ports.RemoteShards` port): the
master says who holds a shard (:class:`~...core.ports.MasterDirectory`), ``VolumeEcShardRead``
fetches the bytes (``readRemoteEcShardInterval`` in store_ec.go)."""

from __future__ import annotations

import logging

import grpc

from ...core.erasure_coding.ec_volume import EcVolume
from ...core.errors import AlreadyDeleted
from ...core.ports import MasterDirectory
from .pb import volume_server_pb2 as pb
from .pb import volume_server_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)


class GrpcRemoteShards:
    def __init__(self, master: MasterDirectory, own_grpc_address: str) -> None:
        self.master = master
        self.own = own_grpc_address

    def read(
        self, ec: EcVolume, shard_id: int, offset: int, length: int, needle_id: int
    ) -> bytes | None:
        try:
            holders = self.master.lookup_ec_shards(ec.id).get(shard_id, [])
        except grpc.RpcError as err:
            log.warning("lookup ec volume %d: %s", ec.id, err.details() or err.code())
            return None
        for address in holders:
            if address == self.own:
                continue
            try:
                data = _read_from(address, ec, shard_id, offset, length, needle_id)
            except grpc.RpcError as err:
                log.info("read ec shard %d.%d from %s: %s", ec.id, shard_id, address, err.details())
                continue
            if data is not None and len(data) == length:
                return data
        return None


def _read_from(
    address: str, ec: EcVolume, shard_id: int, offset: int, length: int, needle_id: int
) -> bytes | None:
    with grpc.insecure_channel(address) as channel:
        replies = pb_grpc.VolumeServerStub(channel).VolumeEcShardRead(
            pb.VolumeEcShardReadRequest(
                volume_id=ec.id,
                shard_id=shard_id,
                offset=offset,
                size=length,
                file_key=needle_id,
                encode_ts_ns=ec.encode_ts_ns,
            ),
            timeout=30,
        )
        pieces = []
        for reply in replies:
            if reply.is_deleted:
                raise AlreadyDeleted()
            if ec.encode_ts_ns and reply.encode_ts_ns and reply.encode_ts_ns != ec.encode_ts_ns:
                return None  # a shard of another encode run
            pieces.append(reply.data)
    return b"".join(pieces)
