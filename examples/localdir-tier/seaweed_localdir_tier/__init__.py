"""A tier backend of type ``localdir``: volume ``.dat`` files moved by
``weed shell volume.tier.upload -dest=localdir.<id>`` are kept as files in a directory (a
slower disk, a network mount). Configure it in the ``-tierConfig`` file::

    [storage.backend.localdir.cold]
    enabled = true
    directory = "/mnt/cold"
"""

from __future__ import annotations

import os
from collections.abc import Callable

from seaweed_volume.plugins.hookspecs import hookimpl

CHUNK = 4 * 1024 * 1024


def _copy(source: str, target: str, progress: Callable[[int], None] | None) -> int:
    """Copy ``source`` to ``target`` through a temporary name, fsynced, reporting bytes."""
    done = 0
    partial = target + ".partial"
    with open(source, "rb") as src, open(partial, "wb") as dst:
        while chunk := src.read(CHUNK):
            dst.write(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(partial, target)
    return done


class LocalDirTierBackend:
    """The ``TierBackend`` port over one directory; keys are file names in it."""

    def __init__(self, backend_id: str, directory: str) -> None:
        self.name = f"localdir.{backend_id}"
        self.directory = directory
        os.makedirs(directory, exist_ok=True)

    def _path(self, key: str) -> str:
        if not key or os.sep in key or key in (".", ".."):
            raise ValueError(f"bad key {key!r}")
        return os.path.join(self.directory, key)

    def upload(
        self, local_path: str, key: str, progress: Callable[[int], None] | None = None
    ) -> int:
        return _copy(local_path, self._path(key), progress)

    def download(
        self, key: str, local_path: str, progress: Callable[[int], None] | None = None
    ) -> int:
        return _copy(self._path(key), local_path, progress)

    def read_at(self, key: str, offset: int, length: int) -> bytes:
        with open(self._path(key), "rb") as src:
            return os.pread(src.fileno(), length, offset)

    def delete(self, key: str) -> None:
        os.remove(self._path(key))


class LocalDirTierBackendFactory:
    """``TierBackendFactory`` for ``[storage.backend.localdir.<id>]`` (property ``directory``)."""

    type = "localdir"

    def create(self, backend_id: str, properties: dict[str, str]) -> LocalDirTierBackend:
        directory = properties.get("directory", "")
        if not directory:
            raise ValueError(f"localdir.{backend_id}: the 'directory' property is required")
        return LocalDirTierBackend(backend_id, directory)


@hookimpl
def seaweed_tier_backends() -> list[LocalDirTierBackendFactory]:
    return [LocalDirTierBackendFactory()]
