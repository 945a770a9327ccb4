"""The ports of the hexagon: what the domain needs from the outside, as ``typing.Protocol``.

Adapters and plugins implement these; ``core`` never imports an adapter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Protocol, runtime_checkable

from .needle_map.metrics import MapMetrics
from .types import OffsetWidth

Progress = Callable[[int], None]


@runtime_checkable
class NeedleMap(Protocol):
    """Needle id -> (offset in ``.dat``, size) for one volume; Go's ``NeedleMapper``.

    ``size`` is negative for a deleted needle (Go keeps deleted entries so that
    ``readDeleted`` can still find them); ``get`` returns ``None`` for an unknown id.
    The volume appends to ``.idx`` itself; a map only mirrors those appends.
    """

    metrics: MapMetrics

    def get(self, key: int) -> tuple[int, int] | None: ...

    def put(self, key: int, offset: int, size: int) -> None: ...

    def delete(self, key: int) -> int:
        """Mark ``key`` deleted; returns the live size it had (0 if none)."""
        ...

    def __len__(self) -> int: ...

    def items(self) -> Iterator[tuple[int, int, int]]:
        """(key, offset, size) in ascending key order, deleted entries included."""
        ...

    def memory_bytes(self) -> int:
        """Bytes this map holds for its entries (for benchmarks and ``/stats``)."""
        ...

    def close(self) -> None: ...


class NeedleMapKind(Protocol):
    """A factory registered through the ``seaweed_volume`` plugin hooks (``-index=<name>``).

    A kind owns the files it keeps beside a volume (``<base_path><suffix>``): ``open`` creates
    them, ``side_files`` names them so that the core removes them with the volume (delete, an
    unfinished copy) and when a vacuum swaps in a new ``.idx`` (they mirror the old one; the
    next ``open`` builds them again from the new index).
    """

    name: str

    def open(
        self, base_path: str, index_bytes: bytes, width: OffsetWidth, version: int
    ) -> NeedleMap:
        """Build the map of the volume at ``base_path`` from its ``.idx`` content."""
        ...

    def side_files(self, base_path: str) -> list[str]:
        """Paths of the files or directories this kind keeps for the volume at ``base_path``
        (whether they exist or not); ``[]`` for a map held in memory only."""
        ...


class TierBackend(Protocol):
    """Remote storage that can hold a volume's ``.dat`` (Go's ``BackendStorage``), named
    ``<type>.<id>`` (``s3.default``). ``progress(done_bytes)`` is called while copying."""

    name: str

    def upload(self, local_path: str, key: str, progress: Progress | None = None) -> int: ...

    def download(self, key: str, local_path: str, progress: Progress | None = None) -> int: ...

    def read_at(self, key: str, offset: int, length: int) -> bytes: ...

    def delete(self, key: str) -> None: ...


class TierBackendFactory(Protocol):
    """Builds backends of one type from the properties the master hands out."""

    type: str

    def create(self, backend_id: str, properties: dict[str, str]) -> TierBackend: ...


class ImageTransformer(Protocol):
    """Resizing, cropping and orientation fixing of stored images on read."""

    def resize(self, data: bytes, ext: str, width: int, height: int, mode: str) -> bytes: ...

    def crop(self, data: bytes, ext: str, x1: int, y1: int, x2: int, y2: int) -> bytes: ...

    def fix_orientation(self, data: bytes) -> bytes: ...


class RemoteReader(Protocol):
    """Ranged reads from one remote object store (``FetchAndWriteNeedle``'s source)."""

    def read(self, bucket: str, key: str, offset: int, size: int) -> bytes:
        """``size`` bytes of object ``key`` in ``bucket`` from ``offset`` (fewer at its end)."""
        ...


class RemoteReaderFactory(Protocol):
    """Builds readers of one remote storage type (``RemoteConf.type``: ``s3``, ...).

    ``conf`` holds every field of the filer's ``remote_pb.RemoteConf`` by its proto name
    (``s3_endpoint``, ``s3_access_key``, ``gcs_google_application_credentials``, ...), unset
    ones at their zero value."""

    type: str

    def create(self, conf: Mapping[str, object]) -> RemoteReader: ...
