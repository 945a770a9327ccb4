"""The store: every volume across the server's data directories (``weed/storage/store.go``).

Adapters (HTTP, gRPC) talk to this object only; errors carry Go's texts.
"""

from __future__ import annotations

import logging
import os
import shutil
from typing import TYPE_CHECKING, Final

from .disk_location import DiskLocation, validate_new_collection
from .errors import (
    NoFreeSpace,
    ReadOnlyVolume,
    VolumeError,
    VolumeExists,
    VolumeNotFound,
)
from .events import EventBus, VolumeEvent, VolumeEventKind
from .needle.record import Needle
from .replica_placement import ReplicaPlacement
from .store_ec import EcStore
from .tier import TierRegistry
from .ttl import EMPTY_TTL, TTL
from .volume import vacuum
from .volume.sharing import StaleVolume
from .volume.volume import Volume, WriteResult, volume_base_name
from .volume_info import VolumeInfo, VolumeInfoError, load_volume_info, save_volume_info

if TYPE_CHECKING:
    from .store_view import StoreView

log = logging.getLogger(__name__)

MAX_TTL_VOLUME_REMOVAL_DELAY_MINUTES: Final = 10
_STALE_RETRIES: Final = 8
"""A write that meets a volume changed by another process follows the change and retries."""


def warn_other_offset_widths(location: DiskLocation) -> None:
    """One warning per offset width, naming the volumes of ``location`` whose ``.vif``
    ``bytesOffset`` differs from ``-offsetBytes``. They load and are served at their own width,
    but a Go server of the other width exits on them ("BytesOffset mismatch",
    weed/storage/volume_tier.go), so moving them there fails."""
    others: dict[int, list[str]] = {}
    for volume in sorted(location.volumes.values(), key=lambda v: v.id):
        if volume.width != location.default_width:
            others.setdefault(int(volume.width), []).append(
                volume_base_name(volume.collection, volume.id)
            )
    for width, names in sorted(others.items()):
        log.warning(
            "%s: volumes %s use %d-byte offsets (.vif bytesOffset) but -offsetBytes=%d: served "
            "as they are, but a Go server of the other width refuses them",
            location.directory,
            ", ".join(names),
            width,
            int(location.default_width),
        )


class Store:
    def __init__(
        self,
        locations: list[DiskLocation],
        ip: str = "127.0.0.1",
        port: int = 8080,
        tiers: TierRegistry | None = None,
    ) -> None:
        self.locations = locations
        self.tiers = tiers or TierRegistry()
        """Remote tiers named by the master; volumes with a remote ``.dat`` read through it."""
        for location in locations:
            location.tiers = self.tiers
        self.ip = ip
        self.port = port
        self.events = EventBus()
        self.ec = EcStore(locations, self.events)
        """The erasure-coded volumes (mounted shards) of every disk."""
        self.volume_size_limit = 0
        """Set by the master's heartbeat response; 0 until the master has spoken."""
        self.view: StoreView | None = None
        """With ``-workers``: how this process follows the server's volumes (see
        :mod:`.store_view`)."""

    def _publish(self, kind: VolumeEventKind, volume: Volume) -> None:
        location = self._location_of(volume.id)
        self.events.publish(
            VolumeEvent(
                kind=kind,
                volume_id=volume.id,
                collection=volume.collection,
                replica_placement=volume.super_block.replica_placement.to_byte(),
                version=volume.version,
                ttl=volume.super_block.ttl.to_uint32(),
                disk_type=location.disk_type if location else "",
                disk_id=self.locations.index(location) if location else 0,
            )
        )

    def load_existing_volumes(self) -> None:
        for location in self.locations:
            location.load_existing_volumes()
            warn_other_offset_widths(location)
        self.ec.load_existing()

    # --- finding -----------------------------------------------------------------------------
    def follow(self) -> None:
        """With ``-workers``: bring this process's view of the volumes up to date (cheap when
        nothing changed). Whoever walks ``locations`` itself calls this first."""
        if self.view is not None:
            self.view.refresh()

    def find_volume(self, vid: int) -> Volume | None:
        if self.view is not None:
            self.view.refresh()
        for location in self.locations:
            volume = location.find_volume(vid)
            if volume is not None:
                return volume
        return None

    def _location_of(self, vid: int) -> DiskLocation | None:
        for location in self.locations:
            if vid in location.volumes:
                return location
        return None

    def volumes(self) -> list[Volume]:
        if self.view is not None:
            self.view.refresh()
        return sorted(
            (v for location in self.locations for v in location.volumes.values()),
            key=lambda v: v.id,
        )

    def _require(self, vid: int, message: str) -> Volume:
        """The volume, or :class:`VolumeNotFound` with ``message`` formatted (``{vid}``,
        ``{ip}``, ``{port}``) only then: writes and reads pass here every time."""
        volume = self.find_volume(vid)
        if volume is None:
            raise VolumeNotFound(message.format(vid=vid, ip=self.ip, port=self.port))
        return volume

    # --- volume lifecycle --------------------------------------------------------------------
    def add_volume(
        self,
        vid: int,
        collection: str = "",
        replica_placement: str = "",
        ttl: str = "",
        preallocate: int = 0,
        disk_type: str = "",
        version: int = 3,
    ) -> Volume:
        """``Store.AddVolume``: create a new volume in the location with the most free slots.

        ``version`` is the needle format of the new ``.dat``; the gRPC request carries one and
        Go refuses 0 (volume_super_block.go)."""
        validate_new_collection(collection)
        if self.find_volume(vid) is not None:
            raise VolumeExists(f"Volume Id {vid} already exists!")
        placement = ReplicaPlacement.parse(replica_placement)
        parsed_ttl = TTL.parse(ttl) if ttl else EMPTY_TTL
        location = self.free_location(disk_type)
        if location is None:
            raise NoFreeSpace("No more free space left")
        if version not in (1, 2, 3):  # checked as the super block is written, after the rest
            raise VolumeError(f"volume super block version {version} is not supported")
        volume = location.open(
            collection,
            vid,
            create=True,
            replica_placement=placement,
            ttl=parsed_ttl,
            preallocate=preallocate,
            version=version,
        )
        location.add_volume(volume)
        self._publish(VolumeEventKind.ADDED, volume)
        log.info(
            "add volume %d collection=%r replication=%s ttl=%s",
            vid,
            collection,
            placement,
            parsed_ttl,
        )
        return volume

    def free_location(self, disk_type: str, needed_bytes: int = 0) -> DiskLocation | None:
        """The location of ``disk_type`` (any, when empty) with the most free volume slots
        and, when asked, more than ``needed_bytes`` free on its disk (``FindFreeLocation``)."""
        best: DiskLocation | None = None
        for location in self.locations:
            if disk_type and location.disk_type != disk_type:
                continue
            if location.is_disk_space_low or location.free_volume_slots <= 0:
                continue
            if needed_bytes and shutil.disk_usage(location.directory).free <= needed_bytes:
                continue
            if best is None or location.free_volume_slots > best.free_volume_slots:
                best = location
        return best

    def delete_volume(self, vid: int, only_empty: bool = False) -> None:
        location = self._location_of(vid)
        if location is None:
            raise VolumeNotFound(f"delete volume {vid} not found on disk")
        volume = location.volumes[vid]
        # ec.encode deletes the volume it encoded: the shards keep using its .vif.
        shares_vif = self.ec.find(vid) is not None or os.path.exists(volume.file_name(".ecx"))
        volume.destroy(only_empty=only_empty, keep_vif=shares_vif)
        self._publish(VolumeEventKind.DELETED, volume)
        location.remove_volume(vid)

    def mount_volume(self, vid: int) -> Volume:
        if (volume := self.find_volume(vid)) is not None:
            return volume
        for location in self.locations:
            collection = location.find_volume_files(vid)
            if collection is not None:
                volume = location.load_volume(collection, vid)
                self._publish(VolumeEventKind.ADDED, volume)
                return volume
        raise VolumeNotFound(f"volume {vid} not found on disk")

    def unmount_volume(self, vid: int) -> None:
        """Idempotent, as Go's: unmounting a volume that is not mounted succeeds."""
        location = self._location_of(vid)
        if location is None:
            return
        volume = location.volumes[vid]
        self._publish(VolumeEventKind.DELETED, volume)
        location.remove_volume(vid)
        volume.close()

    def configure_volume(self, vid: int, replication: str) -> None:
        """``ConfigureVolume``: record a replication in the (unmounted) volume's ``.vif``."""
        for location in self.locations:
            collection = location.find_volume_files(vid)
            if collection is None:
                continue
            path = os.path.join(location.directory, volume_base_name(collection, vid) + ".vif")
            try:
                info = load_volume_info(path) or VolumeInfo()
            except VolumeInfoError as err:
                raise VolumeError(f"volume {vid} failed to load vif: {err}") from None
            info.replication = replication
            try:
                save_volume_info(path, info)
            except OSError as err:
                raise VolumeError(f"volume {vid} failed to save vif: {err}") from None
            return
        raise VolumeNotFound(f"volume {vid} not found on disk")

    def consolidate_volume_index(self, vid: int) -> None:
        """``ConsolidateVolumeIndex`` moves ``.idx`` to ``-dir.idx``; with one directory per
        location (all we support yet) there is nothing to move."""
        if self.find_volume(vid) is None:
            raise VolumeNotFound(f"volume {vid} not found on disk")

    def mark_volume_read_only(
        self, vid: int, persist: bool = False, can_delete: bool = False
    ) -> None:
        volume = self._require(vid, "volume {vid} not found")
        volume.mark_read_only(persist, can_delete)
        self._publish(VolumeEventKind.STATE_CHANGED, volume)

    def mark_volume_writable(self, vid: int) -> None:
        volume = self._require(vid, "volume {vid} not found")
        volume.mark_writable()
        self._publish(VolumeEventKind.STATE_CHANGED, volume)

    def delete_collection(self, collection: str) -> list[int]:
        deleted: list[int] = []
        for location in self.locations:
            for volume in [v for v in location.volumes.values() if v.collection == collection]:
                volume.destroy()
                self._publish(VolumeEventKind.DELETED, volume)
                location.remove_volume(volume.id)
                deleted.append(volume.id)
        # EC volumes of the collection go too (as in Go, without a heartbeat delta).
        for vid in {ec.id for _, ec in self.ec.all() if ec.collection == collection}:
            self.ec.teardown(collection, vid)
        return deleted

    # --- TTL volumes ---------------------------------------------------------------------------
    def expire_ttl_volumes(self, now: float | None = None) -> set[int]:
        """Ids of expired TTL volumes, which heartbeats leave out; those expired long enough
        are deleted (``CollectHeartbeat`` in store.go)."""
        expired: set[int] = set()
        for volume in self.volumes():
            if not volume.expired(self.volume_size_limit, now):
                continue
            expired.add(volume.id)
            if volume.expired_long_enough(MAX_TTL_VOLUME_REMOVAL_DELAY_MINUTES, now):
                log.info("volume %d is expired long enough: deleting it", volume.id)
                try:
                    self.delete_volume(volume.id)
                except VolumeError as err:
                    log.warning("delete volume %d: %s", volume.id, err)
            else:
                log.info("volume %d is expired", volume.id)
        return expired

    # --- vacuum ------------------------------------------------------------------------------
    def check_compact_volume(self, vid: int) -> float:
        volume = self._require(vid, "volume id {vid} is not found during check compact")
        return vacuum.garbage_level(volume)

    def compact_volume(
        self,
        vid: int,
        preallocate: int = 0,
        bytes_per_second: int = 0,
        progress: vacuum.ProgressFn | None = None,
    ) -> None:
        volume = self._require(vid, "volume id {vid} is not found during compact")
        vacuum.compact(volume, preallocate, bytes_per_second, progress)

    def commit_compact_volume(self, vid: int) -> tuple[bool, int]:
        """Swap in the compacted files and reload; returns (read only, new .dat size)."""
        location = self._location_of(vid)
        if location is None:
            raise VolumeNotFound(f"volume id {vid} is not found during commit compact")
        volume = location.volumes[vid]
        vacuum.commit(volume)
        reloaded = location.open(volume.collection, vid)
        location.add_volume(reloaded)
        return reloaded.is_read_only, reloaded.dat_size()

    def cleanup_compact_volume(self, vid: int) -> None:
        volume = self._require(vid, "volume id {vid} is not found during cleaning up")
        vacuum.cleanup(volume)

    # --- needles -----------------------------------------------------------------------------
    def write_needle(
        self,
        vid: int,
        needle: Needle,
        check_cookie: bool = True,
        fsync: bool = False,
        found: Volume | None = None,
    ) -> WriteResult:
        """``found``: the volume the caller just found for ``vid`` (not looked up again
        unless it turns out stale)."""
        volume = found
        for _ in range(_STALE_RETRIES):
            if volume is None:
                volume = self._require(vid, "volume {vid} not found on {ip}:{port}")
            try:  # (a read-only volume refuses under its lock)
                return volume.write_needle(needle, check_cookie=check_cookie, fsync=fsync)
            except StaleVolume:
                volume = None  # the next find_volume follows the change
        raise VolumeError(f"volume {vid} keeps changing under writes")

    def delete_needle(self, vid: int, needle_id: int, cookie: int) -> int:
        for _ in range(_STALE_RETRIES):
            volume = self._require(vid, "volume {vid} not found on {ip}:{port}")
            if volume.no_write_or_delete:
                raise ReadOnlyVolume(f"volume {vid} is read only")
            try:
                return volume.delete_needle(needle_id, cookie)
            except StaleVolume:
                continue
        raise VolumeError(f"volume {vid} keeps changing under deletes")

    def read_needle(
        self, vid: int, needle_id: int, cookie: int | None = None, read_deleted: bool = False
    ) -> Needle:
        volume = self._require(vid, "volume {vid} not found")
        return volume.read_needle(needle_id, cookie=cookie, read_deleted=read_deleted)

    def close(self) -> None:
        self.ec.close()
        for location in self.locations:
            location.close()


__all__ = ["Store", "VolumeError"]
