"""What every part of the VolumeServer gRPC service shares: the volumes, the configuration,
the ports it needs (other servers' EC shards, the master session), the maintenance state, and
Go's way of failing an RPC."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, NoReturn

import grpc

from ...config import VolumeServerConfig
from ...core.ports import RemoteReaderFactory, RemoteShards, VolumeRepository
from ...core.server_state import ServerState, StateStore
from ...version import version_string
from .pb import volume_server_pb2 as pb

if TYPE_CHECKING:
    from ...core.volume.volume import Volume
    from .master_client import MasterClient


def fail(context: grpc.ServicerContext, err: Exception | str) -> NoReturn:
    """A plain Go error: Go's gRPC server answers it with status ``UNKNOWN`` and its text."""
    context.abort(grpc.StatusCode.UNKNOWN, str(err))
    raise AssertionError("unreachable")  # abort raises


_DONE = object()


def stream_from_worker(
    context: grpc.ServicerContext,
    name: str,
    work: Callable[[Callable[[Any], None]], Any],
    errors: tuple[type[Exception], ...],
) -> Iterator[Any]:
    """Run ``work(send)`` on its own thread and stream what it sends, then what it returns
    (unless ``None``); one of ``errors`` fails the RPC with its text. Long maintenance jobs
    (compaction, volume copy) report progress this way while they run."""
    updates: queue.Queue = queue.Queue()

    def run() -> None:
        try:
            final = work(updates.put)
            if final is not None:
                updates.put(final)
            updates.put(_DONE)
        except errors as err:
            updates.put(err)
        except BaseException as err:
            updates.put(err)
            raise

    threading.Thread(target=run, name=name, daemon=True).start()
    while True:
        item = updates.get()
        if item is _DONE:
            return
        if isinstance(item, errors):
            fail(context, item)
        if isinstance(item, BaseException):
            raise item
        yield item


class ServicerBase:
    def __init__(
        self,
        store: VolumeRepository,
        config: VolumeServerConfig,
        *,
        version: str | None = None,
        remote_shards: RemoteShards | None = None,
        master_client: MasterClient | None = None,
        remote_readers: Mapping[str, RemoteReaderFactory] | None = None,
    ) -> None:
        """``version``: what ``VolumeServerStatus`` reports (default: from the offset width);
        ``remote_shards``: EC shards on other servers (``None``: local shards only);
        ``master_client``: the heartbeat session (``None``: no master, as in tests)."""
        self.store = store
        self.config = config
        self.version = version_string(config.offset_bytes) if version is None else version
        self.remote_shards = remote_shards
        self.master_client = master_client
        self.remote_readers: Mapping[str, RemoteReaderFactory] | None = remote_readers
        """``RemoteConf.type`` -> reader factory (plugins' included); ``None``: the built-in
        ones (see :mod:`.remote_fetch`)."""
        self.state = StateStore(store.locations[0].directory) if store.locations else None

    @property
    def current_master(self) -> str:
        """The master heartbeated to ('' without a master session)."""
        return self.master_client.current_master if self.master_client is not None else ""

    @property
    def maintenance(self) -> bool:
        return bool(self.state and self.state.state.maintenance)

    def check_maintenance(self, context: grpc.ServicerContext) -> None:
        if self.maintenance:
            context.abort(
                grpc.StatusCode.UNKNOWN,
                f"volume server {self.config.ip}:{self.config.port} is in maintenance mode",
            )

    def volume_or_fail(
        self, context: grpc.ServicerContext, vid: int, message: str = "not found volume id {vid}"
    ) -> Volume:
        """The mounted volume, or the RPC fails with Go's wording for it (which varies by
        RPC: ``message`` is a template with ``{vid}``)."""
        volume = self.store.find_volume(vid)
        if volume is None:
            fail(context, message.format(vid=vid))
        return volume

    def state_message(self) -> pb.VolumeServerState:
        state = self.state.state if self.state else ServerState()
        return pb.VolumeServerState(maintenance=state.maintenance, version=state.version)
