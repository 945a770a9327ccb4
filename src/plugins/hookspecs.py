"""What a plugin can provide. Third-party packages register a module implementing these hooks
under the ``seaweed_volume`` entry-point group; the built-ins use the very same hooks."""

from __future__ import annotations

import pluggy

PROJECT = "seaweed_volume"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def seaweed_needle_map_kinds() -> list:
    """Return needle-map kinds (objects with ``name`` and ``open(...)``; see ``core.ports``)."""


@hookspec
def seaweed_tier_backends() -> list:
    """Return tier backend factories (objects with ``type`` and ``create(id, properties)``;
    see ``core.ports.TierBackendFactory``)."""
