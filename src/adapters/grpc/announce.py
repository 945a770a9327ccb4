"""With ``-workers``, the process serving gRPC is the authority over the volumes: after every
RPC that may have changed them, it publishes the change to the HTTP workers before the answer
leaves (:mod:`...core.store_view`). Read-only RPCs are left out; a new RPC publishes unless
named here."""

from __future__ import annotations

from collections.abc import Callable

from .interceptors import MethodInterceptor

READ_ONLY: frozenset[str] = frozenset(
    {
        "Ping",
        "GetState",
        "VolumeServerStatus",
        "VolumeStatus",
        "VolumeSyncStatus",
        "ReadVolumeFileStatus",
        "VolumeNeedleStatus",
        "VacuumVolumeCheck",
        "CopyFile",
        "ReadNeedleBlob",
        "ReadNeedleMeta",
        "ReadAllNeedles",
        "VolumeIncrementalCopy",
        "VolumeTailSender",
        "VolumeEcShardRead",
        "VolumeEcShardsInfo",
        "Query",
    }
)


class ChangeAnnouncer(MethodInterceptor):
    def __init__(self, publish: Callable[[], None]) -> None:
        self.publish = publish

    def selects(self, rpc: str) -> bool:
        return rpc not in READ_ONLY

    def after(self) -> None:
        self.publish()
