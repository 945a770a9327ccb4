"""The ``.ecsum`` sidecar: a CRC32C of every 16 MiB block of every shard, written while the
shards are encoded, so scrubs and rebuilds can tell a rotten shard (ec_bitrot.go).

On disk: ``magic "ECSU" | format version 1 (u16) | payload length (u32) | CRC32C of the
payload (u32)``, all big-endian, then the payload: an ``EcBitrotProtection`` protobuf message
(algorithm, block size, generation, the shard config, one ``EcShardChecksums`` per shard with
its little-endian packed block CRCs, and a random encode id).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field

from ..atomic_file import replace_file
from ..crc import crc32c_of
from ..protowire import BYTES, VARINT, bytes_field, fields, int_field

MAGIC = 0x45435355  # "ECSU"
FORMAT_VERSION = 1
HEADER = struct.Struct(">IHII")
BLOCK_SIZE = 16 * 1024 * 1024
MAX_BLOCK_SIZE = 64 * 1024 * 1024
CRC32C = 1
"""``ChecksumAlgorithm.CHECKSUM_CRC32C``."""
SIDECAR_EXT = ".ecsum"


class ShardChecksummer:
    """CRC32C of each ``block_size`` block of one shard's bytes, fed as they are written."""

    def __init__(self, block_size: int = BLOCK_SIZE) -> None:
        self.block_size = block_size
        self.blocks: list[int] = []
        self.total = 0
        self._crc = 0
        self._filled = 0

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            take = min(len(view), self.block_size - self._filled)
            self._crc = crc32c_of(view[:take], self._crc)
            self._filled += take
            self.total += take
            view = view[take:]
            if self._filled == self.block_size:
                self.blocks.append(self._crc)
                self._crc = self._filled = 0

    def finish(self) -> tuple[int, bytes]:
        """(bytes covered, packed little-endian block CRCs), the partial last block included."""
        if self._filled:
            self.blocks.append(self._crc)
            self._crc = self._filled = 0
        return self.total, struct.pack(f"<{len(self.blocks)}I", *self.blocks)


@dataclass
class BitrotProtection:
    data_shards: int
    parity_shards: int
    shards: list[tuple[int, int, bytes]]
    """(shard id, covered size, packed block CRCs)."""
    encode_uuid: bytes = field(default_factory=lambda: os.urandom(16))
    block_size: int = BLOCK_SIZE
    generation: int = 0
    small_block_size: int = 1024 * 1024
    """Go 4.48 records the small EC block size in the config (field 4)."""

    def encode(self) -> bytes:
        config = (
            int_field(1, self.data_shards)
            + int_field(2, self.parity_shards)
            + int_field(4, self.small_block_size)
        )
        body = int_field(1, CRC32C) + int_field(2, self.block_size) + int_field(3, self.generation)
        body += bytes_field(4, config)
        for shard_id, covered, packed in self.shards:
            body += bytes_field(
                5, int_field(1, shard_id) + int_field(2, covered) + bytes_field(3, packed)
            )
        return body + bytes_field(6, self.encode_uuid)

    @classmethod
    def decode(cls, payload: bytes) -> BitrotProtection:
        protection = cls(0, 0, [], encode_uuid=b"", block_size=0)
        for number, wire, value in fields(payload):
            if number == 2 and wire == VARINT:
                protection.block_size = int(value)
            elif number == 3 and wire == VARINT:
                protection.generation = int(value)
            elif wire != BYTES or not isinstance(value, bytes):
                continue
            elif number == 4:
                protection._decode_config(value)
            elif number == 5:
                protection.shards.append(_decode_shard(value))
            elif number == 6:
                protection.encode_uuid = bytes(value)
        return protection

    def _decode_config(self, payload: bytes) -> None:
        """The EC config message (field 4): the shard counts and the small block size."""
        for number, wire, value in fields(payload):
            if wire != VARINT:
                continue
            if number == 1:
                self.data_shards = int(value)
            elif number == 2:
                self.parity_shards = int(value)
            elif number == 4:
                self.small_block_size = int(value)


def _decode_shard(payload: bytes) -> tuple[int, int, bytes]:
    """One shard's message (field 5): its id, the size covered and the packed block CRCs."""
    shard: list[int | bytes] = [0, 0, b""]
    for number, _, value in fields(payload):
        if number in (1, 2, 3):
            shard[number - 1] = value
    return int(shard[0]), int(shard[1]), bytes(shard[2])


def save_sidecar(path: str, protection: BitrotProtection) -> None:
    """Write atomically: a temporary file, fsynced, renamed over ``path``."""
    payload = protection.encode()
    header = HEADER.pack(MAGIC, FORMAT_VERSION, len(payload), crc32c_of(payload))
    replace_file(path, header + payload)


def load_sidecar(path: str) -> BitrotProtection:
    """Read and check a sidecar; ``ValueError`` when it is not one or fails its own CRC."""
    with open(path, "rb") as src:
        raw = src.read()
    if len(raw) < HEADER.size:
        raise ValueError(f"{path}: too short for a bitrot sidecar")
    magic, version, length, crc = HEADER.unpack_from(raw)
    if magic != MAGIC or version != FORMAT_VERSION:
        raise ValueError(f"{path}: not a bitrot sidecar (magic {magic:08x} version {version})")
    payload = raw[HEADER.size : HEADER.size + length]
    if len(payload) != length or crc32c_of(payload) != crc:
        raise ValueError(f"{path}: bitrot sidecar fails its checksum")
    return BitrotProtection.decode(payload)
