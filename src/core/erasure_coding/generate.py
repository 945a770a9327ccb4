"""``VolumeEcShardsGenerate``: encode a mounted volume's files into shards beside it
(volume_grpc_erasure_coding.go). The volume stays mounted; ``weed shell ec.encode`` marks it
read-only first, spreads the shards, mounts them and deletes the volume afterwards."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from ..errors import VolumeError, VolumeNotFound
from ..volume.volume import volume_base_name
from ..volume_info import load_volume_info, save_volume_info
from .encoder import (
    ShardCounts,
    ec_volume_info,
    encode_dat,
    remove_ec_files,
    save_sidecar,
    sidecar_path,
    write_sorted_index,
)

if TYPE_CHECKING:
    from ..ports import VolumeRepository

log = logging.getLogger(__name__)


def generate_ec_shards(store: VolumeRepository, vid: int, collection: str) -> ShardCounts:
    volume = store.find_volume(vid)
    if volume is None:
        raise VolumeNotFound(f"volume {vid} not found")
    if volume.collection != collection:
        raise VolumeError(f"existing collection:{volume.collection} unexpected input: {collection}")
    base = volume.base_path
    try:
        counts = ShardCounts.from_info(load_volume_info(base + ".vif"))
    except ValueError:
        counts = ShardCounts()
    # A retry must never mix two runs: shards of an earlier encode are unmounted (without a
    # delta, as in Go) and every disk's leftovers go first.
    store.ec.unload(vid)
    for location in store.locations:
        remove_ec_files(os.path.join(location.directory, volume_base_name(collection, vid)))
    try:
        # The index first: a write landing after it is in the shards but not indexed, which
        # is harmless; the other order would index records the shards lack.
        write_sorted_index(volume.file_name(".idx"), base + ".ecx", volume.width)
        dat_size = os.path.getsize(base + ".dat")
        protection = encode_dat(base, counts, dat_size)
        try:
            save_sidecar(sidecar_path(base), protection)
        except OSError as err:  # the shards stay usable, only unprotected (as in Go)
            log.warning("failed to write EC bitrot sidecar for volume %d: %s", vid, err)
        ttl_seconds = volume.super_block.ttl.seconds
        save_volume_info(
            base + ".vif", ec_volume_info(volume.version, dat_size, counts, ttl_seconds)
        )
    except BaseException:
        remove_ec_files(base)
        raise
    log.info("volume %d: generated %d+%d EC shards", vid, counts.data, counts.parity)
    return counts
