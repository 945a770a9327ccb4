"""The built-in needle-map kinds, registered through the public hooks."""

from __future__ import annotations

from ..core.needle_map.builtin import builtin_kinds
from ..core.ports import NeedleMapKind
from .hookspecs import hookimpl


@hookimpl
def seaweed_needle_map_kinds() -> list[NeedleMapKind]:
    return builtin_kinds()
