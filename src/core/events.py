"""Volume lifecycle events: what the master client turns into delta heartbeats.

The store publishes; adapters subscribe. Kept as plain callbacks so the core stays free of
any transport.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum


class VolumeEventKind(Enum):
    ADDED = "added"
    DELETED = "deleted"
    STATE_CHANGED = "state_changed"  # read-only flipped, etc.: needs a full heartbeat


@dataclass(frozen=True, slots=True)
class VolumeEvent:
    kind: VolumeEventKind
    volume_id: int
    collection: str
    replica_placement: int
    version: int
    ttl: int
    disk_type: str
    disk_id: int = 0
    """The disk's index in the store's locations."""


@dataclass(frozen=True, slots=True)
class EcShardEvent:
    """EC shards mounted (``added``) or unmounted on one disk: a ``new_ec_shards`` or
    ``deleted_ec_shards`` delta heartbeat."""

    added: bool
    volume_id: int
    collection: str
    shard_bits: int
    shard_sizes: tuple[int, ...]
    disk_type: str
    disk_id: int
    expire_at_sec: int
    encode_ts_ns: int


Listener = Callable[[VolumeEvent | EcShardEvent], None]


class EventBus:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def publish(self, event: VolumeEvent | EcShardEvent) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(event)
