"""``-concurrentUploadLimitMB`` / ``-concurrentDownloadLimitMB`` with their in-flight timeouts
(``checkUploadLimit``, ``checkDownloadLimit`` in volume_server_handlers.go).

Bytes in flight are counted while a request is served: an upload from its arrival (its
``Content-Length``) until answered, a download from reading the needle until the answer has
left the server's buffers. A request arriving over the limit waits for bytes to drain, up to
the timeout, then gets 429. Replication uploads are never throttled.
"""

from __future__ import annotations

import asyncio
import mmap
import re
from dataclasses import dataclass

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(text: str) -> float:
    """Go's ``time.ParseDuration`` for the forms flags use (``2s``, ``1m0s``, ``1.5h``)."""
    text = text.strip()
    if text in ("0", ""):
        return 0.0
    total, position = 0.0, 0
    for match in _DURATION.finditer(text):
        if match.start() != position:
            raise ValueError(f'time: invalid duration "{text}"')
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(text):
        raise ValueError(f'time: invalid duration "{text}"')
    return total


class SharedSlots:
    """In-flight bytes of every process of a ``-workers`` server, in shared memory: one slot
    per process, written only by its owner, so a killed process's bytes are cleared by its
    replacement (which takes the same slot) and no lock is ever left held."""

    def __init__(self, slots: int) -> None:
        self._memory = mmap.mmap(-1, max(mmap.PAGESIZE, 8 * slots))
        self._view = memoryview(self._memory).cast("q")[:slots]

    def total(self) -> int:
        return sum(self._view)

    def add(self, slot: int, count: int) -> None:
        self._view[slot] += count

    def clear(self, slot: int) -> None:
        self._view[slot] = 0


@dataclass(frozen=True)
class SharedLimits:
    """One process's share of a ``-workers`` server's limits: the slots of both directions
    and the index it writes (a replacement process takes its predecessor's)."""

    uploads: SharedSlots
    downloads: SharedSlots
    slot: int


SHARED_RECHECK_SECONDS = 0.02
"""Bytes drained by another process wake no waiter here: a waiter over the limit looks again
this often (only while the server is over its limit)."""


class InflightLimit:
    """Bytes in flight against a limit (0 = unlimited), with waiters woken as bytes drain;
    with ``shared``, the bytes of the whole server count (``slot``: this process's)."""

    def __init__(
        self,
        limit_bytes: int,
        timeout_seconds: float,
        shared: SharedSlots | None = None,
        slot: int = 0,
    ) -> None:
        self.limit = limit_bytes
        self.timeout = timeout_seconds
        self._own = 0
        self._shared = shared
        self._slot = slot
        if shared is not None:
            shared.clear(slot)
        self._changed: asyncio.Condition | None = None

    @property
    def in_flight(self) -> int:
        return self._own if self._shared is None else self._shared.total()

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    @property
    def over(self) -> bool:
        return self.over_without(0)

    def over_without(self, own: int) -> bool:
        """Over the limit counting everyone else (``own``: the caller's bytes, if counted)."""
        return self.limit > 0 and self.in_flight - own > self.limit

    async def wait_below(self, own: int = 0) -> bool:
        """Wait until others' bytes are under the limit; False when the timeout ran out."""
        if not self.over_without(own):
            return True
        condition = self._condition()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        async with condition:
            while self.over_without(own):
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return False
                if self._shared is not None:
                    remaining = min(remaining, SHARED_RECHECK_SECONDS)
                try:
                    await asyncio.wait_for(condition.wait(), remaining)
                except TimeoutError:
                    if self._shared is None:
                        return not self.over_without(own)
        return True

    def add(self, count: int) -> None:
        self._own += count
        if self._shared is not None:
            self._shared.add(self._slot, count)

    def release(self, count: int) -> None:
        self._own -= count
        if self._shared is not None:
            self._shared.add(self._slot, -count)
        if self.limit > 0 and self._changed is not None:
            asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        condition = self._condition()
        async with condition:
            condition.notify_all()
