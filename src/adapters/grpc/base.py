"""What every part of the VolumeServer gRPC service shares: the store, the configuration,
the maintenance state, and Go's way of failing an RPC."""

from __future__ import annotations

from typing import NoReturn

import grpc

from ...config import VolumeServerConfig
from ...core.server_state import ServerState, StateStore
from ...core.store import Store
from .pb import volume_server_pb2 as pb


def fail(context: grpc.ServicerContext, err: Exception | str) -> NoReturn:
    """A plain Go error: Go's gRPC server answers it with status ``UNKNOWN`` and its text."""
    context.abort(grpc.StatusCode.UNKNOWN, str(err))
    raise AssertionError("unreachable")  # abort raises


class ServicerBase:
    def __init__(
        self,
        store: Store,
        config: VolumeServerConfig,
        http_ctx: object,
        master_client: object | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.http_ctx = http_ctx
        self.master_client = master_client
        self.state = StateStore(store.locations[0].directory) if store.locations else None

    @property
    def maintenance(self) -> bool:
        return bool(self.state and self.state.state.maintenance)

    def check_maintenance(self, context: grpc.ServicerContext) -> None:
        if self.maintenance:
            context.abort(
                grpc.StatusCode.UNKNOWN,
                f"volume server {self.config.ip}:{self.config.port} is in maintenance mode",
            )

    def state_message(self) -> pb.VolumeServerState:
        state = self.state.state if self.state else ServerState()
        return pb.VolumeServerState(maintenance=state.maintenance, version=state.version)
