"""Builds the plugin manager and looks up what the plugins provide."""

from __future__ import annotations

import pluggy

from . import hookspecs, needle_maps, tier_backends


def create_plugin_manager(load_entry_points: bool = True) -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(needle_maps, name="builtin_needle_maps")
    manager.register(tier_backends, name="builtin_tier_backends")
    if load_entry_points:
        manager.load_setuptools_entrypoints(hookspecs.PROJECT)
    return manager


def needle_map_kinds(manager: pluggy.PluginManager) -> dict[str, object]:
    """Every registered kind by name; a later registration does not replace a built-in."""
    kinds: dict[str, object] = {}
    for batch in reversed(manager.hook.seaweed_needle_map_kinds()):
        for kind in batch:
            kinds.setdefault(kind.name, kind)
    return kinds


def tier_backend_factories(manager: pluggy.PluginManager) -> dict[str, object]:
    """Every registered tier backend type; a later registration does not replace a built-in."""
    factories: dict[str, object] = {}
    for batch in reversed(manager.hook.seaweed_tier_backends()):
        for factory in batch:
            factories.setdefault(factory.type, factory)
    return factories
