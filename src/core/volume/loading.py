"""Opening a volume from its files, the way Go's ``Volume.load`` does (``volume_loading.go``).

Order: ``.vif`` (read-only flag, offset width; one that does not parse is warned about and left
alone) -> ``.dat`` (created with a super block for a new volume; an existing one without a super
block is skipped) -> ``.idx`` (rebuilt from ``.dat`` when missing) -> the tail integrity check
(:mod:`.checking`) -> the needle map -> no index entry may reach past the end of ``.dat``.

The offset width is per volume: the ``.vif``'s ``bytesOffset`` when present (Go writes it),
else the server default. So one process serves Go-4-byte and Go-5-byte volumes side by side.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import replace

from ..atomic_file import replace_file
from ..backend import DiskFile
from ..errors import VolumeError
from ..idx import encode_entry, parse_columns
from ..needle.record import NeedleCorrupted
from ..needle_map.metrics import read_only_metrics
from ..ports import NeedleMapKind
from ..replica_placement import ReplicaPlacement
from ..super_block import SUPER_BLOCK_SIZE, SuperBlock, SuperBlockError
from ..tier import RemoteDatFile, TierRegistry
from ..ttl import EMPTY_TTL, TTL
from ..types import NEEDLE_PADDING_SIZE, TOMBSTONE_FILE_SIZE, OffsetWidth, needle_body_length
from ..volume_info import VolumeInfo, VolumeInfoError
from .checking import IntegrityError, check_and_repair_tail
from .scan import scan_records
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


def rebuild_index(
    dat: DiskFile, idx_path: str, super_block: SuperBlock, width: OffsetWidth
) -> bool:
    """Write ``.idx`` afresh from the records of ``.dat``, as Go 4.48 does for a volume whose
    index is gone: one entry per record in file order, an empty record as a deletion.
    Returns whether the walk reached the end of ``.dat`` (else a damaged record stopped it
    and the rest of the file is left for the tail check to judge, never cut)."""
    entries = bytearray()
    end = super_block.block_size
    try:
        for record in scan_records(dat, super_block.version, super_block.block_size):
            if len(record.body) < needle_body_length(record.size, super_block.version):
                break  # a torn last write
            size = record.size if record.size > 0 else TOMBSTONE_FILE_SIZE
            entries += encode_entry(record.needle_id, record.offset, size, width)
            end = record.end
    except NeedleCorrupted as err:
        log.warning("%s: stopped indexing at %d: %s", dat.name, end, err)
    replace_file(idx_path, bytes(entries))
    return end == dat.size()


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
    side_kinds: Sequence[NeedleMapKind] = (),
) -> Volume:
    """``follower``: open the volume as another process of this server already serves it:
    repair nothing, write nothing (that process checked the files, and appends may be under
    way); see :mod:`..store_view`. ``side_kinds``: the other needle-map kinds whose side
    files vacuum and delete remove (``needle_map_kind``'s always are)."""
    base = os.path.join(directory, volume_base_name(collection, volume_id))
    kinds = [needle_map_kind, *(k for k in side_kinds if k.name != needle_map_kind.name)]
    if not follower:
        reconcile_compaction(directory, base, kinds)
    try:
        info = load_volume_info(base + ".vif")
    except VolumeInfoError as err:
        # Go warns and loads with default settings, leaving the file as it is.
        log.warning("load volume %d.vif file: %s", volume_id, err)
        info = VolumeInfo()
        has_info_file = True
    else:
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

    if not create and not info.has_remote_file and dat.size() < SUPER_BLOCK_SIZE:
        # An existing volume whose .dat lacks a super block: Go skips it and leaves the file
        # alone (``SuperBlock.Initialized`` in volume_loading.go); only a new volume gets one.
        dat.close()
        raise VolumeLoadError(f"volume {dat_path} not initialized")
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
    scanned_whole_dat = True
    if not os.path.exists(idx_path) and dat.size() > super_block.block_size:
        if info.has_remote_file:  # rebuilding would download the whole .dat; Go skips it too
            dat.close()
            raise VolumeLoadError(f"check volume idx file {idx_path}: it does not exist")
        try:
            scanned_whole_dat = rebuild_index(dat, idx_path, super_block, width)
        except OSError as err:
            dat.close()
            raise VolumeLoadError(f"rebuild idx file {idx_path}: {err}") from None
        log.warning("volume %d: rebuilt %s from %s", volume_id, idx_path, dat_path)
    read_only_reason = ""
    if not dat.writable:
        read_only_reason = "data file is not writable"
    idx = DiskFile(idx_path, create=True, writable=dat.writable)

    last_append_at_ns = 0
    try:
        if not follower:
            last_append_at_ns = check_and_repair_tail(
                dat,
                idx,
                super_block,
                width,
                repair=dat.writable and not info.read_only and scanned_whole_dat,
            )
    except IntegrityError as err:
        read_only_reason = str(err)
        log.warning("volume %d is read only: volumeDataIntegrityChecking failed %s", volume_id, err)

    index_bytes = idx.read_at(idx.size(), 0) if idx.size() else b""
    needle_map = needle_map_kind.open(base, index_bytes, width, super_block.version)
    # Go loads the map of a volume read-only by now as its sorted-file map, which counts
    # differently; the structural check below comes after that choice.
    sorted_file_counts = bool(read_only_reason) or info.read_only or info.has_remote_file
    # The map's load walk noted the furthest byte any entry reaches (0 if a plugin map does not).
    furthest = needle_map.metrics.max_needle_end
    if not info.has_remote_file and furthest > dat.size():
        # A leftover entry of a crashed write, which vacuum would silently drop: refuse
        # changes instead (Go's structural check after the map load, issue #8928).
        reason = f"idx references end={furthest} but .dat is {dat.size()} bytes"
        log.warning("volume %d: %s; marking readonly", volume_id, reason)
        read_only_reason = read_only_reason or reason
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
        side_kinds=kinds,
    )
    if sorted_file_counts:
        volume.read_only_metrics = read_only_metrics(
            parse_columns(index_bytes, width), super_block.version
        )
    if follower:
        volume.follow_tail()
    elif not has_info_file:
        info.bytes_offset = int(width)
        if dat.writable:
            volume.save_info()
    return volume
