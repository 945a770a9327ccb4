"""``-concurrentUploadLimitMB`` / ``-concurrentDownloadLimitMB`` with their in-flight timeouts
(``checkUploadLimit``, ``checkDownloadLimit`` in volume_server_handlers.go).

Bytes in flight are counted while a request is served: an upload from its arrival (its
``Content-Length``) until answered, a download from reading the needle until the answer has
left the server's buffers. A request arriving over the limit waits for bytes to drain, up to
the timeout, then gets 429. Replication uploads are never throttled.
"""

from __future__ import annotations

import asyncio
import re

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


class InflightLimit:
    """Bytes in flight against a limit (0 = unlimited), with waiters woken as bytes drain."""

    def __init__(self, limit_bytes: int, timeout_seconds: float) -> None:
        self.limit = limit_bytes
        self.timeout = timeout_seconds
        self.in_flight = 0
        self._changed: asyncio.Condition | None = None

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
                try:
                    await asyncio.wait_for(condition.wait(), remaining)
                except TimeoutError:
                    return not self.over_without(own)
        return True

    def add(self, count: int) -> None:
        self.in_flight += count

    def release(self, count: int) -> None:
        self.in_flight -= count
        if self.limit > 0 and self._changed is not None:
            asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        condition = self._condition()
        async with condition:
            condition.notify_all()
