"""What a plugin can provide: the public contract of the ``seaweed_volume`` entry-point group.

A third-party package registers a module (or object) implementing some of these hooks under
``[project.entry-points.seaweed_volume]``; the built-ins use the very same hooks. Hook names
and signatures are stable; see ``docs/plugins.md``.
"""

from __future__ import annotations

import pluggy

from ..core.ports import (
    ImageTransformer,
    NeedleMapKind,
    RemoteReaderFactory,
    TierBackendFactory,
)

PROJECT = "seaweed_volume"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def seaweed_needle_map_kinds() -> list[NeedleMapKind]:  # type: ignore[empty-body]
    """Needle-map kinds, selected by name with ``-index=<name>``. A name already taken (a
    built-in's, or an earlier plugin's) is ignored."""


@hookspec
def seaweed_tier_backends() -> list[TierBackendFactory]:  # type: ignore[empty-body]
    """Tier backend factories by ``type``; backends named ``<type>.<id>`` are built from the
    master's storage backends and ``-tierConfig``. A type already taken is ignored."""


@hookspec(firstresult=True)
def seaweed_image_transformer() -> ImageTransformer | None:
    """The image transformer for ``width``/``height``/``mode``/``crop`` reads and JPEG
    orientation fixing. The plugin registered last that returns one wins over the built-in
    Pillow transformer; return ``None`` to leave the choice to others."""


@hookspec
def seaweed_remote_readers() -> list[RemoteReaderFactory]:  # type: ignore[empty-body]
    """Remote-storage readers by ``RemoteConf.type`` for ``FetchAndWriteNeedle`` (the filer's
    remote-storage cache). A type already taken is ignored."""
