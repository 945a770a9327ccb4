"""The erasure-coded volumes of a store (store_ec.go, disk_location_ec.go): one
:class:`EcVolume` per disk and volume id holding the shards mounted from that disk. Mounts
and unmounts publish :class:`EcShardEvent` deltas for the master."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .erasure_coding.bitrot import SIDECAR_EXT
from .erasure_coding.ec_volume import EcShard, EcVolume, MissingEcIndex
from .erasure_coding.encoder import ShardCounts, remove_ec_files
from .erasure_coding.layout import MAX_SHARD_COUNT, shard_ext, shard_size
from .errors import VolumeError
from .events import EcShardEvent, EventBus
from .goparse import GoNumError, parse_uint
from .super_block import SUPER_BLOCK_SIZE
from .volume.volume import volume_base_name
from .volume_info import load_volume_info

if TYPE_CHECKING:
    from .disk_location import DiskLocation

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


def _listdir(directory: str) -> list[str]:
    try:
        return sorted(os.listdir(directory))
    except OSError as err:
        log.error("listing %s: %s", directory, err)
        return []


def _size(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def _shard_groups(directory: str) -> dict[tuple[str, int], list[int]]:
    """The non-empty shard files of a directory by (collection, vid), ids ascending (an
    empty shard file is the residue of a failed operation, never mounted)."""
    groups: dict[tuple[str, int], list[int]] = {}
    for name in _listdir(directory):
        stem, dot, ext = name.rpartition(".")
        if not dot or not ext.startswith("ec") or not ext[2:].isdigit() or len(ext) not in (4, 5):
            continue
        shard_id = int(ext[2:])
        parsed = _parse_base(stem)
        if parsed is None or shard_id >= MAX_SHARD_COUNT:
            continue
        if _size(os.path.join(directory, name)):
            groups.setdefault(parsed, []).append(shard_id)
    for shard_ids in groups.values():
        shard_ids.sort()
    return groups


def _has_index(directory: str, collection: str, vid: int) -> bool:
    """A non-empty ``.ecx`` of the volume in ``directory`` (an empty one may be the stub of
    a failed copy, so it does not claim the volume: Go's ``HasEcxFileOnDisk``)."""
    return bool(_size(os.path.join(directory, volume_base_name(collection, vid) + ".ecx")))


def _has_source_dat(base: str) -> bool:
    """A ``.dat`` holding more than a super block: something an encode could have read."""
    size = _size(base + ".dat")
    return size is not None and size > SUPER_BLOCK_SIZE


def _copy_durably(source: str, target: str) -> None:
    """Copy to a temporary name, fsync, then rename: a crash leaves no partial ``target``."""
    temporary = target + ".mirror.tmp"
    try:
        shutil.copyfile(source, temporary)
        with open(temporary, "rb+") as out:
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        _remove(temporary)
        raise


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
    def __init__(self, locations: list[DiskLocation], events: EventBus) -> None:
        self.locations = locations
        self.events = events
        self.by_disk: list[dict[int, EcVolume]] = [{} for _ in locations]
        self._lock = threading.Lock()

    # --- loading -----------------------------------------------------------------------------
    def load_existing(self) -> None:
        """Mount the shards found at start (Go's ``loadAllEcShards`` on each disk, then the
        store's cross-disk passes): each disk mounts the shards its own ``.ecx`` indexes;
        with several disks, partial shard sets whose source ``.dat`` sits whole on a sibling
        disk are removed, the index files are copied beside shards that have none, and
        shards still without a local index are served through a sibling disk's."""
        for disk_id in range(len(self.locations)):
            self._load_disk(disk_id)
        if len(self.locations) < 2:
            return
        self._prune_partial_sets_beside_sibling_dat()
        self._mirror_index_files()
        self._mount_orphans()

    def _load_disk(self, disk_id: int) -> None:
        directory = self.locations[disk_id].directory
        for (collection, vid), shard_ids in sorted(_shard_groups(directory).items()):
            base = os.path.join(directory, volume_base_name(collection, vid))
            if not os.path.exists(base + ".ecx"):
                if _has_source_dat(base):
                    # Shards but no .ecx beside a whole .dat: the encode stopped before
                    # writing its index (Go's ``checkOrphanedShards``).
                    log.warning(
                        "%s: %d ec shards without .ecx beside its .dat (an encode interrupted "
                        "before the index was written); removed",
                        base,
                        len(shard_ids),
                    )
                    remove_ec_files(base)
                continue  # else maybe indexed on a sibling disk: see _mount_orphans
            if interrupted_encode(base, shard_ids):
                log.warning("%s: shards of an unfinished encode beside its .dat; removed", base)
                remove_ec_files(base)
                continue
            self._mount_group(disk_id, collection, vid, shard_ids)

    def _mount_group(self, disk_id: int, collection: str, vid: int, shard_ids: list[int]) -> None:
        """Mount shards of one disk; the first failure leaves the rest unmounted and the
        files in place for a later try (a load failure never proves them disposable)."""
        for shard_id in shard_ids:
            try:
                self.mount_on(disk_id, collection, vid, shard_id)
            except (VolumeError, OSError, ValueError) as err:
                name = volume_base_name(collection, vid) + shard_ext(shard_id)
                log.error(
                    "loading ec shard %s: %s; keeping files for retry",
                    os.path.join(self.locations[disk_id].directory, name),
                    err,
                )
                return

    def _prune_partial_sets_beside_sibling_dat(self) -> None:
        """Remove a disk's partial EC set (fewer shards than data shards) when the volume's
        ``.dat`` sits on a sibling disk with exactly the size the EC ``.vif`` recorded at
        encode time, and the node as a whole cannot recover the volume from its shards: the
        rest of an encode that never finished (Go's ``pruneIncompleteEcWithSiblingDat``).
        Without it the server would report the volume both as a volume and as EC shards."""
        dat_owners = self._dat_owners()
        for disk_id, location in enumerate(self.locations):
            with self._lock:
                candidates = list(self.by_disk[disk_id].values())
            for ec in candidates:
                if len(ec.shards) >= ec.counts.data:
                    continue
                owner = dat_owners.get((ec.collection, ec.id))
                if owner is None or owner[0] == disk_id:
                    continue
                if ec.dat_file_size <= 0 or owner[1] != ec.dat_file_size:
                    log.warning(
                        "ec volume %d (collection %r) on %s has only %d shards; the .dat on %s "
                        "is %d bytes but its .vif recorded %d: leaving the shards in place",
                        ec.id,
                        ec.collection,
                        location.directory,
                        len(ec.shards),
                        self.locations[owner[0]].directory,
                        owner[1],
                        ec.dat_file_size,
                    )
                    continue
                node_wide = self._node_wide_shard_count(ec.collection, ec.id)
                if node_wide >= ec.counts.data:
                    log.warning(
                        "ec volume %d (collection %r): %d shards on this server can recover "
                        "it; leaving them in place despite the .dat on %s",
                        ec.id,
                        ec.collection,
                        node_wide,
                        self.locations[owner[0]].directory,
                    )
                    continue
                log.warning(
                    "ec volume %d (collection %r) on %s has only %d of %d data shards while its "
                    "source .dat is whole on %s: removing the leftover EC files",
                    ec.id,
                    ec.collection,
                    location.directory,
                    len(ec.shards),
                    ec.counts.data,
                    self.locations[owner[0]].directory,
                )
                for shard_id in sorted(ec.shards):
                    self._unmount_on_disk(disk_id, ec.id, shard_id)
                base = os.path.join(location.directory, volume_base_name(ec.collection, ec.id))
                for suffix in [".ecx", ".ecj"] + [shard_ext(i) for i in range(MAX_SHARD_COUNT)]:
                    _remove(base + suffix)  # the .vif stays: alone it loads nothing

    def _mirror_index_files(self) -> None:
        """Copy ``.ecx``, ``.ecj`` and ``.vif`` from the disk that owns the index onto each
        disk holding shards without one, so every disk mounts on its own (Go's
        ``mirrorEcMetadataToShardDisks``). A file already there is kept: it may be newer."""
        owners = self._index_owners()
        for disk_id, location in enumerate(self.locations):
            for key in sorted(self._unmounted_shards(disk_id)):
                owner = owners.get(key)
                if owner is None or owner == disk_id:
                    continue
                name = volume_base_name(*key)
                source = os.path.join(self.locations[owner].directory, name)
                target = os.path.join(location.directory, name)
                copied = 0
                for suffix in (".ecx", ".ecj", ".vif"):
                    if os.path.exists(target + suffix) or not os.path.isfile(source + suffix):
                        continue
                    try:
                        _copy_durably(source + suffix, target + suffix)
                    except OSError as err:
                        log.warning(
                            "ec volume %d (collection %r): copying %s from %s to %s failed: "
                            "%s; its shards there use the index of %s",
                            key[1],
                            key[0],
                            suffix,
                            self.locations[owner].directory,
                            location.directory,
                            err,
                            self.locations[owner].directory,
                        )
                        break
                    copied += 1
                if copied:
                    log.info(
                        "ec volume %d (collection %r): copied %d index file(s) from %s to %s",
                        key[1],
                        key[0],
                        copied,
                        self.locations[owner].directory,
                        location.directory,
                    )

    def _mount_orphans(self) -> None:
        """Mount the shards no disk mounted yet: with the index now beside them, or else
        through the disk that owns it (Go's ``reconcileEcShardsAcrossDisks``). Shards whose
        index is on no disk of this server stay unmounted, and stay on disk."""
        owners = self._index_owners()
        for disk_id, location in enumerate(self.locations):
            for key, shard_ids in sorted(self._unmounted_shards(disk_id).items()):
                owner = owners.get(key)
                if owner is None:
                    log.warning(
                        "ec volume %d (collection %r) has shards %s on %s but no .ecx on any "
                        "disk of this server: they stay unmounted until the index is restored",
                        key[1],
                        key[0],
                        shard_ids,
                        location.directory,
                    )
                    continue
                self._mount_group(disk_id, key[0], key[1], shard_ids)

    def _unmounted_shards(self, disk_id: int) -> dict[tuple[str, int], list[int]]:
        """Non-empty shard files of a disk that are not mounted there, by (collection, vid)."""
        groups = _shard_groups(self.locations[disk_id].directory)
        with self._lock:
            mounted = self.by_disk[disk_id]
            for (collection, vid), shard_ids in list(groups.items()):
                volume = mounted.get(vid)
                if volume is not None and volume.collection == collection:
                    left = [i for i in shard_ids if i not in volume.shards]
                    if left:
                        groups[(collection, vid)] = left
                    else:
                        del groups[(collection, vid)]
        return groups

    def _index_owners(self) -> dict[tuple[str, int], int]:
        """The first disk with a non-empty ``.ecx`` for each (collection, vid)."""
        owners: dict[tuple[str, int], int] = {}
        for disk_id, location in enumerate(self.locations):
            for name in _listdir(location.directory):
                if not name.endswith(".ecx"):
                    continue
                parsed = _parse_base(name[:-4])
                if parsed is None or parsed in owners:
                    continue
                if _size(os.path.join(location.directory, name)):
                    owners[parsed] = disk_id
        return owners

    def _dat_owners(self) -> dict[tuple[str, int], tuple[int, int]]:
        """The first disk with a ``.dat`` for each (collection, vid), and that file's size."""
        owners: dict[tuple[str, int], tuple[int, int]] = {}
        for disk_id, location in enumerate(self.locations):
            for name in _listdir(location.directory):
                if not name.endswith(".dat"):
                    continue
                parsed = _parse_base(name[:-4])
                if parsed is None or parsed in owners:
                    continue
                size = _size(os.path.join(location.directory, name))
                if size is not None:
                    owners[parsed] = (disk_id, size)
        return owners

    def _node_wide_shard_count(self, collection: str, vid: int) -> int:
        """Distinct shard ids of a volume mounted on any disk of this server."""
        with self._lock:
            return len(
                {
                    shard_id
                    for volumes in self.by_disk
                    if (volume := volumes.get(vid)) is not None and volume.collection == collection
                    for shard_id in volume.shards
                }
            )

    def index_directory_for(self, collection: str, vid: int) -> str | None:
        """The directory of the first disk with a non-empty ``.ecx`` of the volume."""
        for location in self.locations:
            if _has_index(location.directory, collection, vid):
                return location.directory
        return None

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

    def local_shards(self, ec: EcVolume) -> dict[int, EcShard]:
        """Every shard of ``ec``'s volume mounted on any disk of this server, its own first;
        a sibling disk's shards from another encode run are left out (Go's
        ``FindEcVolumeWithShard`` read guard)."""
        shards = dict(ec.shards)
        with self._lock:
            for volumes in self.by_disk:
                other = volumes.get(ec.id)
                if other is None or other is ec:
                    continue
                if ec.encode_ts_ns and other.encode_ts_ns != ec.encode_ts_ns:
                    continue
                for shard_id, shard in other.shards.items():
                    shards.setdefault(shard_id, shard)
        return shards

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
            except MissingEcIndex:
                continue  # no index for it on any disk: said below
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
        """Mount one shard of one disk. A disk without a non-empty ``.ecx`` of its own
        reads the index of the first disk that has one (Go's ``MountEcShards``: ec.balance
        and ec.rebuild may leave the index on another disk of the server)."""
        location = self.locations[disk_id]
        index_directory = None
        if not _has_index(location.directory, collection, vid):
            index_directory = self.index_directory_for(collection, vid)
        with self._lock:
            volume = self.by_disk[disk_id].get(vid)
            if volume is None:
                volume = EcVolume(
                    location.directory,
                    collection,
                    vid,
                    disk_type=source_disk_type or location.disk_type,
                    default_width=location.default_width,
                    index_directory=index_directory,
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
        for disk_id in range(len(self.by_disk)):
            self._unmount_on_disk(disk_id, vid, shard_id)

    def _unmount_on_disk(self, disk_id: int, vid: int, shard_id: int) -> None:
        """Unmount one shard of one disk and tell the master, naming that disk."""
        volumes = self.by_disk[disk_id]
        with self._lock:
            volume = volumes.get(vid)
            if volume is None or not volume.remove_shard(shard_id):
                return
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
