"""The ports of the hexagon, as ``typing.Protocol``: what the domain needs from the outside
(needle maps, tier backends, image transformers, the master, other servers) and what the
adapters may use of the domain (:class:`VolumeRepository`).

Adapters and plugins implement or consume these; ``core`` never imports an adapter. The value
types a port speaks in (``Volume``, ``EcVolume``, ``FileChunk``, ...) are imported for type
checking only, so this module stays a leaf every core module can import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .needle_map.metrics import MapMetrics
from .types import OffsetWidth

if TYPE_CHECKING:
    from .disk_location import DiskLocation
    from .erasure_coding.ec_volume import EcVolume
    from .events import EventBus
    from .needle.record import Needle
    from .store_ec import EcStore
    from .tier import TierRegistry
    from .volume.copying import FileChunk, PeerVolumeFiles
    from .volume.volume import Volume, WriteResult

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


class BackendFile(Protocol):
    """What a volume needs of its ``.dat``: a local ``core.backend.DiskFile``, or a tier's
    remote file (``core.tier.RemoteDatFile``), which refuses every change."""

    name: str

    @property
    def writable(self) -> bool: ...

    @property
    def closed(self) -> bool: ...

    def read_at(self, length: int, offset: int) -> bytes: ...

    def write_at(self, data: bytes | memoryview, offset: int) -> None: ...

    def write_pieces_at(
        self, pieces: list[bytes | bytearray | memoryview], offset: int
    ) -> None: ...

    def append(self, data: bytes) -> int: ...

    def size(self) -> int: ...

    def on_disk_size(self) -> int: ...

    def note_size(self, size: int) -> None: ...

    def identity(self) -> int: ...

    def truncate(self, size: int) -> None: ...

    def sync(self) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class VolumeRepository(Protocol):
    """What the adapters (HTTP, gRPC, the heartbeat) use of the volumes: every volume of the
    server's disks, found, changed and read with Go's errors. ``core.store.Store`` implements
    it; only the composition root knows that class."""

    locations: list[DiskLocation]
    """The data directories, in ``-dir`` order (the disk id is the index)."""
    ec: EcStore
    """The erasure-coded volumes (mounted shards) of every disk."""
    tiers: TierRegistry
    """Remote tiers by ``<type>.<id>``; the master names them in heartbeat responses."""
    events: EventBus
    """Volume added/deleted/changed, for the heartbeat's deltas."""
    volume_size_limit: int
    """Set from the master's heartbeat response; 0 until the master has spoken."""

    def follow(self) -> None:
        """Bring this process's view up to date (``-workers``) before walking ``locations``."""
        ...

    def find_volume(self, vid: int) -> Volume | None: ...

    def volumes(self) -> list[Volume]: ...

    def free_location(self, disk_type: str, needed_bytes: int = 0) -> DiskLocation | None:
        """The disk of that type with the most free slots and room for ``needed_bytes``."""
        ...

    def add_volume(
        self,
        vid: int,
        collection: str = "",
        replica_placement: str = "",
        ttl: str = "",
        preallocate: int = 0,
        disk_type: str = "",
        version: int = 3,
    ) -> Volume: ...

    def delete_volume(self, vid: int, only_empty: bool = False) -> None: ...

    def mount_volume(self, vid: int) -> Volume: ...

    def unmount_volume(self, vid: int) -> None: ...

    def configure_volume(self, vid: int, replication: str) -> None: ...

    def consolidate_volume_index(self, vid: int) -> None: ...

    def mark_volume_read_only(
        self, vid: int, persist: bool = False, can_delete: bool = False
    ) -> None: ...

    def mark_volume_writable(self, vid: int) -> None: ...

    def delete_collection(self, collection: str) -> list[int]: ...

    def expire_ttl_volumes(self, now: float | None = None) -> set[int]: ...

    def check_compact_volume(self, vid: int) -> float: ...

    def compact_volume(
        self,
        vid: int,
        preallocate: int = 0,
        bytes_per_second: int = 0,
        progress: Callable[[int], bool] | None = None,
    ) -> None: ...

    def commit_compact_volume(self, vid: int) -> tuple[bool, int]: ...

    def cleanup_compact_volume(self, vid: int) -> None: ...

    def write_needle(
        self,
        vid: int,
        needle: Needle,
        check_cookie: bool = True,
        fsync: bool = False,
        found: Volume | None = None,
    ) -> WriteResult: ...

    def delete_needle(self, vid: int, needle_id: int, cookie: int) -> int: ...

    def read_needle(
        self, vid: int, needle_id: int, cookie: int | None = None, read_deleted: bool = False
    ) -> Needle: ...

    def close(self) -> None: ...


class MasterDirectory(Protocol):
    """Where volumes and EC shards live, as the master answers (``LookupVolume``,
    ``LookupEcVolume``); implementations cache answers for a while."""

    def lookup_volume(self, volume_id: int) -> list[str]:
        """The URLs of every replica of the volume."""
        ...

    def lookup_writable(self, volume_id: int) -> list[str]:
        """The URLs of the replicas the master does not report read-only."""
        ...

    def forget_lookup(self, volume_id: int) -> None:
        """Drop a cached answer (it proved stale)."""
        ...

    def lookup_ec_shards(self, volume_id: int) -> dict[int, list[str]]:
        """Shard id -> gRPC addresses of the servers holding it."""
        ...


class RemoteShards(Protocol):
    """Shards of an EC volume mounted on other servers (the gRPC adapter implements it)."""

    def read(
        self, ec: EcVolume, shard_id: int, offset: int, length: int, needle_id: int
    ) -> bytes | None:
        """The bytes, or ``None`` when no peer could give them; raises ``AlreadyDeleted`` if
        a peer says the needle was deleted."""
        ...


class VolumePeer(Protocol):
    """Another volume server, as a copy (volume or EC shards) sees it."""

    address: str

    def volume_files(self, vid: int) -> PeerVolumeFiles: ...

    def copy_file(
        self,
        vid: int,
        collection: str,
        ext: str,
        compaction_revision: int,
        stop_offset: int,
        ignore_missing: bool,
        is_ec: bool = False,
    ) -> Iterator[FileChunk]: ...
