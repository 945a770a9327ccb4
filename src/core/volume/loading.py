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
from ..ports import BackendFile, NeedleMapKind
from ..replica_placement import ReplicaPlacement
from ..super_block import SUPER_BLOCK_SIZE, SuperBlock, SuperBlockError
from ..tier import RemoteDatFile, TierRegistry
from ..ttl import EMPTY_TTL, TTL
from ..types import NEEDLE_PADDING_SIZE, TOMBSTONE_FILE_SIZE, OffsetWidth, needle_body_length
from ..volume_info import VolumeInfo, VolumeInfoError, load_volume_info
from .checking import IntegrityError, check_and_repair_tail
from .scan import scan_records
from .vacuum import reconcile_compaction
from .volume import Volume, volume_base_name

log = logging.getLogger(__name__)


class VolumeLoadError(VolumeError):
    pass


def rebuild_index(
    dat: BackendFile, idx_path: str, super_block: SuperBlock, width: OffsetWidth
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
    """Go's ``load``: settle a half-finished compaction, read the ``.vif``, open the ``.dat``,
    read (or, for a new volume, write) its super block, make sure an ``.idx`` exists, check
    the tail, load the needle map and decide whether the volume is read only.

    ``follower``: open the volume as another process of this server already serves it:
    repair nothing, write nothing (that process checked the files, and appends may be under
    way); see :mod:`..store_view`. ``side_kinds``: the other needle-map kinds whose side
    files vacuum and delete remove (``needle_map_kind``'s always are)."""
    base = os.path.join(directory, volume_base_name(collection, volume_id))
    kinds = [needle_map_kind, *(k for k in side_kinds if k.name != needle_map_kind.name)]
    if not follower:
        reconcile_compaction(directory, base, kinds)
    info, has_info_file = _read_info(base, volume_id)
    width = OffsetWidth.parse(info.bytes_offset) if info.bytes_offset else default_width
    if has_info_file and info.bytes_offset and info.bytes_offset != default_width:
        log.info(
            "volume %d uses %d-byte offsets (server default %d)", volume_id, width, default_width
        )
    dat = _open_dat(base, volume_id, info, tiers, create=create, preallocate=preallocate)
    try:
        super_block = _super_block(
            dat,
            volume_id,
            info,
            SuperBlock(
                version=version,
                replica_placement=replica_placement or ReplicaPlacement(),
                ttl=ttl,
            ),
        )
        scanned_whole_dat = _ensure_index(volume_id, dat, base + ".idx", super_block, width, info)
    except VolumeLoadError:
        dat.close()
        raise
    idx = DiskFile(base + ".idx", create=True, writable=dat.writable)
    read_only_reason = "" if dat.writable else "data file is not writable"
    last_append_at_ns = 0
    try:
        if not follower:
            repair = dat.writable and not info.read_only and scanned_whole_dat
            last_append_at_ns = check_and_repair_tail(dat, idx, super_block, width, repair=repair)
    except IntegrityError as err:
        read_only_reason = str(err)
        log.warning("volume %d is read only: volumeDataIntegrityChecking failed %s", volume_id, err)

    index_bytes = idx.read_at(idx.size(), 0) if idx.size() else b""
    needle_map = needle_map_kind.open(base, index_bytes, width, super_block.version)
    # Go loads the map of a volume read-only by now as its sorted-file map, which counts
    # differently; the structural check below comes after that choice.
    sorted_file_counts = bool(read_only_reason) or info.read_only or info.has_remote_file
    beyond = _entries_beyond_dat(volume_id, info, needle_map.metrics.max_needle_end, dat.size())
    read_only_reason = read_only_reason or beyond
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


def _read_info(base: str, volume_id: int) -> tuple[VolumeInfo, bool]:
    """The ``.vif`` and whether there is one; an unreadable one counts as present: Go warns
    and loads with default settings, leaving the file as it is."""
    try:
        info = load_volume_info(base + ".vif")
    except VolumeInfoError as err:
        log.warning("load volume %d.vif file: %s", volume_id, err)
        return VolumeInfo(), True
    return info or VolumeInfo(), info is not None


def _open_dat(
    base: str,
    volume_id: int,
    info: VolumeInfo,
    tiers: TierRegistry | None,
    *,
    create: bool,
    preallocate: int,
) -> BackendFile:
    """The ``.dat``: on its remote tier when the ``.vif`` lists one, else the local file
    (read only when the file is not writable), created for a new volume. An existing one
    too short for a super block is refused and left alone, as Go does
    (``SuperBlock.Initialized`` in volume_loading.go)."""
    dat_path = base + ".dat"
    if info.has_remote_file:
        if tiers is None:
            raise VolumeLoadError(f"volume {volume_id}: its .dat is on a remote tier")
        remote = info.files[0]
        return RemoteDatFile(
            tiers, f"{remote.backend_type}.{remote.backend_id}", remote.key, remote.file_size
        )
    if os.path.exists(dat_path):
        writable = os.access(dat_path, os.W_OK)
        dat = DiskFile(dat_path, writable=writable, align=NEEDLE_PADDING_SIZE)
        if not writable:
            log.info("opening %s in READONLY mode", dat_path)
        if not create and dat.size() < SUPER_BLOCK_SIZE:
            dat.close()
            raise VolumeLoadError(f"volume {dat_path} not initialized")
        return dat
    if not create:
        raise VolumeLoadError(f"volume data file {dat_path} does not exist")
    dat = DiskFile(dat_path, create=True, align=NEEDLE_PADDING_SIZE)
    if preallocate > 0:
        try:
            dat.preallocate(preallocate)
        except OSError as err:
            log.warning("preallocate %s: %s", dat_path, err)
    return dat


def _super_block(
    dat: BackendFile, volume_id: int, info: VolumeInfo, fresh: SuperBlock
) -> SuperBlock:
    """The super block at the head of ``.dat``, or ``fresh`` written there for a new volume;
    a replication set in the ``.vif`` (VolumeConfigure) overrides the stored one, as in Go.
    Records the version in ``info``."""
    try:
        if dat.size() >= SUPER_BLOCK_SIZE:
            head = dat.read_at(SUPER_BLOCK_SIZE, 0)
            super_block = SuperBlock.parse(
                head, read_extra=lambda n: dat.read_at(n, SUPER_BLOCK_SIZE)
            )
        else:
            super_block = fresh
            dat.truncate(0)
            dat.write_at(super_block.to_bytes(), 0)
            dat.sync()
    except (SuperBlockError, OSError) as err:
        raise VolumeLoadError(f"volume {volume_id} super block: {err}") from None
    info.version = super_block.version
    if not info.replication:
        return super_block
    try:
        return replace(super_block, replica_placement=ReplicaPlacement.parse(info.replication))
    except ValueError as err:
        raise VolumeLoadError(
            f"Error parse volume {volume_id} replication {info.replication} : {err}"
        ) from None


def _ensure_index(
    volume_id: int,
    dat: BackendFile,
    idx_path: str,
    super_block: SuperBlock,
    width: OffsetWidth,
    info: VolumeInfo,
) -> bool:
    """Rebuild a missing ``.idx`` of a volume that has records; returns whether the whole
    ``.dat`` was scanned (else the tail check must not cut what the scan did not reach)."""
    if os.path.exists(idx_path) or dat.size() <= super_block.block_size:
        return True
    if info.has_remote_file:  # rebuilding would download the whole .dat; Go skips it too
        raise VolumeLoadError(f"check volume idx file {idx_path}: it does not exist")
    try:
        scanned_whole_dat = rebuild_index(dat, idx_path, super_block, width)
    except OSError as err:
        raise VolumeLoadError(f"rebuild idx file {idx_path}: {err}") from None
    log.warning("volume %d: rebuilt %s from %s", volume_id, idx_path, dat.name)
    return scanned_whole_dat


def _entries_beyond_dat(volume_id: int, info: VolumeInfo, furthest: int, dat_size: int) -> str:
    """Go's structural check after the map load (issue #8928): an entry reaching past the end
    of ``.dat`` is a leftover of a crashed write, which vacuum would silently drop, so the
    volume refuses changes instead. ``furthest`` is what the map's load walk noted (0 if a
    plugin map does not). Returns the reason, or ``""``."""
    if info.has_remote_file or furthest <= dat_size:
        return ""
    reason = f"idx references end={furthest} but .dat is {dat_size} bytes"
    log.warning("volume %d: %s; marking readonly", volume_id, reason)
    return reason
