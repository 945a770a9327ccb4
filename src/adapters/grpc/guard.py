"""The admin whitelist on gRPC: every RPC but those other volume servers, monitors and
read-only callers need answers ``PERMISSION_DENIED`` ("not authorized: <ip>") to a caller
outside ``-whiteList``/``[guard] white_list``.

Go 4.48 gates eleven admin RPCs (AllocateVolume, BatchDelete, VolumeDelete, ...); newer Go
(``checkGrpcAdminAuth`` in volume_grpc_admin.go) gates every RPC except the ones below, split
by who calls them: an operator's whitelist holds masters, shell hosts and workers, not every
peer volume server, so a peer-to-peer RPC stays open. We follow the newer, tighter rule. The
gate is one interceptor, so a new RPC is gated unless it is named here with its reason.
"""

from __future__ import annotations

import logging

import grpc

from ...core.white_list import WhiteList
from .interceptors import MethodInterceptor

log = logging.getLogger(__name__)

UNGATED: dict[str, str] = {
    # called by one volume server on another
    "CopyFile": "replica sync and EC tasks pull whole files from a peer",
    "ReadNeedleBlob": "replica sync, vacuum and EC rebuild read needles from a peer",
    "ReadNeedleMeta": "replica sync compares needle metadata across peers",
    "WriteNeedleBlob": "replica sync repairs a peer's needle",
    "ReceiveFile": "EC shard distribution pushes shards to a peer",
    "ReadVolumeFileStatus": "the copy path asks the source volume server",
    "VolumeEcShardRead": "a volume server reads EC shards held by a peer",
    "VolumeEcBlobDelete": "EC deletes are fanned out to the shard holders",
    "VolumeEcShardsInfo": "EC verification polls the shard holders",
    "VolumeEcShardsMount": "EC shard distribution mounts on the receiving peer",
    "VolumeIncrementalCopy": "volume backup pulls increments from a peer",
    "VolumeSyncStatus": "sync compares volume state across peers",
    "VolumeTailSender": "the tail source streams to the receiving peer",
    "VolumeStatus": "replica sync and the master's vacuum loop poll volume status",
    # read-only or liveness
    "Ping": "liveness probe",
    "GetState": "read-only server state",
    "Query": "read-only data query",
    "VacuumVolumeCheck": "read-only garbage ratio; the vacuum steps that act on it are gated",
    "VolumeServerStatus": "read-only status, the gRPC form of /status",
}


def peer_host(peer: str) -> str:
    """The IP of a grpc peer string (``ipv4:127.0.0.1:5000``, ``ipv6:[::1]:5000``); anything
    else is returned whole, which a non-empty whitelist refuses."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rpartition(":")[0]
    if kind == "ipv6":
        return rest.rpartition(":")[0].strip("[]")
    return peer


class AdminGuard(MethodInterceptor):
    """Checks the caller's address before every gated RPC."""

    def __init__(self, white_list: WhiteList) -> None:
        self.white_list = white_list

    def selects(self, rpc: str) -> bool:
        return rpc not in UNGATED

    def before(self, context: grpc.ServicerContext) -> None:
        host = peer_host(context.peer())
        if not self.white_list.allows(host):
            log.info("gRPC admin call refused: %s is not whitelisted", host)
            context.abort(grpc.StatusCode.PERMISSION_DENIED, f"not authorized: {host}")
