"""How a ``.dat`` is cut into erasure-coded shards (ec_encoder.go, ec_locate.go).

The ``.dat`` is read in rows. While at least ``data_shards`` GiB remain, a row gives each data
shard one 1 GiB block; the rest goes in rows of 1 MiB blocks, the last one padded with zeros.
Shard ``i`` holds block ``i`` of every row, so every shard file has the same length.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import VolumeError

DATA_SHARDS = 10
PARITY_SHARDS = 4
TOTAL_SHARDS = DATA_SHARDS + PARITY_SHARDS
MAX_SHARD_COUNT = 32
"""Shard ids are bits of a uint32 (``ShardBits``)."""
LARGE_BLOCK = 1024 * 1024 * 1024
SMALL_BLOCK = 1024 * 1024


class InvalidShardId(VolumeError):
    """A shard id from a request that no shard can have."""


def shard_ext(shard_id: int) -> str:
    """``.ec00`` .. ``.ec31`` (Go's ``ToExt``); a request's shard id is checked here, where
    it becomes part of a file name."""
    if not 0 <= shard_id < MAX_SHARD_COUNT:
        raise InvalidShardId(f"invalid shard id {shard_id}")
    return f".ec{shard_id:02d}"


@dataclass(frozen=True, slots=True)
class Row:
    """One row of the encoding: ``data_shards`` blocks of ``block_size`` from ``dat_offset``."""

    dat_offset: int
    block_size: int
    shard_offset: int
    """Where this row's blocks start in every shard file."""


def rows(
    dat_size: int,
    data_shards: int = DATA_SHARDS,
    large_block: int = LARGE_BLOCK,
    small_block: int = SMALL_BLOCK,
) -> list[Row]:
    """The rows a ``.dat`` of ``dat_size`` bytes is encoded in (``encodeDatFile``)."""
    result = []
    remaining, dat_offset, shard_offset = dat_size, 0, 0
    for block in (large_block, small_block):
        row_size = block * data_shards
        while remaining >= row_size if block == large_block else remaining > 0:
            result.append(Row(dat_offset, block, shard_offset))
            remaining -= row_size
            dat_offset += row_size
            shard_offset += block
    return result


def shard_size(dat_size: int, data_shards: int = DATA_SHARDS) -> int:
    """Length of every shard file of a ``.dat`` of ``dat_size`` bytes."""
    return sum(row.block_size for row in rows(dat_size, data_shards))
