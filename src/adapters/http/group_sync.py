"""``fsync=true`` uploads without a thread each: the needle is appended on the event loop, then
the request waits here while one syncing thread makes every append queued so far durable with
one fsync per volume (Go batches fsync'd writes the same way in its write worker,
volume_write.go). The answer leaves only after its append is on disk.

The waiters of one turn of an event loop are handed to the thread together, once that turn
has read every request that was ready (a ``call_soon``): a thread woken by the first waiter
alone would sync one append at a time while the loop is busy, as many fsyncs as requests.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from ...core.volume.volume import Volume

log = logging.getLogger(__name__)

_Waiter = tuple[Volume, int, asyncio.Future, asyncio.AbstractEventLoop]


class GroupSync:
    def __init__(self) -> None:
        self._queue: list[_Waiter] = []
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._this_turn: dict[asyncio.AbstractEventLoop, list[_Waiter]] = {}

    async def wait(self, volume: Volume, ticket: int) -> None:
        """Return once append ``ticket`` of ``volume`` is durable; raise ``OSError`` if its
        fsync failed."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        waiters = self._this_turn.get(loop)
        if waiters is None:
            waiters = self._this_turn[loop] = []
            loop.call_soon(self._hand_over, loop)
        waiters.append((volume, ticket, future, loop))
        await future

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        """On ``loop``, after the turn that queued its waiters: wake the thread once."""
        waiters = self._this_turn.pop(loop)
        with self._changed:
            self._queue += waiters
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="group-sync", daemon=True)
                self._thread.start()
            self._changed.notify()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._queue:
                    self._changed.wait()
                batch, self._queue = self._queue, []
            by_volume: dict[Volume, list[_Waiter]] = {}
            for waiter in batch:
                by_volume.setdefault(waiter[0], []).append(waiter)
            for volume, waiters in by_volume.items():
                error: OSError | None = None
                try:
                    volume.sync_through(max(ticket for _, ticket, _, _ in waiters))
                except OSError as err:
                    log.error("volume %d: fsync failed: %s", volume.id, err)
                    error = err
                by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future]] = {}
                for _, _, future, loop in waiters:
                    by_loop.setdefault(loop, []).append(future)
                for loop, futures in by_loop.items():
                    loop.call_soon_threadsafe(_settle, futures, error)


def _settle(futures: list[asyncio.Future], error: OSError | None) -> None:
    for future in futures:
        if future.done():
            continue  # the request went away meanwhile
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
