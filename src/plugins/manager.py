"""Builds the plugin manager and looks up what the plugins provide."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

import pluggy

from ..core.ports import (
    ImageTransformer,
    NeedleMapKind,
    RemoteReaderFactory,
    TierBackendFactory,
)
from . import builtin, hookspecs, needle_maps, tier_backends

T = TypeVar("T")


def create_plugin_manager(load_entry_points: bool = True) -> pluggy.PluginManager:
    """The built-ins first, then every module of the ``seaweed_volume`` entry-point group."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(needle_maps, name="builtin_needle_maps")
    manager.register(tier_backends, name="builtin_tier_backends")
    manager.register(builtin, name="builtin_adapters")
    if load_entry_points:
        manager.load_setuptools_entrypoints(hookspecs.PROJECT)
    return manager


def _first_by(batches: Iterable[list[T]], attribute: str) -> dict[str, T]:
    """Everything the plugins returned, by ``attribute``; pluggy calls the latest
    registration first, so reading backwards keeps a built-in from being replaced."""
    found: dict[str, T] = {}
    for batch in reversed(list(batches)):
        for item in batch or ():
            found.setdefault(getattr(item, attribute), item)
    return found


def needle_map_kinds(manager: pluggy.PluginManager) -> dict[str, NeedleMapKind]:
    """Every registered kind by name; a later registration does not replace a built-in."""
    return _first_by(manager.hook.seaweed_needle_map_kinds(), "name")


def tier_backend_factories(manager: pluggy.PluginManager) -> dict[str, TierBackendFactory]:
    """Every registered tier backend type; a later registration does not replace a built-in."""
    return _first_by(manager.hook.seaweed_tier_backends(), "type")


def remote_readers(manager: pluggy.PluginManager) -> dict[str, RemoteReaderFactory]:
    """Every registered remote-storage type; a later registration does not replace a
    built-in."""
    return _first_by(manager.hook.seaweed_remote_readers(), "type")


def image_transformer(manager: pluggy.PluginManager) -> ImageTransformer:
    """The transformer of the plugin registered last that offers one (the built-in
    Pillow one when no plugin does)."""
    found: Any = manager.hook.seaweed_image_transformer()
    if found is None:
        raise LookupError("no image transformer registered")
    transformer: ImageTransformer = found
    return transformer
