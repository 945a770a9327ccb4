"""The dependency-injection container: the one module that knows every adapter.

Everything else receives its collaborators; swapping a needle-map kind, a tier backend or an
adapter means changing a provider here (or registering a plugin), not editing the core.
"""

from __future__ import annotations

import pluggy
from dependency_injector import containers, providers

from .config import VolumeServerConfig
from .core.disk_location import DiskLocation, MinFreeSpace
from .core.ports import NeedleMapKind
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


def _select_kind(kinds: dict[str, object], name: str) -> object:
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


class Container(containers.DeclarativeContainer):
    config = providers.Dependency(instance_of=VolumeServerConfig)
    plugin_manager = providers.Singleton(create_plugin_manager)
    needle_map_kinds = providers.Singleton(needle_map_kinds, plugin_manager)
    needle_map_kind = providers.Singleton(
        lambda kinds, config: _select_kind(kinds, config.index), needle_map_kinds, config
    )
    locations = providers.Singleton(_locations, config, needle_map_kind, needle_map_kinds)
    tiers = providers.Singleton(_tiers, config, plugin_manager)
    image_transformer = providers.Singleton(image_transformer, plugin_manager)
    """The ``ImageTransformer`` for ``HttpContext.images`` (a plugin's, else Pillow)."""
    remote_readers = providers.Singleton(remote_readers, plugin_manager)
    """``RemoteConf.type`` -> ``RemoteReaderFactory`` for FetchAndWriteNeedle."""
    store = providers.Singleton(_store, config, locations, tiers)


def build_container(config: VolumeServerConfig) -> Container:
    return Container(config=config)
