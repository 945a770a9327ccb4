"""The dependency-injection container: the one module that knows every adapter.

Everything else receives its collaborators; swapping a needle-map kind, a tier backend or an
adapter means changing a provider here (or registering a plugin), not editing the core.
"""

from __future__ import annotations

from dependency_injector import containers, providers

from .config import VolumeServerConfig
from .core.disk_location import DiskLocation, MinFreeSpace
from .core.store import Store
from .core.tier import TierRegistry
from .core.types import OffsetWidth
from .plugins.manager import create_plugin_manager, needle_map_kinds, tier_backend_factories


def _select_kind(kinds: dict[str, object], name: str) -> object:
    try:
        return kinds[name]
    except KeyError:
        known = ", ".join(sorted(kinds))
        raise ValueError(f"unknown needle map kind {name!r} (known: {known})") from None


def _locations(config: VolumeServerConfig, kind: object) -> list[DiskLocation]:
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
        )
        for i, (directory, count) in enumerate(
            zip(config.dirs, config.max_volume_counts, strict=True)
        )
    ]


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
    locations = providers.Singleton(_locations, config, needle_map_kind)
    tiers = providers.Singleton(
        lambda manager: TierRegistry(tier_backend_factories(manager)), plugin_manager
    )
    store = providers.Singleton(_store, config, locations, tiers)


def build_container(config: VolumeServerConfig) -> Container:
    return Container(config=config)
