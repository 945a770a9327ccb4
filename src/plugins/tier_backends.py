"""The built-in tier backend types, registered through the same hook plugins use."""

from __future__ import annotations

from ..adapters.remote.s3 import S3TierBackendFactory
from ..core.ports import TierBackendFactory
from .hookspecs import hookimpl


@hookimpl
def seaweed_tier_backends() -> list[TierBackendFactory]:
    return [S3TierBackendFactory()]
