"""The view every process of a ``-workers`` server keeps of the volumes it serves.

One process, the *authority*, makes every change that is not an append (mounts, unmounts,
deletes, vacuum commits, read-only flags, EC mounts, tier moves). After each it publishes a
manifest (which volumes and EC shards are mounted on which disk, with their flags) and bumps a
shared :class:`~.volume.sharing.Generation`. Every other process compares that generation with
the one it last absorbed before it looks a volume up, and when it moved, brings its own view in
line with the manifest: it opens what was mounted, closes what went away, reopens a volume whose
files were swapped (vacuum, tier moves) and copies the flags. Appends need no manifest: they
meet in the files (:mod:`.volume.sharing`).

The manifest is a small JSON file written atomically in a directory private to the server's
processes; it is read only when the generation moved.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import TYPE_CHECKING, Any

from .atomic_file import replace_file
from .errors import VolumeError
from .volume.sharing import Generation

if TYPE_CHECKING:
    from .disk_location import DiskLocation
    from .store import Store
    from .volume.volume import Volume

log = logging.getLogger(__name__)


def _dat_identity(volume: Volume) -> list[int]:
    """What changes when a volume's files are swapped under the same id."""
    return [volume.dat.identity(), volume.super_block.compaction_revision]


def _swapped(volume: Volume) -> bool:
    """The ``.dat`` at the volume's path is no longer the file this process has open (the
    authority announces a vacuum swap before its manifest can name the new file)."""
    if volume.info.has_remote_file:
        return False
    try:
        return os.stat(volume.file_name(".dat")).st_ino != volume.dat.identity()
    except FileNotFoundError:
        return True


class StoreView:
    """Shared by the processes of one server; created before they fork."""

    def __init__(self, run_dir: str) -> None:
        self.generation = Generation()
        self.manifest_path = os.path.join(run_dir, "volumes.json")
        self.authority = True
        """Cleared in every process but the one that makes admin changes."""
        self.seen = 0
        self.store: Store | None = None
        self._lock = threading.RLock()

    # --- every process -------------------------------------------------------------------------
    def attach(self, store: Store, authority: bool) -> None:
        """Share every volume of ``store`` with the other processes, in this role."""
        self.store = store
        self.authority = authority
        store.view = self
        for location in store.locations:
            location.view = self
            fork_safe = getattr(location.needle_map_kind, "fork_safe", False)
            for vid, volume in list(location.volumes.items()):
                if fork_safe:
                    volume.share(self)
                else:  # e.g. a SQLite connection must not cross a fork: open it anew
                    self._reopen(location, volume.collection, vid, None)
        if authority:
            self.publish()
        else:
            self.seen = -1  # a worker forked from an older snapshot: reconcile at first use

    def is_current(self) -> bool:
        return self.authority or self.generation.value == self.seen

    def announce(self) -> None:
        if self.authority:
            self.publish()

    # --- the authority ---------------------------------------------------------------------------
    def publish(self) -> None:
        """Write the manifest, then bump the generation (in that order: a process that sees
        the new generation finds at least this manifest)."""
        store = self.store
        if store is None or not self.authority:
            return
        with self._lock:
            manifest = {
                "locations": [
                    {
                        "low": location.is_disk_space_low,
                        "volumes": [
                            [
                                v.id,
                                v.collection,
                                _dat_identity(v),
                                v.no_write_or_delete,
                                v.no_write_can_delete,
                                v.read_only_reason,
                            ]
                            for v in sorted(location.volumes.values(), key=lambda v: v.id)
                        ],
                        "ec": [
                            [ec.id, ec.collection, sorted(ec.shards)]
                            for ec in store.ec.by_disk[disk_id].values()
                        ],
                    }
                    for disk_id, location in enumerate(store.locations)
                ]
            }
            replace_file(self.manifest_path, json.dumps(manifest).encode(), durable=False)
            self.generation.bump()

    # --- the other processes ---------------------------------------------------------------------
    def refresh(self) -> None:
        """Bring this process's view in line with the authority's, if it moved."""
        if self.authority or self.generation.value == self.seen:
            return
        with self._lock:
            generation = self.generation.value
            if generation == self.seen:
                return
            try:
                with open(self.manifest_path, "rb") as src:
                    manifest = json.load(src)
            except (OSError, ValueError) as err:
                # once per announcement, not once per request: the next one tries again
                log.error("reading the volume manifest: %s", err)
                self.seen = generation
                return
            self._reconcile(manifest)
            self.seen = generation

    def _reconcile(self, manifest: dict[str, Any]) -> None:
        store = self.store
        assert store is not None
        for disk_id, (location, wanted) in enumerate(
            zip(store.locations, manifest["locations"], strict=True)
        ):
            location.is_disk_space_low = wanted["low"]
            listed = {row[0]: row for row in wanted["volumes"]}
            for vid in [vid for vid in location.volumes if vid not in listed]:
                gone = location.remove_volume(vid)
                if gone is not None:
                    gone.close()
            for vid, (
                _,
                collection,
                identity,
                no_write,
                no_write_can_delete,
                reason,
            ) in listed.items():
                volume = location.volumes.get(vid)
                if volume is None or _dat_identity(volume) != identity or _swapped(volume):
                    volume = self._reopen(location, collection, vid, volume)
                    if volume is None:
                        continue
                volume.no_write_or_delete = no_write
                volume.no_write_can_delete = no_write_can_delete
                volume.read_only_reason = reason
                volume.disk_space_low = location.is_disk_space_low
            self._reconcile_ec(disk_id, wanted["ec"])

    def _reopen(
        self, location: DiskLocation, collection: str, vid: int, old: Volume | None
    ) -> Volume | None:
        """Open a volume as it is on disk now, without repairing anything (the authority
        checked it; other processes may be appending)."""
        try:
            volume = location.open(collection, vid, follower=True)
        except (VolumeError, OSError, ValueError) as err:
            log.error("worker: opening volume %d: %s", vid, err)
            return None
        location.add_volume(volume)
        if old is not None:
            old.close()
        return volume

    def _reconcile_ec(self, disk_id: int, wanted: list[list[Any]]) -> None:
        store = self.store
        assert store is not None
        mounted = store.ec.by_disk[disk_id]
        listed = {row[0]: row for row in wanted}
        for vid in [vid for vid in mounted if vid not in listed]:
            for shard_id in list(mounted[vid].shards):
                store.ec.unmount_on(disk_id, vid, shard_id)
        for vid, (_, collection, shard_ids) in listed.items():
            have = set(mounted[vid].shards) if vid in mounted else set()
            for shard_id in have - set(shard_ids):
                store.ec.unmount_on(disk_id, vid, shard_id)
            for shard_id in sorted(set(shard_ids) - have):
                try:
                    store.ec.mount_on(disk_id, collection, vid, shard_id)
                except (VolumeError, OSError, ValueError) as err:
                    log.error("worker: mounting ec shard %d.%d: %s", vid, shard_id, err)
