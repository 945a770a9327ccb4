"""The composition root: the one module that knows every adapter and builds every object of a
server process from the configuration and the plugins.

Everything else receives its collaborators at construction, typed against the ports of
:mod:`.core.ports`; swapping a needle-map kind, a tier backend or an adapter means changing a
provider here (or registering a plugin), not editing the core. ``server.py`` (one process) and
``workers.py`` (``-workers``: supervisor, authority, HTTP workers) take their objects from here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pluggy
from dependency_injector import containers, providers
from starlette.types import ASGIApp

from .adapters.grpc.ec_remote import GrpcRemoteShards
from .adapters.grpc.master_client import MasterClient
from .adapters.grpc.server import VolumeServerServicer
from .adapters.http.app import create_app
from .adapters.http.auth import JwtGuard
from .adapters.http.context import HeartbeatState, HttpContext
from .adapters.http.metrics import push_forever
from .adapters.http.throttle import SharedLimits
from .config import VolumeServerConfig
from .core.disk_location import DiskLocation, MinFreeSpace
from .core.ports import (
    ImageTransformer,
    NeedleMapKind,
    RemoteReaderFactory,
    VolumeRepository,
)
from .core.store import Store
from .core.tier import TierRegistry, load_tier_config
from .core.types import OffsetWidth
from .plugins.manager import (
    create_plugin_manager,
    image_transformer,
    needle_map_kinds,
    remote_readers,
    tier_backend_factories,
)
from .version import version_string

if TYPE_CHECKING:
    # mypy proves here that the store implements the port the adapters are typed against
    _STORE_IS_A_REPOSITORY: type[VolumeRepository] = Store


@dataclass(frozen=True)
class ProcessRole:
    """What differs between the processes of one server (docs/workers.md). The defaults are
    the single process of ``server.py``."""

    heartbeats: bool = True
    """This process heartbeats to the master; else it only asks it for lookups."""
    health: HeartbeatState | None = None
    """Where ``/healthz`` reads the heartbeat when another process heartbeats (``None``:
    this process's master client)."""
    shared_limits: SharedLimits | None = None
    """With ``-workers``: this process's slot of the server-wide in-flight byte limits."""


HttpApp = tuple[ASGIApp, int, bool]
"""(application, port, public)."""
MetricsPusher = Callable[[str, int, threading.Event], None]


def _select_kind(kinds: Mapping[str, NeedleMapKind], name: str) -> NeedleMapKind:
    try:
        return kinds[name]
    except KeyError:
        known = ", ".join(sorted(kinds))
        raise ValueError(f"unknown needle map kind {name!r} (known: {known})") from None


def _locations(
    config: VolumeServerConfig, kind: NeedleMapKind, kinds: dict[str, NeedleMapKind]
) -> list[DiskLocation]:
    min_free = MinFreeSpace.parse(config.min_free_space)
    width = OffsetWidth.parse(config.offset_bytes)
    disk_types = config.disk_types or [""] * len(config.dirs)
    return [
        DiskLocation(
            directory,
            count,
            needle_map_kind=kind,
            default_width=width,
            min_free_space=min_free,
            disk_type=disk_types[i] if i < len(disk_types) else "",
            known_kinds=list(kinds.values()),
        )
        for i, (directory, count) in enumerate(
            zip(config.dirs, config.max_volume_counts, strict=True)
        )
    ]


def _tiers(config: VolumeServerConfig, manager: pluggy.PluginManager) -> TierRegistry:
    """The registry of tier backend types; the backends of ``-tierConfig`` are configured
    now, before the master's (which then add only names the file does not have)."""
    tiers = TierRegistry(tier_backend_factories(manager))
    if config.tier_config:
        tiers.configure_all(load_tier_config(config.tier_config))
    return tiers


def _store(config: VolumeServerConfig, locations: list[DiskLocation], tiers: TierRegistry) -> Store:
    store = Store(locations, ip=config.ip, port=config.port, tiers=tiers)
    store.load_existing_volumes()
    return store


def _guard(config: VolumeServerConfig) -> JwtGuard:
    """``-securityFile`` keys and ``[guard] white_list``, plus ``-whiteList``."""
    return JwtGuard.from_security_file(config.security_file).with_white_list(config.white_list)


def _metrics_pusher(config: VolumeServerConfig) -> MetricsPusher:
    """Push to the gateway the master names, when it names one (``LoopPushingMetric``)."""

    def start(address: str, interval: int, stopped: threading.Event) -> None:
        threading.Thread(
            target=push_forever,
            args=(address, interval, f"{config.ip}:{config.port}", stopped),
            name="metrics-push",
            daemon=True,
        ).start()

    return start


def _master_client(
    store: VolumeRepository, config: VolumeServerConfig, role: ProcessRole
) -> MasterClient:
    return MasterClient(
        store, config, heartbeat=role.heartbeats, on_metrics_gateway=_metrics_pusher(config)
    )


def _remote_shards(master: MasterClient, config: VolumeServerConfig) -> GrpcRemoteShards:
    return GrpcRemoteShards(master, f"{config.ip}:{config.grpc_port}")


def _http_context(
    store: VolumeRepository,
    config: VolumeServerConfig,
    guard: JwtGuard,
    master: MasterClient,
    remote_shards: GrpcRemoteShards,
    images: ImageTransformer,
    role: ProcessRole,
) -> HttpContext:
    return HttpContext(
        store,
        config,
        guard=guard,
        master=master,
        ec_remote=remote_shards,
        heartbeat_state=role.health or master,
        images=images,
        shared_limits=role.shared_limits,
    )


def _grpc_servicer(
    store: VolumeRepository,
    config: VolumeServerConfig,
    remote_shards: GrpcRemoteShards,
    master: MasterClient,
    remote_readers: Mapping[str, RemoteReaderFactory],
) -> VolumeServerServicer:
    return VolumeServerServicer(
        store,
        config,
        version=version_string(config.offset_bytes),
        remote_shards=remote_shards,
        master_client=master,
        remote_readers=remote_readers,
    )


def _http_apps(ctx: HttpContext, config: VolumeServerConfig) -> list[HttpApp]:
    """The admin port's application and, when ``-port.public`` differs, the public one."""
    apps = [(create_app(ctx), config.port, False)]
    if config.public_port != config.port:
        apps.append((create_app(ctx, public=True), config.public_port, True))
    return apps


class Container(containers.DeclarativeContainer):
    """Providers are singletons per container: ``build_container`` gives the root of a server,
    :func:`process_container` one process of ``-workers`` sharing the root's loaded store."""

    config = providers.Dependency(instance_of=VolumeServerConfig)
    role = providers.Dependency(instance_of=ProcessRole, default=ProcessRole())

    # --- what every process of a server shares (loaded once, before any fork) -------------
    plugin_manager = providers.Singleton(create_plugin_manager)
    needle_map_kinds = providers.Singleton(needle_map_kinds, plugin_manager)
    needle_map_kind = providers.Singleton(
        lambda kinds, config: _select_kind(kinds, config.index), needle_map_kinds, config
    )
    locations = providers.Singleton(_locations, config, needle_map_kind, needle_map_kinds)
    tiers = providers.Singleton(_tiers, config, plugin_manager)
    store = providers.Singleton(_store, config, locations, tiers)

    # --- what each process builds for itself ----------------------------------------------
    guard = providers.Singleton(_guard, config)
    image_transformer = providers.Singleton(image_transformer, plugin_manager)
    """The ``ImageTransformer`` for ``HttpContext.images`` (a plugin's, else Pillow)."""
    remote_readers = providers.Singleton(remote_readers, plugin_manager)
    """``RemoteConf.type`` -> ``RemoteReaderFactory`` for FetchAndWriteNeedle."""
    master_client = providers.Singleton(_master_client, store, config, role)
    remote_shards = providers.Singleton(_remote_shards, master_client, config)
    http_context = providers.Singleton(
        _http_context, store, config, guard, master_client, remote_shards, image_transformer, role
    )
    http_apps = providers.Singleton(_http_apps, http_context, config)
    grpc_servicer = providers.Singleton(
        _grpc_servicer, store, config, remote_shards, master_client, remote_readers
    )


def build_container(config: VolumeServerConfig) -> Container:
    """The root of a server: nothing is built until first asked for."""
    return Container(config=config)


def process_container(root: Container, role: ProcessRole) -> Container:
    """The objects of one process of a ``-workers`` server, forked from the supervisor: the
    root's loaded store, plugins and tiers (shared copy-on-write), and this process's own
    master client, HTTP context and gRPC servicer built for ``role``."""
    return Container(
        config=root.config(),
        role=role,
        plugin_manager=root.plugin_manager(),
        needle_map_kinds=root.needle_map_kinds(),
        tiers=root.tiers(),
        store=root.store(),
    )
