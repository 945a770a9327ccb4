"""The 8-byte super block at the start of every ``.dat`` (``super_block.go``).

Byte 0 version, byte 1 replica placement, bytes 2-3 TTL, bytes 4-5 compaction revision,
bytes 6-7 the size of an optional protobuf ``SuperBlockExtra`` that follows (v2/v3 only).
We keep the extra bytes verbatim so a rewrite never changes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from .replica_placement import ReplicaPlacement
from .ttl import EMPTY_TTL, TTL

SUPER_BLOCK_SIZE = 8
SUPPORTED_VERSIONS = (1, 2, 3)
CURRENT_VERSION = 3
MAX_EXTRA_SIZE = 256 * 256 - 2


class SuperBlockError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class SuperBlock:
    version: int = CURRENT_VERSION
    replica_placement: ReplicaPlacement = field(default_factory=ReplicaPlacement)
    ttl: TTL = EMPTY_TTL
    compaction_revision: int = 0
    extra: bytes = b""

    @property
    def block_size(self) -> int:
        """Where the first needle starts: 8, plus the extra block for v2 and v3."""
        if self.version in (2, 3):
            return SUPER_BLOCK_SIZE + len(self.extra)
        return SUPER_BLOCK_SIZE

    def to_bytes(self) -> bytes:
        if len(self.extra) > MAX_EXTRA_SIZE:
            raise SuperBlockError(
                f"super block extra size is {len(self.extra)} bigger than {MAX_EXTRA_SIZE}"
            )
        header = bytearray(SUPER_BLOCK_SIZE)
        header[0] = self.version
        header[1] = self.replica_placement.to_byte()
        header[2:4] = self.ttl.to_bytes()
        header[4:6] = (self.compaction_revision & 0xFFFF).to_bytes(2, "big")
        header[6:8] = len(self.extra).to_bytes(2, "big")
        return bytes(header) + self.extra

    @classmethod
    def parse(cls, head: bytes, read_extra: Callable[[int], bytes] | None = None) -> SuperBlock:
        """Decode the first 8 bytes; ``read_extra(n)`` supplies the n extra bytes that follow."""
        if len(head) < SUPER_BLOCK_SIZE:
            raise SuperBlockError(f"super block too short: {len(head)} bytes")
        version = head[0]
        if version not in SUPPORTED_VERSIONS:
            raise SuperBlockError(f"unsupported super block version {version}")
        extra_size = int.from_bytes(head[6:8], "big")
        extra = b""
        if extra_size and version in (2, 3):
            extra = head[8 : 8 + extra_size] if len(head) >= 8 + extra_size else b""
            if not extra and read_extra is not None:
                extra = read_extra(extra_size)
            if len(extra) != extra_size:
                raise SuperBlockError(f"super block extra truncated: want {extra_size} bytes")
        return cls(
            version=version,
            replica_placement=ReplicaPlacement.from_byte(head[1]),
            ttl=TTL.from_bytes(head[2:4]),
            compaction_revision=int.from_bytes(head[4:6], "big"),
            extra=bytes(extra),
        )

    def with_compaction_revision(self, revision: int) -> SuperBlock:
        return replace(self, compaction_revision=revision & 0xFFFF)
