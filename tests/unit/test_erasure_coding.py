"""Reed-Solomon, the row layout and the sidecar; Go's own shards are compared in
tests/interop/test_erasure_coding_go.py."""

from __future__ import annotations

import os

import numpy as np
import pytest

from seaweed_volume.core.crc import crc32c_of
from seaweed_volume.core.erasure_coding import encoder
from seaweed_volume.core.erasure_coding.bitrot import (
    BitrotProtection,
    ShardChecksummer,
    load_sidecar,
    save_sidecar,
)
from seaweed_volume.core.erasure_coding.gf256 import ReedSolomon, encoding_matrix, mul
from seaweed_volume.core.erasure_coding.layout import Row, rows, shard_size


def test_matrix_is_systematic_and_known() -> None:
    matrix = encoding_matrix(10, 4)
    assert [list(row) for row in matrix[:10]] == [
        [1 if i == j else 0 for j in range(10)] for i in range(10)
    ]
    assert mul(0x80, 2) == 0x1D  # the 0x11d polynomial


@pytest.mark.parametrize("lost", [(0,), (3, 9), (0, 5, 10, 13), (10, 11, 12, 13), (1, 2, 3, 4)])
def test_any_ten_shards_rebuild_the_rest(lost) -> None:
    rng = np.random.default_rng(1)
    data = [rng.integers(0, 256, 4096, dtype=np.uint8) for _ in range(10)]
    codec = ReedSolomon(10, 4)
    shards = data + codec.encode(data)
    damaged = [None if i in lost else shard for i, shard in enumerate(shards)]
    rebuilt = codec.reconstruct(damaged)
    assert all((a == b).all() for a, b in zip(rebuilt, shards, strict=True))
    with pytest.raises(ValueError, match="too few shards"):
        codec.reconstruct([None] * 5 + shards[5:])


def test_rows_use_large_blocks_while_a_whole_row_fits() -> None:
    assert rows(25, data_shards=2, large_block=10, small_block=1) == [
        Row(0, 10, 0),
        Row(20, 1, 10),
        Row(22, 1, 11),
        Row(24, 1, 12),
    ]
    assert rows(0) == []
    assert shard_size(2_804_024) == 1024 * 1024


def test_encoded_files_hold_the_dat_and_rebuild(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(encoder, "LARGE_BLOCK", 4096)
    monkeypatch.setattr(encoder, "SMALL_BLOCK", 1024)
    monkeypatch.setattr(encoder, "BATCH", 512)
    base = str(tmp_path / "7")
    dat = os.urandom(4096 * 10 + 3000)
    open(base + ".dat", "wb").write(dat)
    protection = encoder.encode_dat(base, encoder.ShardCounts(), len(dat))
    shards = [open(base + f".ec{i:02d}", "rb").read() for i in range(14)]
    assert {len(shard) for shard in shards} == {4096 + 1024}
    # Shard i holds block i of each row: the large row, then a 1 KiB row padded with zeros.
    assert shards[2][:4096] == dat[2 * 4096 : 3 * 4096]
    assert shards[2][4096:] == dat[40960 + 2048 : 40960 + 3000] + bytes(1024 - 952)
    assert protection.shards[5] == (5, 5120, crc32c_of(shards[5]).to_bytes(4, "little"))


def test_sidecar_round_trip_and_its_own_checksum(tmp_path) -> None:
    checksummer = ShardChecksummer(block_size=4)
    checksummer.write(b"abcdef")
    checksummer.write(b"gh")
    covered, packed = checksummer.finish()
    assert covered == 8 and packed == b"".join(
        crc32c_of(part).to_bytes(4, "little") for part in (b"abcd", b"efgh")
    )
    path = str(tmp_path / "1.ecsum")
    protection = BitrotProtection(10, 4, [(0, 8, packed), (1, 8, packed)])
    save_sidecar(path, protection)
    loaded = load_sidecar(path)
    assert (loaded.shards, loaded.encode_uuid, loaded.data_shards) == (
        protection.shards,
        protection.encode_uuid,
        10,
    )
    raw = bytearray(open(path, "rb").read())
    raw[-1] ^= 1
    open(path, "wb").write(bytes(raw))
    with pytest.raises(ValueError, match="fails its checksum"):
        load_sidecar(path)
