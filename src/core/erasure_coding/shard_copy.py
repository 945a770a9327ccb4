"""``VolumeEcShardsCopy``: pull EC shards and the volume's EC files from a peer onto one of
our disks (volume_grpc_erasure_coding.go). Nothing is mounted; the caller mounts next."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..atomic_file import replace_file
from ..errors import VolumeError
from ..ports import VolumePeer, VolumeRepository
from ..volume.copying import COPY_EVERYTHING, receive_file
from ..volume.volume import volume_base_name
from ..write_throttle import WriteThrottle
from .bitrot import SIDECAR_EXT
from .layout import shard_ext

if TYPE_CHECKING:
    from ..disk_location import DiskLocation

WHOLE_FILE = (1 << 63) - 1
NEEDLE_ID_SIZE = 8


@dataclass
class ShardCopy:
    store: VolumeRepository
    peer: VolumePeer
    collection: str
    vid: int
    shard_ids: list[int]
    copy_ecx: bool = False
    copy_ecj: bool = False
    copy_vif: bool = False
    copy_ecsum: bool = False
    disk_id: int = 0
    bytes_per_second: int = 0

    def run(self) -> None:
        location = self._target()
        base = os.path.join(location.directory, volume_base_name(self.collection, self.vid))
        throttle = WriteThrottle(self.bytes_per_second)

        def pull(ext: str, path: str, optional: bool) -> int:
            chunks = self.peer.copy_file(
                self.vid, self.collection, ext, COPY_EVERYTHING, WHOLE_FILE, optional, is_ec=True
            )
            return receive_file(chunks, path, optional=optional, throttle=throttle)

        try:
            for shard_id in self.shard_ids:
                pull(shard_ext(shard_id), base + shard_ext(shard_id), False)
            if self.copy_ecx:
                pull(".ecx", base + ".ecx", False)
                if not os.path.exists(base + ".ecx"):
                    raise VolumeError(f"stat copied .ecx {base}.ecx: no such file or directory")
                if os.path.getsize(base + ".ecx") == 0:
                    os.remove(base + ".ecx")
                    raise VolumeError("source .ecx is 0 bytes")
            if self.copy_ecj:
                self._merge_journal(base, pull)
            if self.copy_vif:
                pull(".vif", base + ".vif", True)
            if self.copy_ecsum:
                pull(SIDECAR_EXT, base + SIDECAR_EXT, True)
        except (VolumeError, OSError) as err:
            raise VolumeError(f"VolumeEcShardsCopy volume {self.vid}: {err}") from err

    def _target(self) -> DiskLocation:
        locations = self.store.locations
        if self.disk_id > 0:
            if self.disk_id >= len(locations):
                raise VolumeError(
                    f"invalid disk_id {self.disk_id}: only have {len(locations)} disks"
                )
            return locations[self.disk_id]
        base_name = volume_base_name(self.collection, self.vid)
        mounted = {disk for disk, ec in self.store.ec.all() if ec.id == self.vid}

        def rank(item: tuple[int, DiskLocation]) -> tuple[int, int]:
            disk, location = item
            ecx = os.path.join(location.directory, base_name + ".ecx")
            if disk in mounted:
                tier = 4
            elif os.path.exists(ecx) and os.path.getsize(ecx) > 0:
                tier = 3
            elif location.disk_type == "":
                tier = 2
            else:
                tier = 1
            return tier, location.free_volume_slots

        candidates = [
            (disk, location)
            for disk, location in enumerate(locations)
            if not location.is_disk_space_low
        ]
        if not candidates:
            raise VolumeError("no space left")
        return max(candidates, key=rank)[1]

    @staticmethod
    def _merge_journal(base: str, pull: Callable[[str, str, bool], int]) -> None:
        """The peer's deletions joined with ours (Go overwrites the start of the local file
        with the peer's, which can leave stale ids behind or lose local ones)."""
        local = b""
        with contextlib.suppress(FileNotFoundError):
            with open(base + ".ecj", "rb") as src:
                local = src.read()
        staged = base + ".ecj.peer"
        pull(".ecj", staged, True)
        peer = b""
        with contextlib.suppress(FileNotFoundError):
            with open(staged, "rb") as src:
                peer = src.read()
            os.remove(staged)
        ids = []
        for raw in (peer, local):
            whole = len(raw) - len(raw) % NEEDLE_ID_SIZE
            ids += [raw[i : i + NEEDLE_ID_SIZE] for i in range(0, whole, NEEDLE_ID_SIZE)]
        replace_file(base + ".ecj", b"".join(dict.fromkeys(ids)))
