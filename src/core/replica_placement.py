"""Replica placement ``xyz``: copies in other data centers, other racks, same rack.

Stored as one byte ``x*100 + y*10 + z`` in the super block (``replica_placement.go``).
"""

from __future__ import annotations

from dataclasses import dataclass


class ReplicaPlacementError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ReplicaPlacement:
    diff_data_center_count: int = 0
    diff_rack_count: int = 0
    same_rack_count: int = 0

    @classmethod
    def parse(cls, text: str) -> ReplicaPlacement:
        """``NewReplicaPlacementFromString``: ``""`` -> 000, ``"1"`` -> 001, ``"12"`` -> 012."""
        padded = text.rjust(3, "0") if len(text) < 3 else text
        counts = [0, 0, 0]
        for index, char in enumerate(padded):
            count = ord(char) - ord("0")
            if count < 0:
                raise ReplicaPlacementError(f"unknown replication type: {padded}")
            if index < 3:
                counts[index] = count
        if counts[0] * 100 + counts[1] * 10 + counts[2] > 255:
            raise ReplicaPlacementError(f"unexpected replication type: {padded}")
        return cls(counts[0], counts[1], counts[2])

    @classmethod
    def from_byte(cls, value: int) -> ReplicaPlacement:
        return cls(value // 100, value // 10 % 10, value % 10)

    def to_byte(self) -> int:
        return (
            self.diff_data_center_count * 100 + self.diff_rack_count * 10 + self.same_rack_count
        ) & 0xFF

    @property
    def copy_count(self) -> int:
        return self.diff_data_center_count + self.diff_rack_count + self.same_rack_count + 1

    def has_replication(self) -> bool:
        return self.copy_count > 1

    def __str__(self) -> str:
        return "".join(
            chr(count + ord("0"))
            for count in (self.diff_data_center_count, self.diff_rack_count, self.same_rack_count)
        )
