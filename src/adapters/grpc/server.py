"""The ``volume_server_pb.VolumeServer`` gRPC service, assembled from one part per concern
(as Go keeps one ``volume_grpc_*.go`` file per operation).

Every RPC of the service is registered. Those not built yet answer ``UNIMPLEMENTED`` with a
message naming the RPC; the implemented ones return Go's errors as Go's gRPC server does:
a plain error becomes status ``UNKNOWN`` carrying the error text.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent import futures

import grpc

from ...core.white_list import WhiteList
from .admin import AdminRpcs
from .announce import ChangeAnnouncer
from .copy import CopyRpcs
from .erasure_coding import ErasureCodingRpcs
from .guard import AdminGuard
from .needle_blob import NeedleBlobRpcs
from .pb import volume_server_pb2 as pb
from .pb import volume_server_pb2_grpc as pb_grpc
from .query import QueryRpcs
from .remote_fetch import RemoteFetchRpcs
from .scrub import ScrubRpcs
from .tail import TailRpcs
from .tier import TierRpcs
from .vacuum import VacuumRpcs


class VolumeServerServicer(
    AdminRpcs,
    VacuumRpcs,
    CopyRpcs,
    NeedleBlobRpcs,
    TailRpcs,
    ErasureCodingRpcs,
    ScrubRpcs,
    QueryRpcs,
    TierRpcs,
    RemoteFetchRpcs,
    pb_grpc.VolumeServerServicer,
):
    """The whole service; each base class holds one family of RPCs."""


def _unimplemented(name: str) -> Callable[[object, object, grpc.ServicerContext], None]:
    def handler(self: object, request: object, context: grpc.ServicerContext) -> None:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{name} is not implemented yet")

    handler.__name__ = name
    return handler


def _fill_unimplemented() -> None:
    """Give every RPC no part implements a handler that names it (instead of the generated
    stub's anonymous ``Method not implemented!``)."""
    service = pb.DESCRIPTOR.services_by_name["VolumeServer"]
    for method in service.methods:
        implemented = getattr(VolumeServerServicer, method.name)
        if implemented is getattr(pb_grpc.VolumeServerServicer, method.name):
            setattr(VolumeServerServicer, method.name, _unimplemented(method.name))


_fill_unimplemented()


def start_grpc_server(
    servicer: VolumeServerServicer,
    bind: str,
    port: int,
    white_list: WhiteList | None = None,
    announce: Callable[[], None] | None = None,
) -> grpc.Server:
    """Serve ``servicer`` on ``bind:port`` (``-port.grpc``); with a whitelist, admin RPCs are
    gated (:mod:`.guard`). The port is bound without SO_REUSEPORT, so a second server on it
    fails instead of silently sharing it. ``announce``: called after every RPC that may change
    the volumes (the authority process of ``-workers``, :mod:`.announce`)."""
    interceptors: list[grpc.ServerInterceptor] = []
    if white_list:
        interceptors.append(AdminGuard(white_list))
    if announce is not None:
        interceptors.append(ChangeAnnouncer(announce))
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=16),
        interceptors=interceptors,
        options=[
            ("grpc.max_send_message_length", 1 << 30),
            ("grpc.max_receive_message_length", 1 << 30),
            ("grpc.so_reuseport", 0),
        ],
    )
    pb_grpc.add_VolumeServerServicer_to_server(servicer, server)
    try:
        bound = server.add_insecure_port(f"{bind}:{port}")
    except RuntimeError:
        bound = 0
    if not bound:
        server.stop(None)
        raise OSError(f"-port.grpc={port}: cannot listen on {bind}:{port}")
    server.start()
    return server
