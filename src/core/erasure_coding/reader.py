"""Reading a needle from erasure-coded shards (``ReadEcShardNeedle``, store_ec.go).

Each interval of the record comes from the local shard when it is mounted here, else from a
peer holding that shard (through the :class:`RemoteShards` port), else it is rebuilt from any
``data_shards`` other shards read at the same place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import numpy as np

from ..errors import VolumeError
from ..needle.record import Needle
from .ec_volume import EcShard, EcVolume, Interval
from .gf256 import ReedSolomon


class RemoteShards(Protocol):
    """Shards of an EC volume mounted on other servers (the gRPC adapter implements it)."""

    def read(
        self, ec: EcVolume, shard_id: int, offset: int, length: int, needle_id: int
    ) -> bytes | None:
        """The bytes, or ``None`` when no peer could give them; raises ``AlreadyDeleted`` if
        a peer says the needle was deleted."""


def read_ec_needle(
    ec: EcVolume,
    needle_id: int,
    remote: RemoteShards | None = None,
    local: Mapping[int, EcShard] | None = None,
) -> Needle:
    """The needle, CRC-checked; ``NotFound``/``AlreadyDeleted`` as for a volume. ``local``:
    the shards this server holds on any of its disks (default: those mounted with ``ec``)."""
    shards = ec.shards if local is None else local
    offset, size, intervals = ec.locate_needle(needle_id)
    record = b"".join(
        _read_interval(ec, shards, interval, needle_id, remote) for interval in intervals
    )
    return Needle.from_bytes(record, ec.version, size, offset)


def _read_interval(
    ec: EcVolume,
    local: Mapping[int, EcShard],
    interval: Interval,
    needle_id: int,
    remote: RemoteShards | None,
) -> bytes:
    shard = local.get(interval.shard_id)
    if shard is not None:
        data = shard.read_at(interval.length, interval.offset)
        if len(data) != interval.length:
            raise VolumeError(
                f"ec shard {ec.id}.{interval.shard_id} too short: read {len(data)} of "
                f"{interval.length} bytes at {interval.offset}"
            )
        return data
    if remote is not None:
        fetched = remote.read(ec, interval.shard_id, interval.offset, interval.length, needle_id)
        if fetched is not None:
            return fetched
    return _reconstruct(ec, local, interval, needle_id, remote)


def _reconstruct(
    ec: EcVolume,
    local: Mapping[int, EcShard],
    interval: Interval,
    needle_id: int,
    remote: RemoteShards | None,
) -> bytes:
    """Rebuild one interval from the same range of ``data_shards`` other shards."""
    counts = ec.counts
    shards: list[np.ndarray | None] = [None] * counts.total
    found: list[int] = []
    for shard_id in range(counts.total):
        if shard_id == interval.shard_id or len(found) >= counts.data:
            continue
        data = _fetch(ec, local, shard_id, interval, needle_id, remote)
        if data is not None and len(data) == interval.length:
            shards[shard_id] = np.frombuffer(data, dtype=np.uint8)
            found.append(shard_id)
    if len(found) < counts.data:
        missing = [i for i in range(counts.total) if shards[i] is None]
        raise VolumeError(
            f"cannot recover shard {ec.id}.{interval.shard_id}: only {len(found)} shards "
            f"available {found}, need at least {counts.data} (missing: {missing})"
        )
    rebuilt = ReedSolomon(counts.data, counts.parity).reconstruct(shards)
    return rebuilt[interval.shard_id].tobytes()


def _fetch(
    ec: EcVolume,
    local: Mapping[int, EcShard],
    shard_id: int,
    interval: Interval,
    needle_id: int,
    remote: RemoteShards | None,
) -> bytes | None:
    shard = local.get(shard_id)
    if shard is not None:
        return shard.read_at(interval.length, interval.offset)
    if remote is None:
        return None
    return remote.read(ec, shard_id, interval.offset, interval.length, needle_id)
