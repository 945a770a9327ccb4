"""``VolumeEcShardsToVolume``: turn the data shards mounted here back into a normal volume's
``.dat`` and ``.idx`` (ec_decoder.go). The shards stay mounted and the new volume is not; the
caller (``weed shell ec.decode``) mounts it and deletes the shards."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..atomic_file import replace_file
from ..errors import VolumeError
from ..types import OffsetWidth, actual_size
from ..volume_info import load_volume_info, save_volume_info
from .bitrot import SIDECAR_EXT
from .ec_volume import EcVolume, infer_index_width
from .layout import rows
from .rebuild import fold_journal

if TYPE_CHECKING:
    from ..ports import VolumeRepository

COPY_STEP = 4 * 1024 * 1024


class NoLiveEntries(VolumeError):
    """Every needle of the EC volume is deleted: Go answers ``FailedPrecondition``."""


def decode_to_volume(store: VolumeRepository, collection: str, vid: int) -> None:
    """Fold the deletion journal into ``.ecx``, size the ``.dat`` from the live entries,
    de-stripe the data shards into it, copy ``.ecx`` to ``.idx`` and record the index width."""
    ec, slots = _data_shards(store, collection, vid)
    base = ec.base
    location = next(loc for loc in store.locations if loc.directory == ec.directory)
    try:  # the index may be a sibling disk's (shards mounted where no .ecx was)
        fold_journal(ec.index_base, location.default_width)
    except (VolumeError, OSError) as err:
        raise VolumeError(f"RebuildEcxFile {ec.index_base}: {err}") from err
    with open(ec.index_base + ".ecx", "rb") as src:
        index = src.read()

    def read_at(length: int, offset: int) -> bytes:
        return index[offset : offset + length]

    width = infer_index_width(len(index), read_at, location.default_width)
    with open(slots[0], "rb") as first:
        version = first.read(1)[0] if os.path.getsize(slots[0]) else 3
    dat_size = _dat_size(index, width, version)
    if dat_size is None:
        raise NoLiveEntries(f"ec volume {vid} has no live entries")
    encoded_size = ec.dat_file_size or ec.counts.data * os.path.getsize(slots[0])
    if dat_size > encoded_size:
        raise VolumeError(
            f"WriteDatFile {base}: dat file size {dat_size} exceeds encoded dat file size "
            f"{encoded_size}"
        )
    _write_dat(base, slots, ec.counts.data, dat_size, encoded_size)
    _write_index(base, index)
    info = load_volume_info(base + ".vif")
    if info is not None and not info.bytes_offset:
        info.bytes_offset = int(width)  # the normal volume reads its .idx with this width
        save_volume_info(base + ".vif", info)
    for path in (base + SIDECAR_EXT,):
        if os.path.exists(path):
            os.remove(path)


def _data_shards(
    store: VolumeRepository, collection: str, vid: int
) -> tuple[EcVolume, dict[int, str]]:
    """The EC volume (the last mounted, when several disks hold shards) and the path of each
    shard mounted here; every data shard must be among them."""
    mounted = [ec for _, ec in store.ec.all() if ec.id == vid]
    if not mounted:
        raise VolumeError(f"ec volume {vid} not found")
    ec = mounted[-1]
    if ec.collection != collection:
        raise VolumeError(f"existing collection:{ec.collection} unexpected input: {collection}")
    slots: dict[int, str] = {}
    for volume in mounted:
        for shard_id, shard in volume.shards.items():
            slots[shard_id] = shard.path
    for shard_id in range(ec.counts.data):
        if shard_id not in slots:
            raise VolumeError(f"ec volume {vid} missing shard {shard_id}")
    return ec, slots


def _dat_size(index: bytes, width: OffsetWidth, version: int) -> int | None:
    """Where the last live record of the index ends (at least the super block's 8 bytes), or
    ``None`` when every entry is deleted."""
    step = width.entry_size
    dat_size = 8
    live = False
    for at in range(0, len(index) - step + 1, step):
        entry = index[at : at + step]
        size = int.from_bytes(entry[-4:], "big", signed=True)
        if size < 0:
            continue
        live = True
        units = int.from_bytes(entry[8:12], "big") | ((entry[12] << 32) if step == 17 else 0)
        dat_size = max(dat_size, units * 8 + actual_size(size, version))
    return dat_size if live else None


def _write_dat(
    base: str, slots: dict[int, str], data_shards: int, dat_size: int, encoded_size: int
) -> None:
    """De-stripe the rows of the encoding back into ``.dat`` (``WriteDatFile``)."""
    temporary = base + ".dat.tmp"
    shards = {i: open(slots[i], "rb") for i in range(data_shards)}  # noqa: SIM115 - closed below
    try:
        with open(temporary, "wb") as out:
            for row in rows(encoded_size, data_shards):
                for shard_id in range(data_shards):
                    start = row.dat_offset + shard_id * row.block_size
                    length = min(row.block_size, dat_size - start)
                    if length <= 0:
                        break
                    src = shards[shard_id]
                    src.seek(row.shard_offset)
                    while length > 0:
                        piece = src.read(min(COPY_STEP, length))
                        if not piece:
                            raise VolumeError(f"shard {slots[shard_id]} is too short")
                        out.write(piece)
                        length -= len(piece)
            out.flush()
            os.fsync(out.fileno())
    finally:
        for src in shards.values():
            src.close()
    if os.path.getsize(temporary) < dat_size:
        raise VolumeError(f"decoded {base}.dat is short of the {dat_size} its ec index references")
    os.replace(temporary, base + ".dat")


def _write_index(base: str, index: bytes) -> None:
    """``.idx`` is ``.ecx`` as it is: sorted entries, deleted ones with the tombstone size."""
    replace_file(base + ".idx", index)


__all__ = ["NoLiveEntries", "decode_to_volume"]
