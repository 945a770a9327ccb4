"""Our native HTTP server on a loop thread over a real store, for in-process socket tests."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import uvloop

from seaweed_volume.adapters.http.app import create_app
from seaweed_volume.adapters.http.context import HttpContext
from seaweed_volume.adapters.http.protocol import HttpServer
from seaweed_volume.config import VolumeServerConfig
from seaweed_volume.container import build_container
from seaweed_volume.core.store import Store
from tests.support.go_cluster import free_port_pair


@dataclass
class NativeServer:
    port: int
    native: HttpServer
    store: Store
    loop: asyncio.AbstractEventLoop

    def call(self, function, *args):
        """Run ``function`` on the server's loop (store changes as a handler would make them)."""

        async def run():
            return function(*args)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)


@contextlib.contextmanager
def running_native(
    data_dir: str,
    volumes: tuple[int, ...] = (3,),
    idle_timeout: float = 30,
    context: Callable[[Store, VolumeServerConfig], HttpContext] = HttpContext,
    **settings: object,
) -> Iterator[NativeServer]:
    """``settings``: more :class:`VolumeServerConfig` fields (limits, timeouts); ``context``
    builds the handlers' context (as the server does, say)."""
    config = VolumeServerConfig(dirs=[data_dir], max_volume_counts=[len(volumes) + 1], **settings)
    store = build_container(config).store()
    for volume_id in volumes:
        store.add_volume(volume_id)
    ctx = context(store, config)
    port = free_port_pair()
    loop = uvloop.new_event_loop()  # as the server runs (its transports are its own)
    native = HttpServer(ctx, create_app(ctx), public=False, idle_timeout=idle_timeout)
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(native.start("127.0.0.1", port))
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield NativeServer(port, native, store, loop)
    finally:
        asyncio.run_coroutine_threadsafe(native.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        store.close()
