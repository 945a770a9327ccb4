"""Opening a volume from its files, the way Go's ``Volume.load`` does (``volume_loading.go``).

Order: ``.vif`` (read-only flag, offset width) -> ``.dat`` (created with a super block for a new
volume) -> ``.idx`` -> the tail integrity check (:mod:`.checking`) -> the needle map.

The offset width is per volume: the ``.vif``'s ``bytesOffset`` when present (Go writes it),
else the server default. So one process serves Go-4-byte and Go-5-byte volumes side by side.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace

from ..atomic_file import replace_file
from ..backend import DiskFile
from ..errors import VolumeError
from ..ports import NeedleMapKind
from ..replica_placement import ReplicaPlacement
from ..super_block import SUPER_BLOCK_SIZE, SuperBlock, SuperBlockError
from ..tier import RemoteDatFile, TierRegistry
from ..ttl import EMPTY_TTL, TTL
from ..types import NEEDLE_PADDING_SIZE, OffsetWidth
from ..volume_info import VolumeInfo, VolumeInfoError
from .checking import IntegrityError, check_and_repair_tail
from .vacuum import reconcile_compaction
from .volume import Volume, volume_base_name

log = logging.getLogger(__name__)


class VolumeLoadError(VolumeError):
    pass


def load_volume_info(path: str) -> VolumeInfo | None:
    """``MaybeLoadVolumeInfo``: ``None`` when there is no (or an empty) ``.vif``."""
    try:
        with open(path, "rb") as src:
            text = src.read()
    except FileNotFoundError:
        return None
    if not text.strip():
        log.warning("empty volume info file %s, treating as non-existent", path)
        return None
    return VolumeInfo.from_json(text)


def save_volume_info(path: str, info: VolumeInfo) -> None:
    """``SaveVolumeInfo``, made atomic: write a temporary file, fsync, rename."""
    replace_file(path, info.to_json().encode())


def open_volume(
    directory: str,
    collection: str,
    volume_id: int,
    *,
    needle_map_kind: NeedleMapKind,
    default_width: OffsetWidth = OffsetWidth.FOUR,
    create: bool = False,
    replica_placement: ReplicaPlacement | None = None,
    ttl: TTL = EMPTY_TTL,
    version: int = 3,
    preallocate: int = 0,
    tiers: TierRegistry | None = None,
    follower: bool = False,
) -> Volume:
    """``follower``: open the volume as another process of this server already serves it:
    repair nothing, write nothing (that process checked the files, and appends may be under
    way); see :mod:`..store_view`."""
    base = os.path.join(directory, volume_base_name(collection, volume_id))
    if not follower:
        reconcile_compaction(directory, base)
    try:
        info = load_volume_info(base + ".vif")
    except VolumeInfoError as err:
        raise VolumeLoadError(f"volume {volume_id}: {err}") from None
    has_info_file = info is not None
    info = info or VolumeInfo()
    width = OffsetWidth.parse(info.bytes_offset) if info.bytes_offset else default_width
    if has_info_file and info.bytes_offset and info.bytes_offset != default_width:
        log.info(
            "volume %d uses %d-byte offsets (server default %d)", volume_id, width, default_width
        )
    dat_path = base + ".dat"
    if info.has_remote_file:
        if tiers is None:
            raise VolumeLoadError(f"volume {volume_id}: its .dat is on a remote tier")
        remote = info.files[0]
        dat = RemoteDatFile(
            tiers, f"{remote.backend_type}.{remote.backend_id}", remote.key, remote.file_size
        )
    elif os.path.exists(dat_path):
        writable = os.access(dat_path, os.W_OK)
        dat = DiskFile(dat_path, writable=writable, align=NEEDLE_PADDING_SIZE)
        if not writable:
            log.info("opening %s in READONLY mode", dat_path)
    elif create:
        dat = DiskFile(dat_path, create=True, align=NEEDLE_PADDING_SIZE)
        if preallocate > 0:
            try:
                dat.preallocate(preallocate)
            except OSError as err:
                log.warning("preallocate %s: %s", dat_path, err)
    else:
        raise VolumeLoadError(f"volume data file {dat_path} does not exist")

    try:
        if dat.size() >= SUPER_BLOCK_SIZE:
            head = dat.read_at(SUPER_BLOCK_SIZE, 0)
            super_block = SuperBlock.parse(
                head, read_extra=lambda n: dat.read_at(n, SUPER_BLOCK_SIZE)
            )
        else:
            super_block = SuperBlock(
                version=version,
                replica_placement=replica_placement or ReplicaPlacement(),
                ttl=ttl,
            )
            dat.truncate(0)
            dat.write_at(super_block.to_bytes(), 0)
            dat.sync()
    except (SuperBlockError, OSError) as err:
        dat.close()
        raise VolumeLoadError(f"volume {volume_id} super block: {err}") from None
    info.version = super_block.version
    if info.replication:
        # A .vif replication setting (VolumeConfigure) overrides the super block's, as in Go.
        try:
            super_block = replace(
                super_block, replica_placement=ReplicaPlacement.parse(info.replication)
            )
        except ValueError as err:
            dat.close()
            raise VolumeLoadError(
                f"Error parse volume {volume_id} replication {info.replication} : {err}"
            ) from None

    idx_path = base + ".idx"
    if not os.path.exists(idx_path) and dat.size() > super_block.block_size:
        dat.close()
        raise VolumeLoadError(f"idx file {idx_path} does not exists")
    read_only_reason = ""
    if not dat.writable:
        read_only_reason = "data file is not writable"
    idx = DiskFile(idx_path, create=True, writable=dat.writable)

    last_append_at_ns = 0
    try:
        if not follower:
            last_append_at_ns = check_and_repair_tail(
                dat, idx, super_block, width, repair=dat.writable and not info.read_only
            )
    except IntegrityError as err:
        read_only_reason = str(err)
        log.warning("volume %d is read only: volumeDataIntegrityChecking failed %s", volume_id, err)

    index_bytes = idx.read_at(idx.size(), 0) if idx.size() else b""
    needle_map = needle_map_kind.open(base, index_bytes, width, super_block.version)
    volume = Volume(
        directory=directory,
        collection=collection,
        volume_id=volume_id,
        super_block=super_block,
        width=width,
        info=info,
        dat=dat,
        idx=idx,
        needle_map=needle_map,
        needle_map_kind=needle_map_kind.name,
        last_append_at_ns=last_append_at_ns,
        read_only_reason=read_only_reason,
    )
    if follower:
        volume.follow_tail()
    elif not has_info_file:
        info.bytes_offset = int(width)
        if dat.writable:
            volume.save_info()
    return volume
