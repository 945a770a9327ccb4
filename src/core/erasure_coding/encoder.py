"""Turning a volume into erasure-coded shards (``VolumeEcShardsGenerate``, ec_encoder.go).

Three files come out besides the shards: ``.ecx``, the live entries of ``.idx`` sorted by
needle id (a read binary-searches it); ``.ecsum``, the shards' block checksums; and a ``.vif``
whose ``ecShardConfig`` records the shard counts and this run's time.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from ..idx import encode_entry, parse_columns
from ..types import OffsetWidth
from ..volume_info import VolumeInfo
from .bitrot import SIDECAR_EXT, BitrotProtection, ShardChecksummer, save_sidecar
from .gf256 import ReedSolomon
from .layout import (
    DATA_SHARDS,
    LARGE_BLOCK,
    MAX_SHARD_COUNT,
    PARITY_SHARDS,
    SMALL_BLOCK,
    rows,
    shard_ext,
)

BATCH = 1024 * 1024
"""Bytes of each data block encoded at once (a 1 GiB block goes in 1024 batches)."""


@dataclass(frozen=True, slots=True)
class ShardCounts:
    data: int = DATA_SHARDS
    parity: int = PARITY_SHARDS

    @property
    def total(self) -> int:
        return self.data + self.parity

    @classmethod
    def from_info(cls, info: VolumeInfo | None) -> ShardCounts:
        """The counts a ``.vif`` records, when valid; Go's default 10+4 otherwise."""
        config = (info.ec_shard_config if info else None) or {}
        data, parity = int(config.get("dataShards", 0)), int(config.get("parityShards", 0))
        if data > 0 and parity > 0 and data + parity <= MAX_SHARD_COUNT:
            return cls(data, parity)
        return cls()


def write_sorted_index(idx_path: str, ecx_path: str, width: OffsetWidth) -> int:
    """``.ecx`` from ``.idx``: the last entry of every needle that is still live, by needle id
    (``WriteSortedFileFromIdx``); returns the number of entries."""
    with open(idx_path, "rb") as src:
        columns = parse_columns(src.read(), width)
    keys = columns.keys[::-1]
    unique_keys, last = np.unique(keys, return_index=True)
    offsets = columns.offsets[::-1][last]
    sizes = columns.sizes[::-1][last]
    live = (offsets != 0) & (sizes >= 0)
    entries = [
        encode_entry(int(key), int(offset) * 8, int(size), width)
        for key, offset, size in zip(unique_keys[live], offsets[live], sizes[live], strict=True)
    ]
    with open(ecx_path, "wb") as out:
        out.write(b"".join(entries))
    return len(entries)


def encode_dat(base: str, counts: ShardCounts, dat_size: int) -> BitrotProtection:
    """Write ``<base>.ec00`` .. from the first ``dat_size`` bytes of ``<base>.dat``; return the
    shards' block checksums (``WriteEcFiles``). Partial shards are removed on failure."""
    codec = ReedSolomon(counts.data, counts.parity)
    paths = [base + shard_ext(i) for i in range(counts.total)]
    checksummers = [ShardChecksummer() for _ in paths]
    outputs = []
    try:
        outputs = [open(path, "wb") for path in paths]  # noqa: SIM115 - closed below
        with open(base + ".dat", "rb") as dat:
            for row in rows(dat_size, counts.data, LARGE_BLOCK, SMALL_BLOCK):
                for batch in range(0, row.block_size, BATCH):
                    length = min(BATCH, row.block_size - batch)
                    data = [
                        _read_padded(
                            dat, row.dat_offset + i * row.block_size + batch, length, dat_size
                        )
                        for i in range(counts.data)
                    ]
                    for shard, out, checksummer in zip(
                        data + codec.encode(data), outputs, checksummers, strict=True
                    ):
                        raw = shard.tobytes()
                        out.write(raw)
                        checksummer.write(raw)
        for out in outputs:
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        for out in outputs:
            out.close()
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
        raise
    for out in outputs:
        out.close()
    return BitrotProtection(
        counts.data,
        counts.parity,
        [(i, *checksummer.finish()) for i, checksummer in enumerate(checksummers)],
    )


def _read_padded(dat: BinaryIO, offset: int, length: int, dat_size: int) -> np.ndarray:
    block = np.zeros(length, dtype=np.uint8)
    if offset < dat_size:
        dat.seek(offset)
        raw = dat.read(min(length, dat_size - offset))
        block[: len(raw)] = np.frombuffer(raw, dtype=np.uint8)
    return block


def ec_volume_info(
    version: int, dat_size: int, counts: ShardCounts, ttl_seconds: int = 0
) -> VolumeInfo:
    """The ``.vif`` an encode leaves: a fresh ``VolumeInfo`` as Go builds it (no offset width,
    no replication), with the shard config and this run's time."""
    now = time.time_ns()
    return VolumeInfo(
        version=version,
        dat_file_size=dat_size,
        expire_at_sec=now // 1_000_000_000 + ttl_seconds if ttl_seconds > 0 else 0,
        ec_shard_config={
            "dataShards": counts.data,
            "parityShards": counts.parity,
            "encodeTsNs": str(now),
            "blockSize": str(SMALL_BLOCK),
        },
    )


def remove_ec_files(base: str) -> None:
    """Every EC artifact of a volume at ``base`` (shards, ``.ecx``, ``.ecj``, ``.ecsum``)."""
    suffixes = [shard_ext(i) for i in range(MAX_SHARD_COUNT)] + [".ecx", ".ecj", SIDECAR_EXT]
    for suffix in suffixes:
        with contextlib.suppress(FileNotFoundError):
            os.remove(base + suffix)


def sidecar_path(base: str) -> str:
    return base + SIDECAR_EXT


__all__ = [
    "ShardCounts",
    "encode_dat",
    "ec_volume_info",
    "remove_ec_files",
    "save_sidecar",
    "sidecar_path",
    "write_sorted_index",
]
