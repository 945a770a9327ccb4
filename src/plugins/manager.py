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


def _first_by(batches: list, attribute: str) -> dict[str, object]:
    """Everything the plugins returned, by ``attribute``; pluggy calls the latest
    registration first, so reading backwards keeps a built-in from being replaced."""
    found: dict[str, object] = {}
    for batch in reversed(batches):
        for item in batch:
            found.setdefault(getattr(item, attribute), item)
    return found


def needle_map_kinds(manager: pluggy.PluginManager) -> dict[str, object]:
    """Every registered kind by name; a later registration does not replace a built-in."""
    return _first_by(manager.hook.seaweed_needle_map_kinds(), "name")


def tier_backend_factories(manager: pluggy.PluginManager) -> dict[str, object]:
    """Every registered tier backend type; a later registration does not replace a built-in."""
    return _first_by(manager.hook.seaweed_tier_backends(), "type")
