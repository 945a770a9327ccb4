"""The erasure-coded volumes of a store (store_ec.go, disk_location_ec.go): one
:class:`EcVolume` per disk and volume id holding the shards mounted from that disk. Mounts
and unmounts publish :class:`EcShardEvent` deltas for the master."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from dataclasses import dataclass

from .erasure_coding.bitrot import SIDECAR_EXT
from .erasure_coding.ec_volume import EcVolume
from .erasure_coding.encoder import ShardCounts, remove_ec_files
from .erasure_coding.layout import MAX_SHARD_COUNT, shard_ext, shard_size
from .errors import VolumeError
from .events import EcShardEvent, EventBus
from .goparse import GoNumError, parse_uint
from .super_block import SUPER_BLOCK_SIZE
from .volume.volume import volume_base_name
from .volume_info import load_volume_info

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EcShardReport:
    """What a full EC heartbeat says of one EC volume on one disk."""

    volume_id: int
    collection: str
    shard_bits: int
    shard_sizes: tuple[int, ...]
    disk_type: str
    disk_id: int
    expire_at_sec: int
    file_count: int
    delete_count: int
    encode_ts_ns: int


def _parse_base(base: str) -> tuple[str, int] | None:
    collection, _, vid = base.rpartition("_")
    try:
        return collection, parse_uint(vid, 10, 32)
    except GoNumError:
        return None


def interrupted_encode(base: str, shard_ids: list[int]) -> bool:
    """Shards beside the volume's own ``.dat`` that are missing or shorter than that ``.dat``
    encodes to: an encode that never finished, safe to drop since the ``.dat`` is whole
    (``validateEcVolume``). Without a ``.dat`` shards are always kept (they may be all there
    is)."""
    dat = base + ".dat"
    if not os.path.exists(dat) or os.path.getsize(dat) <= SUPER_BLOCK_SIZE:
        return False
    try:
        counts = ShardCounts.from_info(load_volume_info(base + ".vif"))
    except ValueError:
        return False
    expected = shard_size(os.path.getsize(dat), counts.data)
    sizes = {os.path.getsize(base + shard_ext(i)) for i in shard_ids}
    if len(sizes) > 1:
        return False  # differing sizes: not provably an interrupted encode, keep everything
    return not shard_ids or sizes.pop() < expected


def _shard_files(base: str) -> list[int]:
    return [i for i in range(MAX_SHARD_COUNT) if os.path.exists(base + shard_ext(i))]


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def _encode_ts_ns(vif_path: str) -> int:
    try:
        info = load_volume_info(vif_path)
    except ValueError:
        return 0
    config = (info.ec_shard_config if info else None) or {}
    try:
        return int(config.get("encodeTsNs", 0) or 0)
    except (TypeError, ValueError):
        return 0


class EcStore:
    def __init__(self, locations: list, events: EventBus) -> None:
        self.locations = locations
        self.events = events
        self.by_disk: list[dict[int, EcVolume]] = [{} for _ in locations]
        self._lock = threading.Lock()

    # --- loading -----------------------------------------------------------------------------
    def load_existing(self) -> None:
        """Mount every non-empty shard that has an ``.ecx`` beside it (``loadAllEcShards``)."""
        for disk_id, location in enumerate(self.locations):
            try:
                names = sorted(os.listdir(location.directory))
            except OSError as err:
                log.error("listing %s: %s", location.directory, err)
                continue
            for name in names:
                if not name.endswith(".ecx"):
                    continue
                parsed = _parse_base(name[:-4])
                if parsed is None:
                    continue
                collection, vid = parsed
                base = os.path.join(location.directory, name[:-4])
                shard_ids = [
                    i
                    for i in range(MAX_SHARD_COUNT)
                    if os.path.exists(base + shard_ext(i)) and os.path.getsize(base + shard_ext(i))
                ]
                if interrupted_encode(base, shard_ids):
                    log.warning("%s: shards of an unfinished encode beside its .dat; removed", base)
                    remove_ec_files(base)
                    continue
                for shard_id in shard_ids:
                    try:
                        self.mount_on(disk_id, collection, vid, shard_id)
                    except (VolumeError, OSError, ValueError) as err:
                        log.error("loading ec shard %s%s: %s", base, shard_ext(shard_id), err)

    # --- finding -----------------------------------------------------------------------------
    def find(self, vid: int) -> EcVolume | None:
        for volumes in self.by_disk:
            if vid in volumes:
                return volumes[vid]
        return None

    def find_shard(self, vid: int, shard_id: int) -> EcVolume | None:
        for volumes in self.by_disk:
            volume = volumes.get(vid)
            if volume is not None and shard_id in volume.shards:
                return volume
        return None

    def all(self) -> list[tuple[int, EcVolume]]:
        return [(disk_id, v) for disk_id, vols in enumerate(self.by_disk) for v in vols.values()]

    # --- mounting ----------------------------------------------------------------------------
    def mount(self, collection: str, vid: int, shard_id: int, source_disk_type: str = "") -> None:
        """Mount shard ``shard_id`` from the first disk that has it (``MountEcShards``)."""
        base_name = volume_base_name(collection, vid)
        failures = []
        for disk_id, location in enumerate(self.locations):
            if not os.path.exists(
                os.path.join(location.directory, base_name + shard_ext(shard_id))
            ):
                continue
            try:
                self.mount_on(disk_id, collection, vid, shard_id, source_disk_type)
                return
            except (VolumeError, OSError, ValueError) as err:
                failures.append(f"{location.directory}: {err}")
        if failures:
            raise VolumeError(
                f"MountEcShards {vid}.{shard_id} load failures: {'; '.join(failures)}"
            )
        has_index = any(
            os.path.getsize(p) > 0
            for location in self.locations
            if os.path.exists(p := os.path.join(location.directory, base_name + ".ecx"))
        )
        if not has_index:
            raise VolumeError(
                f"MountEcShards {vid}.{shard_id}: no .ecx index found on any local disk"
            )
        raise VolumeError(f"MountEcShards {vid}.{shard_id} not found on disk")

    def mount_on(
        self, disk_id: int, collection: str, vid: int, shard_id: int, source_disk_type: str = ""
    ) -> None:
        location = self.locations[disk_id]
        with self._lock:
            volume = self.by_disk[disk_id].get(vid)
            if volume is None:
                volume = EcVolume(
                    location.directory,
                    collection,
                    vid,
                    disk_type=source_disk_type or location.disk_type,
                    default_width=location.default_width,
                )
                self.by_disk[disk_id][vid] = volume
            try:
                shard = volume.add_shard(shard_id)
            except OSError:
                if not volume.shards:
                    volume.close()
                    del self.by_disk[disk_id][vid]
                raise
        self.events.publish(
            EcShardEvent(
                True,
                vid,
                collection,
                1 << shard_id,
                (shard.size,),
                volume.disk_type,
                disk_id,
                volume.expire_at_sec,
                volume.encode_ts_ns,
            )
        )

    def unmount(self, vid: int, shard_id: int) -> None:
        """Unmount the shard wherever it is mounted; nothing to do is fine (idempotent)."""
        for disk_id, volumes in enumerate(self.by_disk):
            with self._lock:
                volume = volumes.get(vid)
                if volume is None or not volume.remove_shard(shard_id):
                    continue
                if not volume.shards:
                    volume.close()
                    del volumes[vid]
            self.events.publish(
                EcShardEvent(
                    False,
                    vid,
                    volume.collection,
                    1 << shard_id,
                    (0,),
                    volume.disk_type,
                    disk_id,
                    0,
                    volume.encode_ts_ns,
                )
            )

    def unmount_on(self, disk_id: int, vid: int, shard_id: int) -> None:
        """Unmount one shard of one disk, telling no one (another process's view follows
        its authority's this way)."""
        with self._lock:
            volume = self.by_disk[disk_id].get(vid)
            if volume is None or not volume.remove_shard(shard_id):
                return
            if not volume.shards:
                volume.close()
                del self.by_disk[disk_id][vid]

    def unload(self, vid: int) -> None:
        """Drop every mounted shard of a volume without telling the master (as Go's
        ``UnloadEcVolume`` before a re-encode)."""
        with self._lock:
            for volumes in self.by_disk:
                volume = volumes.pop(vid, None)
                if volume is not None:
                    volume.close()

    # --- deleting shard files ------------------------------------------------------------------
    def _bases(self, collection: str, vid: int) -> list[str]:
        name = volume_base_name(collection, vid)
        return [os.path.join(location.directory, name) for location in self.locations]

    def teardown(self, collection: str, vid: int, older_than_encode_ns: int = 0) -> None:
        """Unmount and remove every EC file of a volume on every disk, keeping a ``.vif``
        that a normal volume (an ``.idx`` beside it) still uses. With ``older_than_encode_ns``
        only disks whose shards come from an earlier encode run are cleared (a fenced
        teardown: a newer encode elsewhere survives)."""
        for disk_id, base in enumerate(self._bases(collection, vid)):
            if older_than_encode_ns:
                encoded = _encode_ts_ns(base + ".vif")
                if not encoded or encoded >= older_than_encode_ns:
                    continue
            with self._lock:
                volume = self.by_disk[disk_id].pop(vid, None)
                if volume is not None:
                    volume.close()
            remove_ec_files(base)
            if not os.path.exists(base + ".idx"):
                _remove(base + ".vif")

    def delete_shards(self, collection: str, vid: int, shard_ids: list[int]) -> None:
        """Remove shard files (mounted ones keep serving until unmounted, as in Go); a disk
        left without shards loses its ``.ecsum``, the node left without any loses ``.ecx``,
        ``.ecj`` and the EC ``.vif``."""
        bases = self._bases(collection, vid)
        for base in bases:
            removed = False
            for shard_id in shard_ids:
                if os.path.exists(base + shard_ext(shard_id)):
                    os.remove(base + shard_ext(shard_id))
                    removed = True
            if removed and not _shard_files(base):
                _remove(base + SIDECAR_EXT)
        if any(_shard_files(base) for base in bases):
            return
        for base in bases:
            _remove(base + ".ecx")
            _remove(base + ".ecj")
            if not os.path.exists(base + ".idx"):
                _remove(base + ".vif")

    # --- reporting ---------------------------------------------------------------------------
    def reports(self) -> list[EcShardReport]:
        with self._lock:
            return [
                EcShardReport(
                    volume.id,
                    volume.collection,
                    volume.shard_bits,
                    tuple(volume.shard_sizes()),
                    volume.disk_type,
                    disk_id,
                    volume.expire_at_sec,
                    volume.entry_count,
                    len(volume.deleted),
                    volume.encode_ts_ns,
                )
                for disk_id, volume in self.all()
            ]

    def close(self) -> None:
        with self._lock:
            for volumes in self.by_disk:
                for volume in volumes.values():
                    volume.close()
                volumes.clear()
