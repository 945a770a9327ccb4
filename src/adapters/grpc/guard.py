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
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from ...core.white_list import WhiteList

log = logging.getLogger(__name__)

SERVICE = "/volume_server_pb.VolumeServer/"

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


class AdminGuard(grpc.ServerInterceptor):
    """Wraps the handler of every gated RPC in a check of the caller's address."""

    def __init__(self, white_list: WhiteList) -> None:
        self.white_list = white_list

    def refuse_unlisted(self, context: grpc.ServicerContext) -> None:
        host = peer_host(context.peer())
        if not self.white_list.allows(host):
            log.info("gRPC admin call refused: %s is not whitelisted", host)
            context.abort(grpc.StatusCode.PERMISSION_DENIED, f"not authorized: {host}")

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        method: str = handler_call_details.method  # type: ignore[attr-defined]
        if handler is None or method.removeprefix(SERVICE) in UNGATED:
            return handler
        return self._gated(handler)

    def _gated(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        check = self.refuse_unlisted
        codecs = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            unary_unary = handler.unary_unary

            def answer(request: Any, context: grpc.ServicerContext) -> Any:
                check(context)
                return unary_unary(request, context)

            return grpc.unary_unary_rpc_method_handler(answer, **codecs)
        if handler.unary_stream is not None:
            unary_stream = handler.unary_stream

            def stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                check(context)
                yield from unary_stream(request, context)

            return grpc.unary_stream_rpc_method_handler(stream, **codecs)
        if handler.stream_unary is not None:
            stream_unary = handler.stream_unary

            def receive(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
                check(context)
                return stream_unary(requests, context)

            return grpc.stream_unary_rpc_method_handler(receive, **codecs)
        stream_stream = handler.stream_stream

        def both(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
            check(context)
            yield from stream_stream(requests, context)

        return grpc.stream_stream_rpc_method_handler(both, **codecs)
